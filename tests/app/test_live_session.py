"""LiveSession: a live stream saved to History as it plays (a crash loses seconds, not the session),
STOP saving the rest, the History switch, a busy database, and frame errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import locked_sqlite
from factories import make_records

from fer_core.analysis.live import LiveSettings
from fer_core.app import live_session
from fer_core.app.live_session import (FLUSH_EVERY_S, FULL_STREAM, SMALL_STREAM, SMALL_STREAM_FROM, STREAM_IDLE_S,
                                       LiveSession, camera_constraints, live_streams)
from fer_core.app.storage import SessionStore

REPO_ROOT = Path(__file__).resolve().parents[2]
FRAME = np.zeros((4, 4, 3), np.uint8)


@pytest.fixture(autouse=True)
def _fresh_analysis_rate(monkeypatch):
    """Each test's streams start on a server no earlier test's streams loaded."""
    from fer_core.app.server_load import AnalysisRate

    monkeypatch.setattr(live_session, "ANALYSIS_RATE", AnalysisRate())


class FeedProcessor:
    """Stands in for LiveProcessor: each frame queues the next prepared record (one face, 5 a second)."""

    def __init__(self, records: list[dict], fail: bool = False) -> None:
        self.settings = LiveSettings()
        self._todo, self._queue, self._fail = list(records), [], fail
        self.cpu_ms: dict[str, float] = {}

    def process(self, rgb, skipped=0):
        self.got = (rgb.copy(), skipped)
        self.analysed, self.skipped = getattr(self, "analysed", 0) + 1, getattr(self, "skipped", 0) + skipped
        if self._fail:
            raise RuntimeError("detector exploded")
        if self._todo:
            self._queue.append(self._todo.pop(0))
        return rgb[::-1]

    def add_cpu_ms(self, stage: str, ms: float) -> None:
        self.cpu_ms[stage] = self.cpu_ms.get(stage, 0.0) + ms

    def drain_records(self) -> list[dict]:
        out, self._queue = self._queue, []
        return out

    def reset(self) -> None:
        self._queue = []

    def apply(self, settings: LiveSettings) -> None:
        self.settings = settings


class Clock:
    t = 100.0

    def __call__(self) -> float:
        return self.t


def stream(live: LiveSession, clock: Clock, seconds: int, per_second: int = 5) -> None:
    """What the page does while playing: frames on the worker thread, a poll every second."""
    for _ in range(seconds):
        for _ in range(per_second):
            live.process(FRAME)
        clock.t += 1.0
        live.poll()


def playing(store: SessionStore, feed: list[dict]) -> tuple[LiveSession, Clock]:
    """A started stream that saves to ``store``, on a clock the test moves."""
    clock = Clock()
    live = LiveSession(FeedProcessor(feed), clock=clock)
    live.set_store(store)
    live.start()
    return live, clock


def stored(db_url: str) -> list[dict]:
    """Every record in the database, as a second app instance sees it."""
    other = SessionStore(db_url)
    return [r for s in other.list_sessions() for r in other.load_session(s["id"])[1]]


@pytest.fixture
def feed() -> list[dict]:
    return make_records(["happy"] * 20 + ["sad"] * 80, fps=5)


def test_saved_every_few_seconds_while_playing_and_finished_at_stop(db_url, feed):
    live, clock = playing(SessionStore(db_url), feed)
    for second in range(1, 13):
        stream(live, clock, 1)
        lost = 5 * second - len(stored(db_url))
        assert 0 <= lost <= 5 * FLUSH_EVERY_S, second  # at most the seconds since the last save
        if second == 6:  # History shows the part saved so far with its own summary
            (head,) = SessionStore(db_url).list_sessions()
            assert head["n_records"] == 25 and head["dominant_emotion"] == "happy"
    assert len(SessionStore(db_url).list_sessions()) == 1  # one session, appended to
    live.process(FRAME)
    outcome = live.stop()
    assert outcome.session_id == live.session_id and outcome.n_records == 61 and outcome.error is None
    info, records = SessionStore(db_url).load_session(outcome.session_id)
    assert records == [{k: r[k] for k in records[0]} for r in feed[:61]]  # all of it, in order
    assert (info["source"], info["n_records"], info["n_faces"]) == ("live", 61, 1)
    assert info["dominant_emotion"] == "sad" and info["duration_s"] == pytest.approx(12.0)
    assert info["meta"] == {"detector": "blazeface", "detect_every": 3, "smoothing": "ema"}


_CRASHING_APP = """
import sys, time
import av
import numpy as np
from factories import make_records
from test_live_session import FeedProcessor
from fer_core.app.live_session import LiveSession
from fer_core.app.storage import SessionStore
live = LiveSession(FeedProcessor(make_records(["happy"] * 100_000, fps=20)), flush_every_s=float(sys.argv[2]))
live.set_store(SessionStore(sys.argv[1]))
live.start()
frame = np.zeros((4, 4, 3), np.uint8)
made = 0
while True:  # 20 records a second, polled 10 times a second, as the page's fragment would
    for _ in range(2):
        live.process(frame)
    made += 2
    live.poll()
    print(made, flush=True)
    time.sleep(0.1)
