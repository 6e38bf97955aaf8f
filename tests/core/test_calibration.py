"""Logit adjustment and temperature as served: applying them, and the round trip through the config."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datagen import toy_outputs

from fer_core.core.calibration import Calibration, folder_calibration, log_prior
from fer_core.core.labels import CLASSES


def test_identity_leaves_outputs_alone():
    p, _ = toy_outputs(50)
    assert Calibration().is_identity()
    assert Calibration().apply(p) is p


def test_logit_adjustment_favours_rare_classes():
    prior = log_prior({"neutral": 900, "disgust": 10, **{c: 100 for c in CLASSES if c not in ("neutral", "disgust")}},
                      CLASSES)
    p = np.full((1, 7), 0.1, np.float32)
    p[0, CLASSES.index("neutral")], p[0, CLASSES.index("disgust")] = 0.3, 0.1
    adjusted = Calibration(1.0, 1.0, prior).apply(p / p.sum())
    assert CLASSES[int(adjusted.argmax())] == "disgust"
    np.testing.assert_allclose(adjusted.sum(1), 1.0, rtol=1e-5)


def test_config_round_trip_and_bad_entries(tmp_path):
    cal = Calibration(1.7, 0.5, tuple(np.log(np.full(7, 1 / 7)).round(5)))
    assert Calibration.from_dict(json.loads(json.dumps(cal.to_dict())), 7) == cal
    assert Calibration.from_dict(None).is_identity()
    with pytest.raises(ValueError, match="7 classes"):
        Calibration.from_dict({"temperature": 1.0, "tau": 1.0, "log_prior": [0.0] * 8}, 7)
    with pytest.raises(ValueError, match="positive"):
        Calibration.from_dict({"temperature": 0})


def test_folder_calibration_reads_the_model_config(tiny_model_files, tmp_path):
    import shutil

    from fer_core.core.model_folder import CONFIG_NAME, ModelFilesError

    d = tmp_path / "m"
    shutil.copytree(tiny_model_files, d)
    assert folder_calibration(d).is_identity()
    cfg = json.loads((d / CONFIG_NAME).read_text())
    (d / CONFIG_NAME).write_text(json.dumps({**cfg, "calibration": {"temperature": 2.0}}))
    assert folder_calibration(d).temperature == 2.0
    (d / CONFIG_NAME).write_text(json.dumps({**cfg, "calibration": {"temperature": -1}}))
    with pytest.raises(ModelFilesError, match="calibration"):
        folder_calibration(d)


def test_served_classifier_applies_the_folder_calibration(tiny_model_files, tmp_path):
    import shutil

    from fer_core.engine.classifier import Classifier
    from fer_core.core.model_folder import CONFIG_NAME

    d = tmp_path / "m"
    shutil.copytree(tiny_model_files, d)
    raw = Classifier.from_dir(d)
    x = np.random.default_rng(0).uniform(0, 255, (4, raw.input_size, raw.input_size, 3)).astype(np.float32)
    cfg = json.loads((d / CONFIG_NAME).read_text())
    (d / CONFIG_NAME).write_text(json.dumps({**cfg, "calibration": {"temperature": 3.0}}))
    soft = Classifier.from_dir(d)
    np.testing.assert_allclose(soft.predict_preprocessed(x), Calibration(3.0).apply(raw.predict_preprocessed(x)),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(soft.predict_preprocessed(x, mirror=True),
                               Calibration(3.0).apply(raw.predict_preprocessed(x, mirror=True)), rtol=1e-4, atol=1e-6)
