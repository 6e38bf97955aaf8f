"""How far behind the live server is, and how often it may analyse each stream so that it catches up.

Dropping all but the newest frame in the frame callback bounds the wait there, but not the queues in
front of it (the sockets, the decoder, the event loop): when the machine is short of CPU, frames wait
there seconds before the callback sees them, and then every frame it analyses is seconds old. On the
2-core machine sixteen sessions did that (the clients on the same cores). So each stream measures its
frames' lag, the time a frame took to reach the callback beyond the least time any of its frames took
(``FrameLag``, from the frames' own timestamps), and the server analyses each stream at most
``AnalysisRate.fps`` times a second: the rate drops to 0.8 of the rate frames come at when the typical
stream's lag is over ``high_s`` and climbs back slowly while it is under ``low_s`` (additive increase,
multiplicative decrease, as TCP shares a link). A stream's lag there is the least of its frames' lags
over the last ``window_s`` (as CoDel judges a queue): a queue that stands shows in every frame, a stall
of a few frames (the clients taking the cores for a moment) does not. Cutting a third of a 30 fps
ceiling at each late frame had held eight sessions' 20 fps cameras to 14 within five seconds of their
start, for seconds. Analysing fewer frames frees the CPU that encoding, the clients' decoding and the
analysis took, so the queues drain and the lag stays bounded at whatever frame rate the machine allows.
The median stream decides, so one client on a slow network cannot slow the others.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from fractions import Fraction

_RTP_WRAP = 1 << 32  # RTP timestamps are 32-bit: a stream's timestamps wrap after 13 hours at 90 kHz


class FrameLag:
    """One stream's queueing delay from its frames' timestamps (pts and time_base, as aiortc's decoder
    gives them from the RTP timestamps the camera's capture times set)."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._start: float | None = None   # wall time of the first frame
        self._pts: int | None = None
        self._media_s = 0.0                # media time since the first frame
        self._floor = float("inf")         # the least (wall - media) time seen

    def update(self, pts: int | None, time_base: Fraction | None, now: float) -> float | None:
        """The lag of a frame that reached the callback at ``now``, in seconds (None without a timestamp).
        A timestamp that goes back starts the measure again (a new stream)."""
        if pts is None or time_base is None:
            return None
        if self._start is None:
            self._start, self._pts = now, pts
        step = (pts - self._pts) % _RTP_WRAP
        if step >= _RTP_WRAP // 2:  # went back: not the same stream's clock
            self.reset()
            return self.update(pts, time_base, now)
        self._pts = pts
        self._media_s += float(step * time_base)
        ahead = (now - self._start) - self._media_s
        self._floor = min(self._floor, ahead)
        return ahead - self._floor


class AnalysisRate:
    """The most frames a second the server analyses of any one stream, set by the streams' lags."""

    def __init__(self, *, high_s: float = 0.15, low_s: float = 0.05, cut: float = 0.8, hold_s: float = 1.0,
                 raise_per_s: float = 1.0, min_fps: float = 1.0, max_fps: float = 30.0,
                 fresh_s: float = 1.0, window_s: float = 0.5) -> None:
        self.high_s, self.low_s, self.cut, self.hold_s, self.window_s = high_s, low_s, cut, hold_s, window_s
        self.raise_per_s, self.min_fps, self.max_fps, self.fresh_s = raise_per_s, min_fps, max_fps, fresh_s
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.fps = self.max_fps
            self._lags: dict[int, deque[tuple[float, float]]] = {}  # stream -> its (when, lag) in the window
            self._last_cut = -1e9
            self._last_report: float | None = None

    def report(self, key: int, lag_s: float | None, now: float | None = None) -> None:
        """Stream ``key`` saw a frame ``lag_s`` late: cut the rate if the median stream's frames were all
        late for the window, while the queues drain after a cut hold it, raise it while streams are on time."""
        now = time.monotonic() if now is None else now
        with self._lock:
            dt = 0.0 if self._last_report is None else min(now - self._last_report, self.fresh_s)
            self._last_report = now
            for k in [k for k, seen in self._lags.items() if now - seen[-1][0] > self.fresh_s]:
                del self._lags[k]
            if not self._lags:  # nothing played for a while: no earlier load holds this stream back
                self.fps = self.max_fps
            if lag_s is not None:
                seen = self._lags.setdefault(key, deque())
                seen.append((now, lag_s))
                while now - seen[0][0] > self.window_s:
                    seen.popleft()
            if not self._lags:
                return
            lag = statistics.median(min(v for _, v in seen) for seen in self._lags.values())
            if lag > self.high_s:
                if now - self._last_cut >= self.hold_s:  # from the rate frames come at, not a ceiling above it
                    self.fps = max(self.min_fps, min(self.fps, self._arriving_fps()) * self.cut)
                    self._last_cut = now
            elif lag < self.low_s and now - self._last_cut >= self.hold_s:
                self.fps = min(self.max_fps, self.fps + self.raise_per_s * dt)

    def _arriving_fps(self) -> float:
        """The median stream's frames a second reaching the callback in the window (one report each)."""
        rates = [(len(seen) - 1) / (seen[-1][0] - seen[0][0]) for seen in self._lags.values()
                 if seen[-1][0] > seen[0][0]]
        return statistics.median(rates) if rates else self.fps

    def forget(self, key: int) -> None:
        """Stream ``key`` stopped."""
        with self._lock:
            self._lags.pop(key, None)

    def interval_s(self) -> float:
        """The least time between two analysed frames of one stream: none while the server keeps up."""
        return 0.0 if self.fps >= self.max_fps else 1.0 / self.fps


ANALYSIS_RATE = AnalysisRate()  # this server's, shared by its streams
