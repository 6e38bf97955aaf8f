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


class CountingDetector:
    """The live BlazeFace, counting whole-frame and near searches."""

    name = "blazeface"

    def __init__(self):
        from fer_core.engine.faces import make_detector

        self.inner, self.full, self.near = make_detector("blazeface", "live"), 0, 0

    def detect(self, rgb):
        self.full += 1
        return self.inner.detect(rgb)

    def detect_near(self, rgb, boxes):
        self.near += 1
        return self.inner.detect_near(rgb, boxes)


def test_the_whole_frame_is_searched_every_second_and_near_the_faces_between(classifier):
    det, clock = CountingDetector(), ManualClock()
    lp = LiveProcessor(classifier, LiveSettings(detect_every=1, search_every_s=1.0), detector=det, clock=clock)
    one = _scene(x=80)
    two, _ = paste_faces([drawn_face(120), drawn_face(120)], 640, 480, 130, positions=[(80, 120), (420, 140)])
    for i, frame in enumerate([one] * 10 + [two] * 25):  # a second face comes in at 0.33 s; 30 frames a second
        clock.t = i / 30
        lp.process(frame)
    assert det.full == 2 and det.near == 33  # at 0 s and 1 s; the new face waited for the second
    assert lp.stats.n_faces == 2
    lp.reset()  # a new stream starts with a whole-frame search
    lp.process(one)
    assert det.full == 3
    empty = LiveProcessor(classifier, LiveSettings(detect_every=1), detector=CountingDetector(), clock=clock)
    for _ in range(3):
        empty.process(np.zeros((480, 640, 3), np.uint8))
    assert empty.detector.full == 3  # nobody tracked: nothing to search near
    always = LiveProcessor(classifier, LiveSettings(detect_every=1, search_every_s=0.0), detector=det, clock=clock)
    always.process(one), always.process(one)
    assert det.full == 5


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


class CountingClassifier:
    """The real classifier, counting how many crops it was given."""

    def __init__(self, classifier):
        self._c, self.crops = classifier, 0
        self.classes = classifier.classes

    def predict(self, crops):
        self.crops += len(crops)
        return self._c.predict(crops)


def test_with_smoothing_faces_are_classified_every_third_frame_with_the_smoothing_rescaled(classifier):
    s = LiveSettings()
    assert s.classify_interval == 3 and LiveSettings(smoothing="none").classify_interval == 1
    assert LiveSettings(classify_every=2).classify_interval == 2
    tracker = s.tracker()  # one update of a constant input moves the EMA as far as three at alpha
    assert tracker.alpha == pytest.approx(1 - (1 - s.alpha) ** 3) and tracker.window == round(s.window / 3)
    assert LiveSettings(classify_every=1).tracker().alpha == s.alpha
    assert s.restarts_tracks(LiveSettings(classify_every=1)) and not s.restarts_tracks(LiveSettings(classify_every=3))
    counting = CountingClassifier(classifier)
    lp = LiveProcessor(counting, s)
    frame = _scene()
    for _ in range(21):
        lp.process(frame)
        assert lp.stats.n_faces == 1  # the label is shown on every frame
    assert counting.crops == 7


def test_classifying_every_third_frame_barely_changes_the_labels_shown(classifier):
    """Generated frames: 16 faces (FER-2013 crops when the data is there), four at a time, each held
    9 frames then replaced in place; the labels shown per frame mostly agree with classifying every frame,
    and the label each face settles on does."""
    from fer_core.bench.live_accuracy import SLOTS, _slot, stream_frames
    from fer_core.bench.scenes import face_pool

    frames = list(stream_frames(face_pool(16), hold=9))

    def labels(settings):
        lp = LiveProcessor(classifier, dataclasses.replace(settings, record_interval_s=0.0))
        out = []
        for frame, _ in frames:
            lp.process(frame)
            out.append({_slot(r): r["label"] for r in lp.drain_records()})
        return out

    every = labels(LiveSettings(classify_every=1, search_every_s=0.0))
    default = labels(LiveSettings(search_every_s=0.0))  # the near search is checked on its own
    pairs = [(a[k], b.get(k)) for a, b in zip(every, default) for k in a]
    assert len(pairs) >= 0.9 * len(frames) * len(SLOTS)  # the faces were found
    # 0.89-0.93 measured (a new face's label waits up to two frames longer; every 2nd frame 0.95-0.96);
    # no smoothing gave 0.90. On 3,370 FER+ faces the accuracy did not drop (README, live benchmark).
    assert np.mean([x == y for x, y in pairs]) >= 0.85
    settled = [(every[i][k], default[i].get(k)) for i in range(8, len(frames), 9) for k in every[i]]
    assert np.mean([x == y for x, y in settled]) >= 0.9  # the label each face settles on


def test_mirror_is_an_exact_flip_and_leaves_the_input_alone(classifier):
    frame = np.tile(np.arange(640, dtype=np.uint8)[None, :, None], (480, 1, 3))  # no face, a ramp
    before = frame.copy()
    out = LiveProcessor(classifier, LiveSettings(mirror=True)).process(frame)
    np.testing.assert_array_equal(out, before[:, ::-1])
    np.testing.assert_array_equal(frame, before)
    scene = _scene()
    kept = scene.copy()
    LiveProcessor(classifier, LiveSettings(mirror=True)).process(scene)  # annotated on its own copy
    np.testing.assert_array_equal(scene, kept)


def test_cpu_per_stage_is_counted_for_the_profile(classifier):
    lp = LiveProcessor(classifier)
    for _ in range(3):
        lp.process(_scene())
    lp.add_cpu_ms("to_rgb", 0.5)
    ms = lp.stats.cpu_ms
    assert set(ms) == {"mirror", "detect", "classify", "annotate", "to_rgb"}
    assert ms["detect"] > 0 and ms["classify"] > 0 and ms["to_rgb"] == 0.5
    assert all(v >= 0 for v in ms.values())
    lp.reset()
    assert lp.stats.cpu_ms == {}
