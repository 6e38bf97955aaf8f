"""The record table: one declaration of its columns, records made in that shape, one summary rule."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from factories import make_records

from fer_core.core.labels import CLASSES
from fer_core.core.records import (FLOAT_COLUMNS, INT_COLUMNS, RECORD_COLUMNS, dominant_emotion, emotion_shares,
                              make_record, records_to_csv)
from fer_core.core.results import FaceBox, FacePrediction
from fer_core.core.timeline import Timeline


def _probs(label: str, peak: float) -> np.ndarray:
    p = np.full(len(CLASSES), (1 - peak) / (len(CLASSES) - 1), np.float32)
    p[CLASSES.index(label)] = peak
    return p


def _rec(t: float, label: str, peak: float) -> dict:
    p = FacePrediction(FaceBox(0, 0, 10, 10), _probs(label, peak), track_id=1)
    return make_record(p, t, int(t * 10))


def test_columns_are_typed_once():
    assert set(RECORD_COLUMNS) == {*INT_COLUMNS, *FLOAT_COLUMNS, "label"}
    assert len(RECORD_COLUMNS) == len(INT_COLUMNS) + len(FLOAT_COLUMNS) + 1
    assert RECORD_COLUMNS[-len(CLASSES):] == CLASSES


def test_record_shape_matches_contract():
    p = FacePrediction(FaceBox(3, 4, 50, 60), _probs("sad", 0.7), track_id=2)
    r = make_record(p, t=1.23456, frame=37)
    assert tuple(r) == RECORD_COLUMNS
    assert r["face_id"] == 2 and r["frame"] == 37 and r["t"] == pytest.approx(1.2346)
    assert r["label"] == "sad" and r["sad"] == pytest.approx(0.7)
    assert make_record(p, 0.0, 0, face_id=9)["face_id"] == 9


def test_summaries():
    recs = make_records(["happy", "happy", "sad", "neutral"])
    shares = emotion_shares(recs)
    assert list(shares) == list(CLASSES)
    assert shares["happy"] == 0.5 and shares["sad"] == 0.25 and sum(shares.values()) == pytest.approx(1)
    assert dominant_emotion(recs) == "happy"
    # a tie in counts goes to the emotion with the higher mean probability
    tie = make_records(["sad", "fear"])
    tie[1]["fear"] = 0.99
    assert dominant_emotion(tie) == "fear"
    assert dominant_emotion([]) is None


def test_dominant_emotion_follows_probabilities_like_the_timeline():
    """History's table and its charts (fer_core.core.timeline) must name the same emotion."""
    flat = {c: 0.14 for c in CLASSES}
    recs = [{"t": i * 0.1, "frame": i, "face_id": 1, "x": 0, "y": 0, "w": 10, "h": 10, "label": "happy",
             "confidence": 0.15, **flat, "sad": 0.16} for i in range(5)]
    assert dominant_emotion(recs) == "sad"
    assert Timeline.from_records(recs).summary()["dominant"] == "sad"


def test_a_tie_is_broken_the_same_way_for_history_and_the_timeline():
    """Equal counts: the higher mean probability wins, even when it comes later in class order."""
    recs = [_rec(0.0, "fear", 0.5), _rec(0.1, "sad", 0.9)]
    assert CLASSES.index("fear") < CLASSES.index("sad")
    summary = Timeline.from_records(recs).summary()
    assert dominant_emotion(recs) == summary["dominant"] == summary["per_face"][1]["dominant"] == "sad"


def test_csv_has_the_record_columns():
    recs = [_rec(i / 10, "happy", 0.8) for i in range(3)]
    rows = list(csv.DictReader(io.StringIO(records_to_csv([{**r, "extra": 1} for r in recs]))))
    assert len(rows) == 3 and tuple(rows[0]) == RECORD_COLUMNS and rows[0]["label"] == "happy"
    assert records_to_csv([{"t": 0.5}]).splitlines()[1].startswith("0.5,,")  # missing columns stay empty
