"""Batch CLI (fer_core.analysis.batch): inputs, the record table, bad files, resuming after kill -9,
process workers and a Dask LocalCluster giving the same table as one process."""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd
import pytest

from fer_core.analysis import batch
from fer_core.engine.analyzer import make_analyzer
from fer_core.analysis.batch import (
    SUMMARY_COLUMNS, TABLE_COLUMNS, BatchError, BatchSettings, FileResult, OutputTable, find_inputs, run_batch,
)
from fer_core.engine.classifier import Classifier
from fer_core.analysis.photo import analyze_photo
from fer_core.core.records import RECORD_COLUMNS, make_record
from fer_core.bench.scenes import drawn_face, paste_faces, write_test_clip
from fer_core.analysis.video import DEFAULT_SAMPLE_FPS, analyze_video

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    found = find_inputs([media / "photos", str(media / "photos" / "*.png"), media / "notes.txt",
                         str(media / "nowhere" / "*.jpg"), media / "missing.mp4"])
    names = [f.relative_to(media).as_posix() for f in found.files]
    assert names == ["photos/broken.jpg", "photos/one.png", "photos/two.jpg", "notes.txt"]
    assert all(f.is_absolute() for f in found.files)
    assert found.unmatched == [str(media / "nowhere" / "*.jpg"), str(media / "missing.mp4")]
    assert not found.problems
    folder = find_inputs([media]).files
    assert "notes.txt" not in {f.name for f in folder} and len(folder) == len(GOOD) + len(BAD)
    assert [f.name for f in find_inputs([str(media / "**" / "*.mp4")]).files] == ["cut.mp4", "walk.mp4"]


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
    photo, video = (make_analyzer(classifier, purpose=p) for p in ("photo", "video"))
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
    cmd = [sys.executable, "-m", "fer_core.analysis.batch", str(clips), "--out", str(out), "--quiet"]
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


# ----------------------------------------------------------------------------- hostile paths and names
def _not_analysed(*_args, **_kwargs):
    raise AssertionError("the run started analysing files")


def _tree_with_loops(root: Path) -> Path:
    """A folder with a photo, a link to itself twice over, a link to itself and a dangling link."""
    top = root / "dir"
    (top / "sub").mkdir(parents=True)
    _write_photo(top / "sub" / "one.jpg", 1, 0)
    (top / "again").symlink_to(".")
    (top / "sub" / "up").symlink_to("..")
    (top / "self.jpg").symlink_to("self.jpg")
    (top / "gone.jpg").symlink_to("nowhere.jpg")
    return top


@pytest.mark.timeout(60)
def test_globs_and_folders_follow_no_symlink_loop(tmp_path):
    top = _tree_with_loops(tmp_path)
    started = time.monotonic()
    for item in (str(top / "**" / "*.jpg"), top, str(tmp_path / "*" / "**")):
        found = find_inputs([item])
        assert [f.name for f in found.files] == ["one.jpg"], item
        assert found.problems[str(top / "again")][0] == "link" and "loop" in found.problems[str(top / "again")][1]
        assert "loop" in found.problems[str(top / "sub" / "up")][1]
        assert found.problems[str(top / "self.jpg")] == ("link", "symlink loop")
        assert found.problems[str(top / "gone.jpg")] == ("link", "dangling link to nowhere.jpg")
    assert time.monotonic() - started < 10


def _unreadable(folder: Path, monkeypatch) -> None:
    """chmod 000; as root (who reads anything) the listing itself is made to fail the same way."""
    folder.chmod(0)
    if os.geteuid() == 0:
        real_scandir, real_listdir = os.scandir, os.listdir

        def refuse(real):
            def call(path=".", *a):
                if Path(path) == folder:
                    raise PermissionError(13, "Permission denied", str(path))
                return real(path, *a)
            return call
        monkeypatch.setattr(os, "scandir", refuse(real_scandir))
        monkeypatch.setattr(os, "listdir", refuse(real_listdir))


