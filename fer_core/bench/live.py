"""Many live sessions at once: N WebRTC peers on loopback send a 640x480, 30 fps video with faces
through the live page's server media path and get the annotated video back.

    python -m fer_core.bench.live --sessions 8 --seconds 20 [--json OUT]

The server is a separate process running what the live page runs for each browser: streamlit-webrtc's
WebRtcWorker (send-receive, asynchronous processing, the page's frame callback) over one shared
classifier and a LiveProcessor per session with the page's defaults. Streamlit itself is not
started: its websocket carries only the signalling. Reported: frames per second each session gets
back, round-trip latency (a frame counter drawn into each frame is read back from the returned
video), and the server process's CPU use and peak memory. Clients run on the same machine and their
CPU is reported too. Traffic stays inside a loopback-only network namespace (unshare -n), which the
command enters by itself; no STUN or TURN server is used.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

import numpy as np

WIDTH, HEIGHT, FPS = 640, 480, 30
TARGET_FPS = 15.0
_BITS, _CELL = 16, WIDTH // 16  # frame counter: 16 black/white cells along the top 24 rows
_NS_FLAG = "FER_LIVE_BENCH_NS"


# ----------------------------------------------------------------------------- frame counter
def draw_counter(rgb: np.ndarray, n: int) -> None:
    for k in range(_BITS):
        rgb[:24, k * _CELL:(k + 1) * _CELL] = 255 if (n >> k) & 1 else 0


def read_counter(rgb: np.ndarray, mirrored: bool) -> int:
    """The counter drawn by draw_counter, read from the middle of each cell (the page mirrors the video)."""
    n = 0
    for k in range(_BITS):
        x = k * _CELL + _CELL // 2
        x = WIDTH - 1 - x if mirrored else x
        if rgb[8:16, x - 6:x + 6].mean() > 128:
            n |= 1 << k
    return n


def test_frames(n: int = 60) -> list[np.ndarray]:
    """A short loop of 640x480 frames with two faces moving slightly (drawn faces: no dataset needed)."""
    from fer_core.bench.scenes import drawn_face, paste_faces

    faces = [drawn_face(120, smile=0.8), drawn_face(120, smile=-0.6)]
    return [paste_faces(faces, WIDTH, HEIGHT, 130, positions=[(90 + (i % 20), 160), (400 - (i % 20), 180)],
                        seed=0)[0] for i in range(n)]


# ----------------------------------------------------------------------------- server process
def _serve(conn, mirror: bool) -> None:
    """The server: one event loop thread (as in Streamlit), one WebRtcWorker per offer."""
    import pylibsrtp  # noqa: F401  (before anything that could import TensorFlow)
    from aiortc import RTCConfiguration
    from aiortc.contrib.media import MediaRelay
    from av import VideoFrame
    from streamlit_webrtc import WebRtcMode
    from streamlit_webrtc.webrtc import WebRtcWorker

    from fer_core.engine.classifier import Classifier
    from fer_core.analysis.live import LiveProcessor, LiveSettings

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="webrtc-loop").start()
    relay = asyncio.run_coroutine_threadsafe(_make_relay(MediaRelay), loop).result()
    classifier = Classifier.from_dir()
    workers, processors = [], []

    def callback_for(processor):
        def video_frame_callback(frame):  # the live page's callback, minus its error list
            return VideoFrame.from_ndarray(processor.process(frame.to_ndarray(format="rgb24")), format="rgb24")
        return video_frame_callback

    mark = None
    while True:
        msg = conn.recv()
        if msg[0] == "offer":
            processor = LiveProcessor(classifier, LiveSettings(mirror=mirror))  # the page's defaults, mirrored preview
            worker = WebRtcWorker(
                mode=WebRtcMode.SENDRECV, rtc_configuration=RTCConfiguration(iceServers=[]),
                source_video_track=None, source_audio_track=None, sink_video_track=None, sink_audio_track=None,
                player_factory=None, in_recorder_factory=None, out_recorder_factory=None,
                video_frame_callback=callback_for(processor), audio_frame_callback=None,
                queued_video_frames_callback=None, queued_audio_frames_callback=None, on_video_ended=None,
                on_audio_ended=None, video_processor_factory=None, audio_processor_factory=None,
                async_processing=True, video_receiver_size=4, audio_receiver_size=4, sendback_video=True,
                sendback_audio=False, loop=loop, relay=relay)
            answer = worker.process_offer(msg[1], "offer", timeout=60)
            workers.append(worker)
            processors.append(processor)
            conn.send(answer.sdp)
        elif msg[0] == "mark":
            mark = (time.perf_counter(), _cpu_s(resource.RUSAGE_SELF))
            conn.send("ok")
        elif msg[0] == "stop":
            wall, cpu = time.perf_counter() - mark[0], _cpu_s(resource.RUSAGE_SELF) - mark[1]
            stats = [p.stats for p in processors]
            conn.send({"cpu_cores_busy": round(cpu / wall, 2), "peak_rss_mb": round(_peak_rss_mb(), 1),
                       "analysed_fps": [round(s.fps, 1) for s in stats],
                       "process_ms_per_frame": [round(s.process_ms, 2) for s in stats]})
            for w in workers:
                w.stop(timeout=1)
            return


async def _make_relay(cls):
    return cls()


def _cpu_s(who) -> float:
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ----------------------------------------------------------------------------- clients
@dataclass
class SessionStats:
    received: int = 0
    arrivals: list[float] = field(default_factory=list)
    rtt_ms: list[float] = field(default_factory=list)


def _clip_track(frames: list[np.ndarray], sent: dict[int, float]):
    from aiortc import VideoStreamTrack
    from av import VideoFrame

    class ClipTrack(VideoStreamTrack):
        """A camera at 30 fps: the test frames in a loop, each with its counter."""

        def __init__(self) -> None:
            super().__init__()
            self.n = 0

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            rgb = frames[self.n % len(frames)].copy()
            draw_counter(rgb, self.n % (1 << _BITS))
            sent[self.n % (1 << _BITS)] = time.perf_counter()
            self.n += 1
            frame = VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = pts, time_base
            return frame

    return ClipTrack()


async def _session(conn_lock: asyncio.Lock, conn, frames, mirrored: bool, stats: SessionStats):
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    sent: dict[int, float] = {}
    pc.addTrack(_clip_track(frames, sent))

    @pc.on("track")
    def on_track(track):
        async def read():
            while True:
                try:
                    frame = await track.recv()
                except Exception:  # the session ended
                    return
                now = time.perf_counter()
                stats.received += 1
                stats.arrivals.append(now)
                n = read_counter(frame.to_ndarray(format="rgb24"), mirrored)
                if n in sent and 0 <= now - sent[n] < 5:
                    stats.rtt_ms.append((now - sent[n]) * 1000)
        asyncio.ensure_future(read())

    await pc.setLocalDescription(await pc.createOffer())
    async with conn_lock:
        answer = await asyncio.get_running_loop().run_in_executor(None, _ask, conn, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


def _ask(conn, sdp: str) -> str:
    conn.send(("offer", sdp))
    return conn.recv()


def _window(stats: SessionStats, t0: float, t1: float) -> dict:
    n = sum(t0 <= t < t1 for t in stats.arrivals)
    rtt = np.array(stats.rtt_ms[-max(1, n):]) if stats.rtt_ms else np.array([np.nan])
    return {"fps": round(n / (t1 - t0), 1), "rtt_p50_ms": round(float(np.percentile(rtt, 50)), 1),
            "rtt_p95_ms": round(float(np.percentile(rtt, 95)), 1)}


async def _bench(sessions: int, seconds: float, warmup: float, mirror: bool) -> dict:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, mirror), daemon=True)
    server.start()
    frames = test_frames()
    lock = asyncio.Lock()
    stats = [SessionStats() for _ in range(sessions)]
    pcs = [await _session(lock, parent, frames, mirror, s) for s in stats]
    await asyncio.sleep(warmup)
    parent.send(("mark",))
    parent.recv()
    t0, c0 = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds)
    t1, c1 = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    parent.send(("stop",))
    srv = parent.recv()
    for pc in pcs:
        await pc.close()
    server.join(timeout=10)
    per = [_window(s, t0, t1) for s in stats]
    return {"sessions": sessions, "seconds": seconds, "source": f"{WIDTH}x{HEIGHT} at {FPS} fps, 2 faces",
            "per_session": per, "min_fps": min(p["fps"] for p in per),
            "target": f">= {TARGET_FPS:g} fps per session", "server": srv,
            "clients_cpu_cores_busy": round((c1 - c0) / (t1 - t0), 2), "cpu_count": os.cpu_count()}


# ----------------------------------------------------------------------------- command line
def _reexec_in_namespace(argv: list[str]) -> int:
    """Run this command again inside a network namespace that has only loopback (two addresses:
    aioice skips 127.0.0.1 when it gathers candidates)."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        print("error: needs unshare and ip (apt-get install util-linux iproute2)", file=sys.stderr)
        return 2
    ns = ["unshare", "-n"] if os.geteuid() == 0 else ["unshare", "-r", "-n"]
    inner = " ".join(["ip link set lo up && ip addr add 127.0.0.2/8 dev lo && exec", sys.executable, "-m",
                      "fer_core.bench.live", *map(_quote, argv)])
    return subprocess.call([*ns, "sh", "-c", inner], env={**os.environ, _NS_FLAG: "1"})


def _quote(s: str) -> str:
    import shlex

    return shlex.quote(s)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = argparse.ArgumentParser(prog="python -m fer_core.bench.live", description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=1, help="simultaneous WebRTC sessions (default 1)")
    ap.add_argument("--seconds", type=float, default=15.0, help="measured seconds after the warm-up")
    ap.add_argument("--warmup", type=float, default=5.0, help="seconds before measuring (connection, first frames)")
    ap.add_argument("--no-mirror", action="store_true", help="the page's preview mirror switch off")
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0:
        ap.error("--sessions must be 1 or more and --seconds more than 0")
    if not os.environ.get(_NS_FLAG):
        return _reexec_in_namespace(argv)
    import pylibsrtp  # noqa: F401  (aiortc before anything that could import TensorFlow)

    report = asyncio.run(_bench(args.sessions, args.seconds, args.warmup, not args.no_mirror))
    text = json.dumps(report, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    # Run as the importable module, so the spawned server process finds _serve by its real name.
    from fer_core.bench.live import main as _main

    raise SystemExit(_main())
