"""fer_core.core.model_folder: finding the model directory and reading its side files, with clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.core.model_folder import (CLASS_COUNTS_NAME, CONFIG_NAME, HISTORY_NAME, KERAS_NAME, METRICS_NAME,
                                  SERVED_NAME, ModelFilesError, default_model_dir, keras_model_path,
                                  load_class_counts, load_history, load_metrics, load_model_config,
                                  load_reference_figures, served_model_path, write_model_config)
from fer_core.core.preprocess import PREPROCESSING_NAME


def _write(d: Path, name: str, obj) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(obj if isinstance(obj, str) else json.dumps(obj))


def test_layout_keeps_the_shipped_names(repo_root):
    """Renaming a file here would orphan every model folder already shipped (models/ among them)."""
    assert (KERAS_NAME, SERVED_NAME, CONFIG_NAME) == ("model.keras", "model.tflite", "model_config.json")
    assert all((repo_root / "models" / n).is_file() for n in (KERAS_NAME, SERVED_NAME, CONFIG_NAME))


def test_env_overrides_the_default_dir(monkeypatch, tmp_path, repo_root):
    monkeypatch.delenv("FER_MODEL_DIR", raising=False)
    assert default_model_dir() == repo_root / "models"
    monkeypatch.setenv("FER_MODEL_DIR", str(tmp_path))
    assert default_model_dir() == tmp_path
    _write(tmp_path, CONFIG_NAME, {"input_size": 40, "classes": list(CLASSES)})
    assert load_model_config()["input_size"] == 40


def test_config_defaults_are_filled(tmp_path):
    _write(tmp_path, CONFIG_NAME, {"input_size": "48", "classes": list(CLASSES)})
    cfg = load_model_config(tmp_path)
    assert cfg["input_size"] == 48
    assert cfg["preprocessing"] == PREPROCESSING_NAME
    assert cfg["served_model"] == SERVED_NAME and cfg["keras_model"] == KERAS_NAME
    with pytest.raises(ModelFilesError, match="served model .* is missing"):
        served_model_path(tmp_path)
    (tmp_path / KERAS_NAME).write_bytes(b"x")
    assert keras_model_path(tmp_path) == tmp_path / KERAS_NAME


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    ("", "model config file .* is missing"),
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must be a JSON object"),
    ({"classes": list(CLASSES)}, "lacks input_size"),
    ({"input_size": "big", "classes": list(CLASSES)}, "non-integer input_size"),
    ({"input_size": 2, "classes": list(CLASSES)}, "implausible input_size"),
    ({"input_size": 64, "classes": ["happy", "sad"]}, "this app expects"),
    ({"input_size": 64, "classes": list(CLASSES), "preprocessing": "rgb-0to1"}, "names preprocessing 'rgb-0to1'"),
])
def test_bad_config_is_one_clear_error(tmp_path, content, message):
    d = tmp_path / "m"
    if content == "":
        d.mkdir()
    elif content is not None:
        _write(d, CONFIG_NAME, content)
    with pytest.raises(ModelFilesError, match=message):
        load_model_config(d)


def test_what_is_written_is_what_is_read(tmp_path):
    written = write_model_config(tmp_path, {"input_size": 32, "gradcam_layer": "conv"})
    assert written["classes"] == list(CLASSES) and written["preprocessing"] == PREPROCESSING_NAME
    cfg = load_model_config(tmp_path)
    assert {k: cfg[k] for k in written} == written and cfg["served_model"] == SERVED_NAME


def test_optional_files(tmp_path):
    assert load_metrics(tmp_path) is None and load_history(tmp_path) is None and load_class_counts(tmp_path) is None
    _write(tmp_path, METRICS_NAME, {"served": {"accuracy": 0.7}})
    _write(tmp_path, HISTORY_NAME, [{"epoch": 1}])
    _write(tmp_path, CLASS_COUNTS_NAME, {"happy": 3})
    assert load_metrics(tmp_path)["served"]["accuracy"] == 0.7
    assert load_history(tmp_path) == [{"epoch": 1}]
    assert load_class_counts(tmp_path) == {"happy": 3}
    assert load_reference_figures(tmp_path) == {}
    _write(tmp_path, "reference_figures.json", {"figures": {"FER+ valid": {"accuracy": 0.5}}})
    assert load_reference_figures(tmp_path) == {"FER+ valid": {"accuracy": 0.5}}
    _write(tmp_path, "reference_figures.json", {"FER+ valid": 0.5})
    with pytest.raises(ModelFilesError, match="reference figures"):
        load_reference_figures(tmp_path)
    _write(tmp_path, METRICS_NAME, "{broken")
    with pytest.raises(ModelFilesError, match="metrics file"):
        load_metrics(tmp_path)


def test_shipped_models_dir_is_complete_and_small(repo_root):
    d = repo_root / "models"
    cfg = load_model_config(d)
    assert served_model_path(d).suffix == ".tflite"
    assert keras_model_path(d).suffix == ".keras"
    assert cfg["gradcam_layer"]
    total = sum(p.stat().st_size for p in d.rglob("*") if p.is_file())
    assert total < 50e6, f"models/ holds {total / 1e6:.1f} MB (budget 50 MB)"


def test_the_eight_class_folder_is_complete_and_serves_eight_classes(repo_root):
    from fer_core.core.labels import CLASSES_8
    from fer_core.engine.classifier import Classifier

    d = repo_root / "models" / "contempt8"
    cfg = load_model_config(d)
    assert cfg["classes"] == list(CLASSES_8) and cfg["gradcam_layer"] and keras_model_path(d).is_file()
    clf = Classifier.from_dir(d)
    probs = clf.predict_preprocessed(np.zeros((1, clf.input_size, clf.input_size, 3), np.float32))
    assert clf.classes == CLASSES_8 and probs.shape == (1, 8) and probs.sum() == pytest.approx(1.0, abs=1e-4)
