"""Model-card renderers: the markdown tables carry the figures, and the command writes them into the card."""

from __future__ import annotations

import re

import numpy as np
import pytest

from fer_core.core.labels import CLASSES, CLASSES_8
from fer_core.training.metrics import classification_report
from fer_core.training.model_card import (MODEL_PAGE_POINTER, block_markers, card_blocks, confusion_section_md,
                                          confusion_table_md, fill_blocks, metrics_section_md, reference_table_md,
                                          served_first_line, training_section_md,
                                          training_table_md, variants_table_md)
from fer_core.training.model_card import main as model_card_main


@pytest.fixture
def report() -> dict:
    y = np.arange(7).repeat(4)
    pred = y.copy()
    pred[:3] = 3  # three angry faces predicted happy
    return classification_report(y, pred)


def table_cells(md: str) -> list[list[str]]:
    """The cells of every Markdown table row in ``md`` (header first, no separator), bold marks dropped."""
    return [[c.strip().strip("*") for c in line.strip().strip("|").split("|")]
            for line in md.splitlines() if line.startswith("| ")]


def assert_confusion_table(md: str, report: dict) -> None:
    """Rows are the report's true classes, columns its predicted ones, each row about 100% of its faces."""
    header, *rows = table_cells(md)
    classes = list(report["classes"])
    assert header[1:] == [*classes, "faces"]
    assert [r[0] for r in rows] == classes
    for row, counts in zip(rows, np.asarray(report["confusion_matrix"])):
        assert int(row[-1]) == counts.sum()
        if counts.sum():
            shares = [float(c.rstrip("%")) for c in row[1:-1]]
            assert abs(sum(shares) - 100) <= 0.5 * len(classes)  # each share rounded to a whole percent
            assert shares == pytest.approx(list(100 * counts / counts.sum()), abs=0.5)
        else:
            assert row[1:-1] == ["-"] * len(classes)


def test_confusion_table_has_a_row_per_true_class_in_shares_of_its_faces(report):
    md = confusion_table_md(report)
    assert_confusion_table(md, report)
    angry = table_cells(md)[1]
    assert angry[1] == "25%" and angry[4] == "75%" and angry[-1] == "4"  # three of four angry faces said happy
    assert "| **25%** |" in md.splitlines()[2]  # the diagonal (recall) stands out


def test_confusion_table_takes_eight_classes_and_empty_rows_from_the_report():
    rng = np.random.default_rng(3)
    cm = rng.integers(0, 40, (8, 8))
    cm[4] = 0  # no neutral faces, as in CK+
    report = {"classes": list(CLASSES_8), "confusion_matrix": cm.tolist()}
    md = confusion_table_md(report)
    assert_confusion_table(md, report)
    assert "contempt" in table_cells(md)[0]
    with pytest.raises(ValueError, match="8x8"):
        confusion_table_md({**report, "confusion_matrix": cm[:7, :7].tolist()})


def test_the_confusion_block_shows_ferplus_valid_when_measured(report):
    other = {**report, "n": 999}
    name, chosen = served_first_line({"served": other, "split": "public_test", "ferplus_valid": {"served": report}})
    assert name == "FER+ valid" and chosen is report
    assert served_first_line({"served": other, "split": "public_test"}) == ("public_test", other)
    block = confusion_section_md({"served": other, "ferplus_valid": {"served": report}})
    assert f"on FER+ valid ({report['n']} faces; accuracy {report['accuracy']:.4f}" in block
    assert_confusion_table(block, report)


def test_training_table_has_an_epoch_per_row_and_the_columns_the_history_holds():
    history = [{"epoch": e, "loss": 1.0 / e, "accuracy": 0.3 + e / 20, "val_accuracy": 0.3 + e / 30,
                "val_macro_f1": 0.2 + e / 30, "val_selection": 0.1 * e, "val_ckplus_valid_accuracy": 0.5 + e / 100,
                "val_recall": {"angry": 0.5}, "lr": 1e-3, "seconds": 90.0} for e in (3, 1, 2)]
    md = training_table_md(history)
    header, *rows = table_cells(md)
    assert header == ["epoch", "train loss", "train accuracy", "val accuracy", "val macro-F1",
                      "ckplus valid accuracy", "selection", "minutes"]
    assert [r[0] for r in rows] == ["1", "2", "3"]
    assert rows[1] == ["2", "0.5000", "0.4000", f"{0.3 + 2 / 30:.4f}", f"{0.2 + 2 / 30:.4f}", "0.5200", "0.2000", "1.5"]
    assert table_cells(training_table_md([{"epoch": 1, "loss": 0.5}]))[0] == ["epoch", "train loss"]
    assert MODEL_PAGE_POINTER in training_section_md(history) and "Model page" in MODEL_PAGE_POINTER
    with pytest.raises(ValueError, match="no epochs"):
        training_table_md([])


CARD_WITH_BLOCKS = """# Card

Prose by hand.

{metrics[0]}
{metrics[1]}

{confusion[0]}
stale table
{confusion[1]}

{variants[0]}
{variants[1]}

## Training
{training[0]}
{training[1]}

More prose.
"""


def _marked_card() -> str:
    return CARD_WITH_BLOCKS.format(**{name: block_markers(name) for name in ("metrics", "confusion", "variants",
                                                                              "training")})


def test_fill_blocks_rewrites_only_what_lies_between_the_markers():
    card, missing = fill_blocks(_marked_card(), {"confusion": "new \\1 table", "training": "epochs", "other": "x"})
    assert missing == ["other"]
    assert "stale" not in card and "new \\1 table" in card and "epochs" in card  # the text taken as it is
    assert card.startswith("# Card\n\nProse by hand.") and card.endswith("More prose.\n")
    assert fill_blocks(card, {"confusion": "new \\1 table", "training": "epochs"}) == (card, [])  # idempotent


