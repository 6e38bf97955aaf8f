"""Emotion over time: per-face series from records, the runs where one emotion holds, and the
summary (dominant emotion by fer_core.records' rule, shares, averaged emotion) pages show.

Records are the shared per-face-per-frame dicts (t, frame, face_id, box, label, confidence,
one probability column per class) that video analysis and the live page both produce.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from fer_core.labels import CLASSES, COLORS_HEX
from fer_core.records import dominant_index, probability_matrix, top_class_counts


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
    def from_records(cls, records: Iterable[dict], classes: Sequence[str] = CLASSES) -> Timeline:
        """Group records by face_id and sort them by time; rows missing a class column count as 0."""
        classes = tuple(classes)
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

    def summary(self) -> dict:
        """Dominant emotion (fer_core.records.dominant_index), share of each, the averaged ("overall")
        emotion, per face and for everyone together, plus the segments."""
        allp = [s.probs for s in self.series.values() if len(s.t)]
        out = self._stats(np.concatenate(allp) if allp else np.zeros((0, len(self.classes))))
        out["n_faces"] = len([s for s in self.series.values() if len(s.t)])
        out["duration_s"] = round(self.duration_s, 3)
        out["per_face"] = {int(fid): {**self._stats(s.probs), "duration_s": round(s.duration_s, 3)}
                           for fid, s in self.series.items()}
        out["segments"] = self.segments()
        return out


# ------------------------------------------------------------------ figures
def _face_series(tl: Timeline, face_id: int | None) -> FaceSeries | None:
    if tl.empty:
        return None
    if face_id is None:
        face_id = max(tl.series, key=lambda f: len(tl.series[f].t))
    return tl.series.get(face_id)


def timeline_figure(tl: Timeline, face_id: int | None = None, title: str | None = None, height: int = 360):
    """Probability of each emotion over time for one face (default: the face seen longest)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    s = _face_series(tl, face_id)
    if s is not None:
        for k, c in enumerate(tl.classes):
            fig.add_trace(go.Scatter(
                x=s.t, y=s.probs[:, k], mode="lines", name=c, line={"color": COLORS_HEX.get(c, "#999999"), "width": 2},
                hovertemplate=f"{c}: %{{y:.0%}} at %{{x:.1f}} s<extra></extra>",
            ))
        fig.add_trace(valence_trace(s.t, s.probs, tl.classes))
    fig.update_layout(
        title=title or (f"Emotion over time (face {s.face_id})" if s is not None else "Emotion over time (no faces yet)"),
        xaxis_title="time (s)", yaxis_title="probability", yaxis={"range": [0, 1], "tickformat": ".0%"},
        yaxis2={"range": [-1.05, 1.05], "overlaying": "y", "side": "right", "showgrid": False, "zeroline": False,
                "tickvals": [-1, 0, 1], "ticktext": ["negative", "0", "positive"], "title": "valence"},
        height=height + 60, margin={"l": 40, "r": 70, "t": 50, "b": 100},
        # Below the time axis, so the valence axis on the right keeps its ticks and title.
        legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.25, "yanchor": "top"},
    )
    return fig


VALENCE_TRACE_NAME = "valence (positive minus negative)"


def valence_trace(t, probs, classes: Sequence[str] = CLASSES):
    """Net valence (fer_core.valence) over time as a dashed black line on the right-hand axis."""
    import plotly.graph_objects as go

    from fer_core.valence import net_valence

    return go.Scatter(
        x=t, y=net_valence(probs, classes), mode="lines", name=VALENCE_TRACE_NAME, yaxis="y2",
        line={"color": "#000000", "width": 2, "dash": "dash"},
        hovertemplate="valence %{y:+.2f} at %{x:.1f} s<extra></extra>",
    )


def distribution_figure(source: Timeline | dict, title: str = "Share of time per emotion", height: int = 320):
    """Bar per emotion: share of samples where it was the label (from a Timeline or its summary)."""
    import plotly.graph_objects as go

    shares = source.summary()["shares"] if isinstance(source, Timeline) else source["shares"]
    classes = list(shares)
    vals = [float(shares[c]) for c in classes]
    fig = go.Figure(go.Bar(
        x=classes, y=vals, marker_color=[COLORS_HEX.get(c, "#999999") for c in classes],
        text=[f"{c}<br>{v:.0%}" for c, v in zip(classes, vals)], textposition="outside",
        hovertemplate="%{x}: %{y:.1%}<extra></extra>",
    ))
    fig.update_layout(title=title, yaxis={"range": [0, max(vals + [0.01]) * 1.25], "tickformat": ".0%"},
                      height=height, margin={"l": 40, "r": 10, "t": 50, "b": 40}, showlegend=False)
    return fig


def probability_bar_figure(probs: Sequence[float], classes: Sequence[str] = CLASSES,
                           title: str | None = None, height: int = 280):
    """Horizontal bars of one face's class probabilities, labelled with name and percentage."""
    import plotly.graph_objects as go

    p = [float(v) for v in np.asarray(probs, dtype=float).reshape(-1)]
    if len(p) != len(classes):
        raise ValueError(f"Expected {len(classes)} probabilities, got {len(p)}.")
    fig = go.Figure(go.Bar(
        x=p, y=list(classes), orientation="h", marker_color=[COLORS_HEX.get(c, "#999999") for c in classes],
        text=[f"{c} {v:.0%}" for c, v in zip(classes, p)], textposition="auto",
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
    ))
    fig.update_layout(title=title, xaxis={"range": [0, 1], "tickformat": ".0%"},
                      yaxis={"autorange": "reversed"}, height=height,
                      margin={"l": 70, "r": 10, "t": 40 if title else 10, "b": 30}, showlegend=False)
    return fig
