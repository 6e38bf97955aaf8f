"""Model page: figures from models/ side files, graceful gaps, and no TensorFlow import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import assert_clean, texts
from factories import fake_report, write_model_side_files

from fer_core.core.labels import CLASSES
from fer_core.app.model_report import headline
from fer_core.app.model_summary import class_notes


TECHNICAL = ("macro", "F1", "recall", "precision", "specificity", "validation", "PublicTest", "TFLite", "Keras",
             "EfficientNet", "epoch", "split", "confusion", "metrics.json")


def walk(node):
    """Every element under ``node`` in page order (AppTest keeps children by position)."""
    yield node
    children = getattr(node, "children", {}) or {}
    for i in sorted(children):
        yield from walk(children[i])


def first_screen(at) -> list:
    """The elements above the 'In detail' header: what a visitor sees before any figures for specialists."""
    out = []
    for el in walk(at.main):
        if getattr(el, "type", "") == "header" and el.value == "In detail":
            return out
        out.append(el)
    raise AssertionError("no 'In detail' header on the Model page")


def shown_text(elements) -> str:
    return "\n".join(str(e.value) for e in elements
                     if getattr(e, "type", "") in ("markdown", "caption", "header", "subheader", "title", "info"))


def test_a_set_the_fer_package_was_not_run_on_says_so_in_words(open_page, tiny_model_dir, monkeypatch):
    write_model_side_files(tiny_model_dir)
    metrics = json.loads((tiny_model_dir / "metrics.json").read_text())
    metrics["realphotos_dev"] = {"photos": 600, "no_face": 0, "accuracy": 0.86, "accuracy_of_all_photos": 0.86}
    (tiny_model_dir / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert_clean(at)
    fer = at.dataframe[0].value["`fer` package, of 100"].tolist()
    assert fer[-1] == "not measured" and all(v.isdigit() for v in fer[:-1]) and "None" not in fer


def test_model_page_shows_every_section(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error and not at.warning
    served, history = side["metrics"]["served"], json.loads((tiny_model_dir / "history.json").read_text())
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy"] == f"{served['accuracy']:.1%}" and shown["Macro-F1"] == f"{served['macro_f1']:.3f}"
    frames = [d.value for d in at.dataframe]
    kinds, models, variants, per_class = frames
    assert list(kinds["how many"]) == [served["n"]]
    assert list(models["model"]) == ["Keras", "served (Live page)"]
    assert list(models["evaluated on"]) == ["FER-2013 PublicTest"] * 2
    assert models["accuracy"].tolist() == pytest.approx(
        [headline(side["metrics"][k])["accuracy"] for k in ("keras", "served")], abs=5e-4)
    assert variants["variant"].tolist() == ["fp32", "int8"] and variants["served"].tolist() == [False, True]
    assert variants["size (MB)"].tolist() == [16.0, 4.5]
    assert variants["points lost"].tolist() == [2.0, 2.0]
    n = side["metrics"]["keras"]["n"]  # the variants were measured on the top-level reports' faces
    assert f"TFLite variants measured on FER-2013 PublicTest ({n:,} faces)" in texts(at)
    assert list(per_class["expression"]) == list(CLASSES)
    for _, row in per_class.iterrows():
        for k, col in (("precision", "precision"), ("recall", "recall"), ("f1", "F1"),
                       ("specificity", "specificity"), ("support", "faces")):
            assert row[col] == pytest.approx(served["per_class"][row["expression"]][k], abs=5e-4)
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    # summary: bars and mix-ups; detail: confusion matrix, training curves, recall per class, class counts
    assert len(charts) == 6
    heat = charts[2]["data"][0]
    assert heat["type"] == "heatmap" and heat["customdata"] == served["confusion_matrix"]
    loss = next(t for t in charts[3]["data"] if t["name"] == "training loss")  # the curves: drawn here only
    assert loss["x"] == [r["epoch"] for r in history] and loss["y"] == [r["loss"] for r in history]
    counts_bar = charts[5]["data"][0]
    assert counts_bar["x"] == list(CLASSES) and counts_bar["y"] == [side["counts"][c] for c in CLASSES]
    # the model card in sections a reader opens, its images (local or remote) reduced to their alt text
    titles = [e.label for e in at.expander]
    assert titles[:3] == ["Summary", "Intended use", "Limitations"]
    md = texts(at)
    assert "Made-up figures for tests" in md and "Not for decisions about people" in md
    assert "*[image: remote]*" in md and "example.com" not in md
    assert "*[image: old figure]*" in md and not at.get("image")
    # the training log comes last, in its own section
    assert "How the model was trained" in titles[-1] and "McNemar" in md
    assert [s.value for s in at.subheader][-2:] == ["Model card", "Training log"]


def test_every_table_has_human_column_names(open_page, tiny_model_dir, monkeypatch):
    write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    columns = [c for d in at.dataframe for c in d.value.columns]
    assert columns and not [c for c in columns if "_" in c], columns
    for raw in ("worst_recall", "latency_p50_ms", "accuracy_drop", "size_mb", "macro_f1"):
        assert raw not in columns


# A dataframe beside the sidebar at a 1280 px wide window has about 860 px (wide layout: 1280 less the
# sidebar and the page's side padding); a character is about 7 px, a column's padding 16 px.
PAGE_WIDTH_PX, CHAR_PX, COLUMN_PADDING_PX = 860, 7, 16


def width_px(frame) -> int:
    """How wide a table is drawn when every column is as wide as its longest cell or heading."""
    return sum(CHAR_PX * max([len(str(c))] + [len(str(v)) for v in frame[c]]) + COLUMN_PADDING_PX
               for c in frame.columns)


def test_the_detail_tables_fit_beside_the_sidebar_at_1280_px(open_page, tiny_model_dir, monkeypatch):
    """No last column cut off: short model names and figures to 3 decimals, not 16 digits."""
    side = write_model_side_files(tiny_model_dir)
    metrics = side["metrics"]
    metrics["served_mirror"] = {**metrics["served"], "mirror": True}
    metrics["ferplus_valid"] = {k: {**metrics[k], "format": "ferplus", "split": "valid"} for k in ("keras", "served")}
    (tiny_model_dir / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception, [e.value for e in at.exception]
    models = next(d.value for d in at.dataframe if "model" in d.value.columns)
    assert len(models) == 5 and "served, mirrored (Photo, Video)" in list(models["model"])
    for frame in (d.value for d in at.dataframe):
        assert width_px(frame) <= PAGE_WIDTH_PX, (list(frame.columns), width_px(frame))


def test_summary_answers_how_good_and_where_it_fails_in_plain_words(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    screen = first_screen(at)
    text = shown_text(screen)
    served = side["metrics"]["served"]
    assert f"{round(served['accuracy'] * 100)} of every 100 faces" in text
    assert "`fer` package" in text and "61 of 100" in text  # the card's figure for the same photos
    for note in class_notes(served):  # a few words on each expression, from the confusion matrix
        assert note.sentence() in text
    kinds = [json.loads(e.proto.spec)["data"][0]["type"] for e in screen if getattr(e, "type", "") == "plotly_chart"]
    assert kinds == ["bar", "heatmap"]  # per-expression bars and the mix-ups as a picture
    assert "Not to be used for judging anybody" in text  # from the card's intended use
    for word in TECHNICAL:
        assert word not in text, word
    assert str(tiny_model_dir) not in texts(at)  # no server folder anywhere on the page


def test_summary_follows_the_shipped_figures_with_fer_plus_first(open_page, tiny_model_dir, monkeypatch):
    """A model shipped with FER+ valid figures: those open the summary, FER-2013 comes second."""
    side = write_model_side_files(tiny_model_dir)
    metrics = side["metrics"]
    ferplus = {**fake_report(7, skill=0.81), "format": "ferplus", "split": "public_test", "backend": "tflite"}
    metrics["served_ferplus"] = ferplus
    (tiny_model_dir / "metrics.json").write_text(json.dumps(metrics))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception
    lines = [e.value for e in first_screen(at) if getattr(e, "type", "") == "markdown"]
    first = next(i for i, v in enumerate(lines) if "of every 100 faces" in v)
    assert "ten people" in lines[first] and f"{round(ferplus['accuracy'] * 100)} of every 100" in lines[first]
    assert "65 of 100" in lines[first]  # the card's `fer` figure on FER+ valid
    assert "one person" in lines[first + 1]
    assert f"{round(metrics['served']['accuracy'] * 100)} of every 100" in lines[first + 1]
    for note in class_notes(ferplus):
        assert note.sentence() in shown_text(first_screen(at))
    # the details open on the same faces, and can switch to the others
    picker = at.selectbox(key="model_eval_set")
    assert list(picker.options) == ["FER+ valid", "FER-2013 PublicTest"] and picker.value == "FER+ valid"
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{ferplus['accuracy']:.1%}"
    models = next(d.value for d in at.dataframe if "evaluated on" in d.value.columns)
    assert "FER+ valid" in list(models["evaluated on"])
    picker.set_value("FER-2013 PublicTest").run()
    assert {m.label: m.value for m in at.metric}["Accuracy"] == f"{metrics['served']['accuracy']:.1%}"


def test_training_legend_leaves_the_epoch_titles_free(open_page, tiny_model_dir, monkeypatch):
    write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    fig = next(json.loads(c.proto.spec) for c in at.get("plotly_chart")
               if "epoch" in json.dumps(json.loads(c.proto.spec)["layout"].get("xaxis3", {})))
    legend, layout = fig["layout"]["legend"], fig["layout"]
    # below the plot area and under the axis titles, in a bottom margin reserved for it
    assert legend["orientation"] == "h" and legend["yanchor"] == "top" and legend["y"] <= -0.25
    assert layout["margin"]["b"] >= 100
    assert {t["name"] for t in fig["data"]} >= {"training loss", "validation accuracy", "learning rate"}


def test_confusion_toggle_switches_to_counts(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    at.toggle[0].set_value(False).run()
    assert not at.exception
    heat = json.loads(at.get("plotly_chart")[2].proto.spec)["data"][0]
    assert heat["z"] == side["metrics"]["served"]["confusion_matrix"]  # raw counts now


def test_model_page_without_side_files(open_page, tiny_model_dir, monkeypatch):
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception and not at.error
    infos = " ".join(i.value for i in at.info)
    for name in ("metrics.json", "history.json", "class_counts.json", "MODEL_CARD.md"):
        assert name in infos
    assert not at.get("plotly_chart")


def test_one_corrupt_file_does_not_hide_the_others(open_page, tiny_model_dir, monkeypatch):
    write_model_side_files(tiny_model_dir)
    (tiny_model_dir / "history.json").write_text("[{not json")
    (tiny_model_dir / "class_counts.json").write_text('["a list", "not counts"]')
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "training history" in warnings and "class counts" in warnings
    assert at.metric and len(at.get("plotly_chart")) == 3  # summary and evaluation still there


def test_missing_model_folder(open_page, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_MODEL_DIR", str(tmp_path / "nothing"))
    at = open_page("pages/model.py")
    assert not at.exception
    assert "does not exist" in at.error[0].value


PROBE = """
import sys
from streamlit.testing.v1 import AppTest
for page in (None, "pages/model.py", "pages/history.py"):
    at = AppTest.from_file(sys.argv[1], default_timeout=120)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, (page, [e.value for e in at.exception])
