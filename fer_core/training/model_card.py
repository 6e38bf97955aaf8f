"""The model card's generated parts: Markdown tables from the model folder's side files, and the
command that writes them into the card's marked blocks.

    python -m fer_core.training.model_card --model-dir models

Tables, not images, so the card reads on GitHub and offline with one drawing per figure: the
interactive charts are the Model page's (fer_core.app.charts). The card's prose is written by hand;
each generated block sits between two invisible Markdown lines (``block_markers``) that this
command rewrites, and ship refreshes them when it ships into a folder with a card.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from fer_core.core.model_folder import (CARD_NAME, ModelFilesError, default_model_dir, load_arch_comparison,
                                        load_history, load_metrics, load_pruning)
from fer_core.training.cli import CommandError, run_command

# A history key, its column heading and its number format; a column appears when the history holds it.
HISTORY_COLUMNS = (("loss", "train loss", ".4f"), ("accuracy", "train accuracy", ".4f"),
                   ("val_loss", "val loss", ".4f"), ("val_accuracy", "val accuracy", ".4f"),
                   ("val_macro_f1", "val macro-F1", ".4f"))
_EXTRA_SET = re.compile(r"^val_(.+)_accuracy$")  # val_<set>_accuracy: another set logged every epoch
MODEL_PAGE_POINTER = ("Interactive charts of these epochs (loss, accuracy, learning rate, each class's recall) "
                      "and of the confusion matrix are on the dashboard's Model page.")


def served_first_line(metrics: Mapping) -> tuple[str, Mapping]:
    """The evaluation set and served-model report the card's confusion table shows: FER+ valid when
    measured (ten annotators per face), else the data's own validation split."""
    ferplus = metrics.get("ferplus_valid")
    if isinstance(ferplus, Mapping) and isinstance(ferplus.get("served"), Mapping):
        return "FER+ valid", ferplus["served"]
    if not isinstance(metrics.get("served"), Mapping):
        raise ValueError("metrics.json has no served-model report.")
    return str(metrics.get("split") or "the validation split"), metrics["served"]


def confusion_table_md(report: Mapping) -> str:
    """The confusion matrix as a table: a row per true class, a column per predicted class (the
    report's classes), each cell the share of the row's faces (the diagonal, bold, is recall) and
    the row's face count last."""
    classes = list(report["classes"])
    cm = np.asarray(report["confusion_matrix"], dtype=int)
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"The confusion matrix should be {len(classes)}x{len(classes)}; got shape {cm.shape}.")
    rows = []
    for i, (name, counts) in enumerate(zip(classes, cm)):
        total = int(counts.sum())
        cells = [f"{v / total:.0%}" if total else "-" for v in counts]
        if total:
            cells[i] = f"**{cells[i]}**"
        rows.append((name, *cells, total))
    return _md_table(("true \u2193 predicted \u2192", *classes, "faces"), rows)


def confusion_section_md(metrics: Mapping) -> str:
    """The card's confusion block: which faces and model, how to read it, the table."""
    name, report = served_first_line(metrics)
    return (f"Confusion matrix of the served model on {name} ({report['n']} faces; accuracy "
            f"{report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}). Rows: the true class; columns: the "
            "model's answer; each cell is the share of the row's faces, so a row sums to 100% and the bold "
            "diagonal is each class's recall.\n\n" + confusion_table_md(report))


