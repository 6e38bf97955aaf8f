"""Home page (the app's default page, through app.py): model summary, figures, and clear errors."""

from __future__ import annotations

import json

import pytest
from factories import write_model_side_files

from fer_core.model_report import headline
from pages._common import DISCLAIMER


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("markdown", "caption", "info", "warning", "error", "success")
                     for e in at.get(kind))


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def test_home_with_a_model_shows_its_figures(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page()
    assert_clean(at)
    assert not at.error
    assert DISCLAIMER in texts(at)
    assert "model.tflite" in texts(at) and "16x16" in texts(at)
    want = headline(side["metrics"]["served"])
    shown = {m.label: m.value for m in at.metric}
    assert shown["Accuracy"] == f"{want['accuracy']:.1%}"
    assert shown["Macro-F1"] == f"{want['macro_f1']:.3f}"
    assert shown[f"Lowest recall ({want['worst_class']})"] == f"{want['worst_recall']:.0%}"
    assert shown["Test images"] == f"{want['n']:,}"


def test_home_without_metrics_says_so(open_page, tiny_model_dir, monkeypatch):
    cfg = json.loads((tiny_model_dir / "model_config.json").read_text())
    (tiny_model_dir / "model_config.json").write_text(json.dumps({**cfg, "placeholder": True}))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page()
    assert_clean(at)
    assert not at.error and not at.metric
    assert "no evaluation figures" in texts(at)
    assert "placeholder" in texts(at)


@pytest.mark.parametrize("breakage, message", [
    ("empty", "model_config.json is missing"),
    ("missing_dir", "does not exist"),
    ("bad_json", "not valid JSON"),
    ("wrong_classes", "this app expects"),
    ("corrupt_tflite", "could not be loaded"),
    ("missing_tflite", "is missing"),
])
def test_broken_model_gives_a_clear_message_not_a_traceback(open_page, tiny_model_dir, tmp_path, monkeypatch,
                                                             breakage, message):
    d = tiny_model_dir
    if breakage == "empty":
        d = tmp_path / "empty"
        d.mkdir()
    elif breakage == "missing_dir":
        d = tmp_path / "nowhere"
    elif breakage == "bad_json":
        (d / "model_config.json").write_text('{"input_size": 16, ')
    elif breakage == "wrong_classes":
        (d / "model_config.json").write_text(json.dumps({"input_size": 16, "classes": ["a", "b"]}))
    elif breakage == "corrupt_tflite":
        (d / "model.tflite").write_bytes(b"\x00garbage" * 500)
    elif breakage == "missing_tflite":
        (d / "model.tflite").unlink()
    monkeypatch.setenv("FER_MODEL_DIR", str(d))
    at = open_page()
    assert_clean(at)
    assert len(at.error) == 1
    err = at.error[0].value
    assert message in err and "FER_MODEL_DIR" in err  # what is wrong, and how to fix it
    assert "Traceback" not in texts(at)
    assert DISCLAIMER in texts(at)  # the page still renders around the error
    assert [p.label for p in at.get("page_link")][:2] == ["Live webcam", "Photo"]
