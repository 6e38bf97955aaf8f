"""Many live sessions at once: N WebRTC peers on loopback send a 640x480, 30 fps video with faces
through the live page's server media path and get the annotated video back.

    python -m fer_core.bench.live --sessions 8 --seconds 20 [--size 320x240 --fps 15] [--json OUT]

Each client sends the camera the live page asks its browser for (``camera_constraints`` of the streams
already live on the server: 640x480 at 30 fps, smaller from the second stream, slower once eight play),
joining once the client before it sees its first annotated frame, as people open the page one after
another; ``--size`` and ``--fps`` give every client that camera instead.

The server is a separate process running what the live page runs for each browser: streamlit-webrtc's
WebRtcWorker (send-receive, asynchronous processing, the page's queued-frames callback and relay) over
one shared classifier and a LiveSession per session with the page's defaults. Streamlit itself is not
started: its websocket carries only the signalling. Reported per session: annotated frames per second it
gets back (each frame counted once), the share of the camera's frames never analysed, round-trip latency
(a frame counter drawn into each frame is read back from the returned video) and the time from the offer
to the first annotated frame, where a frame's time goes (to the start of its analysis, the analysis,
back to the client) and the packets of the annotated video lost on the way; across sessions, fairness
(slowest / fastest frame rate); and the server process's CPU use and peak memory. Clients run on the
same machine and their CPU is reported too; like browsers, they complete a received frame at its last
packet (``fer_core.app.rtp_frames``). Traffic stays inside a loopback-only network namespace (unshare
-n), which the command enters by itself; no STUN or TURN server is used.
"""

from __future__ import annotations

import argparse
import asyncio
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

from fer_core.training.cli import print_report

WIDTH, HEIGHT, FPS = 640, 480, 30
TARGET_FPS = 15.0
FACE_SHARE = 0.27  # of the frame's height
# Frame counter: 16 black/white cells along the top 24 rows, 14 bits between a black first and a white
# last cell, so a frame sent back unmirrored (before the first annotated one) does not read as a count.
_CELLS, _BITS = 16, 14
_NS_FLAG = "FER_LIVE_BENCH_NS"


# ----------------------------------------------------------------------------- frame counter
def draw_counter(rgb: np.ndarray, n: int) -> None:
    """Draw ``n`` (modulo 2**14) as cells 1..14, between a black cell 0 and a white cell 15."""
    cells = [0] + [(n >> k) & 1 for k in range(_BITS)] + [1]
    cell = rgb.shape[1] // _CELLS
    for k, bit in enumerate(cells):
        rgb[:24, k * cell:(k + 1) * cell] = 255 if bit else 0


def read_counter(rgb: np.ndarray, mirrored: bool) -> int | None:
    """The counter drawn by draw_counter, read from the middle of each cell (the page mirrors the
    video); None when the end cells do not read black, white (the frame is not mirrored as said)."""
    cells, width = [], rgb.shape[1]
    cell = width // _CELLS
    for k in range(_CELLS):
        x = k * cell + cell // 2
        x = width - 1 - x if mirrored else x
        cells.append(int(rgb[8:16, x - 6:x + 6].mean() > 128))
    if (cells[0], cells[-1]) != (0, 1):
        return None
    return sum(bit << k for k, bit in enumerate(cells[1:-1]))


def luma(frame) -> np.ndarray:
    """A decoded frame's Y plane, no copy: enough to read the counter's black and white cells, without
    the colour conversion a whole RGB frame costs (a client reads every frame it gets back)."""
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(-1, plane.line_size)[:, :plane.width]  # rows may be padded