def training_table_md(history: Sequence[Mapping]) -> str:
    """One row per epoch: train loss and accuracy, validation accuracy and macro-F1, the accuracy of
    every other set logged each epoch, the selection score and minutes, as far as the history holds them."""
    rows = sorted((r for r in history if isinstance(r, Mapping) and "epoch" in r), key=lambda r: r["epoch"])
    if not rows:
        raise ValueError("The training history has no epochs.")
    held = {k for r in rows for k, v in r.items() if isinstance(v, (int, float))}
    extra = sorted(k for k in held if _EXTRA_SET.match(k))
    columns = [c for c in HISTORY_COLUMNS if c[0] in held]
    columns += [(k, f"{_EXTRA_SET.match(k).group(1).replace('_', ' ')} accuracy", ".4f") for k in extra]
    columns += [c for c in (("val_selection", "selection", ".4f"), ("seconds", "minutes", ".1f")) if c[0] in held]

    def cell(row: Mapping, key: str, fmt: str) -> str:
        value = row.get(key)
        if not isinstance(value, (int, float)):
            return ""
        return format(value / 60 if key == "seconds" else value, fmt)

    return _md_table(("epoch", *(c[1] for c in columns)),
                     [(r["epoch"], *(cell(r, key, fmt) for key, _, fmt in columns)) for r in rows])


def training_section_md(history: Sequence[Mapping]) -> str:
    """The card's training block: the per-epoch table and where the charts are."""
    return training_table_md(history) + "\n\n" + MODEL_PAGE_POINTER


def _md_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(lines)


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


def pruning_md(table: Mapping) -> str:
    """The pruning table (pruning.json): each sparsity beside the shipped file, and how it was made."""
    rows = table.get("rows") or {}
    pct = lambda v: "" if v is None else f"{v * 100:.1f}%"  # noqa: E731
    num = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    body = _md_table(
        ("model", "zero weights", "FER+ acc", "FER+ macro-F1", "CK+ acc", "agrees with shipped (FER+)", "MB",
         "MB gzip", "ms/face"),
        [("shipped (dynamic-range)" if name == "shipped" else f"pruned to {pct(r.get('target_sparsity'))}"
          + (" (control: fine-tuned, not pruned)" if r.get("target_sparsity") == 0 else ""),
          pct(r.get("sparsity")), num(r.get("ferplus_valid_accuracy"), ".4f"), num(r.get("ferplus_valid_macro_f1"), ".4f"),
          num(r.get("ckplus_valid_accuracy"), ".4f"), pct(r.get("ferplus_valid_agreement")), r.get("size_mb"),
          r.get("gzip_mb"), num(r.get("ms_p50"), ".2f")) for name, r in rows.items()])
    lines = [body, "", f"How: {table.get('what', '')}. {table.get('figures', '')}. Hardware: {table.get('hardware')}; "
                       f"measured {table.get('measured')}."]
    if table.get("note"):
        lines += ["", str(table["note"])]
    return "\n".join(lines)


MODES = (("keras", "Keras (`model.keras`)"), ("served", "served (`model.tflite`)"),
         ("served_mirror", "served, mirror-averaged (photos, videos)"))
PER_CLASS_SETS = (("ferplus_valid", "FER+ valid"), ("ckplus_valid", "CK+ valid subjects"), ("", "FER-2013 PublicTest"))


def _report(metrics: Mapping, section: str, mode: str) -> Mapping | None:
    """One report of metrics.json: a validation set's section (``""``: the data's own split, at the top)."""
    rep = (metrics.get(section) or {}).get(mode) if section else metrics.get(mode)
    return rep if isinstance(rep, Mapping) else None


def metrics_section_md(metrics: Mapping) -> str:
    """The card's headline table (each inference mode on each validation set) and the served model's
    per-class tables, from metrics.json: the figures a new model changes are never typed by hand."""
    def cell(section: str, mode: str, key: str) -> str:
        rep = _report(metrics, section, mode)
        return "" if rep is None else f"{rep[key]:.4f}"

    rows = [(label, cell("ferplus_valid", mode, "accuracy"), cell("ferplus_valid", mode, "macro_f1"),
             cell("ckplus_valid", mode, "accuracy"), cell("", mode, "accuracy"), cell("", mode, "macro_f1"))
            for mode, label in MODES if _report(metrics, "", mode) is not None]
    parts = [_md_table(("model", "FER+ valid accuracy", "FER+ valid macro-F1", "CK+ valid accuracy",
                        "PublicTest accuracy", "PublicTest macro-F1"), rows)]
    for section, name in PER_CLASS_SETS:
        rep = _report(metrics, section, "served")
        if rep is None:
            continue
        shown = [c for c in rep["classes"] if rep["per_class"][c]["support"]]  # CK+ has no neutral faces
        table = _md_table(("class", "precision", "recall", "F1", "support"),
                          [(c, *(f"{rep['per_class'][c][k]:.3f}" for k in ("precision", "recall", "f1")),
                            rep["per_class"][c]["support"]) for c in shown])
        parts += [f"{name}, served model, per class:", table]
    return "\n\n".join(parts)


