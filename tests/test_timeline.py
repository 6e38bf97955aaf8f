"""Timelines from records: grouping, segments, summary."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.labels import CLASSES
from fer_core.timeline import Timeline


def _rec(t, face, label, peak=0.8, frame=None):
    p = {c: (1 - peak) / (len(CLASSES) - 1) for c in CLASSES}
    p[label] = peak
    return {"t": t, "frame": frame if frame is not None else int(round(t * 10)), "face_id": face,
            "x": 0, "y": 0, "w": 10, "h": 10, "label": label, "confidence": peak, **p}


def _two_emotions(fps=10.0):
    """Face 1: happy 1.0 s then sad 0.5 s; face 2: neutral for 0.5 s starting at 0.3 s."""
    recs = [_rec(i / fps, 1, "happy") for i in range(10)] + [_rec(1.0 + i / fps, 1, "sad") for i in range(5)]
    recs += [_rec(0.3 + i / fps, 2, "neutral", 0.6) for i in range(5)]
    return recs[::-1]  # any order in, sorted out


def test_grouping_and_order():
    tl = Timeline.from_records(_two_emotions())
    assert tl.face_ids == [1, 2]
    s = tl.series[1]
    assert len(s.t) == 15 and np.all(np.diff(s.t) > 0)
    assert s.probs.shape == (15, len(CLASSES))
    assert tl.duration_s == pytest.approx(1.4)
    assert Timeline.from_records([]).empty


def test_segments_where_one_emotion_holds():
    segs = Timeline.from_records(_two_emotions()).segments()
    face1 = [s for s in segs if s["face_id"] == 1]
    assert [(s["label"], s["start_s"], s["duration_s"]) for s in face1] == [("happy", 0.0, 1.0), ("sad", 1.0, 0.5)]
    assert face1[0]["mean_confidence"] == pytest.approx(0.8)
    assert [s["label"] for s in segs if s["face_id"] == 2] == ["neutral"]


def test_gap_splits_a_segment():
    recs = [_rec(i / 10, 1, "fear") for i in range(5)] + [_rec(3 + i / 10, 1, "fear") for i in range(5)]
    segs = Timeline.from_records(recs).segments()
    assert len(segs) == 2 and segs[1]["start_s"] == 3.0


def test_summary():
    s = Timeline.from_records(_two_emotions()).summary()
    assert s["n_faces"] == 2 and s["dominant"] == "happy"
    assert s["shares"]["happy"] == pytest.approx(10 / 20) and s["shares"]["sad"] == pytest.approx(5 / 20)
    assert sum(s["shares"].values()) == pytest.approx(1.0)
    assert s["overall"]["happy"] == pytest.approx((10 * 0.8 + 5 * 0.2 / 6 + 5 * 0.4 / 6) / 20, abs=1e-3)
    assert s["overall_label"] == "happy"
    assert s["per_face"][2]["dominant"] == "neutral" and s["per_face"][1]["n_samples"] == 15
    assert len(s["segments"]) == 3
    empty = Timeline.from_records([]).summary()
    assert empty["dominant"] is None and empty["n_faces"] == 0


def test_bad_face_id():
    with pytest.raises(ValueError, match="face_id"):
        Timeline.from_records([{**_rec(0, 1, "sad"), "face_id": "abc"}])