def test_frames(n: int = 60, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """A short loop of frames with two faces moving slightly (drawn faces: no dataset needed). Faces are
    the same share of any frame size (27% of its height: 130 px at 640x480), as a webcam user sits where
    they sit whatever resolution the browser sends."""
    from fer_core.bench.scenes import drawn_face, paste_faces

    size = int(FACE_SHARE * height)
    faces = [drawn_face(120, smile=0.8), drawn_face(120, smile=-0.6)]
    x0, x1 = int(0.14 * width), min(int(0.62 * width), width - size - 1)
    return [paste_faces(faces, width, height, size, seed=0,
                        positions=[(x0 + (i % 20), int(0.33 * height)), (x1 - (i % 20), int(0.375 * height))])[0]
            for i in range(n)]


# ----------------------------------------------------------------------------- server process
def _serve(conn, mirror: bool) -> None:
    """The server: one event loop thread (as in Streamlit), one WebRtcWorker per offer."""
    import pylibsrtp  # noqa: F401  (before anything that could import TensorFlow)
    from aiortc import RTCConfiguration
    from streamlit_webrtc import WebRtcMode, webrtc
    from streamlit_webrtc.webrtc import WebRtcWorker

    from fer_core.analysis.live import LiveSettings
    from fer_core.app import annotated_encoder, frame_relay, rtp_frames
    from fer_core.app.frame_relay import NewestFrameRelay
    from fer_core.app.live_session import LiveSession, camera_constraints, live_streams
    from fer_core.engine.classifier import Classifier

    rtp_frames.install()  # as the live page does
    frame_relay.install(webrtc)
    annotated_encoder.install()
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="webrtc-loop").start()
    relay = asyncio.run_coroutine_threadsafe(_make_relay(NewestFrameRelay), loop).result()
    classifier = Classifier.from_dir()
    workers, sessions, analysed = [], [], []
    conn.send("ready")  # the page has its classifier before anyone presses START

    mark = None
    while True:
        msg = conn.recv()
        if msg[0] == "offer":
            live = LiveSession.create(classifier, LiveSettings(mirror=mirror))  # the page's defaults, mirrored preview
            live.start()
            analysed.append({})
            worker = WebRtcWorker(
                mode=WebRtcMode.SENDRECV, rtc_configuration=RTCConfiguration(iceServers=[]),
                source_video_track=None, source_audio_track=None, sink_video_track=None, sink_audio_track=None,
                player_factory=None, in_recorder_factory=None, out_recorder_factory=None,
                video_frame_callback=None, audio_frame_callback=None,
                queued_video_frames_callback=_timed(live.on_frames, analysed[-1]), queued_audio_frames_callback=None,
                on_video_ended=None,
                on_audio_ended=None, video_processor_factory=None, audio_processor_factory=None,
                async_processing=True, video_receiver_size=4, audio_receiver_size=4, sendback_video=True,
                sendback_audio=False, loop=loop, relay=relay)
            answer = worker.process_offer(msg[1], "offer", timeout=60)
            workers.append(worker)
            sessions.append(live)
            conn.send(answer.sdp)
        elif msg[0] == "camera":  # what the page would ask this browser for now
            conn.send(camera_constraints(live_streams()))
        elif msg[0] == "mark":
            mark = (time.perf_counter(), _cpu_s(resource.RUSAGE_SELF), thread_cpu_s(),
                    [live.processor.stats for live in sessions])
            conn.send("ok")
        elif msg[0] == "stop":
            wall, cpu = time.perf_counter() - mark[0], _cpu_s(resource.RUSAGE_SELF) - mark[1]
            stats = [live.processor.stats for live in sessions]
            profile = cpu_profile(mark[3], stats, mark[2], thread_cpu_s(), cpu)
            conn.send(({"cpu_cores_busy": round(cpu / wall, 2), "peak_rss_mb": round(_peak_rss_mb(), 1),
                       "analysed_fps": [round(s.fps, 1) for s in stats],
                       "camera_fps": [round(s.camera_fps, 1) for s in stats],
                       "process_ms_per_frame": [round(s.process_ms, 2) for s in stats],
                       "classifier_interpreters": classifier._created, "profile": profile}, analysed))
            for w in workers:
                w.stop(timeout=1)
            return


def _timed(on_frames, log: dict[int, tuple[float, float]]):
    """The page's callback, noting when each analysed frame (by its counter) started and ended: both
    processes read the same clock (perf_counter is system-wide), so the client splits each round trip
    into the way there, the analysis and the way back (``_legs``)."""
    async def callback(frames):
        start = time.perf_counter()
        out = await on_frames(frames)
        n = read_counter(luma(frames[-1]), mirrored=False)
        if n is not None:
            log[n] = (start, time.perf_counter())
        return out
    return callback


# Server threads by the name Python gives them (others are native: codec, OpenCV): what each does.
THREAD_ROLES = (("video-decoder", "decode (aiortc decoder thread)"),
                ("async_media_processor", "frame callback, rest"),
                ("asyncio", "encode (aiortc executor threads)"),
                ("webrtc-loop", "event loop (RTP, SRTP, ICE, relay)"))
# The frame callback's own stages (LiveStats.cpu_ms), in the order a frame meets them.
CALLBACK_STAGES = (("to_rgb", "to RGB (frame.to_ndarray)"), ("mirror", "mirror copy"), ("detect", "detect / track"),
                   ("classify", "classify (crops, model, smoothing)"), ("annotate", "annotate"),
                   ("from_rgb", "to the encoder's yuv420p"))


