"""Reading the shipped model's reports: tables from metrics.json, a checked history.json, and the
model card (written by hand and by fer_core.training.model_card; read only here) cut into sections,
its images reduced to their alt text and its intended-use section picked out.

Pure functions returning plain rows and text, so the Model and Home pages stay layout only; the
figures drawn from the same files are in fer_core.app.charts. No TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fer_core.core.labels import CLASSES

PER_CLASS_KEYS = ("precision", "recall", "f1", "specificity", "support")

# Which report is which lives in fer_core.app.model_summary (evaluation sets); these name them in tables.
# Short: they head a table that must fit beside the sidebar at 1280 px.
REPORT_LABELS = {"keras": "Keras", "served": "served (Live page)", "served_mirror": "served, mirrored (Photo, Video)"}


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
    "n": "faces", "worst_class": "weakest", "worst_recall": "its recall",
    "variant": "variant", "served": "served", "size_mb": "size (MB)", "agreement": "agrees with Keras",
    "accuracy_drop": "points lost", "latency_p50_ms": "ms per face",
    "class": "expression", "precision": "precision", "recall": "recall", "f1": "F1",
    "specificity": "specificity", "support": "faces",
    "arch": "network", "params_m": "params (M)", "mflops_per_face": "MFLOPs",
    "ferplus_valid_accuracy": "FER+ accuracy", "ferplus_valid_macro_f1": "FER+ macro-F1",
    "ckplus_valid_accuracy": "CK+ accuracy", "served_ms_p50": "ms per face", "served_variant": "served as",
    "served_size_mb": "file (MB)", "int8_agreement": "int8 agrees", "int8_accuracy_drop": "int8 pts lost",
    "int8_ms_p50": "int8 ms", "epochs": "epochs", "train_minutes": "training minutes",
}


def human_columns(rows: list[dict]) -> list[dict]:
    """The same rows with COLUMN_NAMES as keys; accuracy_drop in percentage points."""
    out = []
    for row in rows:
        row = dict(row)
        for key in ("accuracy_drop", "int8_accuracy_drop"):
            if isinstance(row.get(key), float):
                row[key] = round(row[key] * 100, 2)
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
    """One row per class (the report's class order): precision, recall, F1, specificity, support."""
    per = report.get("per_class") or {}
    rows = []
    for c in report.get("classes") or CLASSES:
        v = per.get(c)
        if not isinstance(v, Mapping):
            continue
        row = {"class": c}
        for k in PER_CLASS_KEYS:
            if k in v:
                row[k] = int(v[k]) if k == "support" else float(v[k])
        rows.append(row)
    return rows


def check_history(history) -> list[dict]:
    """history.json rows sorted by epoch; ValueError with a readable message if it is malformed."""
    if not isinstance(history, list) or not all(isinstance(r, Mapping) and "epoch" in r for r in history):
        raise ValueError("The training history should be a list of per-epoch objects with an 'epoch' key.")
    return sorted((dict(r) for r in history), key=lambda r: r["epoch"])


_IMAGE = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def images_as_text(text: str) -> str:
    """Markdown (the card, the training log) with every image as its alt text: the card shows its
    figures as tables, Streamlit cannot show a local image by path, and a remote one would make the
    browser fetch from a third party."""
    return _IMAGE.sub(lambda m: f"*[image: {m.group(1) or m.group(2)}]*", text)


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


def _section(card: str, heading: re.Pattern) -> str:
    """Text under the first markdown heading matching ``heading``, up to the next heading of any level."""
    lines = card.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("#") and heading.search(line):
            body = []
            for nxt in lines[i + 1:]:
                if nxt.startswith("#"):
                    break
                body.append(nxt)
            return "\n".join(body).strip()
    return ""


def intended_use(card: str) -> str:
    """The card's intended-use section (what the model is and is not for), or '' when absent."""
    return _section(card, re.compile(r"^#+\s*Intended", re.I))
