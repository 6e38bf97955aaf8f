"""Every plotly figure the dashboard shows, in one place: timelines and probabilities of faces,
the Model page's evaluation and training figures, and History's session comparison.

Pure functions from data (a Timeline, records, evaluate reports, history.json rows) to figures,
so pages stay layout only and each figure is tested without Streamlit. Colours come from
fer_core.core.labels and every coloured mark also carries its text label.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.core.labels import CLASSES, CLASSES_8, COLORS_HEX, CONTEMPT
from fer_core.app.model_report import check_history
from fer_core.core.plain_text import plain_label
from fer_core.core.records import emotion_shares
from fer_core.core.timeline import FaceSeries, Timeline
from fer_core.core.valence import net_valence


# ------------------------------------------------------------ faces over time
def _face_series(tl: Timeline, face_id: int | None) -> FaceSeries | None:
    if tl.empty:
        return None
    if face_id is None:
        face_id = max(tl.series, key=lambda f: len(tl.series[f].t))
    return tl.series.get(face_id)


VALENCE_TRACE_NAME = "valence (positive minus negative)"
VALENCE_COLOR = "#000000"  # black, unlike every emotion colour (fer_core.core.labels.COLORS_HEX)
VALENCE_PANEL_SHARE = 0.25  # of each face's height: a small panel under the probabilities


def _add_face(fig: go.Figure, s: FaceSeries, classes: Sequence[str], row: int, showlegend: bool = True) -> None:
    """One face's emotion lines in ``row`` and its valence line in the small panel below it (``row + 1``);
    each emotion's lines share a legend entry, so one click hides it in every panel."""
    for k, c in enumerate(classes):
        fig.add_trace(go.Scatter(
            x=s.t, y=s.probs[:, k], mode="lines", name=c, legendgroup=c, showlegend=showlegend,
            line={"color": COLORS_HEX.get(c, "#999999"), "width": 2},
            hovertemplate=f"{c}: %{{y:.0%}} at %{{x:.1f}} s<extra></extra>",
        ), row=row, col=1)
    fig.add_trace(valence_trace(s.t, s.probs, classes, showlegend=showlegend), row=row + 1, col=1)
    fig.update_yaxes(range=[0, 1], tickformat=".0%", title_text="probability", row=row, col=1)
    fig.update_yaxes(range=[-1.05, 1.05], tickvals=[-1, 0, 1], ticktext=["neg.", "0", "pos."],
                     zeroline=True, zerolinecolor="#888", title_text="valence", row=row + 1, col=1)


def _face_rows(n_faces: int, titles: Sequence[str] | None = None) -> go.Figure:
    """Two rows per face (probabilities, then valence), one shared time axis."""
    heights = [1 - VALENCE_PANEL_SHARE, VALENCE_PANEL_SHARE] * n_faces
    names = [t for title in titles for t in (title, "")] if titles else None
    return make_subplots(rows=2 * n_faces, cols=1, shared_xaxes=True, row_heights=heights,
                         vertical_spacing=0.03 if n_faces == 1 else 0.045, subplot_titles=names)


def _timeline_layout(fig: go.Figure, title: str, height: int, last_row: int) -> None:
    fig.update_xaxes(title_text="time (s)", row=last_row, col=1)
    fig.update_layout(title=title, height=height, margin={"l": 60, "r": 20, "t": 60, "b": 90},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.12, "yanchor": "top"})


def timeline_figure(tl: Timeline, face_id: int | None = None, title: str | None = None,
                    height: int = 360) -> go.Figure:
    """Probability of each emotion over time for one face (default: the face seen longest), with its
    net valence on a small panel of its own below (a second axis across the probabilities was hard
    to read)."""
    s = _face_series(tl, face_id)
    if s is None:
        fig = go.Figure()
        fig.update_layout(title=title or "Emotion over time (no faces yet)", height=height,
                          xaxis_title="time (s)", yaxis={"range": [0, 1], "tickformat": ".0%"})
        return fig
    fig = _face_rows(1)
    _add_face(fig, s, tl.classes, row=1)
    _timeline_layout(fig, title or f"Emotion over time (face {s.face_id})", height + 100, last_row=2)
    return fig


