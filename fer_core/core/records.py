"""The project's result table: one record per face per frame, and the one rule that summarises it.

Photos, videos, the live stream, stored sessions and batch runs all produce these records, so
their columns and the dominant-emotion rule live here once: History's table, the Video page and
the timeline charts then name the same emotion for the same frames.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence

import numpy as np

from fer_core.core.labels import CLASSES, CONTEMPT, classes_in
from fer_core.core.results import FacePrediction

INT_COLUMNS: tuple[str, ...] = ("frame", "face_id", "x", "y", "w", "h")
FLOAT_COLUMNS: tuple[str, ...] = ("t", "confidence", *CLASSES)
RECORD_COLUMNS: tuple[str, ...] = ("t", "frame", "face_id", "x", "y", "w", "h", "label", "confidence", *CLASSES)
# An eight-class model's records carry this column too (fer_core.core.labels.CLASSES_8).
OPTIONAL_COLUMNS: tuple[str, ...] = (CONTEMPT,)


def record_classes(records: Sequence[Mapping]) -> tuple[str, ...]:
    """The classes of a record table: the eight when its records have a contempt column, else the seven."""
    return classes_in(records[0]) if len(records) else CLASSES


def record_columns(records: Sequence[Mapping]) -> tuple[str, ...]:
    """RECORD_COLUMNS, plus contempt for an eight-class model's records."""
    return (*RECORD_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in record_classes(records)))


def make_record(pred: FacePrediction, t: float, frame: int, face_id: int | None = None) -> dict:
    """One face in one frame as a record with RECORD_COLUMNS, in that order."""
    fid = face_id if face_id is not None else (pred.track_id if pred.track_id is not None else 0)
    rec: dict = {
        "t": round(float(t), 4), "frame": int(frame), "face_id": int(fid),
        "x": int(pred.box.x), "y": int(pred.box.y), "w": int(pred.box.w), "h": int(pred.box.h),
        "label": pred.label, "confidence": round(pred.confidence, 5),
    }
    for c, p in zip(pred.classes, pred.probs):
        rec[c] = round(float(p), 5)
    return rec


def probability_matrix(records: Sequence[Mapping], classes: Sequence[str] | None = None) -> np.ndarray:
    """(n, classes) probabilities of the records (default: their own classes, record_classes); a
    missing or empty class column counts as 0."""
    classes = record_classes(records) if classes is None else classes
    rows = [[float(r.get(c, 0.0) or 0.0) for c in classes] for r in records]
    return np.asarray(rows, np.float64).reshape(-1, len(classes))


def top_class_counts(probs: np.ndarray) -> np.ndarray:
    """How many rows have each class as their most probable one (ties: the first in class order)."""
    probs = np.asarray(probs)
    return np.bincount(np.argmax(probs, axis=1), minlength=probs.shape[1]) if len(probs) else \
        np.zeros(probs.shape[1], np.int64)


def dominant_index(probs: np.ndarray) -> int | None:
    """The most frequent top class; a tie goes to the higher mean probability, then to class order.

    The one summary rule: storage's dominant_emotion and the Timeline's statistics both use it.
    """
    probs = np.asarray(probs, np.float64)
    if len(probs) == 0:
        return None
    counts = top_class_counts(probs)
    mean = probs.mean(axis=0)
    return max(range(probs.shape[1]), key=lambda k: (counts[k], mean[k]))


def emotion_shares(records: Sequence[Mapping]) -> dict[str, float]:
    """Share of records (faces x frames) whose most probable emotion is each class, in class order."""
    counts = top_class_counts(probability_matrix(records))
    n = int(counts.sum())
    return {c: (int(k) / n if n else 0.0) for c, k in zip(record_classes(records), counts)}


def dominant_emotion(records: Sequence[Mapping]) -> str | None:
    """dominant_index over the records' probabilities, as a class name; None for no records."""
    k = dominant_index(probability_matrix(records))
    return None if k is None else record_classes(records)[k]


def records_to_csv(records: Sequence[Mapping]) -> str:
    """The record table as CSV: record_columns, other keys left out, missing ones empty."""
    columns = record_columns(records)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in records:
        w.writerow({k: r.get(k, "") for k in columns})
    return buf.getvalue()