def test_the_command_writes_the_tables_into_the_card(tmp_path, capsys):
    from factories import write_model_side_files

    side = write_model_side_files(tmp_path)
    (tmp_path / "MODEL_CARD.md").write_text(_marked_card())
    assert model_card_main(["--model-dir", str(tmp_path)]) == 0
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "stale" not in card and ".png" not in card and "Prose by hand." in card
    confusion = card[card.index(block_markers("confusion")[0]):card.index(block_markers("confusion")[1])]
    assert_confusion_table(confusion, side["metrics"]["served"])
    training = card[card.index(block_markers("training")[0]):]
    assert len(table_cells(training)) == 1 + 6 and MODEL_PAGE_POINTER in training  # fake_history: six epochs
    assert "refreshed" in capsys.readouterr().out


def test_the_command_says_where_the_markers_go_when_the_card_has_none(tmp_path, capsys):
    from factories import CARD, write_model_side_files

    write_model_side_files(tmp_path)
    assert model_card_main(["--model-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and block_markers("confusion")[0] in err and block_markers("training")[1] in err
    assert (tmp_path / "MODEL_CARD.md").read_text() == CARD
    assert model_card_main(["--model-dir", str(tmp_path / "none")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_the_shipped_card_holds_the_tables_its_side_files_give(repo_root):
    """The card quotes metrics.json and history.json as the command writes them, and embeds no image."""
    from fer_core.core.model_folder import CARD_NAME

    for folder in (repo_root / "models", repo_root / "models" / "contempt8"):
        card = (folder / CARD_NAME).read_text(encoding="utf-8")
        assert fill_blocks(card, card_blocks(folder)) == (card, [])
        assert not re.search(r"!\[[^\]]*\]\([^)]*\.png", card)


def test_tables(report):
    ck = classification_report(np.array([0, 1, 2, 3, 5, 6]), np.array([0, 1, 2, 3, 5, 5]))  # no neutral faces
    metrics = {"keras": report, "served": report, "split": "public_test",
               "ckplus_valid": {"served": ck, "keras": ck}}
    md = metrics_section_md(metrics)
    head = table_cells(md.split("\n\n")[0])
    assert [r[0] for r in head[1:]] == ["Keras (`model.keras`)", "served (`model.tflite`)"]  # no mirror report
    assert head[1] == [head[1][0], "", "", f"{ck['accuracy']:.4f}", f"{report['accuracy']:.4f}",
                       f"{report['macro_f1']:.4f}"]  # no FER+ valid section: empty cells
    assert "FER+ valid, served" not in md and "CK+ valid subjects, served model, per class:" in md
    ck_rows = table_cells(md.split("CK+ valid subjects, served model, per class:")[1].split("FER-2013")[0])
    assert [r[0] for r in ck_rows[1:]] == ["angry", "disgust", "fear", "happy", "sad", "surprise"]
    public = table_cells(md.split("FER-2013 PublicTest, served model, per class:")[1])
    assert len(public) == 1 + len(CLASSES) and public[1][:3] == ["angry", "1.000", "0.250"]  # precision 1, recall 1/4
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


def test_a_folder_with_an_architecture_comparison_gets_its_block(tmp_path):
    import json

    from factories import fake_arch_table, write_model_side_files

    from fer_core.core.model_folder import ARCH_COMPARISON_NAME
    from fer_core.training.model_card import arch_comparison_md

    write_model_side_files(tmp_path)
    assert "architectures" not in card_blocks(tmp_path)
    (tmp_path / ARCH_COMPARISON_NAME).write_text(json.dumps(fake_arch_table()))
    assert card_blocks(tmp_path)["architectures"] == arch_comparison_md(fake_arch_table())


def test_a_folder_with_a_pruning_table_gets_its_block(tmp_path):
    import json

    from factories import write_model_side_files

    from fer_core.core.model_folder import PRUNING_NAME

    table = {"what": "pruned", "figures": "single pass", "hardware": "Made-up CPU, 2 cores", "measured": "today",
             "note": "Not served: no faster.", "rows": {
                 "shipped": {"size_mb": 4.57, "gzip_mb": 3.9, "ferplus_valid_accuracy": 0.84, "ms_p50": 1.3},
                 "sparsity_0": {"target_sparsity": 0.0, "sparsity": 0.0001, "ferplus_valid_accuracy": 0.839,
                                "ferplus_valid_agreement": 0.987, "size_mb": 4.57, "gzip_mb": 3.92, "ms_p50": 1.29},
                 "sparsity_50": {"target_sparsity": 0.5, "sparsity": 0.4771, "ferplus_valid_accuracy": 0.8012,
                                 "ferplus_valid_agreement": 0.9, "size_mb": 4.57, "gzip_mb": 2.94, "ms_p50": 1.27}}}
    write_model_side_files(tmp_path)
    assert "pruning" not in card_blocks(tmp_path)
    (tmp_path / PRUNING_NAME).write_text(json.dumps(table))
    md = card_blocks(tmp_path)["pruning"]
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(rows) == 4 and rows[1].startswith("| shipped (dynamic-range) |")
    assert rows[2].startswith("| pruned to 0.0% (control: fine-tuned, not pruned) | 0.0% | 0.8390 |")
    assert rows[3].startswith("| pruned to 50.0% | 47.7% | 0.8012 |") and "| 2.94 | 1.27 |" in rows[3]
    assert "Made-up CPU, 2 cores" in md and md.endswith("Not served: no faster.")
