"""Tracker: stable ids through motion and occlusion gaps; smoothing reduces label flips."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.core.results import FaceBox
from fer_core.engine.tracker import FaceTracker, ProbSmoother


def test_ids_follow_moving_faces():
    tr = FaceTracker()
    ids = None
    for f in range(40):  # two faces moving towards each other, 6 px per frame, plus jitter
        a = FaceBox(50 + 6 * f, 100 + (f % 3), 80, 80)
        b = FaceBox(500 - 6 * f, 300 - (f % 2), 90, 90)
        got = [t.id for t in tr.update([b, a] if f % 2 else [a, b], frame=f)]
        got = got[::-1] if f % 2 else got
        ids = ids or got
        assert got == ids
    assert len(set(ids)) == 2


def test_fast_motion_without_overlap_keeps_id():
    tr = FaceTracker()
    first = tr.update([FaceBox(100, 100, 80, 80)], frame=0)[0].id
    # 60 px jump between detection rounds: no IoU left, centre distance < 0.8 face sizes
    assert tr.update([FaceBox(160, 110, 80, 80)], frame=3)[0].id == first


def test_short_occlusion_keeps_id_long_one_does_not():
    tr = FaceTracker(max_misses=3)
    box = FaceBox(200, 150, 100, 100)
    fid = tr.update([box], frame=0)[0].id
    for f in range(1, 4):  # hidden for 3 detection rounds
        assert tr.update([], frame=f) == []
        assert tr.visible_tracks() == []
    assert tr.update([FaceBox(205, 152, 100, 100)], frame=4)[0].id == fid
    for f in range(5, 10):  # gone longer than max_misses: a returning face is a new person
        tr.update([], frame=f)
    assert tr.update([box], frame=10)[0].id != fid


def test_new_faces_get_new_ids_and_far_boxes_do_not_steal_them():
    tr = FaceTracker()
    a = tr.update([FaceBox(10, 10, 50, 50)], frame=0)[0].id
    got = tr.update([FaceBox(12, 11, 50, 50), FaceBox(400, 300, 50, 50)], frame=1)
    assert got[0].id == a and got[1].id not in (a,)
    assert len({t.id for t in tr.tracks}) == 2


def test_prediction_between_detections_follows_velocity():
    tr = FaceTracker()
    tr.update([FaceBox(100, 100, 60, 60)], frame=0)
    tr.update([FaceBox(130, 100, 60, 60)], frame=3)  # 10 px per frame to the right
    moved = tr.predict(frame=5)
    assert len(moved) == 1 and moved[0].box.x == 150 and moved[0].box.y == 100
    # the next detection is matched against the predicted box
    assert tr.update([FaceBox(160, 101, 60, 60)], frame=6)[0].id == moved[0].id


def _noisy_sequence(n=300, seed=0):
    """A face that is 'happy' throughout; per-frame noise makes 'neutral' win about a quarter of frames."""
    rng = np.random.default_rng(seed)
    k, j = CLASSES.index("happy"), CLASSES.index("neutral")
    seq = []
    for _ in range(n):
        p = np.full(len(CLASSES), 0.04)
        p[k] = 0.40 + rng.normal(0, 0.1)
        p[j] = 0.30 + rng.normal(0, 0.1)
        p = np.clip(p, 0.001, None)
        seq.append(p / p.sum())
    return seq


def _flips(labels):
    return int(np.sum(np.diff(np.asarray(labels)) != 0))


@pytest.mark.parametrize("method,kw", [("ema", {"alpha": 0.3}), ("window", {"window": 8})])
def test_smoothing_reduces_label_flips(method, kw):
    seq = _noisy_sequence()
    raw = [int(np.argmax(p)) for p in seq]
    tr = FaceTracker(smoothing=method, **kw)
    smoothed = []
    for f, p in enumerate(seq):
        t = tr.update([FaceBox(100, 100, 80, 80)], frame=f)[0]
        smoothed.append(int(np.argmax(tr.smooth(t, p))))
    assert _flips(raw) > 60
    assert _flips(smoothed) < _flips(raw) / 3
    # and it still says what the face mostly shows
    assert np.bincount(smoothed).argmax() == CLASSES.index("happy")


def test_smoother_settings():
    assert np.allclose(ProbSmoother("none").update(np.array([0.2, 0.8])), [0.2, 0.8])
    ema = ProbSmoother("ema", alpha=0.5)
    ema.update(np.array([1.0, 0.0]))
    assert np.allclose(ema.update(np.array([0.0, 1.0])), [0.5, 0.5])
    win = ProbSmoother("window", window=2)
    for v in ([1.0, 0.0], [0.0, 1.0], [0.0, 1.0]):
        out = win.update(np.array(v))
    assert np.allclose(out, [0.0, 1.0])
    for bad in ({"method": "median"}, {"alpha": 0.0}, {"window": 0}):
        with pytest.raises(ValueError):
            ProbSmoother(**bad)
    with pytest.raises(ValueError):
        FaceTracker(smoothing="bogus")
