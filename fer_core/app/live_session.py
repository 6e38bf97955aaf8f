"""One browser tab's live stream from START to STOP, kept out of the page script.

The page only lays out widgets and messages; this holds the stream's records (the chart's data),
turns the History switch into where they go, and saves them as the stream plays: every
``FLUSH_EVERY_S`` seconds the new records are appended to one stored session, so a server crash
mid-stream loses seconds, not the session. STOP saves the rest. Emotion scores only, never frames.
No Streamlit and no TensorFlow here: the video callback's worker thread calls ``on_frames``.

The module also counts the streams this server is analysing (``live_streams``), so that a tab that
starts while another stream plays asks its browser for a smaller, slower camera stream
(``camera_constraints``): on the 2-core machine, eight 640x480 streams at 30 fps came back seconds late,
one of them and seven at 320x240 within 0.3 s (README, live benchmark), and from the ninth a
slower one still. While any stream has the small camera, no stream is analysed faster than it sends
(``fair_interval_s``): the one that kept a big camera does not take twice the others' share. When
frames queue in front of the callback, every stream is analysed less often (``server_load``).
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

import av
import cv2
import numpy as np

from fer_core.analysis.live import LiveProcessor, LiveSettings
from fer_core.app.server_load import ANALYSIS_RATE, FrameLag
from fer_core.app.storage import SessionNotFoundError, SessionStore, StorageError

LOG = logging.getLogger(__name__)
FLUSH_EVERY_S = 5.0
SOURCE = "live"

STREAM_IDLE_S = 3.0  # a stream with no frame for this long no longer counts (a closed tab never says STOP)
FULL_STREAM = {"width": {"ideal": 640}, "height": {"ideal": 480}, "frameRate": {"ideal": 30}}
SMALL_STREAM = {"width": {"ideal": 320}, "height": {"ideal": 240}, "frameRate": {"ideal": 20, "max": 20}}
SLOW_STREAM = {"width": {"ideal": 320}, "height": {"ideal": 240}, "frameRate": {"ideal": 8, "max": 8}}
# (streams already live, the camera a new one asks for), by rising count. On 2 cores a second 640x480 stream
# at 30 fps left eight sessions at 10-11 fps, p50 0.6-1.4 s; a single one, 15 fps at p50 0.3 s. Small cameras
# at 20 fps give four sessions 20 fps and eight 14.8-19.1 (README, session 19); at 15, eight could not pass 15
# (a camera's jitter cost a few tenths). Sixteen streams at 15 fps were more than the server process (about one
# core: its threads share one GIL) could take, and 13 of them got no frame back; with the last eight at 8 fps
# every one of them gets frames.
CAMERA_TIERS = ((0, FULL_STREAM), (1, SMALL_STREAM), (8, SLOW_STREAM))
SMALL_STREAM_FROM = CAMERA_TIERS[1][0]

SMALL_PIXELS = SMALL_STREAM["width"]["ideal"] * SMALL_STREAM["height"]["ideal"]
SMALL_FPS = SMALL_STREAM["frameRate"]["ideal"]

# id(LiveSession) -> (when it last analysed a frame (monotonic), whether its frames are the small stream's)
_last_frame: dict[int, tuple[float, bool]] = {}
_streams_lock = threading.Lock()


def _forget_idle(now: float) -> None:
    for key in [k for k, (t, _) in _last_frame.items() if now - t > STREAM_IDLE_S]:
        del _last_frame[key]


def live_streams(now: float | None = None) -> int:
    """How many streams this server analysed a frame of in the last STREAM_IDLE_S seconds."""
    now = time.monotonic() if now is None else now
    with _streams_lock:
        _forget_idle(now)
        return len(_last_frame)


def fair_interval_s(key: int, now: float | None = None) -> float:
    """The least time between two analysed frames of stream ``key`` if its camera is bigger than the small
    stream: 1 / SMALL_FPS while another live stream has the small camera (its fair share), else none."""
    now = time.monotonic() if now is None else now
    with _streams_lock:
        _forget_idle(now)
        small_other = any(small for k, (_, small) in _last_frame.items() if k != key)
    return 1.0 / SMALL_FPS if small_other else 0.0


def camera_constraints(streams: int) -> dict:
    """The camera a new stream asks the browser for, given the streams already live (CAMERA_TIERS):
    640x480 at 30 fps on an idle server, then 320x240 at 20 fps (a quarter of the pixels, two thirds of the
    frames), then at 8 fps once the server is full."""
    camera = next(cam for start, cam in reversed(CAMERA_TIERS) if streams >= start)
    return copy.deepcopy(camera)


def describe_camera(camera: dict) -> str:
    """'320x240, 20 frames a second': the page's words for a camera of camera_constraints."""
    return f"{camera['width']['ideal']}x{camera['height']['ideal']}, {camera['frameRate']['ideal']} frames a second"


