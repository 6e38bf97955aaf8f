"""Stable face ids across frames and per-face smoothing of class probabilities.

Detection may run only every N frames; in between, each track's box is moved by the
velocity seen between its last two detections. Detections are matched to tracks by IoU,
falling back to centre distance for fast motion (Hungarian assignment), and a track
survives ``max_misses`` detection rounds without a match, so a face that is briefly
occluded keeps its id.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from fer_core.core.results import FaceBox

SMOOTHING_METHODS: tuple[str, ...] = ("ema", "window", "none")
# The live stream's defaults: EMA weight of the newest frame and the sliding window, in frames.
DEFAULT_SMOOTHING, DEFAULT_ALPHA, DEFAULT_WINDOW = "ema", 0.3, 8
# A video is smoothed per analysed frame, 10 a second on the Video page (fer_core.analysis.video):
# half as many updates as a ~20 fps live stream, so each weighs more for the same ~0.1 s half-life
# (0.5 halves in 1 update, DEFAULT_ALPHA in 2).
VIDEO_ALPHA = 0.5


class ProbSmoother:
    """Exponential moving average or sliding-window mean of probability vectors."""

    def __init__(self, method: str = DEFAULT_SMOOTHING, alpha: float = DEFAULT_ALPHA,
                 window: int = DEFAULT_WINDOW) -> None:
        if method not in SMOOTHING_METHODS:
            raise ValueError(f"Unknown smoothing {method!r}; choose one of {', '.join(SMOOTHING_METHODS)}.")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("EMA alpha must be in (0, 1].")
        if window < 1:
            raise ValueError("Smoothing window must be at least 1 frame.")
        self.method, self.alpha, self.window = method, float(alpha), int(window)
        self._state: np.ndarray | None = None
        self._buf: deque[np.ndarray] = deque(maxlen=self.window)

    def update(self, probs: np.ndarray) -> np.ndarray:
        p = np.asarray(probs, np.float32)
        if self.method == "none":
            return p
        if self.method == "window":
            self._buf.append(p)
            return np.mean(self._buf, axis=0).astype(np.float32)
        self._state = p if self._state is None else self.alpha * p + (1 - self.alpha) * self._state
        return self._state.astype(np.float32)


@dataclass
class Track:
    id: int
    box: FaceBox
    det_box: FaceBox | None = None
    det_frame: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)
    hits: int = 1
    misses: int = 0
    smoother: ProbSmoother | None = field(default=None, repr=False)
    probs: np.ndarray | None = None

    @property
    def visible(self) -> bool:
        return self.misses == 0


def _centre_distance(a: FaceBox, b: FaceBox) -> float:
    (ax, ay), (bx, by) = a.center, b.center
    return float(np.hypot(ax - bx, ay - by))


class FaceTracker:
    """Assigns stable ids to face boxes and keeps a probability smoother per id."""

    def __init__(self, iou_threshold: float = 0.2, max_distance: float = 0.8, max_misses: int = 5,
                 smoothing: str = DEFAULT_SMOOTHING, alpha: float = DEFAULT_ALPHA, window: int = DEFAULT_WINDOW) -> None:
        ProbSmoother(smoothing, alpha, window)  # validate the settings early
        self.iou_threshold = iou_threshold
        self.max_distance = max_distance  # in face sizes, for matches without overlap
        self.max_misses = max_misses
        self.smoothing, self.alpha, self.window = smoothing, alpha, window
        self.tracks: list[Track] = []
        self._next_id = 1
        self._frame = 0

    def _cost(self, t: Track, d: FaceBox) -> float:
        iou = t.box.iou(d)
        if iou >= self.iou_threshold:
            return 1.0 - iou
        size = max(t.box.w, t.box.h, d.w, d.h, 1)
        dist = _centre_distance(t.box, d) / size
        scale = max(t.box.w, d.w) / max(1, min(t.box.w, d.w))
        if dist <= self.max_distance and scale < 1.8:
            return 1.0 + dist
        return np.inf

    def update(self, detections: list[FaceBox], frame: int | None = None) -> list[Track]:
        """Match one detection round (``frame``: its frame index); returns the tracks in detection order."""
        self.predict(frame)
        dets = list(detections)
        matched: set[int] = set()
        assigned: dict[int, Track] = {}
        if self.tracks and dets:
            cost = np.array([[self._cost(t, d) for d in dets] for t in self.tracks])
            rows, cols = linear_sum_assignment(np.where(np.isfinite(cost), cost, 1e6))
            for r, c in zip(rows, cols):
                if not np.isfinite(cost[r, c]):
                    continue
                t, d = self.tracks[r], dets[c]
                if t.det_box is not None and self._frame > t.det_frame:
                    (ox, oy), (nx, ny) = t.det_box.center, d.center
                    dt = self._frame - t.det_frame
                    t.velocity = ((nx - ox) / dt, (ny - oy) / dt)
                t.box, t.det_box, t.det_frame = d, d, self._frame
                t.hits, t.misses = t.hits + 1, 0
                matched.add(r)
                assigned[c] = t
        for r, t in enumerate(self.tracks):
            if r not in matched:
                t.misses += 1
                t.velocity = (0.0, 0.0)
                if t.det_box is not None:
                    t.box = t.det_box
        self.tracks = [t for t in self.tracks if t.misses <= self.max_misses]
        for c, d in enumerate(dets):
            if c not in assigned:
                t = Track(self._next_id, d, det_box=d, det_frame=self._frame,
                          smoother=ProbSmoother(self.smoothing, self.alpha, self.window))
                self._next_id += 1
                self.tracks.append(t)
                assigned[c] = t
        return [assigned[c] for c in range(len(dets))]

    def predict(self, frame: int | None = None) -> list[Track]:
        """Between detections: place visible tracks where their velocity says; returns them."""
        self._frame = self._frame + 1 if frame is None else int(frame)
        out = []
        for t in self.tracks:
            if not t.visible:
                continue
            vx, vy = t.velocity
            if (vx or vy) and t.det_box is not None:
                b, dt = t.det_box, self._frame - t.det_frame
                t.box = FaceBox(int(round(b.x + vx * dt)), int(round(b.y + vy * dt)), b.w, b.h, b.score, None)
            out.append(t)
        return out

    def visible_tracks(self) -> list[Track]:
        return [t for t in self.tracks if t.visible]

    def smooth(self, track: Track, probs: np.ndarray) -> np.ndarray:
        """Feed this frame's probabilities to the track's smoother; returns the smoothed vector."""
        if track.smoother is None:
            track.smoother = ProbSmoother(self.smoothing, self.alpha, self.window)
        track.probs = track.smoother.update(probs)
        return track.probs

    def reset(self) -> None:
        self.tracks = []
        self._next_id = 1
        self._frame = 0
