"""Video uploads on disk: a private temp folder per upload, safe names, nothing left behind, stale
folders of dead processes removed, and the session metadata History keeps."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from fer_core.engine.analyzer import FaceAnalyzer
from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import REGISTRY, HaarDetector
from fer_core.bench.scenes import DrawnFace, draw_scene
from fer_core.bench.scenes import write_test_clip
from fer_core.core.limits import VideoLimits
from fer_core.analysis.video import VideoError
from fer_core.app.video_upload import (
    STALE_AFTER_S, TEMP_PREFIX, analyze_upload, remove_stale_workspaces, safe_name, session_meta, workspace,
)


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(Classifier.from_dir(), HaarDetector(**REGISTRY["haar"].settings["video"]))


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> bytes:
    frames = [draw_scene(160, 120, [DrawnFace(60 + i, 60, 40, "happy")]) for i in range(12)]
    return write_test_clip(tmp_path_factory.mktemp("c") / "c.mp4", frames, fps=10).read_bytes()


@pytest.mark.parametrize("name,expected", [
    ("holiday clip.mp4", "holiday_clip.mp4"),
    ("../../etc/passwd", "passwd"),
    ("[click me](https://evil.example/x).mp4", "x_.mp4"),  # the last path part only
    ("", "video.mp4"),
    ("...", "video.mp4"),
    ("ünïcode.webm", "_n_code.webm"),
])
def test_safe_name(name, expected):
    assert safe_name(name) == expected


@pytest.mark.parametrize("name", ["annotated.mp4", "annotated-output.mp4", "upload"])
def test_an_upload_named_like_the_output_is_not_overwritten(analyzer, clip, private_tmp, name):
    """An upload called annotated-output.mp4 was the page's own output file, overwritten while read."""
    result, video = analyze_upload(clip, name, analyzer, limits=VideoLimits(), sample_fps=None)
    assert result.n_frames == result.n_analyzed == 12
    with av.open(io.BytesIO(video)) as c:
        assert sum(1 for _ in c.decode(video=0)) == 12
    assert list(private_tmp.iterdir()) == []


def test_nothing_is_left_after_a_failure(analyzer, private_tmp):
    with pytest.raises(VideoError, match="bad.mp4 could not be read as a video"):
        analyze_upload(b"not a video" * 100, "bad.mp4", analyzer, limits=VideoLimits())
    assert list(private_tmp.iterdir()) == []


def test_workspace_is_named_for_this_process(private_tmp):
    with workspace() as d:
        assert d.parent == private_tmp and d.name.startswith(f"{TEMP_PREFIX}{os.getpid()}-")
        assert remove_stale_workspaces() == []  # our own folder, in use, stays
        assert d.is_dir()
    assert not d.exists()


KILLED_MID_VIDEO = """
import os, signal, sys
from fer_core.app.video_upload import workspace
with workspace() as d:
    (d / "upload").mkdir()
    (d / "upload" / "clip.mp4").write_bytes(b"x" * 1000)
    print(d, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_folder_left_by_a_killed_process_is_removed_by_the_next_upload(private_tmp, analyzer, clip):
    env = {**os.environ, "TMPDIR": str(private_tmp), "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    run = subprocess.run([sys.executable, "-c", KILLED_MID_VIDEO], env=env, capture_output=True, text=True,
                         timeout=60)
    assert run.returncode == -9
    left = Path(run.stdout.strip())
    assert left.parent == private_tmp and (left / "upload" / "clip.mp4").is_file()
    analyze_upload(clip, "next.mp4", analyzer, limits=VideoLimits(), sample_fps=2)
    assert list(private_tmp.iterdir()) == []


def test_live_owners_keep_their_folders_unless_ancient(private_tmp):
    parent = private_tmp / f"{TEMP_PREFIX}{os.getppid()}-abc"  # a process that is alive
    legacy = private_tmp / f"{TEMP_PREFIX}k2j3h4"  # the old naming, no owner
    other = private_tmp / "fer-test-db-x"
    for d in (parent, legacy, other):
        d.mkdir()
    assert remove_stale_workspaces() == []
    later = time.time() + STALE_AFTER_S + 60
    assert sorted(remove_stale_workspaces(now=later)) == sorted([parent, legacy])
    assert other.is_dir()


def test_session_meta(analyzer, clip, private_tmp):
    result, _ = analyze_upload(clip, "a b.mp4", analyzer, limits=VideoLimits(), sample_fps=5)
    meta = session_meta(result, "a b.mp4", "haar")
    assert meta == {"file_name": "a b.mp4", "duration_s": result.duration_s, "fps": result.fps,
                    "sample_fps": 5, "detector": "haar", "n_frames": 12}
