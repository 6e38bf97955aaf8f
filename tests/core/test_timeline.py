"""Timelines from records: grouping, segments, summary."""

from __future__ import annotations

import numpy as np
import pytest
from factories import make_records, peaked_record, two_emotion_records

from fer_core.core.labels import CLASSES
from fer_core.core.timeline import Timeline


def test_grouping_and_order():
    tl = Timeline.from_records(two_emotion_records())
    assert tl.face_ids == [1, 2]
    s = tl.series[1]
    assert len(s.t) == 15 and np.all(np.diff(s.t) > 0)
    assert s.probs.shape == (15, len(CLASSES))
    assert tl.duration_s == pytest.approx(1.4)
    assert Timeline.from_records([]).empty


def test_segments_where_one_emotion_holds():
    segs = Timeline.from_records(two_emotion_records()).segments()
    face1 = [s for s in segs if s["face_id"] == 1]
    assert [(s["label"], s["start_s"], s["duration_s"]) for s in face1] == [("happy", 0.0, 1.0), ("sad", 1.0, 0.5)]
    assert face1[0]["mean_confidence"] == pytest.approx(0.8)
    assert [s["label"] for s in segs if s["face_id"] == 2] == ["neutral"]


def test_gap_splits_a_segment():
    recs = [peaked_record(i / 10, 1, "fear") for i in range(5)] + [peaked_record(3 + i / 10, 1, "fear") for i in range(5)]
    segs = Timeline.from_records(recs).segments()
    assert len(segs) == 2 and segs[1]["start_s"] == 3.0


def test_summary():
    s = Timeline.from_records(two_emotion_records()).summary()
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
        Timeline.from_records([{**peaked_record(0, 1, "sad"), "face_id": "abc"}])


def test_face_table_has_one_row_per_track():
    from fer_core.core.timeline import FACE_TABLE_COLUMNS
    from fer_core.core.valence import net_valence

    records = make_records(["happy"] * 3 + ["sad"], seed=4)
    for r in records[:2]:
        r["face_id"] = 7  # a second track seen in the first two records only
    tl = Timeline.from_records(records)
    rows = tl.face_table()
    assert [r["face"] for r in rows] == tl.face_ids and all(list(r) == list(FACE_TABLE_COLUMNS) for r in rows)
    by_face = {r["face"]: r for r in rows}
    seven = by_face[7]
    assert seven["frames"] == 2 and seven["most_frequent"] == "happy" and seven["share"] == 1.0
    assert seven["first_seen_s"] == round(records[0]["t"], 2) and seven["last_seen_s"] == round(records[1]["t"], 2)
    other = next(r for f, r in by_face.items() if f != 7)
    assert other["frames"] == 2 and other["share"] == 0.5
    assert other["mean_valence"] == pytest.approx(net_valence(tl.series[other["face"]].probs).mean(), abs=1e-3)
