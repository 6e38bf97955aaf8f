"""The live webcam pipeline, called from streamlit-webrtc's video callback (a worker thread).

Per frame: detect faces (BlazeFace by default, every ``detect_every`` frames, the whole frame every
``search_every_s`` and near the known faces in between; tracked in between), classify
the crops with the TFLite classifier (every third frame when smoothing is on), smooth each face's
probabilities over time, annotate.
Records go to a thread-safe queue the page drains for its chart. Frames that arrived while the last one
was being analysed are dropped, not queued (``process(rgb, skipped=n)`` counts them), so the video stays
current under load and ``busy_note`` tells the page to say so. Never imports TensorFlow:
TensorFlow before aiortc's pylibsrtp crashes the server (../shared/notes).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, field, replace

import cv2
import numpy as np

from fer_core.engine.annotate import annotate_frame
from fer_core.engine.faces import DEFAULT_DETECTOR, DEFAULT_MARGIN, TF_FREE_DETECTORS, clip_box, crop_face, make_detector
from fer_core.core.records import make_record
from fer_core.core.results import FacePrediction
from fer_core.engine.tracker import DEFAULT_ALPHA, DEFAULT_SMOOTHING, DEFAULT_WINDOW, SMOOTHING_METHODS, FaceTracker

MAX_QUEUED_RECORDS = 100_000
# The stages process() times (CPU of the calling thread), in order; the page's callback adds the
# frame conversions around it (fer_core.app.live_session) and the live bench reads them all.
STAGES = ("mirror", "detect", "classify", "annotate")
FPS_WINDOW_S = 3.0  # the frame rate shown is frames analysed in the last this-many seconds / seconds
BUSY_SHARE = 0.9  # analysing fewer than this share of the camera's frames is worth telling the user
# With smoothing on, faces are classified every this-many frames by default (their label holds in
# between), and the smoothing is rescaled to answer as fast in time: the classifier's share is a third.
CLASSIFY_EVERY_SMOOTHED = 3


@dataclass(frozen=True)
class LiveSettings:
    """Everything the live pipeline can be told, checked once when made: the page builds one per run
    from its widgets and hands it over whole, so the worker thread never sees half a change."""

    detector: str = DEFAULT_DETECTOR
    detect_every: int = 3          # detect faces every N frames; track them in between
    search_every_s: float = 1.0    # search the whole frame this often; between, only near known faces
    classify_every: int | None = None  # None: CLASSIFY_EVERY_SMOOTHED with smoothing, else every frame
    smoothing: str = DEFAULT_SMOOTHING  # one of tracker.SMOOTHING_METHODS
    alpha: float = DEFAULT_ALPHA   # EMA weight of the newest frame
    window: int = DEFAULT_WINDOW   # sliding-window length in frames
    mirror: bool = False
    threshold: float = 0.0         # below it a face is drawn as "uncertain"
    show_bars: bool = False
    record_interval_s: float = 0.2  # at most one record per face this often
    margin: float = DEFAULT_MARGIN

    def __post_init__(self) -> None:
        if self.detector not in TF_FREE_DETECTORS:
            raise ValueError(f"The live page can only use {', '.join(TF_FREE_DETECTORS)} "
                             f"(detector {self.detector!r} needs TensorFlow, which would crash the stream).")
        if self.detect_every < 1 or (self.classify_every is not None and self.classify_every < 1):
            raise ValueError("detect_every and classify_every must be at least 1.")
        if self.smoothing not in SMOOTHING_METHODS:
            raise ValueError(f"Unknown smoothing {self.smoothing!r}; choose one of {', '.join(SMOOTHING_METHODS)}.")
        if not 0.0 < self.alpha <= 1.0 or self.window < 1:
            raise ValueError("The EMA weight must be in (0, 1] and the smoothing window at least 1 frame.")
        if not 0.0 <= self.threshold <= 1.0 or min(self.record_interval_s, self.margin, self.search_every_s) < 0:
            raise ValueError("threshold must be in [0, 1]; record_interval_s, margin and search_every_s at least 0.")

    @property
    def classify_interval(self) -> int:
        """Classify faces every this-many frames."""
        if self.classify_every is not None:
            return self.classify_every
        return 1 if self.smoothing == "none" else CLASSIFY_EVERY_SMOOTHED

    def _smoothing(self) -> tuple[str, float, int]:
        """The tracker's smoothing per classification: with one every k frames, the EMA weight and the
        window that smooth k frames as the settings smooth one (a constant input moves the EMA as far
        in one update of 1 - (1 - alpha)^k as in k updates of alpha)."""
        k = self.classify_interval
        if k == 1:
            return self.smoothing, self.alpha, self.window
        return self.smoothing, 1.0 - (1.0 - self.alpha) ** k, max(1, round(self.window / k))

    def tracker(self) -> FaceTracker:
        """A fresh tracker with these smoothing settings: the one place live face tracks are made."""
        smoothing, alpha, window = self._smoothing()
        return FaceTracker(smoothing=smoothing, alpha=alpha, window=window)

    def restarts_tracks(self, other: LiveSettings) -> bool:
        """Whether moving from ``other`` to these settings needs new tracks (smoothing changed)."""
        return self._smoothing() != other._smoothing()


@dataclass
class LiveStats:
    fps: float = 0.0          # frames analysed per second over the last FPS_WINDOW_S seconds
    camera_fps: float = 0.0   # frames that arrived per second (analysed or dropped), same window
    process_ms: float = 0.0   # time spent in process() per frame (EMA)
    n_faces: int = 0
    frames: int = 0           # analysed
    dropped: int = 0          # arrived while another frame was being analysed, never analysed
    cpu_ms: dict[str, float] = field(default_factory=dict)  # CPU ms per stage (STAGES, ...) since the start


def busy_note(stats: LiveStats) -> str | None:
    """What to tell the user when the server analyses clearly fewer frames than the camera sends
    (None when it keeps up): the video stays current because the rest are dropped."""
    if stats.camera_fps <= 0 or stats.fps >= BUSY_SHARE * stats.camera_fps:
        return None
    return (f"Analysing {stats.fps:.0f} of {stats.camera_fps:.0f} frames a second: the server is busy, "
            "so it skips frames to keep the video current.")


class LiveProcessor:
    """Stateful, thread-safe per-stream processor: ``process(rgb) -> annotated rgb``."""

    def __init__(self, classifier, settings: LiveSettings | None = None, *, detector=None,
                 clock=time.monotonic) -> None:
        settings = settings or LiveSettings()
        if detector is None:
            detector = make_detector(settings.detector, "live")
        else:  # a detector handed in (tests, benchmarks) names itself
            settings = replace(settings, detector=getattr(detector, "name", settings.detector))
        self.classifier = classifier
        self.detector = detector
        self._clock = clock
        self._lock = threading.Lock()
        self._records: deque[dict] = deque(maxlen=MAX_QUEUED_RECORDS)
        self._settings = settings
        self._tracker = settings.tracker()
        self._stats = LiveStats()
        self._frame = 0
        self._t0: float | None = None
        # (when, frames): each analysed frame, and the frames that arrived with it (analysed or dropped)
        self._arrivals: deque[tuple[float, int]] = deque()
        self._offered: deque[tuple[float, int]] = deque()
        self._last_record = -1e9
        self._last_search = -1e9

    # -------------------------------------------------------------- settings
    @property
    def settings(self) -> LiveSettings:
        return self._settings

    def apply(self, settings: LiveSettings) -> None:
        """Use these settings from the next frame (new smoothing restarts the face tracks)."""
        old = self._settings
        if settings == old:
            return
        detector = make_detector(settings.detector, "live") if settings.detector != old.detector else None
        with self._lock:
            if settings.restarts_tracks(old):
                self._tracker = settings.tracker()
            if detector is not None:
                self.detector = detector
            self._settings = settings

    @property
    def stats(self) -> LiveStats:
        """A copy of the counters, with the frame rate measured now (it falls when frames stop)."""
        with self._lock:
            out = LiveStats(**asdict(self._stats))
            now = self._clock()
            out.fps = self._window_rate(self._arrivals, now)
            out.camera_fps = self._window_rate(self._offered, now)
            return out

    def _window_rate(self, times: deque, now: float) -> float:
        """Frames in the last FPS_WINDOW_S seconds divided by that time (less at the start).

        Counting frames over wall time reports the rate the server keeps up with; averaging
        1/interval would overstate it, since frames arrive unevenly (bursts after slow ones).
        """
        if self._t0 is None:
            return 0.0
        window = min(FPS_WINDOW_S, now - self._t0)
        _trim(times, now)
        if window < 0.5:  # too short to say
            return 0.0
        return sum(n for t, n in times if t > now - window) / window

    def add_cpu_ms(self, stage: str, ms: float) -> None:
        """Count CPU time spent on this stream outside process() (the frame conversions around it)."""
        with self._lock:
            self._stats.cpu_ms[stage] = self._stats.cpu_ms.get(stage, 0.0) + ms

    # ------------------------------------------------------------ processing
    def process(self, rgb: np.ndarray, skipped: int = 0) -> np.ndarray:
        """One RGB frame in, the annotated frame out; records queued for the page. ``skipped``: frames
        that arrived since the last call and were dropped unanalysed (counted for the busy note)."""
        with self._lock:
            start = self._clock()
            laps = [time.thread_time()]  # a CPU clock per stage, for the profile (5 reads: under 0.1 ms a frame)
            s = self._settings
            # cv2.flip: 0.04 CPU ms for 640x480 against 1.6 ms for numpy's reversed-stride copy
            img = np.ascontiguousarray(rgb)
            img = cv2.flip(img, 1) if s.mirror else img
            laps.append(time.thread_time())
            h, w = img.shape[:2]
            i = self._frame
            if self._t0 is None:
                self._t0 = start
            if i % s.detect_every == 0:
                tracks = self._tracker.update(self._detect(img, start), frame=i)
            else:
                tracks = self._tracker.predict(i)
            laps.append(time.thread_time())
            visible = [(t, b) for t in tracks if (b := clip_box(t.box, w, h)) is not None]
            if visible and (i % s.classify_interval == 0 or any(t.probs is None for t, _ in visible)):
                crops = [crop_face(img, b, s.margin, align=False) for _, b in visible]
                for (t, _), p in zip(visible, self.classifier.predict(crops)):
                    self._tracker.smooth(t, p)
            laps.append(time.thread_time())
            preds = [FacePrediction(b, t.probs, track_id=t.id, classes=self.classifier.classes)
                     for t, b in visible if t.probs is not None]
            # a mirrored frame is already a copy of its own: draw on it
            out = annotate_frame(img, preds, threshold=s.threshold, show_bars=s.show_bars, copy=not s.mirror)
            laps.append(time.thread_time())
            t_rel = start - self._t0
            if preds and t_rel - self._last_record >= s.record_interval_s:
                self._last_record = t_rel
                for p in preds:
                    self._records.append(make_record(p, t_rel, i, p.track_id))
            self._frame += 1
            end = self._clock()
            st = self._stats
            self._arrivals.append((start, 1))
            self._offered.append((start, 1 + skipped))
            _trim(self._arrivals, start)
            _trim(self._offered, start)
            st.dropped += skipped
            for stage, a, b in zip(STAGES, laps, laps[1:]):
                st.cpu_ms[stage] = st.cpu_ms.get(stage, 0.0) + (b - a) * 1000.0
            ms = (end - start) * 1000.0
            st.process_ms = ms if st.frames == 0 else 0.9 * st.process_ms + 0.1 * ms
            st.n_faces = len(preds)
            st.frames += 1
            return out

    def _detect(self, img: np.ndarray, now: float) -> list:
        """Faces in the frame: the whole frame searched every ``search_every_s`` (or with no face
        tracked), in between only near the tracked faces (one network run per face instead of seven);
        new faces appear at the next full search, and a face not found near where it was sends the next
        detection to the whole frame."""
        tracked = [t.box for t in self._tracker.tracks]
        near = getattr(self.detector, "detect_near", None)
        if tracked and near is not None and now - self._last_search < self._settings.search_every_s:
            found = near(img, tracked)
            if len(found) < len(tracked):  # a face was lost near where it was: look everywhere next time
                self._last_search = -1e9
            return found
        self._last_search = now
        return self.detector.detect(img)

    def drain_records(self) -> list[dict]:
        """Records produced since the last call (oldest first)."""
        out = []
        while True:
            try:
                out.append(self._records.popleft())
            except IndexError:
                return out

    def reset(self) -> None:
        """Forget tracks, timing and queued records (a new stream)."""
        with self._lock:
            self._tracker = self._settings.tracker()
            self._records.clear()
            self._stats = LiveStats()
            self._frame = 0
            self._t0 = None
            self._arrivals.clear()
            self._offered.clear()
            self._last_record = -1e9
            self._last_search = -1e9


def _trim(times: deque[tuple[float, int]], now: float) -> None:
    """Forget what is older than the frame-rate window."""
    while times and times[0][0] <= now - FPS_WINDOW_S:
        times.popleft()
