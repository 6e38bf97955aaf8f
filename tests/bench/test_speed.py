"""The benchmark CLI: runs end to end on short settings and writes every promised key."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fer_core.bench.speed import live_frame
from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector

REPO = Path(__file__).resolve().parents[2]
KEYS = {"one_face_p50_ms", "one_face_p95_ms", "one_face_fps", "five_faces_p50_ms", "five_faces_p95_ms",
        "classifier_p50_ms", "video_realtime_factor", "live_rss_mb", "settings"}


@pytest.mark.parametrize("n", [1, 5])
def test_bench_frames_really_hold_n_detectable_faces(n):
    frame, source = live_frame(n)
    assert frame.shape == (480, 640, 3)
    assert len(make_detector(DEFAULT_DETECTOR, "live").detect(frame)) == n
    assert source in ("fer2013-publictest", "drawn")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_bench_cli_writes_all_keys(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "fer_core.bench.speed", "--frames", "20", "--video-seconds", "1",
                           "--scenes", "3", "--photos", "4", "--json", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=580)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(out.read_text())
    assert KEYS <= set(res)
    for k in KEYS - {"settings"}:
        assert isinstance(res[k], (int, float)) and res[k] > 0, k
    assert res["one_face_p50_ms"] <= res["one_face_p95_ms"]
    s = res["settings"]
    assert s["live"]["detector"] == "blazeface" and s["live"]["detect_every"] >= 1
    assert s["live_rss_frames"] >= 300
    assert res["live_rss_mb"] <= 400  # the live path stays small: no TensorFlow, one interpreter
    assert "one_face_p50_ms" in proc.stdout
    assert 0 <= res["scene_faces_found"] <= 1 and res["scene_false_faces"] >= 0 and s["scenes"]["scenes"] == 3
    assert s["video"]["detect_interval_s"] > 0 and s["video"]["smoothing"] == "ema"  # the Video page's defaults
    assert 0 < res["video_faces_found_share"] <= 1


def test_compare_detectors_reports_each_detector_and_use(monkeypatch):
    """The table the live defaults come from: recall, false faces and time for every detector and use."""
    import fer_core.engine.faces as faces
    from fer_core.bench.speed import compare_detectors

    # MTCNN (TensorFlow) has its own slow test
    monkeypatch.setattr(faces, "REGISTRY", {k: faces.REGISTRY[k] for k in ("blazeface", "haar")})
    res = compare_detectors(n_scenes=3, seed=1)
    assert set(res) == {f"{d}/{p}" for d in ("blazeface", "haar") for p in ("live", "video", "photo")}
    for row in res.values():
        assert 0.0 <= row["recall"] <= 1.0 and row["false_faces"] >= 0 and row["faces"] >= 3
        assert row["p50_ms"] <= row["p95_ms"] and row["cpu_ms_per_scene"] >= 0
    assert res["blazeface/photo"]["settings"] == faces.REGISTRY["blazeface"].settings["photo"]


def test_real_photo_figures_count_missed_and_false_faces(tmp_path):
    """Every photo of the set shows one face: one with none is a missed face, one with two a false one."""
    import cv2

    from fer_core.bench.scenes import background, drawn_face, paste_faces
    from fer_core.bench.speed import real_photos
    from fer_core.engine.classifier import Classifier

    (tmp_path / "happy").mkdir()
    one, _ = paste_faces([drawn_face(120, smile=0.8)], 400, 400, 160)
    two, _ = paste_faces([drawn_face(120), drawn_face(120, smile=0.8)], 640, 400, 160)
    for name, img in (("one.png", one), ("two.png", two), ("none.png", background(400, 400, seed=2))):
        cv2.imwrite(str(tmp_path / "happy" / name), cv2.cvtColor(img, cv2.COLOR_RGB2BGR))
    clf = Classifier.from_dir()
    res = real_photos(clf, root=tmp_path)
    assert res["photos"] == 3 and res["no_face_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert res["second_face_share"] == pytest.approx(1 / 3, abs=1e-3)
    assert 0 < res["cpu_ms_p50"] <= res["cpu_ms_p95"]
    assert real_photos(clf, limit=2, root=tmp_path)["photos"] == 2
    assert real_photos(clf, root=tmp_path / "absent") is None