print("tensorflow" in sys.modules, "keras" in sys.modules)
"""


@pytest.mark.slow
def test_home_model_and_history_pages_do_not_import_tensorflow(repo_root, tiny_model_files, tmp_path):
    write_dir = tmp_path / "m"
    import shutil

    shutil.copytree(tiny_model_files, write_dir)
    write_model_side_files(write_dir)
    env = {**__import__("os").environ, "FER_MODEL_DIR": str(write_dir), "PYTHONPATH": str(repo_root)}
    out = subprocess.run([sys.executable, "-c", PROBE, str(repo_root / "app.py")], env=env, cwd=repo_root,
                         capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "False False"


def test_architecture_tab_shows_both_tables_and_what_they_mean(open_page, tiny_model_dir, monkeypatch):
    from factories import fake_arch_table

    from fer_core.core.arch_table import arch_sentence

    write_model_side_files(tiny_model_dir)
    (tiny_model_dir / "arch_comparison.json").write_text(json.dumps(fake_arch_table()))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception, [e.value for e in at.exception]
    assert arch_sentence(fake_arch_table()) in texts(at)
    quality, cost = (d.value for d in at.dataframe if "network" in d.value.columns)
    assert quality["network"].tolist() == ["efficientnet_b0", "cnn"]
    assert quality["FER+ macro-F1"].tolist() == [0.61, 0.42]
    assert cost["ms per face"].tolist() == [1.52, 0.35] and cost["int8 pts lost"].tolist() == [4.7, 0.4]
    for frame in (quality, cost):
        assert width_px(frame) <= PAGE_WIDTH_PX and not [c for c in frame.columns if "_" in c]