def test_unreadable_folders_loops_and_dangling_links_are_in_the_summary(tmp_path, monkeypatch, capsys):
    top = _tree_with_loops(tmp_path)
    (top / "sub" / "one.jpg").unlink()  # nothing to analyse: no model is loaded
    (top / "notes.txt").write_text("named on its own, so reported")
    locked = top / "locked"
    locked.mkdir()
    _unreadable(locked, monkeypatch)
    monkeypatch.setattr(batch, "engine", _not_analysed)
    try:
        report = run_batch([top, top / "notes.txt"], tmp_path / "t.csv", progress=False)
        summary = pd.read_csv(tmp_path / "t.summary.csv").set_index("source")
        assert summary.loc[str(locked), "kind"] == "folder"
        assert summary.loc[str(locked), "error"] == "cannot read the folder: Permission denied"
        assert summary.loc[str(top / "again"), "kind"] == "link" and "loop" in summary.loc[str(top / "again"), "error"]
        assert summary.loc[str(top / "gone.jpg"), "error"] == "dangling link to nowhere.jpg"
        assert summary.loc[str(top / "self.jpg"), "error"] == "symlink loop"
        assert sorted(report.problems) == sorted(str(p) for p in (locked, top / "again", top / "sub" / "up",
                                                                  top / "self.jpg", top / "gone.jpg"))
        assert f"skipped {locked}: cannot read the folder" in capsys.readouterr().err
    finally:
        locked.chmod(0o755)
    monkeypatch.undo()
    monkeypatch.setattr(batch, "engine", _not_analysed)
    for link in ("again", "self.jpg", "gone.jpg", "sub/up"):
        (top / link).unlink()
    again = run_batch([top, top / "notes.txt"], tmp_path / "t.csv", progress=False)
    assert again.summary["source"].tolist() == [str((top / "notes.txt").resolve())]  # mended: no longer reported


def test_names_go_to_the_terminal_escaped(tmp_path, capsys, monkeypatch):
    name = "title\x1b]0;pwned\x07 \u202etxt.\nerror: forged line.txt"
    (tmp_path / name).write_text("x")
    monkeypatch.setattr(batch, "engine", _not_analysed)
    assert batch.main([str(tmp_path / name), "--out", str(tmp_path / "t.csv"), "--quiet"]) == 0  # no bars
    captured = capsys.readouterr()
    for text in (captured.err, captured.out):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    assert (f"skipped {tmp_path.resolve()}/title\\x1b]0;pwned\\x07 \\u202etxt.\\nerror: forged line.txt: "
            "not a photo or video") in captured.err
    assert not any(line.startswith("error: forged") for line in captured.err.splitlines())
    assert batch.shown("a\rb\tc\udcff") == "a\\rb\\tc\\udcff"


def test_line_breaks_in_names_never_poison_the_table_or_a_resume(tmp_path, monkeypatch):
    names = ["cr\rname.txt", "nl\nname.txt", "crlf\r\nname.txt", 'quote",x.txt']
    for n in names:
        (tmp_path / n).write_text("x")
    monkeypatch.setattr(batch, "engine", _not_analysed)
    out = tmp_path / "t.csv"
    first = run_batch([tmp_path / n for n in names], out, progress=False)
    for _ in range(2):  # a rerun reads the summary back, row for row
        again = run_batch([tmp_path / n for n in names], out, progress=False)
        summary = pd.read_csv(out.with_name("t.summary.csv"))
        assert sorted(summary["source"]) == sorted(str((tmp_path / n).resolve()) for n in names)
        assert len(again.summary) == len(first.summary) == len(names)
    store = OutputTable(tmp_path / "faces.csv")  # and in the record table
    rec = {"source": str(tmp_path / names[0]), **{k: 0 for k in RECORD_COLUMNS}, "label": "happy", "happy": 1.0}
    row = {"source": rec["source"], "kind": "photo", "frames": 1, "faces": 1, "records": 1,
           "dominant_emotion": "happy", "duration_s": None, "seconds": 0.5, "note": None, "error": None}
    store.save(FileResult(row, [rec]))
    store.merge()
    assert pd.read_csv(tmp_path / "faces.csv")["source"].tolist() == [rec["source"]]
    assert store.done() == {rec["source"]}


def test_a_damaged_summary_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    """What an older version wrote for a name with a carriage return: a row of text where numbers belong."""
    (tmp_path / "a.txt").write_text("x")
    header = ",".join(SUMMARY_COLUMNS)
    (tmp_path / "t.summary.csv").write_text(f"{header}\n/x/a,other,0,0,0,,,0.1,,bad\nb.txt,,,,,,,,,\n")
    monkeypatch.setattr(batch, "engine", _not_analysed)
    assert batch.main([str(tmp_path / "a.txt"), "--out", str(tmp_path / "t.csv"), "--quiet"]) == 1
    assert "t.summary.csv is damaged" in capsys.readouterr().err


