"""Emotion over time: per-face series from records, the runs where one emotion holds, and the
summary (dominant emotion by fer_core.core.records' rule, shares, averaged emotion) pages show.

Records are the shared per-face-per-frame dicts (t, frame, face_id, box, label, confidence,
one probability column per class) that video analysis and the live page both produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fer_core.core.labels import CLASSES
from fer_core.core.records import dominant_index, probability_matrix, record_classes, top_class_counts
from fer_core.core.valence import net_valence

# The per-face table's columns (Timeline.face_table) and their headings for people.
FACE_TABLE_COLUMNS: dict[str, str] = {
    "face": "face", "first_seen_s": "first seen (s)", "last_seen_s": "last seen (s)", "frames": "frames",
    "most_frequent": "most frequent emotion", "share": "its share", "mean_valence": "mean valence",
}


@dataclass
class FaceSeries:
    """One face's samples: times (s) and an (n, classes) probability matrix."""

    face_id: int
    t: np.ndarray
    probs: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return np.argmax(self.probs, axis=1) if len(self.t) else np.zeros(0, int)

    @property
    def duration_s(self) -> float:
        return float(self.t[-1] - self.t[0]) if len(self.t) > 1 else 0.0

    def typical_step(self) -> float:
        d = np.diff(self.t)
        d = d[d > 0]
        return float(np.median(d)) if len(d) else 0.0


class Timeline:
    """Per-face emotion series built from records."""

    def __init__(self, series: dict[int, FaceSeries], classes: Sequence[str] = CLASSES) -> None:
        self.series = dict(sorted(series.items()))
        self.classes = tuple(classes)

    # ------------------------------------------------------------- building
    @classmethod
    def from_records(cls, records: Iterable[dict], classes: Sequence[str] | None = None) -> Timeline:
        """Group records by face_id and sort them by time; rows missing a class column count as 0.
        ``classes`` defaults to the records' own (seven, or eight with contempt)."""
        records = list(records)
        classes = tuple(record_classes(records) if classes is None else classes)
        groups: dict[int, list[dict]] = {}
        for r in records:
            try:
                groups.setdefault(int(r.get("face_id", 0) or 0), []).append(r)
            except (TypeError, ValueError):
                raise ValueError(f"Record has a non-integer face_id: {r.get('face_id')!r}") from None
        series = {}
        for fid, rows in groups.items():
            rows.sort(key=lambda r: (float(r["t"]), int(r.get("frame", 0) or 0)))
            t = np.array([float(r["t"]) for r in rows], np.float64)
            series[fid] = FaceSeries(fid, t, probability_matrix(rows, classes).astype(np.float32))
        return cls(series, classes)

    @property
    def face_ids(self) -> list[int]:
        return list(self.series)

    @property
    def empty(self) -> bool:
        return not any(len(s.t) for s in self.series.values())

    @property
    def duration_s(self) -> float:
        ts = [s.t for s in self.series.values() if len(s.t)]
        if not ts:
            return 0.0
        return float(max(t[-1] for t in ts) - min(t[0] for t in ts))

    # ------------------------------------------------------------- analysis
    def segments(self, max_gap_s: float | None = None, min_duration_s: float = 0.0) -> list[dict]:
        """Runs where one emotion holds, per face: face_id, label, start_s, end_s, duration_s, mean_confidence.

        A run also ends at a gap longer than ``max_gap_s`` (default: 3 typical sample steps).
        """
        segs = []
        for fid, s in self.series.items():
            n = len(s.t)
            if n == 0:
                continue
            step = s.typical_step()
            gap = max_gap_s if max_gap_s is not None else (3 * step if step > 0 else np.inf)
            labels = s.labels
            start = 0
            for i in range(1, n + 1):
                boundary = i == n or labels[i] != labels[start] or (s.t[i] - s.t[i - 1]) > gap
                if not boundary:
                    continue
                end_t = s.t[i - 1] + (step if step > 0 else 0.0)
                dur = float(end_t - s.t[start])
                if dur >= min_duration_s:
                    segs.append({
                        "face_id": fid, "label": self.classes[int(labels[start])],
                        "start_s": round(float(s.t[start]), 3), "end_s": round(float(end_t), 3),
                        "duration_s": round(dur, 3),
                        "mean_confidence": round(float(s.probs[start:i, labels[start]].mean()), 4),
                    })
                start = i
        return segs

    def _stats(self, probs: np.ndarray) -> dict:
        if len(probs) == 0:
            return {"n_samples": 0, "dominant": None, "shares": {c: 0.0 for c in self.classes},
                    "overall": {c: 0.0 for c in self.classes}, "overall_label": None}
        counts = top_class_counts(probs)
        shares = counts / counts.sum()
        mean = probs.mean(axis=0)
        return {
            "n_samples": int(len(probs)),
            "dominant": self.classes[dominant_index(probs)],
            "shares": {c: round(float(v), 4) for c, v in zip(self.classes, shares)},
            "overall": {c: round(float(v), 4) for c, v in zip(self.classes, mean)},
            "overall_label": self.classes[int(np.argmax(mean))],
        }

    def face_table(self) -> list[dict]:
        """One row per face track (FACE_TABLE_COLUMNS): first and last seen (s), frames it was analysed
        in, its most frequent emotion (fer_core.core.records' rule) with that emotion's share of its frames,
        and its mean net valence (-1..1). The per-face answer a timeline per face leaves to the eye."""
        rows = []
        for fid, s in self.series.items():
            if not len(s.t):
                continue
            k = dominant_index(s.probs)
            rows.append({
                "face": int(fid), "first_seen_s": round(float(s.t[0]), 2), "last_seen_s": round(float(s.t[-1]), 2),
                "frames": int(len(s.t)), "most_frequent": self.classes[k],
                "share": round(float(top_class_counts(s.probs)[k] / len(s.t)), 4),
                "mean_valence": round(float(net_valence(s.probs, self.classes).mean()), 3),
            })
        return rows

    def summary(self) -> dict:
        """Dominant emotion (fer_core.core.records.dominant_index), share of each, the averaged ("overall")
        emotion, per face and for everyone together, plus the segments."""
        allp = [s.probs for s in self.series.values() if len(s.t)]
        out = self._stats(np.concatenate(allp) if allp else np.zeros((0, len(self.classes))))
        out["n_faces"] = len([s for s in self.series.values() if len(s.t)])
        out["duration_s"] = round(self.duration_s, 3)
        out["per_face"] = {int(fid): {**self._stats(s.probs), "duration_s": round(s.duration_s, 3)}
                           for fid, s in self.series.items()}
        out["segments"] = self.segments()
        return out
