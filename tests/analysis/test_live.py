"""LiveProcessor and LiveSettings: the webcam path without TensorFlow, detection interval, mirroring,
records, stats, dropped frames and the busy note, settings checked once and applied whole, concurrent
calls, and sessions that never wait on each other."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from factories import meeting_runners

from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import REGISTRY, HaarDetector
from fer_core.core.labels import CLASSES
from fer_core.analysis.live import LiveProcessor, LiveSettings, busy_note
from fer_core.core.records import RECORD_COLUMNS
from fer_core.bench.scenes import drawn_face, paste_faces

REPO = Path(__file__).resolve().parents[2]


class CountingHaar(HaarDetector):
    """The real live detector, counting how often it runs."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.calls = 0

    def detect(self, rgb):
        self.calls += 1
        return super().detect(rgb)


@pytest.fixture(scope="module")
def classifier() -> Classifier:
    return Classifier.from_dir()


def _scene(x=80, y=120, w=640, h=480, size=130):
    frame, _ = paste_faces([drawn_face(120)], w, h, size, positions=[(x, y)])
    return frame


class FakeClock:
    def __init__(self, step=1 / 30):
        self.t, self.step = 0.0, step

    def __call__(self):
        self.t += self.step / 2  # called twice per frame
        return self.t


class ManualClock:
    t = 0.0

    def __call__(self):
        return self.t


def test_live_path_never_imports_tensorflow():
    code = (
        "import sys, json\n"
        "from fer_core.engine.classifier import Classifier\n"
        "from fer_core.analysis.live import LiveProcessor\n"
        "from fer_core.bench.scenes import drawn_face, paste_faces\n"
        "frame, _ = paste_faces([drawn_face(120)], 640, 480, 130, positions=[(80, 120)])\n"
        "lp = LiveProcessor(Classifier.from_dir())\n"
        "for _ in range(30): out = lp.process(frame)\n"
        "print(json.dumps({'tf': sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')),\n"
        "  'faces': lp.stats.n_faces, 'frames': lp.stats.frames, 'shape': list(out.shape)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res == {"tf": [], "faces": 1, "frames": 30, "shape": [480, 640, 3]}


def test_detect_every_n_frames_and_tracking_in_between(classifier):
    det = CountingHaar(**REGISTRY["haar"].settings["live"])
    lp = LiveProcessor(classifier, LiveSettings(detect_every=4), detector=det, clock=FakeClock())
    frame = _scene()
    for _ in range(20):
        out = lp.process(frame)
        assert out.shape == frame.shape and (out != frame).any()  # annotated every frame
        assert lp.stats.n_faces == 1
    assert det.calls == 5
    recs = lp.drain_records()
    ids = {r["face_id"] for r in recs}
    assert ids == {1}
    assert lp.drain_records() == []


def test_records_are_throttled_and_well_formed(classifier):
    lp = LiveProcessor(classifier, LiveSettings(record_interval_s=0.2), clock=FakeClock(1 / 30))
    frame = _scene()
    for _ in range(60):  # two seconds at 30 fps
        lp.process(frame)
    recs = lp.drain_records()
    assert 9 <= len(recs) <= 11
    for r in recs:
        assert tuple(r) == RECORD_COLUMNS and r["label"] in CLASSES
    ts = [r["t"] for r in recs]
    assert ts == sorted(ts) and all(b - a >= 0.2 - 1e-6 for a, b in zip(ts, ts[1:]))
    st = lp.stats
    assert st.frames == 60 and st.fps == pytest.approx(30, rel=0.05) and st.process_ms > 0


def test_frame_rate_counts_frames_in_a_window_not_mean_reciprocal_intervals(classifier):
    """Frames arriving unevenly (10 ms, then 100 ms, ...) are 18 a second, not the ~55 that the
    mean of 1/interval gives; when frames stop, the rate falls."""

    clock = ManualClock()
    lp = LiveProcessor(classifier, clock=clock)
    frame = _scene()
    assert lp.stats.fps == 0.0
    for i in range(66):  # 3.6 s
        clock.t += 0.01 if i % 2 else 0.1
        lp.process(frame)
    assert lp.stats.fps == pytest.approx(2 / 0.11, rel=0.05)
    clock.t += 1.5  # no frame for 1.5 s: half the window is empty
    assert lp.stats.fps == pytest.approx(2 / 0.11 / 2, rel=0.1)
    clock.t += 5
    assert lp.stats.fps == 0.0
    lp.reset()
    assert lp.stats.fps == 0.0


def test_dropped_frames_are_counted_and_the_busy_note_says_so(classifier):
    clock = ManualClock()
    lp = LiveProcessor(classifier, clock=clock)
    frame = _scene()
    for _ in range(31):  # 3 s: the camera sends 30 a second, the server analyses every third
        lp.process(frame, skipped=2)
        clock.t += 0.1
    st = lp.stats
    assert st.frames == 31 and st.dropped == 62
    assert st.fps == pytest.approx(10, rel=0.05) and st.camera_fps == pytest.approx(30, rel=0.05)
    assert st.camera_fps == pytest.approx(3 * st.fps)
    assert re.fullmatch(r"Analysing (9|10) of (29|30) frames a second: the server is busy, so it skips frames "
                        r"to keep the video current\.", busy_note(st))
    for _ in range(31):  # it keeps up again
        lp.process(frame)
        clock.t += 0.1
    st = lp.stats
    assert st.fps == pytest.approx(st.camera_fps) and busy_note(st) is None
    lp.reset()
    assert busy_note(lp.stats) is None and lp.stats.dropped == 0


def test_two_sessions_never_wait_on_each_others_lock(classifier):
    shared = Classifier(classifier.path, classifier.input_size, CLASSES, "tflite", runner_factory=meeting_runners(2))
    sessions = [LiveProcessor(shared, LiveSettings(detect_every=1)) for _ in range(2)]
    assert sessions[0].detector is not sessions[1].detector  # each session detects with its own interpreter
    frame = _scene()
    errors = []

    def play(lp: LiveProcessor) -> None:
        try:
            lp.process(frame)  # detect, then classify: blocks until the other session classifies too
        except threading.BrokenBarrierError as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=play, args=(lp,)) for lp in sessions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and [lp.stats.n_faces for lp in sessions] == [1, 1]


