"""Images and tables for the model card: confusion-matrix and training-curve PNGs, markdown tables.

Static files (matplotlib, headless) so the card reads on GitHub and offline; the app draws its
own interactive figures (fer_core.app.charts). The card's prose is written by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fer_core.core.labels import CLASSES


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on servers / CI
    import matplotlib.pyplot as plt

    return plt


def confusion_matrix_png(report: Mapping, path: str | os.PathLike, title: str | None = None) -> Path:
    """Row-normalised confusion matrix (recall on the diagonal) with the raw counts in each cell."""
    plt = _pyplot()
    cm = np.asarray(report["confusion_matrix"], float)
    classes = list(report.get("classes", CLASSES))
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    fig, ax = plt.subplots(figsize=(6.4, 5.6), dpi=110)
    im = ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(j, i, f"{norm[i, j]:.2f}\n({int(cm[i, j])})", ha="center", va="center", fontsize=7,
                    color="white" if norm[i, j] > 0.55 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=35, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f} (n={report['n']})",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def training_curves_png(history: Sequence[Mapping], path: str | os.PathLike) -> Path | None:
    """Loss and validation accuracy / macro-F1 per epoch; None when the history is empty."""
    rows = sorted((r for r in history if isinstance(r, Mapping) and "epoch" in r), key=lambda r: r["epoch"])
    if not rows:
        return None
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    ep = [r["epoch"] for r in rows]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=110)
    a1.plot(ep, [r.get("loss", np.nan) for r in rows], marker=".", label="train loss")
    a1.set_xlabel("epoch")
    a1.set_title("training loss", fontsize=10)
    for key, label in (("accuracy", "train accuracy"), ("val_accuracy", "val accuracy"),
                       ("val_macro_f1", "val macro-F1")):
        vals = [r.get(key, np.nan) for r in rows]
        if not all(v is None or (isinstance(v, float) and np.isnan(v)) for v in vals):
            a2.plot(ep, [np.nan if v is None else v for v in vals], marker=".", label=label)
    a2.set_xlabel("epoch")
    for ax in (a1, a2):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    a2.set_title("accuracy / macro-F1", fontsize=10)
    a2.legend(fontsize=8)
    a2.grid(alpha=0.3)
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out)
    plt.close(fig)
    return out


def _md_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


def results_table_md(metrics: Mapping) -> str:
    """Headline figures of every report in metrics.json (keras, served): accuracy, macro-F1, disgust recall."""
    rows = []
    for name, rep in metrics.items():
        if isinstance(rep, Mapping) and "accuracy" in rep:
            rows.append((f"{name} ({rep.get('model', '')})", f"{rep['accuracy']:.4f}", f"{rep['macro_f1']:.4f}",
                         f"{rep['per_class']['disgust']['recall']:.3f}", rep["n"]))
    return _md_table(("model", "accuracy", "macro-F1", "disgust recall", "n"), rows)


def per_class_table_md(report: Mapping) -> str:
    """Per-class precision / recall / F1 / specificity / support."""
    rows = [(c, *(f"{report['per_class'][c][k]:.3f}" for k in ("precision", "recall", "f1", "specificity")),
             report["per_class"][c]["support"]) for c in report["classes"]]
    return _md_table(("class", "precision", "recall", "F1", "specificity", "support"), rows)


def reference_table_md(figures: Mapping[str, Mapping]) -> str:
    """The card's table of the `fer` package's figures (fer_core.core.model_folder.load_reference_figures)."""
    rows = [(name, f"{v['accuracy']:.4f}", f"{v['macro_f1']:.4f}") for name, v in figures.items()]
    return _md_table(("evaluation set", "accuracy", "macro-F1"), rows)


def variants_table_md(variants: Mapping) -> str:
    """Every TFLite variant tried (variants.json from fer_core.training.export), the chosen one marked."""
    rows = []
    for v in variants["variants"]:
        mark = " (served)" if v["variant"] == variants.get("chosen") else ""
        rows.append((v["variant"] + mark, f"{v['size_bytes'] / 1e6:.2f}", f"{v['agreement'] * 100:.2f}%",
                     f"{v['accuracy']:.4f}", f"{v['accuracy_drop'] * 100:+.2f}", f"{v['macro_f1']:.4f}",
                     f"{v['latency_p50_ms']:.2f}", "yes" if v["eligible"] else "no"))
    return _md_table(("variant", "MB", "agreement", "accuracy", "drop (pt)", "macro-F1", "p50 ms (1 face, 2 threads)",
                      "eligible"), rows)


def arch_comparison_md(table: Mapping) -> str:
    """The architecture comparison (arch_comparison.json) as the card shows it: what it means, the
    table, its budget and hardware, and the shipped model's int8 result when measured."""
    from fer_core.core.arch_table import arch_rows, arch_sentence

    rows = arch_rows(table)
    pct = lambda v: "" if v is None else f"{v * 100:.1f}%"  # noqa: E731
    num = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    body = _md_table(
        ("network", "params (M)", "MFLOPs/face", "FER+ acc", "FER+ macro-F1", "CK+ acc", "served ms/face",
         "served (MB)", "int8 agrees", "int8 pt lost", "int8 ms/face", "epochs", "min"),
        [(r["arch"], r["params_m"], num(r["mflops_per_face"], ".1f"), num(r["ferplus_valid_accuracy"], ".4f"),
          num(r["ferplus_valid_macro_f1"], ".4f"), num(r["ckplus_valid_accuracy"], ".4f"),
          f"{num(r['served_ms_p50'], '.2f')} ({r['served_variant']})", r["served_size_mb"], pct(r["int8_agreement"]),
          num(None if r["int8_accuracy_drop"] is None else r["int8_accuracy_drop"] * 100, "+.2f"),
          num(r["int8_ms_p50"], ".2f"), r["epochs"], r["train_minutes"]) for r in rows])
    budget = table.get("budget") or {}
    lines = [arch_sentence(table), "", body, "",
             f"Budget: {budget.get('note', '')} ({budget.get('epochs')} epochs, {budget.get('steps_per_arm')} steps "
             f"of 64 faces per arm). Hardware: {table.get('hardware')}; another training run shared the CPU while "
             f"timing: {'yes' if table.get('other_training_during_timing') else 'no'}. {table.get('figures', '')}."]
    if table.get("note"):
        lines += ["", str(table["note"])]
    shipped = table.get("shipped_int8")
    if isinstance(shipped, Mapping):
        lines += ["", f"Shipped model, full-integer int8 (per-channel weights, {shipped.get('representative_faces')} "
                      f"training faces to calibrate): agrees with Keras on {pct(shipped.get('int8_agreement'))} of "
                      f"{shipped.get('n')} FER+ valid faces, {shipped.get('int8_accuracy_drop', 0) * 100:+.2f} points "
                      f"of accuracy lost: {'qualifies' if shipped.get('int8_qualifies') else 'does not qualify'} "
                      f"(<= 1 point); the served-variant rule picks {shipped.get('rule_picks')}."]
    return "\n".join(lines)
