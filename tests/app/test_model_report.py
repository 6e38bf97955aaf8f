"""model_report: the Model page's tables from metrics and history, and the model card's parts."""

from __future__ import annotations

import pytest
from factories import CARD, fake_history, fake_report, write_model_side_files

from fer_core.app import model_report as mr
from fer_core.core.labels import CLASSES


def test_headline_finds_the_weakest_class():
    rep = fake_report(3)
    h = mr.headline(rep)
    recalls = {c: v["recall"] for c, v in rep["per_class"].items()}
    assert h["worst_class"] == min(recalls, key=recalls.get)
    assert h["worst_recall"] == min(recalls.values())
    assert h["accuracy"] == rep["accuracy"] and h["n"] == rep["n"]


def test_per_class_rows_follow_class_order():
    rep = fake_report(1)
    rows = mr.per_class_rows(rep)
    assert [r["class"] for r in rows] == list(CLASSES)
    assert rows[2]["f1"] == rep["per_class"]["fear"]["f1"] and isinstance(rows[2]["support"], int)


def test_history_is_checked_and_sorted_by_epoch():
    hist = fake_history(4)[::-1]
    assert [r["epoch"] for r in mr.check_history(hist)] == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="per-epoch"):
        mr.check_history({"epoch": 1})


def test_model_card_images_become_their_alt_text():
    text = mr.images_as_text(CARD)
    assert "*[image: remote]*" in text and "https://" not in text  # no page makes the browser fetch elsewhere
    assert "*[image: old figure]*" in text and "![" not in text  # the card's figures are tables now
    assert mr.images_as_text("see ![](figure.png) here") == "see *[image: figure.png]* here"


def test_variant_rows(tmp_path):
    metrics = write_model_side_files(tmp_path)["metrics"]
    rows = mr.variant_rows(metrics)
    assert [(r["variant"], r["served"], r["size_mb"]) for r in rows] == [("fp32", False, 16.0), ("int8", True, 4.5)]
    assert rows[1]["agreement"] == 0.985 and rows[1]["latency_p50_ms"] == 1.2
    assert mr.variant_rows({"variants": "nonsense"}) == [] and mr.variant_rows(None) == []


def test_card_sections_cut_at_level_two_headings():
    sections = mr.card_sections(CARD)
    assert [title for title, _ in sections] == ["Summary", "Intended use", "Limitations"]
    assert sections[0][1].startswith("Made-up figures") and "# Model card" not in sections[0][1]
    assert "### Compared with the `fer` package" in sections[1][1]  # level 3 stays inside its section


def test_human_columns():
    rows = mr.human_columns([{"variant": "fp16", "size_mb": 8.1, "accuracy_drop": -0.0003, "latency_p50_ms": 1.7,
                              "macro_f1": 0.6, "worst_recall": 0.4, "some_new_key": 1}])
    assert rows == [{"variant": "fp16", "size (MB)": 8.1, "points lost": -0.03,
                     "ms per face": 1.7, "macro-F1": 0.6, "its recall": 0.4,
                     "some new key": 1}]


def test_intended_use_from_the_card():
    assert mr.intended_use(CARD) == "Intended: trying the test app. Not to be used for judging anybody."
    assert mr.intended_use("# card without it") == ""


def test_architecture_columns_have_human_names_and_int8_loss_in_points():
    from factories import fake_arch_table

    from fer_core.core.arch_table import ARCH_COLUMNS, arch_rows

    row = mr.human_columns(arch_rows(fake_arch_table()))[0]
    assert len(row) == len(ARCH_COLUMNS) and not [k for k in row if "_" in k]
    assert row["int8 pts lost"] == pytest.approx(4.7) and row["network"] == "efficientnet_b0"
