"""Figures and tables about the shipped model, from its side files (metrics, history, class counts).

Pure functions returning plotly figures and plain rows, so the Model and Home pages stay layout
only and the figures can be tested without Streamlit. No TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from fer_core.labels import CLASSES, COLORS_HEX

PER_CLASS_KEYS = ("precision", "recall", "f1", "specificity", "support")

# Which report is which lives in fer_core.model_summary (evaluation sets); these name them in tables.
REPORT_LABELS = {"keras": "Keras model", "served": "served TFLite (live page)",
                 "served_mirror": "served TFLite, mirror-averaged (photos, videos)"}


def variant_rows(metrics: Mapping | None) -> list[dict]:
    """The TFLite variants the export measured (size, agreement with Keras, accuracy, latency), served one marked."""
    variants = metrics.get("variants") if isinstance(metrics, Mapping) else None
    if not isinstance(variants, list):
        return []
    served = metrics.get("served_variant")
    rows = []
    for v in variants:
        if not isinstance(v, Mapping) or "variant" not in v:
            continue
        rows.append({
            "variant": v["variant"], "served": v["variant"] == served,
            "size_mb": round(float(v.get("size_bytes", 0)) / 1e6, 2),
            **{k: float(v[k]) for k in ("agreement", "accuracy", "accuracy_drop", "macro_f1", "latency_p50_ms")
               if isinstance(v.get(k), (int, float))},
        })
    return rows


# Human column names for every table the Model page shows (keys stay short in code and JSON).
COLUMN_NAMES = {
    "model": "model", "evaluation_set": "evaluated on", "accuracy": "accuracy", "macro_f1": "macro-F1",
    "n": "faces", "worst_class": "weakest expression", "worst_recall": "recall of the weakest",
    "variant": "variant", "served": "served", "size_mb": "size (MB)", "agreement": "agrees with Keras",
    "accuracy_drop": "accuracy lost (points)", "latency_p50_ms": "time per face (ms, median)",
    "class": "expression", "precision": "precision", "recall": "recall", "f1": "F1",
    "specificity": "specificity", "support": "faces",
}


def human_columns(rows: list[dict]) -> list[dict]:
    """The same rows with COLUMN_NAMES as keys; accuracy_drop in percentage points."""
    out = []
    for row in rows:
        row = dict(row)
        if isinstance(row.get("accuracy_drop"), float):
            row["accuracy_drop"] = round(row["accuracy_drop"] * 100, 2)
        out.append({COLUMN_NAMES.get(k, k.replace("_", " ")): v for k, v in row.items()})
    return out


def headline(report: Mapping) -> dict:
    """Accuracy, macro-F1, the weakest class's recall and the test-set size of one report."""
    per = report.get("per_class") or {}
    recalls = {c: float(v["recall"]) for c, v in per.items() if isinstance(v, Mapping) and "recall" in v}
    worst = min(recalls, key=recalls.get) if recalls else None
    return {
        "accuracy": float(report.get("accuracy", float("nan"))),
        "macro_f1": float(report.get("macro_f1", float("nan"))),
        "n": int(report.get("n", 0) or 0),
        "worst_class": worst,
        "worst_recall": recalls.get(worst, float("nan")) if worst else float("nan"),
    }


def per_class_rows(report: Mapping) -> list[dict]:
    """One row per class (CLASSES order): precision, recall, F1, specificity, support."""
    per = report.get("per_class") or {}
    rows = []
    for c in CLASSES:
        v = per.get(c)
        if not isinstance(v, Mapping):
            continue
        row = {"class": c}
        for k in PER_CLASS_KEYS:
            if k in v:
                row[k] = int(v[k]) if k == "support" else float(v[k])
        rows.append(row)
    return rows


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
    correctly (fer_core.model_summary.class_notes), in the emotion's colour with the number as text."""
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


def check_history(history) -> list[dict]:
    """history.json rows sorted by epoch; ValueError with a readable message if it is malformed."""
    if not isinstance(history, list) or not all(isinstance(r, Mapping) and "epoch" in r for r in history):
        raise ValueError("The training history should be a list of per-epoch objects with an 'epoch' key.")
    return sorted((dict(r) for r in history), key=lambda r: r["epoch"])


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
    for c in CLASSES:
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
    classes = [c for c in CLASSES if c in counts]
    values = [int(counts[c]) for c in classes]
    fig = go.Figure(go.Bar(x=classes, y=values, text=values, textposition="outside",
                           marker_color=[COLORS_HEX[c] for c in classes]))
    fig.update_layout(xaxis_title="class", yaxis_title="training images", height=360,
                      margin={"l": 10, "r": 10, "t": 30, "b": 10})
    return fig


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def split_markdown_images(text: str, base_dir: str | Path) -> list[tuple[str, str]]:
    """Split a model card into ("markdown", text) and ("image", path) parts.

    Streamlit's markdown cannot show images by relative path, so local images (the confusion
    matrix) become separate parts; remote or missing images become their alt text (no page
    makes the browser fetch from a third party).
    """
    base = Path(base_dir)
    parts: list[tuple[str, str]] = []
    buf, pos = [], 0
    for m in _IMAGE.finditer(text):
        alt, target = m.group(1), m.group(2)
        local = base / target
        buf.append(text[pos:m.start()])
        pos = m.end()
        if "://" in target or not local.is_file():
            buf.append(f"*[image: {alt or target}]*")
            continue
        if "".join(buf).strip():
            parts.append(("markdown", "".join(buf)))
        buf = []
        parts.append(("image", str(local)))
    buf.append(text[pos:])
    if "".join(buf).strip():
        parts.append(("markdown", "".join(buf)))
    return parts


def card_sections(text: str) -> list[tuple[str, str]]:
    """A model card cut at its level-2 headings into (title, body), so each can be opened on its own.

    The card's own title line is dropped; text before the first section becomes "Summary".
    """
    sections: list[tuple[str, list[str]]] = [("Summary", [])]
    for line in text.splitlines():
        if line.startswith("# ") and not sections[0][1] and len(sections) == 1:
            continue
        if line.startswith("## "):
            sections.append((line[3:].strip(), []))
        else:
            sections[-1][1].append(line)
    return [(title, "\n".join(body).strip()) for title, body in sections if "".join(body).strip()]
