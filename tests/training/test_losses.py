"""The training loss (fer_core.training.train.make_loss) against a reference computation in numpy.

Focal loss (Lin et al. 2017), multi-class, per sample:
    FL = -sum_c alpha_c * (1 - p_c)^gamma * y_c * log(p_c)
with y smoothed as y * (1 - ls) + ls / C, averaged over the batch.
"""

from __future__ import annotations

from argparse import Namespace

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.training.train import focal_alpha, make_loss

C = len(CLASSES)


def reference_focal(y: np.ndarray, p: np.ndarray, gamma: float, alpha, ls: float = 0.0) -> float:
    p = np.clip(p / p.sum(axis=1, keepdims=True), 1e-7, 1 - 1e-7)
    y = y * (1 - ls) + ls / y.shape[1]
    a = np.broadcast_to(np.asarray(alpha, np.float64), p.shape)
    return float(np.mean(np.sum(-a * (1 - p) ** gamma * y * np.log(p), axis=1)))


def reference_ce(y: np.ndarray, p: np.ndarray, ls: float = 0.0) -> float:
    return reference_focal(y, p, 0.0, 1.0, ls)


def _batch(seed: int = 0, n: int = 32):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, (n, C))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.eye(C)[rng.integers(0, C, n)]
    return y.astype(np.float32), p.astype(np.float32)


def _loss(**kw) -> float:
    args = Namespace(loss="focal", alpha="none", gamma=2.0, label_smoothing=0.0)
    for k, v in kw.items():
        setattr(args, k, v)
    labels = kw.pop("_labels", np.arange(C).repeat(10))
    fn = make_loss(args, labels)
    y, p = _batch()
    return float(np.asarray(fn(y, p)))


def test_focal_matches_reference_without_alpha():
    y, p = _batch()
    assert _loss(gamma=2.0) == pytest.approx(reference_focal(y, p, 2.0, 1.0), rel=1e-4)


def test_focal_matches_reference_with_per_class_alpha_and_smoothing():
    alpha = [0.5, 3.0, 1.0, 0.4, 0.8, 0.9, 1.2]
    y, p = _batch()
    got = _loss(gamma=1.5, alpha=",".join(map(str, alpha)), label_smoothing=0.1)
    assert got == pytest.approx(reference_focal(y, p, 1.5, alpha, ls=0.1), rel=1e-4)
    # and alpha really matters: the unweighted value differs
    assert got != pytest.approx(reference_focal(y, p, 1.5, 1.0, ls=0.1), rel=1e-2)


def test_balanced_alpha_weights_rare_classes_up():
    counts = np.array([400, 40, 400, 700, 500, 480, 300])
    labels = np.repeat(np.arange(C), counts)
    alpha = np.array(focal_alpha("balanced", labels))
    assert alpha.mean() == pytest.approx(1.0, abs=1e-3)
    assert alpha.argmax() == 1 and alpha.argmin() == 3
    np.testing.assert_allclose(alpha * counts, (alpha * counts)[0], rtol=1e-3)  # alpha ~ 1 / count
    y, p = _batch()
    got = _loss(gamma=2.0, alpha="balanced", _labels=labels)
    assert got == pytest.approx(reference_focal(y, p, 2.0, alpha), rel=1e-3)


def test_gamma_zero_is_cross_entropy_and_ce_option_matches():
    y, p = _batch()
    assert _loss(gamma=0.0) == pytest.approx(reference_ce(y, p), rel=1e-4)
    assert _loss(loss="ce", label_smoothing=0.05) == pytest.approx(reference_ce(y, p, 0.05), rel=1e-4)


def test_focal_down_weights_easy_examples():
    y = np.eye(C, dtype=np.float32)[[0, 0]]
    easy = np.full((1, C), 0.1 / 6, np.float32)
    easy[0, 0] = 0.9
    hard = np.full((1, C), 0.7 / 6, np.float32)
    hard[0, 0] = 0.3
    ratio_focal = reference_focal(y[:1], easy, 2.0, 1.0) / reference_focal(y[:1], hard, 2.0, 1.0)
    ratio_ce = reference_ce(y[:1], easy) / reference_ce(y[:1], hard)
    assert ratio_focal < ratio_ce / 10  # (0.1/0.7)^2 ~ 1/49 relative down-weighting
    args = Namespace(loss="focal", alpha="none", gamma=2.0, label_smoothing=0.0)
    fn = make_loss(args, np.arange(C))
    assert float(np.asarray(fn(y[:1], easy))) == pytest.approx(reference_focal(y[:1], easy, 2.0, 1.0), rel=1e-4)


def test_wrong_alpha_count_is_a_clear_error():
    with pytest.raises(SystemExit, match="7 values"):
        focal_alpha("1,2,3", np.arange(C))
