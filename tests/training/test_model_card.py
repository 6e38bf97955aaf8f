"""Model-card renderers: PNGs are real images and the markdown tables carry the figures."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.training.metrics import classification_report
from fer_core.training.model_card import (confusion_matrix_png, per_class_table_md, reference_table_md,
                                          results_table_md, training_curves_png, variants_table_md)


@pytest.fixture
def report() -> dict:
    y = np.arange(7).repeat(4)
    pred = y.copy()
    pred[:3] = 3  # three angry faces predicted happy
    return classification_report(y, pred)


def _png_size(path) -> tuple[int, int]:
    import cv2

    img = cv2.imread(str(path))
    assert img is not None, f"{path} is not a readable image"
    return img.shape[1], img.shape[0]


def test_confusion_matrix_png(report, tmp_path):
    p = confusion_matrix_png(report, tmp_path / "cm.png")
    w, h = _png_size(p)
    assert w > 400 and h > 400


def test_training_curves_png(tmp_path):
    hist = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.3 + e / 20, "val_accuracy": 0.3 + e / 30,
             "val_macro_f1": 0.2 + e / 30} for e in range(1, 6)]
    assert _png_size(training_curves_png(hist, tmp_path / "c.png"))[0] > 400
    assert training_curves_png([], tmp_path / "none.png") is None


def test_tables(report):
    metrics = {"keras": {**report, "model": "model.keras"}, "served": {**report, "model": "model.tflite"},
               "split": "public_test"}
    t = results_table_md(metrics)
    assert t.count("\n") == 3 and "model.tflite" in t and f"{report['accuracy']:.4f}" in t
    rows = per_class_table_md(report).splitlines()
    assert len(rows) == 2 + len(CLASSES)
    assert rows[2].startswith("| angry | 1.000 | 0.250 |")  # precision 1, recall 1/4
    variants = {"chosen": "int8", "variants": [
        {"variant": "fp32", "size_bytes": 16e6, "agreement": 1.0, "accuracy": 0.7, "accuracy_drop": 0.0,
         "macro_f1": 0.66, "latency_p50_ms": 5.0, "eligible": False},
        {"variant": "int8", "size_bytes": 5e6, "agreement": 0.985, "accuracy": 0.695, "accuracy_drop": 0.005,
         "macro_f1": 0.65, "latency_p50_ms": 1.4, "eligible": True}]}
    vt = variants_table_md(variants)
    assert "| int8 (served) | 5.00 | 98.50% |" in vt and "| fp32 | 16.00 |" in vt


def test_the_shipped_card_quotes_the_reference_figures_file(repo_root):
    """The card's `fer` table is written from reference_figures.json, the file the pages read."""
    from fer_core.core.model_folder import CARD_NAME, load_reference_figures

    figures = load_reference_figures(repo_root / "models")
    assert set(figures) >= {"FER+ valid", "FER-2013 PublicTest"}
    assert reference_table_md(figures) in (repo_root / "models" / CARD_NAME).read_text(encoding="utf-8")


def test_architecture_comparison_section_has_every_arm_and_the_int8_verdict():
    from factories import fake_arch_table

    from fer_core.training.model_card import arch_comparison_md

    md = arch_comparison_md(fake_arch_table())
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 3 and table[1].startswith("| efficientnet_b0 | 4.06 |") and "| cnn | 0.81 |" in table[2]
    assert "1.52 (int8)" in table[1] and "+4.70" in table[1] and "97.0%" in table[1]
    assert "85.6% of 3370 FER+ valid faces" in md and "does not qualify" in md and "picks dynamic" in md
    assert "Made-up CPU, 2 cores" in md and "537 steps" in md