def test_unusable_paths_are_exit_status_2_before_any_work(media, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(batch, "analyze_file", _not_analysed)
    photo = str(media / "photos" / "one.png")

    def run(*argv: str) -> str:
        rc = batch.main([*argv, "--quiet"])
        err = capsys.readouterr().err
        assert rc == 2 and "Traceback" not in err and err.startswith("error: "), err
        return err

    long_name = str(tmp_path / ("x" * 300 + ".png"))
    long_path = "/".join([str(tmp_path)] + ["d" * 200] * 25) + "/a.png"  # longer than PATH_MAX
    assert "File name too long" in run(long_name, "--out", str(tmp_path / "t.csv"))
    assert "File name too long" in run(long_path, "--out", str(tmp_path / "t.csv"))
    assert "File name too long" in run(photo, "--out", long_path.replace(".png", ".csv"))
    assert "The folder for --out does not exist" in run(photo, "--out", str(tmp_path / "missing" / "t.csv"))
    assert "Cannot write the table /proc/t.csv" in run(photo, "--out", "/proc/t.csv")
    (tmp_path / "folder.csv").mkdir()
    assert "--out names a folder" in run(photo, "--out", str(tmp_path / "folder.csv"))
    locked = tmp_path / "read-only"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # root writes anywhere: the folder is made to refuse as a read-only one would
        real_mkstemp = tempfile.mkstemp

        def refuse(*args, dir=None, **kwargs):
            if Path(dir) == locked:
                raise OSError(errno.EROFS, "Read-only file system")
            return real_mkstemp(*args, dir=dir, **kwargs)
        monkeypatch.setattr(tempfile, "mkstemp", refuse)
    try:
        err = run(photo, "--out", str(locked / "t.csv"))
        assert "Read-only file system" in err or "Permission denied" in err
    finally:
        locked.chmod(0o755)
    assert not any(tmp_path.rglob("*.parts")) and not any(tmp_path.rglob("t.csv"))


def test_a_full_disk_is_a_message_and_exit_status_2(tmp_path, capsys, monkeypatch):
    (tmp_path / "a.txt").write_text("x")

    def full(path, write):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(batch, "_replace", full)
    monkeypatch.setattr(batch, "engine", _not_analysed)
    assert batch.main([str(tmp_path / "a.txt"), "--out", str(tmp_path / "t.csv"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "run the same command again" in err and "Traceback" not in err


def test_temp_files_of_killed_runs_are_cleaned_on_the_next_run(tmp_path, monkeypatch):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    pid = int(dead.stdout)
    parts = tmp_path / "t.csv.parts"
    parts.mkdir()
    stale = [parts / f".{'a' * 24}.json.{pid}.tmp", tmp_path / f".t.csv.{pid}.tmp",
             tmp_path / f".t.summary.csv.{pid}.tmp"]
    alive = parts / f".{'b' * 24}.json.{os.getppid()}.tmp"  # a run still writing: left alone
    for p in (*stale, alive):
        p.write_text("{")
    (tmp_path / "a.txt").write_text("x")
    monkeypatch.setattr(batch, "engine", _not_analysed)
    run_batch([tmp_path / "a.txt"], tmp_path / "t.csv", progress=False)
    assert not any(p.exists() for p in stale) and alive.exists()


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.slow
def test_workers_exit_when_their_parent_is_killed(tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(6):
        _write_clip(clips / f"c{i}.mp4", n_frames=10, seed=i)
    cmd = [sys.executable, "-m", "fer_core.analysis.batch", str(clips), "--out", str(tmp_path / "t.csv"), "--quiet",
           "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parts = tmp_path / "t.csv.parts"
    deadline = time.monotonic() + 240
    while not (parts.is_dir() and list(parts.glob("*.json"))) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    children = _children(proc.pid)
    assert proc.poll() is None and len(children) >= 2, "the run ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 15
    while any(map(_running, children)) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [c for c in children if _running(c)]
    for c in left:
        os.kill(c, signal.SIGKILL)
    assert not left, "worker processes (or the resource tracker) outlived their parent"