def compare_timelines_figure(named: Sequence[tuple[str, Timeline, int | None]], height_per_session: int = 300
                             ) -> go.Figure:
    """Two or more sessions' timelines stacked on one time axis at full width, each with its valence
    panel, one legend for all: side by side, two half-width charts were cramped and never lined up."""
    shown = [(name, tl, _face_series(tl, face)) for name, tl, face in named]
    shown = [(name, tl, s) for name, tl, s in shown if s is not None]
    if not shown:
        fig = go.Figure()
        fig.update_layout(title="No faces recorded in these sessions", height=height_per_session)
        return fig
    fig = _face_rows(len(shown), [f"{name} (face {s.face_id})" for name, _, s in shown])
    for i, (_, tl, s) in enumerate(shown):
        _add_face(fig, s, tl.classes, row=2 * i + 1, showlegend=i == 0)
    _timeline_layout(fig, "Emotion over time, from each session's start", height_per_session * len(shown) + 100,
                     last_row=2 * len(shown))
    return fig


def valence_trace(t, probs, classes: Sequence[str] = CLASSES, showlegend: bool = True) -> go.Scatter:
    """Net valence (fer_core.core.valence) over time as a black line, for the valence panel."""
    return go.Scatter(
        x=t, y=net_valence(probs, classes), mode="lines", name=VALENCE_TRACE_NAME, legendgroup="valence",
        showlegend=showlegend, line={"color": VALENCE_COLOR, "width": 2},
        hovertemplate="valence %{y:+.2f} at %{x:.1f} s<extra></extra>",
    )


def distribution_figure(source: Timeline | dict, title: str = "Share of time per emotion",
                        height: int = 320) -> go.Figure:
    """Bar per emotion: share of samples where it was the label (from a Timeline or its summary)."""
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
                           title: str | None = None, height: int = 280) -> go.Figure:
    """Horizontal bars of one face's class probabilities, labelled with name and percentage."""
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


SESSION_PATTERNS = ("", "/", ".", "x")  # first session solid, then hatched: the legend shows which is which


def shares_figure(named: Mapping[str, Sequence[Mapping]]) -> go.Figure:
    """Share of each emotion per session, side by side: bars in the emotion's colour, one fill pattern
    per session. The legend shows the patterns on white (a session has no colour of its own: a
    coloured swatch would stand for one emotion only). The names are user text (a stored source):
    plotly would render HTML in them, so they are made plain."""
    fig = go.Figure()
    every = {name: emotion_shares(records) for name, records in named.items()}
    classes = CLASSES_8 if any(CONTEMPT in shares for shares in every.values()) else CLASSES
    for i, (name, found) in enumerate(every.items()):
        shares = {c: found.get(c, 0.0) for c in classes}  # a seven-class session beside an eight-class one
        pattern, label = SESSION_PATTERNS[i % len(SESSION_PATTERNS)], plain_label(name)
        fig.add_trace(go.Bar(x=list(classes), y=[shares[c] for c in classes], name=label, legendgroup=label,
                             offsetgroup=str(i), showlegend=False, text=[f"{shares[c]:.0%}" for c in classes],
                             textposition="outside",
                             marker={"color": [COLORS_HEX[c] for c in classes], "line": {"color": "#333", "width": 1},
                                     "pattern": {"shape": pattern, "fgcolor": "#333"}},
                             hovertemplate="%{fullData.name}<br>%{x}: %{y:.0%}<extra></extra>"))
        fig.add_trace(go.Bar(x=[None], y=[None], name=label, legendgroup=label, offsetgroup=str(i), hoverinfo="skip",
                             marker={"color": "#FFFFFF", "line": {"color": "#333", "width": 1},
                                     "pattern": {"shape": pattern, "fgcolor": "#333"}}))
    fig.update_layout(barmode="group", yaxis_tickformat=".0%", yaxis_title="share of emotion records", height=340,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10},
                      legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return fig


