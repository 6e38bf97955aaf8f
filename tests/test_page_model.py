"""Model page: figures from models/ side files, graceful gaps, and no TensorFlow import."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from factories import write_model_side_files

from fer_core.labels import CLASSES
from fer_core.model_report import headline


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error")
                     for e in at.get(kind))


def test_model_page_shows_every_section(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error and not at.warning
    served = side["metrics"]["served"]
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy"] == f"{served['accuracy']:.1%}" and shown["Macro-F1"] == f"{served['macro_f1']:.3f}"
    frames = [d.value for d in at.dataframe]
    models, variants, per_class = frames
    assert list(models["model"]) == ["Keras model", "served TFLite (live page)"]
    assert models["accuracy"].tolist() == pytest.approx(
        [headline(side["metrics"][k])["accuracy"] for k in ("keras", "served")])
    assert variants["variant"].tolist() == ["fp32", "int8"] and variants["served"].tolist() == [False, True]
    assert variants["size_mb"].tolist() == [16.0, 4.5]
    assert "FER-2013 PublicTest" in texts(at)
    assert list(per_class["class"]) == list(CLASSES)
    for _, row in per_class.iterrows():
        for k in ("precision", "recall", "f1", "specificity", "support"):
            assert row[k] == pytest.approx(served["per_class"][row["class"]][k])
    charts = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    assert len(charts) == 4  # confusion matrix, training curves, recall per class, class counts
    heat = charts[0]["data"][0]
    assert heat["type"] == "heatmap" and heat["customdata"] == served["confusion_matrix"]
    counts_bar = charts[3]["data"][0]
    assert counts_bar["x"] == list(CLASSES) and counts_bar["y"] == [side["counts"][c] for c in CLASSES]
    # the model card, its local image shown, the remote one reduced to its alt text
    md = texts(at)
    assert "Model card: test model" in md and "Limitations" in md
    assert "*[image: remote]*" in md and "example.com" not in md
    assert len(at.get("image")) == 1


def test_confusion_toggle_switches_to_counts(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page("pages/model.py")
    at.toggle[0].set_value(False).run()
    assert not at.exception
    heat = json.loads(at.get("plotly_chart")[0].proto.spec)["data"][0]
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
    assert at.metric and len(at.get("plotly_chart")) == 1  # evaluation still there


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