def thread_cpu_s() -> dict[str, float]:
    """CPU seconds so far of each of this process's threads, by role (THREAD_ROLES; 'other threads' for
    the rest): Python's threads from their CPU clocks, native ones (codec, OpenCV) from /proc, in
    clock ticks. aiortc's codec threads are invisible to a Python profiler."""
    python = {t.native_id: t for t in threading.enumerate()}
    tick = os.sysconf("SC_CLK_TCK")
    out: dict[str, float] = {}
    for tid in os.listdir("/proc/self/task"):
        thread = python.get(int(tid))
        try:
            if thread is not None:
                name, cpu = thread.name, time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
            else:
                with open(f"/proc/self/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                name, cpu = "", (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except OSError:  # the thread ended meanwhile
            continue
        role = next((r for prefix, r in THREAD_ROLES if name.startswith(prefix)), "other threads")
        out[role] = out.get(role, 0.0) + cpu
    return out


def cpu_profile(before: list, after: list, threads0: dict[str, float], threads1: dict[str, float],
                process_cpu_s: float) -> dict:
    """Server CPU ms per analysed frame, by stage, between two readings of every session's LiveStats
    and of the threads (thread_cpu_s): the callback's stages as LiveStats timed them, the rest of the
    callback thread, and the other threads by role; 'unaccounted' is threads that ended meanwhile."""
    frames = sum(a.frames for a in after) - sum(b.frames for b in before)
    if frames <= 0:
        return {"frames": 0}
    ms = {}
    for key, label in CALLBACK_STAGES:
        ms[label] = sum(a.cpu_ms.get(key, 0.0) - b.cpu_ms.get(key, 0.0) for a, b in zip(after, before)) / frames
    threads = {r: (threads1.get(r, 0.0) - threads0.get(r, 0.0)) * 1000.0 / frames for r in threads1}
    callback = threads.pop("frame callback, rest", 0.0)
    ms["frame callback, rest"] = max(0.0, callback - sum(ms.values()))
    ms.update(threads)
    total = process_cpu_s * 1000.0 / frames
    ms["unaccounted"] = max(0.0, total - sum(ms.values()))
    return {"frames": frames, "total_ms": round(total, 2), "ms": {k: round(v, 2) for k, v in ms.items()}}


def profile_table(profile: dict) -> str:
    """The profile as a small text table: stage, CPU ms per analysed frame, share of the total."""
    if not profile.get("frames"):
        return "no frames analysed"
    total = profile["total_ms"]
    rows = [f"{'stage':<40} {'ms/frame':>9} {'share':>6}"]
    rows += [f"{k:<40} {v:>9.2f} {v / total:>6.0%}" for k, v in profile["ms"].items()]
    rows.append(f"{'server CPU per analysed frame':<40} {total:>9.2f} {'':>6}  ({profile['frames']} frames)")
    return "\n".join(rows)


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
    started: float = 0.0                                       # when the offer was made
    sent: dict[int, float] = field(default_factory=dict)       # counter -> when the camera sent it
    sent_at: list[float] = field(default_factory=list)         # every camera frame's send time
    fresh: list[tuple[float, float, int]] = field(default_factory=list)  # (arrival, round trip ms, counter)
    first_annotated: float | None = None
    camera: str = ""                                           # what this client's camera sends


def _clip_track(frames: list[np.ndarray], stats: SessionStats, fps: int = FPS):
    from fractions import Fraction

    from aiortc import VideoStreamTrack
    from aiortc.mediastreams import VIDEO_CLOCK_RATE

    from fer_core.app.live_session import encoder_frame

    class ClipTrack(VideoStreamTrack):
        """A camera at ``fps``: the test frames in a loop, each with its counter."""

        def __init__(self) -> None:
            super().__init__()
            self.n = 0
            self._t0: float | None = None

        async def next_timestamp(self):
            """aiortc's pacing at this camera's rate (its own is fixed at 30 fps)."""
            if self._t0 is None:
                self._t0 = time.time()
            pts = self.n * VIDEO_CLOCK_RATE // fps
            await asyncio.sleep(max(0.0, self._t0 + self.n / fps - time.time()))
            return pts, Fraction(1, VIDEO_CLOCK_RATE)

        async def recv(self):
            pts, time_base = await self.next_timestamp()
            rgb = frames[self.n % len(frames)].copy()
            draw_counter(rgb, self.n)
            now = time.perf_counter()
            stats.sent[self.n % (1 << _BITS)] = now
            stats.sent_at.append(now)
            self.n += 1
            frame = encoder_frame(rgb)  # in yuv420p, as a browser's camera gives its encoder
            frame.pts, frame.time_base = pts, time_base
            return frame

    return ClipTrack()


def camera_of(constraints: dict) -> tuple[int, int, int]:
    """(width, height, fps) a browser gives for the page's media constraints (their ideal values)."""
    return (int(constraints["width"]["ideal"]), int(constraints["height"]["ideal"]),
            int(constraints["frameRate"]["ideal"]))


async def _session(conn_lock: asyncio.Lock, conn, frames, mirrored: bool, stats: SessionStats, fps: int = FPS):
    from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription

    stats.started = time.perf_counter()
    stats.camera = f"{frames[0].shape[1]}x{frames[0].shape[0]} at {fps} fps"
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(_clip_track(frames, stats, fps))

    @pc.on("track")
    def on_track(track):
        async def read():
            last = None
            while True:
                try:
                    frame = await track.recv()
                except Exception:  # the session ended
                    return
                now = time.perf_counter()
                n = read_counter(luma(frame), mirrored)
                sent = stats.sent.get(n) if n is not None and n != last else None
                if sent is None or not 0 <= now - sent < 5:  # not analysed yet, or a repeat
                    continue
                last = n
                stats.fresh.append((now, (now - sent) * 1000, n))
                if stats.first_annotated is None:
                    stats.first_annotated = now
        asyncio.ensure_future(read())

    await pc.setLocalDescription(await pc.createOffer())
    async with conn_lock:
        answer = await asyncio.get_running_loop().run_in_executor(None, _ask, conn, pc.localDescription.sdp)
    await pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))
    return pc


