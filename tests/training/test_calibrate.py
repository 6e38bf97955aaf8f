"""Fitting the calibration on toy outputs: the temperature and the rule's choice of tau."""

from __future__ import annotations

import numpy as np
import pytest

from datagen import softmax, toy_outputs

from fer_core.core.calibration import Calibration, log_prior
from fer_core.core.labels import CLASSES
from fer_core.training.calibrate import choose_calibration, expected_calibration_error, fit_temperature, per_class_ece


def test_temperature_fit_recovers_an_overconfident_toy_model():
    p, y = toy_outputs(true_t=2.0)
    t = fit_temperature(p, y)
    assert t == pytest.approx(2.0, rel=0.12)
    fixed = Calibration(t).apply(p)
    assert expected_calibration_error(fixed, y) < 0.5 * expected_calibration_error(p, y)
    np.testing.assert_array_equal(fixed.argmax(1), p.argmax(1))  # temperature never changes the answer


def test_choose_calibration_picks_tau_by_the_rule_and_fits_t():
    rng = np.random.default_rng(1)
    # a model biased toward neutral: the adjustment by the neutral-heavy prior undoes it
    y = rng.integers(0, 7, 1500)
    z = rng.normal(0, 1.0, (1500, 7))
    z[np.arange(1500), y] += 2.0
    z[:, CLASSES.index("neutral")] += 1.5
    p = softmax(z).astype(np.float32)
    counts = {c: 100 for c in CLASSES}
    counts["neutral"] = 2000
    probs = {"ferplus_valid": p[:500], "ckplus_valid": p[500:1000], "public_test": p[1000:]}
    labels = {"ferplus_valid": y[:500], "ckplus_valid": y[500:1000], "public_test": y[1000:]}
    cal, rows = choose_calibration(probs, labels, log_prior(counts, CLASSES), CLASSES)
    assert [r["tau"] for r in rows] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert cal.tau > 0 and cal.temperature > 0
    assert max(r["selection"] for r in rows) > rows[0]["selection"]
    assert set(per_class_ece(cal.apply(p), y, CLASSES)) <= set(CLASSES)


def test_a_tau_must_beat_the_smaller_ones_by_a_clear_margin():
    from fer_core.training.calibrate import TAU_MARGIN, pick_tau

    rows = [{"tau": 0.0, "selection": 0.756}, {"tau": 0.25, "selection": 0.7561}, {"tau": 0.5, "selection": 0.68}]
    assert pick_tau(rows)["tau"] == 0.0  # 0.0001 better: a tie, so no adjustment
    rows[1]["selection"] = 0.756 + 2 * TAU_MARGIN
    assert pick_tau(rows)["tau"] == 0.25
    assert pick_tau([{"tau": 0.0, "selection": None}, {"tau": 0.5, "selection": 0.1}])["tau"] == 0.5
