"""Batch CLI (fer_core.batch): inputs, the record table, bad files, resuming after kill -9,
process workers and a Dask LocalCluster giving the same table as one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pandas as pd
import pytest

from fer_core import batch
from fer_core.analyzer import MIRROR_STILLS, FaceAnalyzer
from fer_core.batch import (
    SUMMARY_COLUMNS, TABLE_COLUMNS, BatchError, BatchSettings, FileResult, OutputTable, find_inputs, run_batch,
)
from fer_core.classifier import Classifier
from fer_core.faces import DEFAULT_DETECTOR, make_detector
from fer_core.photo import analyze_photo
from fer_core.records import RECORD_COLUMNS, make_record
from fer_core.scenes import drawn_face, paste_faces, write_test_clip
from fer_core.video import DEFAULT_SAMPLE_FPS, analyze_video

REPO_ROOT = Path(__file__).resolve().parents[1]
GOOD = ("photos/one.png", "photos/two.jpg", "clips/walk.mp4")
BAD = ("photos/broken.jpg", "clips/cut.mp4")


def _write_photo(path: Path, n_faces: int, seed: int) -> None:
    faces = [drawn_face(120, smile=0.8 * (k % 2)) for k in range(n_faces)]
    frame, _ = paste_faces(faces, 320 * n_faces, 240, 110, seed=seed)
    cv2.imwrite(str(path), cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))


def _write_clip(path: Path, n_frames: int = 10, seed: int = 0) -> None:
    frames = [paste_faces([drawn_face(120, smile=k / n_frames)], 320, 240, 110, positions=[(60 + 4 * k, 60)],
                          seed=seed)[0] for k in range(n_frames)]
    write_test_clip(path, frames, fps=10)


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    """Two photos (one and two faces), a one-second clip, a photo and a clip that are damaged, and a
    text file that folder searches must ignore."""
    root = tmp_path_factory.mktemp("media")
    (root / "photos").mkdir()
    (root / "clips").mkdir()
    _write_photo(root / "photos" / "one.png", 1, 0)
    _write_photo(root / "photos" / "two.jpg", 2, 1)
    _write_clip(root / "clips" / "walk.mp4")
    (root / "photos" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (root / "clips" / "cut.mp4").write_bytes((root / "clips" / "walk.mp4").read_bytes()[:600])
    (root / "notes.txt").write_text("not media")
    return root


@pytest.fixture(scope="module")
def one_process(media, tmp_path_factory):
    """The reference run: every file of ``media`` in this process, to CSV."""
    out = tmp_path_factory.mktemp("ref") / "faces.csv"
    return out, run_batch([media], out, progress=False)


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> None:
    """Equal rows (text as read from CSV or made in memory); probabilities may differ in the last
    rounded digit between classifier thread counts."""
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True), check_exact=False,
                                  rtol=0, atol=2e-5, check_dtype=False)


def test_inputs_are_files_folders_and_patterns_each_once(media):
    files, unmatched = find_inputs([media / "photos", str(media / "photos" / "*.png"), media / "notes.txt",
                                    str(media / "nowhere" / "*.jpg"), media / "missing.mp4"])
    names = [f.relative_to(media).as_posix() for f in files]
    assert names == ["photos/broken.jpg", "photos/one.png", "photos/two.jpg", "notes.txt"]
    assert all(f.is_absolute() for f in files)
    assert unmatched == [str(media / "nowhere" / "*.jpg"), str(media / "missing.mp4")]
    folder, _ = find_inputs([media])
    assert "notes.txt" not in {f.name for f in folder} and len(folder) == len(GOOD) + len(BAD)


def test_table_is_the_project_record_with_the_file_and_a_summary_beside_it(media, one_process):
    out, report = one_process
    table = pd.read_csv(out)
    summary = pd.read_csv(out.with_name("faces.summary.csv"))
    assert tuple(table.columns) == TABLE_COLUMNS == ("source", *RECORD_COLUMNS)
    assert tuple(summary.columns) == SUMMARY_COLUMNS
    _same_table(table, report.table)
    rows = summary.set_index(summary["source"].map(lambda s: Path(s).relative_to(media).as_posix()))
    assert set(rows.index) == set(GOOD) | set(BAD)
    assert rows.loc[list(GOOD), "error"].isna().all()
    assert rows.loc["photos/broken.jpg", "error"].startswith("This file is not an image")
    assert "could not be read as a video" in rows.loc["clips/cut.mp4", "error"]
    assert rows.loc["photos/one.png", ["frames", "faces"]].tolist() == [1, 1]
    assert rows.loc["photos/two.jpg", ["frames", "faces"]].tolist() == [1, 2]
    assert rows.loc["clips/walk.mp4", "frames"] == 10 and rows.loc["clips/walk.mp4", "faces"] == 1
    by_file = table.groupby("source").size()
    assert {Path(s).name: n for s, n in by_file.items()} == {"one.png": 1, "two.jpg": 2, "walk.mp4": 10}
    assert sorted(report.failed) == sorted(str(media / b) for b in BAD)


def test_rows_are_what_the_pages_default_engine_gives(media, one_process):
    """Same detector (made for photo / video), mirror averaging, sampling rate and smoothing as the pages."""
    _, report = one_process
    classifier = Classifier.from_dir()
    photo = FaceAnalyzer(classifier, make_detector(DEFAULT_DETECTOR, "photo"), mirror=MIRROR_STILLS)
    video = FaceAnalyzer(classifier, make_detector(DEFAULT_DETECTOR, "video"), mirror=MIRROR_STILLS)
    two = media / "photos" / "two.jpg"
    faces = analyze_photo(two.read_bytes(), photo).faces
    expected = [{"source": str(two), **make_record(f, 0.0, 0, i)} for i, f in enumerate(faces)]
    clip = media / "clips" / "walk.mp4"
    expected += [{"source": str(clip), **r}
                 for r in analyze_video(clip, video, sample_fps=DEFAULT_SAMPLE_FPS, smoothing="ema").records]
    got = report.table[report.table["source"].isin([str(two), str(clip)])]
    want = pd.DataFrame(expected, columns=list(TABLE_COLUMNS)).sort_values(["source", "frame", "face_id"])
    _same_table(got, want)


def test_rerun_skips_files_done_and_tries_failed_ones_again(media, one_process, tmp_path):
    out, first = one_process
    copy = tmp_path / "faces.csv"
    copy.write_bytes(out.read_bytes())
    copy.with_name("faces.summary.csv").write_bytes(out.with_name("faces.summary.csv").read_bytes())
    again = run_batch([media], copy, progress=False)
    assert (again.already_done, again.analysed) == (len(GOOD), len(BAD))
    _same_table(again.table, first.table)
    assert len(again.summary) == len(GOOD) + len(BAD)


def test_parts_merge_into_parquet_and_a_stopped_merge_is_redone(tmp_path):
    store = OutputTable(tmp_path / "faces.parquet")
    rec = {"source": "/data/a.png", **{k: 0 for k in RECORD_COLUMNS}, "label": "happy", "happy": 1.0}
    row = {"source": "/data/a.png", "kind": "photo", "frames": 1, "faces": 1, "records": 1,
           "dominant_emotion": "happy", "duration_s": None, "seconds": 0.5, "note": None, "error": None}
    store.save(FileResult(row, [rec]))
    assert store.done() == {"/data/a.png"}  # saved parts count before any merge
    table, summary = store.merge()
    assert not store.parts.exists()
    back = pd.read_parquet(tmp_path / "faces.parquet")
    assert tuple(back.columns) == TABLE_COLUMNS and back["label"].tolist() == ["happy"]
    assert back["frame"].dtype == "int64" and back["happy"].dtype == "float64"
    assert pd.read_parquet(tmp_path / "faces.summary.parquet")["error"].isna().all()
    # a part left behind (stopped between writing the table and deleting the part) replaces, never doubles
    store.save(FileResult(row, [rec]))
    assert len(store.merge()[0]) == 1


def test_kill_9_loses_nothing_already_written(media, tmp_path):
    """Stopped with SIGKILL mid-run: saved files stay intact and a rerun does only the rest."""
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(5):
        _write_clip(clips / f"c{i}.mp4", n_frames=10, seed=i)
    out = tmp_path / "faces.parquet"
    cmd = [sys.executable, "-m", "fer_core.batch", str(clips), "--out", str(out), "--quiet"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = tmp_path / "faces.parquet.parts"
    deadline = time.monotonic() + 240
    while not (parts.is_dir() and list(parts.glob("*.json"))) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = {json.loads(p.read_text())["summary"]["source"]: json.loads(p.read_text())["records"]
             for p in parts.glob("*.json")}  # every part parses: none is half-written
    assert 1 <= len(saved) < 5 and not out.exists()
    again = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert f"Analysed {5 - len(saved)} files ({len(saved)} were already done" in again.stdout
    table = pd.read_parquet(out)
    assert table["source"].nunique() == 5
    for source, records in saved.items():
        _same_table(table[table["source"] == source], pd.DataFrame(records, columns=list(TABLE_COLUMNS)))


@pytest.mark.slow
def test_two_worker_processes_give_the_same_table(media, one_process, tmp_path):
    _, reference = one_process
    report = run_batch([media], tmp_path / "faces.csv", workers=2, progress=False)
    _same_table(report.table, reference.table)
    pd.testing.assert_frame_equal(report.summary.drop(columns="seconds"), reference.summary.drop(columns="seconds"))


@pytest.mark.slow
def test_dask_local_cluster_gives_the_same_table(media, one_process, tmp_path):
    from distributed import LocalCluster

    _, reference = one_process
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        report = run_batch([media], tmp_path / "faces.csv", dask_address=cluster.scheduler_address, progress=False)
    _same_table(report.table, reference.table)
    pd.testing.assert_frame_equal(report.summary.drop(columns="seconds"), reference.summary.drop(columns="seconds"))


def test_clear_messages_instead_of_tracebacks(media, tmp_path, capsys, monkeypatch):
    def run(*argv: str) -> tuple[int, str]:
        rc = batch.main([*argv, "--quiet"])
        return rc, capsys.readouterr().err

    rc, err = run(str(tmp_path / "empty"), "--out", str(tmp_path / "t.csv"))
    assert rc == 1 and "No photo or video found" in err and "Traceback" not in err
    rc, err = run(str(media / "photos" / "one.png"), "--out", str(tmp_path / "t.xlsx"))
    assert rc == 1 and "must end in .csv or .parquet: t.xlsx" in err
    monkeypatch.setattr(batch, "DASK_CONNECT_TIMEOUT", "1s")
    rc, err = run(str(media / "photos" / "one.png"), "--out", str(tmp_path / "t.csv"), "--dask", "tcp://127.0.0.1:9")
    assert rc == 1 and "Cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err
    rc, err = run(str(media / "photos" / "one.png"), "--out", str(tmp_path / "t.csv"), "--model-dir", str(tmp_path))
    assert rc == 1 and "The emotion model could not be loaded" in err
    with pytest.raises(SystemExit) as stop:
        batch.main([str(media), "--out", str(tmp_path / "t.csv"), "--workers", "0"])
    assert stop.value.code == 2 and "--workers must be 1 or more" in capsys.readouterr().err


def test_a_table_not_written_by_the_tool_is_left_alone(media, tmp_path):
    foreign = tmp_path / "results.csv"
    foreign.write_text("name,score\nx,1\n")
    with pytest.raises(BatchError, match="was not written by this tool"):
        run_batch([media / "photos" / "one.png"], foreign, BatchSettings(), progress=False)
    assert foreign.read_text() == "name,score\nx,1\n"