def _ask(conn, sdp: str) -> str:
    conn.send(("offer", sdp))
    return conn.recv()


def _ask_camera(conn) -> tuple[int, int, int]:
    conn.send(("camera",))
    return camera_of(conn.recv())


async def _first_frame(stats: SessionStats, timeout: float = 5.0) -> None:
    """Wait until this session's first annotated frame came back (at most ``timeout`` seconds)."""
    end = time.perf_counter() + timeout
    while stats.first_annotated is None and time.perf_counter() < end:
        await asyncio.sleep(0.05)


def _window(stats: SessionStats, t0: float, t1: float) -> dict:
    """One session's figures over [t0, t1): annotated frames back per second, the share of camera
    frames never analysed, round trips, and the time from its offer to its first annotated frame."""
    fresh = [rtt for t, rtt, _ in stats.fresh if t0 <= t < t1]
    sent = sum(t0 <= t < t1 for t in stats.sent_at)
    rtt = np.array(fresh) if fresh else np.array([np.nan])
    first = None if stats.first_annotated is None else round(stats.first_annotated - stats.started, 2)
    return {"fps": round(len(fresh) / (t1 - t0), 1),
            "dropped_share": round(max(0.0, 1 - len(fresh) / sent), 3) if sent else None,
            "rtt_p50_ms": round(float(np.percentile(rtt, 50)), 1),
            "rtt_p95_ms": round(float(np.percentile(rtt, 95)), 1), "first_frame_s": first}