def block_markers(name: str) -> tuple[str, str]:
    """The lines around a generated block in the card: Markdown link reference definitions, which
    GitHub and Streamlit show as nothing."""
    return f'[//]: # "{name}: generated by python -m fer_core.training.model_card"', f'[//]: # "end of {name}"'


def card_blocks(model_dir: str | os.PathLike) -> dict[str, str]:
    """Every block the folder's side files fill: metrics, confusion and variants (metrics.json), training
    (history.json), architectures (arch_comparison.json) and pruning (pruning.json)."""
    blocks = {}
    if metrics := load_metrics(model_dir):
        blocks["metrics"] = metrics_section_md(metrics)
        blocks["confusion"] = confusion_section_md(metrics)
        if metrics.get("variants"):
            blocks["variants"] = variants_table_md({"chosen": metrics.get("served_variant"),
                                                    "variants": metrics["variants"]})
    if history := load_history(model_dir):
        blocks["training"] = training_section_md(history)
    if table := load_arch_comparison(model_dir):
        blocks["architectures"] = arch_comparison_md(table)
    if table := load_pruning(model_dir):
        blocks["pruning"] = pruning_md(table)
    return blocks


def fill_blocks(card: str, blocks: Mapping[str, str]) -> tuple[str, list[str]]:
    """``card`` with each marked block's text replaced, and the names of the blocks it has no markers for."""
    missing = []
    for name, body in blocks.items():
        begin, end = block_markers(name)
        marked = re.compile(rf"^{re.escape(begin)}$.*?^{re.escape(end)}$", re.M | re.S)
        text = f"{begin}\n\n{body}\n\n{end}"
        card, found = marked.subn(lambda _, text=text: text, card)  # a function: no escapes read in text
        if not found:
            missing.append(name)
    return card, missing


def refresh_card(model_dir: str | os.PathLike) -> list[str]:
    """Rewrite the generated blocks of the folder's card from its side files; returns the blocks the
    card has no markers for (left out)."""
    path = Path(model_dir) / CARD_NAME
    card, missing = fill_blocks(path.read_text(encoding="utf-8"), card_blocks(model_dir))
    path.write_text(card, encoding="utf-8")
    return missing


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.training.model_card",
                                 description="Rewrite the model card's generated tables from the model folder.")
    ap.add_argument("--model-dir", default=None, help="the model folder (default: models/, or FER_MODEL_DIR)")
    folder = Path(ap.parse_args(argv).model_dir or default_model_dir())

    def work() -> None:
        if not (folder / CARD_NAME).is_file():
            raise CommandError(f"{folder / CARD_NAME} does not exist; the card's prose is written by hand first.")
        missing = refresh_card(folder)
        if missing:
            lines = "; ".join(" and ".join(block_markers(name)) for name in missing)
            raise CommandError(f"{folder / CARD_NAME} has no place for {', '.join(missing)}: put each pair of "
                               f"lines, on lines of their own, where the block belongs: {lines}")
        print(f"refreshed the generated tables in {folder / CARD_NAME}")

    return run_command(work, (ModelFilesError, ValueError, OSError))


if __name__ == "__main__":
    sys.exit(main())
