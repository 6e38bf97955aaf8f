"""The live webcam pipeline, called from streamlit-webrtc's video callback (a worker thread).

Per frame: detect faces (BlazeFace by default, every ``detect_every`` frames; tracked in between), classify
the crops with the TFLite classifier, smooth each face's probabilities over time, annotate.
Records go to a thread-safe queue the page drains for its chart. Never imports TensorFlow:
TensorFlow before aiortc's pylibsrtp crashes the server (../shared/notes).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass

import numpy as np

from fer_core.annotate import annotate_frame
from fer_core.faces import DEFAULT_DETECTOR, DEFAULT_MARGIN, TF_FREE_DETECTORS, clip_box, crop_face, make_detector
from fer_core.records import make_record
from fer_core.results import FacePrediction
from fer_core.tracker import FaceTracker

MAX_QUEUED_RECORDS = 100_000
FPS_WINDOW_S = 3.0  # the frame rate shown is frames analysed in the last this-many seconds / seconds


@dataclass
class LiveStats:
    fps: float = 0.0          # frames analysed per second over the last FPS_WINDOW_S seconds
    process_ms: float = 0.0   # time spent in process() per frame (EMA)
    n_faces: int = 0
    frames: int = 0


class LiveProcessor:
    """Stateful, thread-safe per-stream processor: ``process(rgb) -> annotated rgb``."""

    def __init__(self, classifier, detector_name: str = DEFAULT_DETECTOR, detect_every: int = 3,
                 smoothing: str = "ema", mirror: bool = False, alpha: float = 0.3, window: int = 8,
                 threshold: float = 0.0, show_bars: bool = False, classify_every: int = 1,
                 record_interval_s: float = 0.2, margin: float = DEFAULT_MARGIN,
                 detector=None, clock=time.monotonic) -> None:
        if detector is None:
            if detector_name not in TF_FREE_DETECTORS:
                raise ValueError(f"The live page can only use {', '.join(TF_FREE_DETECTORS)} "
                                 f"(detector {detector_name!r} needs TensorFlow, which would crash the stream).")
            detector = make_detector(detector_name, "live")
        if detect_every < 1 or classify_every < 1:
            raise ValueError("detect_every and classify_every must be at least 1.")
        self.classifier = classifier
        self.detector = detector
        self._clock = clock
        self._lock = threading.Lock()
        self._records: deque[dict] = deque(maxlen=MAX_QUEUED_RECORDS)
        self._settings = {
            "detector": getattr(detector, "name", detector_name), "detect_every": int(detect_every),
            "classify_every": int(classify_every), "smoothing": smoothing, "alpha": float(alpha),
            "window": int(window), "mirror": bool(mirror), "threshold": float(threshold),
            "show_bars": bool(show_bars), "record_interval_s": float(record_interval_s), "margin": float(margin),
        }
        self._tracker = FaceTracker(smoothing=smoothing, alpha=alpha, window=window)
        self._stats = LiveStats()
        self._frame = 0
        self._t0: float | None = None
        self._arrivals: deque[float] = deque()
        self._last_record = -1e9

    # -------------------------------------------------------------- settings
    @property
    def settings(self) -> dict:
        with self._lock:
            return dict(self._settings)

    def update_settings(self, **kw) -> None:
        """Change settings while streaming (smoothing changes restart the face tracks)."""
        unknown = set(kw) - set(self._settings) - {"detector"}
        if unknown:
            raise ValueError(f"Unknown live settings: {', '.join(sorted(unknown))}.")
        with self._lock:
            new = {**self._settings, **kw}
            if new["detect_every"] < 1 or new["classify_every"] < 1:
                raise ValueError("detect_every and classify_every must be at least 1.")
            if any(new[k] != self._settings[k] for k in ("smoothing", "alpha", "window")):
                self._tracker = FaceTracker(smoothing=new["smoothing"], alpha=new["alpha"], window=new["window"])
            if new["detector"] != self._settings["detector"]:
                if new["detector"] not in TF_FREE_DETECTORS:
                    raise ValueError(f"The live page can only use {', '.join(TF_FREE_DETECTORS)}.")
                self.detector = make_detector(new["detector"], "live")
            self._settings = new

    @property
    def stats(self) -> LiveStats:
        """A copy of the counters, with the frame rate measured now (it falls when frames stop)."""
        with self._lock:
            out = LiveStats(**asdict(self._stats))
            out.fps = self._window_fps(self._clock())
            return out

    def _window_fps(self, now: float) -> float:
        """Frames analysed in the last FPS_WINDOW_S seconds divided by that time (less at the start).

        Counting frames over wall time reports the rate the server keeps up with; averaging
        1/interval would overstate it, since frames arrive unevenly (bursts after slow ones).
        """
        if self._t0 is None:
            return 0.0
        window = min(FPS_WINDOW_S, now - self._t0)
        while self._arrivals and self._arrivals[0] <= now - FPS_WINDOW_S:
            self._arrivals.popleft()
        if window < 0.5:  # too short to say
            return 0.0
        return sum(1 for a in self._arrivals if a > now - window) / window

    # ------------------------------------------------------------ processing
    def process(self, rgb: np.ndarray) -> np.ndarray:
        """One RGB frame in, the annotated frame out; records queued for the page."""
        with self._lock:
            start = self._clock()
            s = self._settings
            img = np.ascontiguousarray(rgb[:, ::-1] if s["mirror"] else rgb)
            h, w = img.shape[:2]
            i = self._frame
            if self._t0 is None:
                self._t0 = start
            if i % s["detect_every"] == 0:
                tracks = self._tracker.update(self.detector.detect(img), frame=i)
            else:
                tracks = self._tracker.predict(i)
            visible = [(t, b) for t in tracks if (b := clip_box(t.box, w, h)) is not None]
            if visible and (i % s["classify_every"] == 0 or any(t.probs is None for t, _ in visible)):
                crops = [crop_face(img, b, s["margin"], align=False) for _, b in visible]
                for (t, _), p in zip(visible, self.classifier.predict(crops)):
                    self._tracker.smooth(t, p)
            preds = [FacePrediction(b, t.probs, track_id=t.id, classes=self.classifier.classes)
                     for t, b in visible if t.probs is not None]
            out = annotate_frame(img, preds, threshold=s["threshold"], show_bars=s["show_bars"])
            t_rel = start - self._t0
            if preds and t_rel - self._last_record >= s["record_interval_s"]:
                self._last_record = t_rel
                for p in preds:
                    self._records.append(make_record(p, t_rel, i, p.track_id))
            self._frame += 1
            end = self._clock()
            st = self._stats
            self._arrivals.append(start)
            while self._arrivals[0] <= start - FPS_WINDOW_S:
                self._arrivals.popleft()
            ms = (end - start) * 1000.0
            st.process_ms = ms if st.frames == 0 else 0.9 * st.process_ms + 0.1 * ms
            st.n_faces = len(preds)
            st.frames += 1
            return out

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
            self._tracker = FaceTracker(smoothing=self._settings["smoothing"], alpha=self._settings["alpha"],
                                        window=self._settings["window"])
            self._records.clear()
            self._stats = LiveStats()
            self._frame = 0
            self._t0 = None
            self._arrivals.clear()
            self._last_record = -1e9