async def _bench(sessions: int, seconds: float, warmup: float, mirror: bool,
                 camera: tuple[int, int, int] | None = None) -> dict:
    """``camera``: (width, height, fps) for every client; None: what the page asks each one for."""
    from fer_core.app import rtp_frames

    rtp_frames.install()  # the clients assemble frames at their marked last packet, as browsers do
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    server = ctx.Process(target=_serve, args=(child, mirror), daemon=True)
    server.start()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, parent.recv)  # "ready": the model is loaded
    lock = asyncio.Lock()
    stats = [SessionStats() for _ in range(sessions)]
    clips: dict[tuple[int, int], list[np.ndarray]] = {}
    pcs = []
    for k, s in enumerate(stats):
        if camera is None and k:
            await _first_frame(stats[k - 1])  # the one before is playing: the server counts it
        if camera is None:
            async with lock:
                width, height, fps = await loop.run_in_executor(None, _ask_camera, parent)
        else:
            width, height, fps = camera
        frames = clips.setdefault((width, height), test_frames(width=width, height=height))
        pcs.append(await _session(lock, parent, frames, mirror, s, fps))
    await asyncio.sleep(warmup)
    parent.send(("mark",))
    parent.recv()
    t0, c0 = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    await asyncio.sleep(seconds)
    t1, c1 = time.perf_counter(), _cpu_s(resource.RUSAGE_SELF)
    parent.send(("stop",))
    srv, analysed = parent.recv()
    lost = [await _packets_lost(pc) for pc in pcs]
    for pc in pcs:
        await pc.close()
    server.join(timeout=10)
    per = [{"camera": s.camera, **_window(s, t0, t1), **_legs(s, log, t0, t1), "packets_lost_back": n}
           for s, log, n in zip(stats, analysed, lost)]
    rates = [p["fps"] for p in per]
    firsts = [p["first_frame_s"] for p in per]
    cameras = [s.camera for s in stats]
    return {"sessions": sessions, "seconds": seconds,
            "cameras": {c: cameras.count(c) for c in dict.fromkeys(cameras)}, "faces": 2,
            "camera_choice": "the page's" if camera is None else "fixed",
            "per_session": per, "min_fps": min(rates),
            "fairness": round(min(rates) / max(rates), 2) if max(rates) > 0 else None,  # slowest / fastest session
            "dropped_share_mean": _mean(p["dropped_share"] for p in per),
            "rtt_p50_ms_max": max(p["rtt_p50_ms"] for p in per), "rtt_p95_ms_max": max(p["rtt_p95_ms"] for p in per),
            "first_frame_s_max": None if None in firsts else max(firsts),
            "target": f">= {TARGET_FPS:g} fps per session", "server": srv,
            "clients_cpu_cores_busy": round((c1 - c0) / (t1 - t0), 2), "cpu_count": os.cpu_count()}


async def _packets_lost(pc) -> int:
    """Packets of the annotated video that never reached this client (as its RTP statistics count them)."""
    lost = 0
    for receiver in pc.getReceivers():
        for stat in (await receiver.getStats()).values():
            lost += getattr(stat, "packetsLost", 0) if stat.type == "inbound-rtp" else 0
    return lost


def _legs(stats: SessionStats, analysed: dict[int, tuple[float, float]], t0: float, t1: float) -> dict:
    """Median ms of each annotated frame's way: from the camera to the start of its analysis (client
    encoder, network, server decoder, waiting), the analysis, and back (server encoder, network, client
    decoder). Where frames queue, that leg grows."""
    legs = [(a[0] - stats.sent[n], a[1] - a[0], t - a[1]) for t, _, n in stats.fresh
            if t0 <= t < t1 and (a := analysed.get(n)) and n in stats.sent]
    if not legs:
        return {}
    there, work, back = (round(float(np.median(v)) * 1000, 1) for v in zip(*legs))
    return {"to_analysis_ms": there, "analysis_ms": work, "back_ms": back}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(np.mean(values)), 3) if values else None


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
    ap.add_argument("--size", default=None,
                    help=f"every camera's frame size WxH (default: the page's choice; {WIDTH}x{HEIGHT} with --fps)")
    ap.add_argument("--fps", type=int, default=None,
                    help=f"every camera's frames a second (default: the page's choice; {FPS} with --size)")
    ap.add_argument("--json", default=None, help="also write the figures here")
    ap.add_argument("--profile", action="store_true",
                    help="also print where the server's CPU goes per analysed frame, by stage")
    args = ap.parse_args(argv)
    if args.sessions < 1 or args.seconds <= 0:
        ap.error("--sessions must be 1 or more and --seconds more than 0")
    camera = None
    if args.size is not None or args.fps is not None:
        try:
            size = tuple(int(v) for v in (args.size or f"{WIDTH}x{HEIGHT}").lower().split("x"))
        except ValueError:
            size = ()
        fps = FPS if args.fps is None else args.fps
        if len(size) != 2 or min(size) < 160 or not 1 <= fps <= 60:
            ap.error("--size must be WxH with both sides at least 160 px, and --fps 1 to 60")
        camera = (*size, fps)
    if not os.environ.get(_NS_FLAG):
        return _reexec_in_namespace(argv)
    import pylibsrtp  # noqa: F401  (aiortc before anything that could import TensorFlow)

    report = asyncio.run(_bench(args.sessions, args.seconds, args.warmup, not args.no_mirror, camera))
    print_report(report, args.json)
    if args.profile:
        print(profile_table(report["server"]["profile"]))
    return 0


if __name__ == "__main__":
    # Run as the importable module, so the spawned server process finds _serve by its real name.
    from fer_core.bench.live import main as _main

    raise SystemExit(_main())
