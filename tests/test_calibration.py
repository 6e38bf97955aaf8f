"""Logit adjustment and temperature: the round trip through the config, and fits on toy outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core.calibration import (Calibration, choose_calibration, expected_calibration_error, fit_temperature,
                                  folder_calibration, log_prior, per_class_ece)
from fer_core.labels import CLASSES


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def toy_outputs(n: int = 4000, true_t: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A toy model whose logits are calibrated at temperature ``true_t``: labels are drawn from
    softmax(z), and the model reports softmax(z * true_t), i.e. it is over-confident for t > 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, 7))
    y = np.array([rng.choice(7, p=p) for p in _softmax(z)])
    return _softmax(z * true_t).astype(np.float32), y


def test_identity_leaves_outputs_alone():
    p, _ = toy_outputs(50)
    assert Calibration().is_identity()
    assert Calibration().apply(p) is p


def test_temperature_fit_recovers_an_overconfident_toy_model():
    p, y = toy_outputs(true_t=2.0)
    t = fit_temperature(p, y)
    assert t == pytest.approx(2.0, rel=0.12)
    fixed = Calibration(t).apply(p)
    assert expected_calibration_error(fixed, y) < 0.5 * expected_calibration_error(p, y)
    np.testing.assert_array_equal(fixed.argmax(1), p.argmax(1))  # temperature never changes the answer


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

    from fer_core.model_store import CONFIG_NAME, ModelFilesError

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

    from fer_core.classifier import Classifier
    from fer_core.model_store import CONFIG_NAME

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


def test_choose_calibration_picks_tau_by_the_rule_and_fits_t():
    rng = np.random.default_rng(1)
    # a model biased toward neutral: the adjustment by the neutral-heavy prior undoes it
    y = rng.integers(0, 7, 1500)
    z = rng.normal(0, 1.0, (1500, 7))
    z[np.arange(1500), y] += 2.0
    z[:, CLASSES.index("neutral")] += 1.5
    p = _softmax(z).astype(np.float32)
    counts = {c: 100 for c in CLASSES}
    counts["neutral"] = 2000
    probs = {"ferplus_valid": p[:500], "ckplus_valid": p[500:1000], "public_test": p[1000:]}
    labels = {"ferplus_valid": y[:500], "ckplus_valid": y[500:1000], "public_test": y[1000:]}
    cal, rows = choose_calibration(probs, labels, log_prior(counts, CLASSES), CLASSES)
    assert [r["tau"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cal.tau > 0 and cal.temperature > 0
    assert max(r["selection"] for r in rows) > rows[0]["selection"]
    assert set(per_class_ece(cal.apply(p), y, CLASSES)) <= set(CLASSES)