def encoder_frame(rgb: np.ndarray) -> av.VideoFrame:
    """The annotated frame in the VP8 encoder's own format (yuv420p), converted by OpenCV: 0.25 CPU ms at
    640x480 where the encoder's conversion of an RGB frame (PyAV's swscale) took 1.8; both BT.601 with
    limited range, within one level. Odd sizes, which 4:2:0 cannot hold, stay RGB."""
    h, w = rgb.shape[:2]
    if h % 2 or w % 2:
        return av.VideoFrame.from_ndarray(rgb, format="rgb24")
    return av.VideoFrame.from_ndarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2YUV_I420), format="yuv420p")


@dataclass(frozen=True)
class LiveOutcome:
    """What a stopped stream left behind, for the page to say."""

    n_records: int
    session_id: int | None     # the History session, when something was saved
    saving: bool               # the History switch was on at STOP
    error: str | None          # why (part of) the session is not in History


class LiveSession:
    """START/poll/STOP of one stream and its incremental save; the page keeps one per browser tab."""

    def __init__(self, processor: LiveProcessor, *, flush_every_s: float = FLUSH_EVERY_S,
                 clock=time.monotonic) -> None:
        self.processor = processor
        self.records: list[dict] = []      # every record of the current (or last) stream, oldest first
        self.active = False
        self.session_id: int | None = None
        self.save_error: str | None = None
        self.frame_error: str | None = None
        self.outcome: LiveOutcome | None = None
        self._flush_every_s = float(flush_every_s)
        self._clock = clock
        self._store: SessionStore | None = None
        self._saved = 0                    # records[:_saved] are in the database
        self._last_flush = 0.0
        self._started_at: datetime | None = None
        self._next_due = -1e9              # monotonic time from which on_frames analyses the next frame
        self._held = 0                     # frames on_frames held back for the fair share since then
        self._lag = FrameLag()             # how late this stream's frames reach on_frames

    @classmethod
    def create(cls, classifier, settings: LiveSettings, **kw) -> LiveSession:
        """A session over a new processor for ``classifier`` (ValueError/RuntimeError if it cannot start)."""
        return cls(LiveProcessor(classifier, settings), **kw)

    # ------------------------------------------------------------ worker thread
    async def on_frames(self, frames: list[av.VideoFrame]) -> list[av.VideoFrame]:
        """streamlit-webrtc's queued-frames callback: the frames that arrived since the last call. Only
        the newest is analysed; the others are dropped and counted, so a busy server shows a current
        video at a lower rate instead of an ever later one (and the page says it is busy)."""
        now, newest = time.monotonic(), frames[-1]
        ANALYSIS_RATE.report(id(self), self._lag.update(newest.pts, newest.time_base, now), now)
        # a stream bigger than the small one is held to the fair share, and every stream to the rate the
        # server can keep up with
        big = newest.width * newest.height > SMALL_PIXELS
        interval = max(ANALYSIS_RATE.interval_s(), fair_interval_s(id(self), now) if big else 0.0)
        if not self._due(now, interval):
            self._held += len(frames)
            return []  # nothing new for the encoder; the browser keeps showing the last annotated frame
        c0 = time.thread_time()
        rgb = newest.to_ndarray(format="rgb24")
        c1 = time.thread_time()
        out = self.process(rgb, skipped=len(frames) - 1 + self._held)
        self._held = 0
        c2 = time.thread_time()
        frame = encoder_frame(out)
        if newest.time_base is not None:  # sent when ready (fer_core.app.frame_relay), with its camera time
            frame.pts, frame.time_base = newest.pts, newest.time_base
        self.processor.add_cpu_ms("to_rgb", (c1 - c0) * 1000.0)
        self.processor.add_cpu_ms("from_rgb", (time.thread_time() - c2) * 1000.0)
        return [frame]

    def _due(self, now: float, interval: float) -> bool:
        """Whether a frame arriving now is analysed, at most one per ``interval`` on average: each analysed
        frame moves the next due time on by one interval, so a 30 fps camera held to 20 gets two frames of
        three (holding each frame to a least gap analysed one of two, 15). A frame may come a quarter
        interval early (camera jitter), and a quiet while banks at most half an interval."""
        if now < self._next_due - 0.25 * interval:
            return False
        self._next_due = max(self._next_due, now - 0.5 * interval) + interval
        return True

    def process(self, rgb: np.ndarray, skipped: int = 0) -> np.ndarray:
        """The video callback's work: the annotated frame, or the frame itself after an error (kept for
        the page to show once), so one bad frame never ends the stream."""
        with _streams_lock:
            _last_frame[id(self)] = (time.monotonic(), rgb.shape[0] * rgb.shape[1] <= SMALL_PIXELS)
        try:
            return self.processor.process(rgb, skipped=skipped)
        except Exception as exc:
            if self.frame_error is None:
                LOG.exception("live frame processing failed")
                self.frame_error = f"{type(exc).__name__}: {exc}"
            return rgb

    # ------------------------------------------------------------ script thread
    def apply(self, settings: LiveSettings) -> None:
        self.processor.apply(settings)

    def set_store(self, store: SessionStore | None) -> None:
        """Where records go: a store (the History switch on) or None (off). Turning the switch off
        mid-stream deletes what was already saved of this stream, as if it had been off all along;
        after STOP the switch is about the next stream and the saved session stays."""
        if store is None and self.active and self.session_id is not None and self._store is not None:
            try:
                self._store.delete_session(self.session_id)
            except SessionNotFoundError:
                pass
            except StorageError as exc:
                self.save_error = f"The part already saved could not be removed: {exc}"
                return  # keep the store, so the next run tries again
            self.session_id, self._saved = None, 0
        self._store = store

    def start(self) -> None:
        """A new stream: fresh tracks, timeline, counters and messages."""
        self.processor.reset()
        self._lag.reset()
        self._next_due, self._held = -1e9, 0
        self.records.clear()
        self.active = True
        self.session_id, self._saved = None, 0
        self.save_error = self.frame_error = None
        self.outcome = None
        self._started_at = datetime.now(timezone.utc)
        self._last_flush = self._clock()

    def poll(self) -> list[dict]:
        """Collect the records made since the last call; every flush_every_s, save the new ones."""
        new = self.processor.drain_records()
        self.records.extend(new)
        if self.active and self._clock() - self._last_flush >= self._flush_every_s:
            self.flush()
        return new

    def flush(self) -> bool:
        """Save the records not yet in the database; after a failure they wait for the next try."""
        self._last_flush = self._clock()
        if self._store is None or self._saved >= len(self.records):
            return True
        pending = self.records[self._saved:]
        try:
            if self.session_id is None:
                settings = self.processor.settings
                self.session_id = self._store.save_session(
                    SOURCE, pending, started_at=self._started_at,
                    meta={"detector": settings.detector, "detect_every": settings.detect_every,
                          "smoothing": settings.smoothing})
            else:
                self._store.append_records(self.session_id, pending)
        except SessionNotFoundError:  # deleted on the History page while it played: respect that
            self._store, self.session_id = None, None
            self.save_error = "This session was deleted on the History page, so the rest of it is not saved."
            return False
        except (StorageError, ValueError) as exc:
            self.save_error = str(exc)
            return False
        self._saved = len(self.records)
        self.save_error = None
        return True

    def stop(self) -> LiveOutcome:
        """The stream ended: collect and save what is left, and say how it went."""
        self.records.extend(self.processor.drain_records())
        self.active = False
        with _streams_lock:
            _last_frame.pop(id(self), None)
        ANALYSIS_RATE.forget(id(self))
        self.flush()
        self.outcome = LiveOutcome(len(self.records), self.session_id, self._store is not None, self.save_error)
        return self.outcome