def test_mirror_flips_the_view(classifier):
    frame = _scene(x=60)
    plain = LiveProcessor(classifier, LiveSettings(record_interval_s=0.0))
    plain.process(frame)
    mirrored = LiveProcessor(classifier, LiveSettings(mirror=True, record_interval_s=0.0))
    mirrored.process(frame)
    (a,), (b,) = plain.drain_records(), mirrored.drain_records()
    assert a["x"] < 320 < b["x"]
    assert abs((a["x"] + a["w"] / 2) - (640 - (b["x"] + b["w"] / 2))) <= 3


def test_settings_are_checked_once_when_made():
    s = LiveSettings()
    assert (s.detector, s.detect_every, s.smoothing, s.mirror) == ("blazeface", 3, "ema", False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.detect_every = 5  # a change is a new LiveSettings, handed over whole
    for bad, message in [({"detector": "mtcnn"}, "only use blazeface, haar"), ({"detect_every": 0}, "at least 1"),
                         ({"smoothing": "median"}, "Unknown smoothing"), ({"alpha": 0.0}, "EMA weight"),
                         ({"window": 0}, "EMA weight"), ({"threshold": 1.5}, "threshold")]:
        with pytest.raises(ValueError, match=message):
            LiveSettings(**bad)
    tracker = LiveSettings(smoothing="window", window=4).tracker()
    assert tracker is not LiveSettings(smoothing="window", window=4).tracker()  # fresh each time


def test_new_settings_apply_whole_and_restart_tracks_only_for_smoothing(classifier):
    lp = LiveProcessor(classifier, LiveSettings(record_interval_s=0.0))
    frame = _scene()
    for _ in range(3):
        lp.process(frame)
    tracker = lp._tracker
    lp.apply(dataclasses.replace(lp.settings, threshold=0.5, mirror=True, detect_every=2))
    assert lp._tracker is tracker  # the face keeps its track
    assert (lp.settings.threshold, lp.settings.mirror, lp.settings.detect_every) == (0.5, True, 2)
    lp.apply(dataclasses.replace(lp.settings, smoothing="window", window=4))
    assert lp._tracker is not tracker and lp.settings.smoothing == "window"
    lp.apply(dataclasses.replace(lp.settings, detector="haar"))
    assert lp.settings.detector == "haar" and lp.detector.name == "haar"
    lp.process(frame)
    assert lp.stats.frames == 4


def test_no_face_frames(classifier):
    lp = LiveProcessor(classifier)
    blank = np.full((480, 640, 3), 90, np.uint8)
    out = lp.process(blank)
    np.testing.assert_array_equal(out, blank)
    assert lp.stats.n_faces == 0 and lp.drain_records() == []


def test_concurrent_calls_are_serialised(classifier):
    lp = LiveProcessor(classifier, LiveSettings(record_interval_s=0.0))
    frame = _scene()
    errors = []

    def run():
        try:
            for _ in range(10):
                assert lp.process(frame).shape == frame.shape
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and lp.stats.frames == 30
    recs = lp.drain_records()
    assert sorted(r["frame"] for r in recs) == list(range(30))
    lp.reset()
    assert lp.stats.frames == 0 and lp.drain_records() == []