"""


@pytest.mark.slow
def test_a_crash_mid_stream_loses_only_the_last_seconds(db_url):
    """The server process is killed (no STOP, no clean-up): what was streamed until the last save is kept."""
    flush_s, rate = 1.0, 20
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(REPO_ROOT / "tests"), str(REPO_ROOT)])}
    proc = subprocess.Popen([sys.executable, "-c", _CRASHING_APP, db_url, str(flush_s)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    made = 0
    try:
        while made < 4 * rate:  # about four seconds of stream
            line = proc.stdout.readline()
            assert line, proc.stderr.read()
            made = int(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    kept = len(stored(db_url))
    assert made - (flush_s + 0.5) * rate <= kept <= made


def test_switch_off_mid_stream_removes_what_was_saved(db_url, feed):
    live, clock = playing(SessionStore(db_url), feed)
    stream(live, clock, 7)
    assert stored(db_url)
    live.set_store(None)  # the user turns the History switch off while it plays
    assert stored(db_url) == []
    stream(live, clock, 7)
    outcome = live.stop()
    assert stored(db_url) == [] and outcome.session_id is None and not outcome.saving
    assert outcome.n_records == 70  # the chart keeps them


def test_switch_off_after_stop_keeps_the_saved_session(db_url, feed):
    live, clock = playing(SessionStore(db_url), feed)
    stream(live, clock, 3)
    sid = live.stop().session_id
    live.set_store(None)  # the switch now speaks for the next stream
    assert len(stored(db_url)) == 15 and SessionStore(db_url).list_sessions()[0]["id"] == sid


def test_a_locked_database_delays_saving_without_losing_records(db_url, feed, monkeypatch):
    monkeypatch.setenv("FER_DB_BUSY_TIMEOUT_S", "0.2")
    store = SessionStore(db_url)
    live, clock = playing(store, feed)
    stream(live, clock, 5)
    store.engine.dispose()
    with locked_sqlite(Path(db_url.removeprefix("sqlite:///"))):
        stream(live, clock, 5)
        assert "another program is holding it locked" in live.save_error
    stream(live, clock, 5)  # the next save writes everything that waited
    assert live.save_error is None and len(stored(db_url)) == 75


def test_a_session_deleted_in_history_while_playing_stays_deleted(db_url, feed):
    store = SessionStore(db_url)
    live, clock = playing(store, feed)
    stream(live, clock, 5)
    store.delete_all()  # someone deletes it on the History page
    stream(live, clock, 5)
    outcome = live.stop()
    assert stored(db_url) == [] and outcome.session_id is None
    assert "deleted on the History page" in outcome.error


def test_nothing_is_saved_without_faces_or_with_the_switch_off(db_url, feed):
    live = LiveSession(FeedProcessor([]), clock=Clock())
    live.set_store(SessionStore(db_url))
    live.start()
    assert live.stop().n_records == 0 and stored(db_url) == []
    live = LiveSession(FeedProcessor(feed), clock=Clock())
    live.start()
    stream(live, Clock(), 8)
    assert live.stop().saving is False and stored(db_url) == []


def test_a_failing_frame_passes_through_and_is_reported_once():
    live = LiveSession(FeedProcessor([], fail=True))
    live.start()
    frame = np.arange(48, dtype=np.uint8).reshape(4, 4, 3)
    assert live.process(frame) is frame
    live.process(frame)
    assert live.frame_error == "RuntimeError: detector exploded"
    live.start()  # a new stream forgets it
    assert live.frame_error is None


def test_the_live_session_never_imports_tensorflow():
    """The live page imports this module: TensorFlow here would crash the stream (../shared/notes)."""
    code = ("import sys, fer_core.app.live_session\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


def test_queued_frames_callback_analyses_the_newest_and_counts_the_rest():
    import asyncio

    import av

    feed = FeedProcessor(make_records(["happy"]))
    live = LiveSession(feed)
    frames = [av.VideoFrame.from_ndarray(np.full((4, 6, 3), v, np.uint8), format="rgb24") for v in (10, 20, 30)]
    for k, f in enumerate(frames):
        f.pts, f.time_base = 3000 * k, Fraction(1, 90000)
    out = asyncio.run(live.on_frames(frames))
    rgb, skipped = feed.got
    assert skipped == 2 and (rgb == 30).all()  # the newest frame only
    assert len(out) == 1 and out[0].to_ndarray(format="rgb24").shape == (4, 6, 3)
    assert (out[0].pts, out[0].time_base) == (6000, Fraction(1, 90000))  # the camera time of the frame analysed
    assert set(feed.cpu_ms) == {"to_rgb", "from_rgb"} and min(feed.cpu_ms.values()) >= 0  # the profile's stages
    feed._fail = True  # a failing frame goes back as it came, and the stream goes on
    back = asyncio.run(live.on_frames(frames[:1]))[0].to_ndarray(format="rgb24").astype(int)
    assert np.abs(back - 10).max() <= 2  # back as it came (through the encoder's yuv420p)
    assert "detector exploded" in live.frame_error


def test_streams_count_while_they_get_frames_and_stop_counting_at_stop_or_when_idle(monkeypatch):
    monkeypatch.setattr(live_session, "_last_frame", {})
    now = [1000.0]
    monkeypatch.setattr(live_session.time, "monotonic", lambda: now[0])
    a, b = LiveSession(FeedProcessor([])), LiveSession(FeedProcessor([]))
    a.start(), b.start()
    assert live_streams() == 0  # started, no frame yet
    a.process(FRAME), b.process(FRAME), a.process(FRAME)
    assert live_streams() == 2
    a.stop()
    assert live_streams() == 1
    now[0] += STREAM_IDLE_S + 0.1  # b's tab closed without STOP: it stops counting
    assert live_streams() == 0 and live_session._last_frame == {}


def test_frames_go_to_the_encoder_in_its_own_format_with_the_same_picture():
    from fer_core.app.live_session import encoder_frame

    from fer_core.bench.live import test_frames

    rgb = test_frames(1, 320, 240)[0]  # faces on a background, as a camera sends them
    frame = encoder_frame(rgb)
    assert frame.format.name == "yuv420p" and (frame.width, frame.height) == (320, 240)
    swscale = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")  # the encoder's own
    error = [np.abs(f.to_ndarray(format="rgb24").astype(int) - rgb).mean() for f in (frame, swscale)]
    assert error[0] <= error[1] + 0.2, error  # as close to the picture as the encoder's own (1.27 and 1.37 levels)
    odd = encoder_frame(rgb[:47, :63])
    assert odd.format.name == "rgb24" and (odd.width, odd.height) == (63, 47)


def test_a_big_camera_gets_the_small_streams_share_while_one_plays(monkeypatch):
    monkeypatch.setattr(live_session, "_last_frame", {})
    now = [1000.0]
    monkeypatch.setattr(live_session.time, "monotonic", lambda: now[0])
    import asyncio

    big, small = LiveSession(FeedProcessor([])), LiveSession(FeedProcessor([]))
    big_frame = av.VideoFrame.from_ndarray(np.zeros((480, 640, 3), np.uint8), format="rgb24")
    small_frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="rgb24")

    def analysed(live, frame, seconds, fps):
        n = 0
        for _ in range(int(seconds * fps)):
            n += len(asyncio.run(live.on_frames([frame])))
            now[0] += 1 / fps
        return n

    assert analysed(big, big_frame, 1.0, 30) == 30  # alone: every frame
    assert live_session.fair_interval_s(id(big)) == 0.0
    asyncio.run(small.on_frames([small_frame]))
    assert live_session.fair_interval_s(id(big)) == pytest.approx(1 / live_session.SMALL_FPS)
    # the small stream's rate while it plays: two frames of three from a 30 fps camera held to 20
    assert abs(analysed(big, big_frame, 2.0, 30) - 2 * live_session.SMALL_FPS) <= 1
    feed = big.processor  # every frame held back is counted as dropped with the next one analysed
    assert feed.analysed + feed.skipped + big._held == 90
    assert analysed(small, small_frame, 1.0, 20) == 20  # the small one keeps all of its own
    now[0] += live_session.STREAM_IDLE_S + 0.1  # the small stream ended
    assert analysed(big, big_frame, 1.0, 30) == 30


def test_a_busier_server_asks_new_streams_for_fewer_pixels_then_fewer_frames():
    slow_from = live_session.CAMERA_TIERS[2][0]
    assert camera_constraints(0) == camera_constraints(SMALL_STREAM_FROM - 1) == FULL_STREAM
    assert camera_constraints(SMALL_STREAM_FROM) == camera_constraints(slow_from - 1) == SMALL_STREAM
    assert camera_constraints(slow_from) == camera_constraints(50) == live_session.SLOW_STREAM
    full, small, slow = FULL_STREAM, SMALL_STREAM, live_session.SLOW_STREAM
    assert small["width"]["ideal"] * small["height"]["ideal"] * 4 == full["width"]["ideal"] * full["height"]["ideal"]
    assert small["frameRate"]["max"] < full["frameRate"]["ideal"]
    assert slow["frameRate"]["max"] < small["frameRate"]["max"] and slow["width"] == small["width"]
    assert live_session.describe_camera(small) == "320x240, 20 frames a second"
    camera_constraints(0)["width"]["ideal"] = 1
    assert FULL_STREAM["width"]["ideal"] == 640  # each call gives a copy: a page cannot change the defaults


def test_a_stream_is_analysed_at_the_servers_rate_and_reports_its_lag(monkeypatch):
    import asyncio

    rate = live_session.ANALYSIS_RATE
    monkeypatch.setattr(live_session, "_last_frame", {})
    now = [1000.0]
    monkeypatch.setattr(live_session.time, "monotonic", lambda: now[0])
    feed = FeedProcessor([])
    live = LiveSession(feed)
    live.start()
    frame = av.VideoFrame.from_ndarray(np.zeros((240, 320, 3), np.uint8), format="rgb24")
    frame.time_base = Fraction(1, 90000)
    for k in range(90):  # a 15 fps camera whose frames come 50 ms later each: the server is behind
        now[0] = 1000.0 + k / 15 + 0.05 * k
        frame.pts = k * 6000
        asyncio.run(live.on_frames([frame]))
    assert rate.fps < 30.0
    assert feed.analysed < 70 and feed.analysed + feed.skipped + live._held == 90  # held frames count as dropped
    live.stop()
    assert rate._lags == {}