# ------------------------------------------------------------------ the model
def confusion_figure(report: Mapping, normalize: bool = True, height: int = 480) -> go.Figure:
    """Confusion-matrix heatmap: rows true class, columns predicted; normalised rows show recall."""
    classes = list(report.get("classes") or CLASSES)
    cm = np.asarray(report.get("confusion_matrix"), dtype=float)
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"The confusion matrix should be {len(classes)}x{len(classes)}; got shape {cm.shape}.")
    rows = cm.sum(axis=1, keepdims=True)
    z = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0) if normalize else cm
    text = [[(f"{v:.0%}" if normalize else f"{int(v)}") for v in row] for row in z]
    fig = go.Figure(go.Heatmap(
        z=z.tolist(), x=classes, y=classes, text=text, texttemplate="%{text}", colorscale="Blues",
        customdata=cm.tolist(), zmin=0, zmax=1 if normalize else None,
        hovertemplate="people said %{y}, the model said %{x}: %{customdata:.0f} faces<extra></extra>",
        colorbar={"title": "share of row" if normalize else "faces"},
    ))
    fig.update_layout(xaxis_title="the model's answer", yaxis_title="what people said the face shows",
                      yaxis_autorange="reversed", height=height, margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def recognition_figure(notes, height: int = 320) -> go.Figure:
    """Horizontal bars, best first: of 100 faces showing each expression, how many the model names
    correctly (fer_core.app.model_summary.class_notes), in the emotion's colour with the number as text."""
    notes = list(notes)
    fig = go.Figure(go.Bar(
        x=[round(n.found * 100) for n in notes], y=[n.label for n in notes], orientation="h",
        marker_color=[COLORS_HEX.get(n.label, "#999999") for n in notes], marker_line={"color": "#333", "width": 1},
        text=[f"{n.label}: {round(n.found * 100)} of 100" for n in notes], textposition="outside",
        hovertemplate="%{y}: %{x} of 100 faces named correctly<extra></extra>",
    ))
    fig.update_layout(xaxis={"range": [0, 118], "title": "faces named correctly, of 100 that show the expression"},
                      yaxis={"autorange": "reversed"}, height=height, showlegend=False,
                      margin={"l": 10, "r": 10, "t": 10, "b": 40})
    return fig


def _series(history: list[dict], key: str) -> tuple[list, list]:
    pts = [(r["epoch"], r[key]) for r in history if isinstance(r.get(key), (int, float))]
    return [p[0] for p in pts], [p[1] for p in pts]


def training_figure(history: list[dict]) -> go.Figure:
    """Loss, accuracy / validation accuracy / validation macro-F1 and learning rate per epoch."""
    history = check_history(history)
    fig = make_subplots(rows=1, cols=3, subplot_titles=("training loss", "accuracy and macro-F1", "learning rate"))
    for col, keys in ((1, ("loss", "val_loss")), (2, ("accuracy", "val_accuracy", "val_macro_f1")), (3, ("lr",))):
        for key in keys:
            x, y = _series(history, key)
            if x:
                fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=HISTORY_NAMES.get(key, key)),
                              row=1, col=col)
    fig.update_xaxes(title_text="epoch", title_standoff=8)
    # The legend sits below the "epoch" titles, in a bottom margin kept free for it.
    fig.update_layout(height=420, margin={"l": 10, "r": 10, "t": 40, "b": 110},
                      legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.3, "yanchor": "top"})
    return fig


HISTORY_NAMES = {"loss": "training loss", "val_loss": "validation loss", "accuracy": "training accuracy",
                 "val_accuracy": "validation accuracy", "val_macro_f1": "validation macro-F1",
                 "lr": "learning rate"}


def recall_figure(history: list[dict]) -> go.Figure:
    """Validation recall of each class per epoch: whether minority classes (disgust) are learnt."""
    history = check_history(history)
    fig = go.Figure()
    for c in CLASSES_8:
        pts = [(r["epoch"], r["val_recall"][c]) for r in history
               if isinstance(r.get("val_recall"), Mapping) and isinstance(r["val_recall"].get(c), (int, float))]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines", name=c,
                                     line={"color": COLORS_HEX[c]}))
    fig.update_layout(xaxis_title="epoch", yaxis_title="validation recall", yaxis_range=[0, 1], height=360,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


def class_counts_figure(counts: Mapping) -> go.Figure:
    """Training images per class (CLASSES order), coloured per emotion and labelled with the count."""
    if not isinstance(counts, Mapping):
        raise ValueError("Class counts should be an object mapping class names to image counts.")
    classes = [c for c in CLASSES_8 if c in counts]
    values = [int(counts[c]) for c in classes]
    fig = go.Figure(go.Bar(x=classes, y=values, text=values, textposition="outside",
                           marker_color=[COLORS_HEX[c] for c in classes]))
    fig.update_layout(xaxis_title="class", yaxis_title="training images", height=360,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig
