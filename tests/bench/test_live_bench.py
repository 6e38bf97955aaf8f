"""Live-sessions benchmark (fer_core.bench.live): the frame counter survives mirroring, and one
session runs end to end through streamlit-webrtc's worker inside a loopback-only namespace, reporting
dropped frames, fairness and the time to the first annotated frame."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.bench.live import HEIGHT, WIDTH, draw_counter, read_counter

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("n", [0, 1, 0b10_0101_1100_0011, 2**14 - 1])
def test_frame_counter_reads_back_plain_and_mirrored(n):
    rgb = np.full((HEIGHT, WIDTH, 3), 128, np.uint8)
    draw_counter(rgb, n)
    assert read_counter(rgb, mirrored=False) == n
    assert read_counter(rgb[:, ::-1], mirrored=True) == n
    # a frame sent back as it came (not analysed, so not mirrored) is not taken for an annotated one
    assert read_counter(rgb, mirrored=True) is None
    draw_counter(rgb, n + 2**14)  # counts wrap
    assert read_counter(rgb, mirrored=False) == n


@pytest.mark.parametrize("size", [(640, 480), (320, 240)])
def test_the_small_camera_keeps_its_counter_and_faces_the_live_detector_finds(size):
    """The bench's 320x240 stream (what a full server asks new tabs for) still carries a readable frame
    counter and two faces, 27% of its height, that the live page's detector finds."""
    from fer_core.bench.live import test_frames
    from fer_core.engine.faces import make_detector

    width, height = size
    frames = test_frames(3, width, height)
    assert all(f.shape == (height, width, 3) for f in frames)
    rgb = frames[0].copy()
    draw_counter(rgb, 1234)
    assert read_counter(cv2.flip(rgb, 1), mirrored=True) == 1234
    assert len(make_detector("blazeface", "live").detect(frames[0])) == 2


def test_clients_send_the_camera_the_page_asks_for():
    from fer_core.app.live_session import SMALL_STREAM_FROM, camera_constraints
    from fer_core.bench.live import FPS, camera_of

    assert camera_of(camera_constraints(0)) == (WIDTH, HEIGHT, FPS)
    small = camera_of(camera_constraints(SMALL_STREAM_FROM))
    assert small[0] * small[1] < WIDTH * HEIGHT and small[2] <= FPS


def test_the_command_refuses_a_camera_it_cannot_send(capsys):
    from fer_core.bench.live import main

    for bad in (["--size", "320"], ["--size", "100x80"], ["--fps", "0"]):
        with pytest.raises(SystemExit):
            main(bad)
        assert "--size must be WxH" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_one_session_end_to_end(tmp_path):
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (apt-get install util-linux iproute2) for a loopback-only namespace")
    if os.geteuid() != 0 and not Path("/proc/sys/user/max_user_namespaces").exists():
        pytest.skip("needs root or user namespaces for a loopback-only network namespace")
    out = tmp_path / "live.json"
    run = subprocess.run([sys.executable, "-m", "fer_core.bench.live", "--sessions", "1", "--seconds", "3",
                          "--warmup", "3", "--json", str(out)], cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=150)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(out.read_text())
    session = report["per_session"][0]
    assert session["fps"] > 0 and 0 < session["rtt_p50_ms"] < 5000  # frames came back and were recognised
    assert 0 <= session["dropped_share"] < 1 and 0 < session["first_frame_s"] < 6
    assert session["analysis_ms"] > 0 and session["to_analysis_ms"] > 0 and session["back_ms"] > 0
    assert report["fairness"] == 1.0  # one session is as fast as itself
    assert report["first_frame_s_max"] == session["first_frame_s"]
    server = report["server"]
    assert server["cpu_cores_busy"] > 0 and server["peak_rss_mb"] > 0 and server["camera_fps"][0] > 0


def test_cpu_profile_splits_server_cpu_per_analysed_frame_by_stage():
    from fer_core.analysis.live import LiveStats
    from fer_core.bench.live import cpu_profile, profile_table

    before = [LiveStats(frames=10, cpu_ms={"detect": 50.0, "classify": 20.0})]
    after = [LiveStats(frames=30, cpu_ms={"to_rgb": 10.0, "detect": 150.0, "classify": 60.0, "annotate": 10.0})]
    threads0 = {"frame callback, rest": 1.0, "encode (aiortc executor threads)": 0.5}
    threads1 = {"frame callback, rest": 1.3, "encode (aiortc executor threads)": 0.6, "other threads": 0.02}
    p = cpu_profile(before, after, threads0, threads1, process_cpu_s=0.5)
    assert p["frames"] == 20 and p["total_ms"] == 25.0
    ms = p["ms"]
    assert (ms["to RGB (frame.to_ndarray)"], ms["detect / track"], ms["classify (crops, model, smoothing)"]) == (0.5, 5.0, 2.0)
    assert ms["frame callback, rest"] == 7.0  # 300 ms on the callback thread, 160 of them in its stages
    assert ms["encode (aiortc executor threads)"] == 5.0 and ms["other threads"] == 1.0
    assert ms["unaccounted"] == pytest.approx(25.0 - 8.0 - 7.0 - 5.0 - 1.0)  # threads that ended
    table = profile_table(p)
    assert "detect / track" in table and "25.00" in table and "20 frames" in table
    assert profile_table(cpu_profile(after, after, threads1, threads1, 0.0)) == "no frames analysed"


def test_thread_cpu_is_read_per_role():
    import threading
    import time

    from fer_core.bench.live import thread_cpu_s

    stop = threading.Event()

    def spin():
        while not stop.is_set():
            sum(range(1000))

    t = threading.Thread(target=spin, name="video-decoder-test")
    before = thread_cpu_s().get("decode (aiortc decoder thread)", 0.0)
    t.start()
    time.sleep(0.3)
    during = thread_cpu_s()
    stop.set()
    t.join()
    assert during["decode (aiortc decoder thread)"] > before and during["other threads"] > 0
