"""The class-weighted sampler: class mix measured over many batches matches what it promises."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.training.sampler import class_sampling_weights, weighted_batches

# FER-2013-like imbalance: the second class is ~17x rarer than the fourth.
COUNTS = np.array([400, 40, 400, 700, 500, 480, 300])
LABELS = np.repeat(np.arange(7), COUNTS)


def _measured_mix(power: float, n_batches: int = 1500, batch_size: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    gen = weighted_batches(LABELS, batch_size, 7, power, rng)
    drawn = np.concatenate([LABELS[next(gen)] for _ in range(n_batches)])
    return np.bincount(drawn, minlength=7) / drawn.size


@pytest.mark.parametrize("power", [1.0, 0.5, 0.0])
def test_class_mix_over_many_batches(power):
    expected = COUNTS ** (1 - power) / (COUNTS ** (1 - power)).sum()
    measured = _measured_mix(power)
    # ~96k draws: binomial s.d. of a share is < 0.0016; allow ~4 s.d.
    np.testing.assert_allclose(measured, expected, atol=0.006)


def test_full_balancing_lifts_the_rare_class():
    natural = _measured_mix(0.0)
    balanced = _measured_mix(1.0)
    assert natural[1] < 0.02
    assert balanced[1] == pytest.approx(1 / 7, abs=0.006)
    assert balanced.max() - balanced.min() < 0.015


def test_sampling_weights_are_a_distribution():
    p = class_sampling_weights(LABELS, 7, 0.5)
    assert p.shape == LABELS.shape
    assert p.sum() == pytest.approx(1.0)
    per_class = np.array([p[LABELS == c].sum() for c in range(7)])
    np.testing.assert_allclose(per_class, np.sqrt(COUNTS) / np.sqrt(COUNTS).sum())


def test_absent_class_is_never_drawn_and_gives_no_nan():
    labels = np.array([0, 0, 0, 2, 2, 6])
    p = class_sampling_weights(labels, 7, 1.0)
    assert np.all(np.isfinite(p))
    gen = weighted_batches(labels, 8, 7, 1.0, np.random.default_rng(1))
    drawn = np.concatenate([labels[next(gen)] for _ in range(200)])
    assert set(drawn) == {0, 2, 6}
    shares = np.bincount(drawn, minlength=7)[[0, 2, 6]] / drawn.size
    np.testing.assert_allclose(shares, 1 / 3, atol=0.06)


def test_uniform_mode_is_shuffled_epochs():
    labels = np.arange(50) % 7
    gen = weighted_batches(labels, 10, 7, 0.0, np.random.default_rng(2))
    epoch = np.concatenate([next(gen) for _ in range(5)])
    assert sorted(epoch) == list(range(50))  # each image exactly once per epoch
    second = np.concatenate([next(gen) for _ in range(5)])
    assert sorted(second) == list(range(50)) and not np.array_equal(epoch, second)


@pytest.mark.parametrize("power", [0.0, 0.5])
def test_fewer_images_than_a_batch_still_yields_full_batches(power):
    labels = np.array([0, 1, 2])
    gen = weighted_batches(labels, 8, 7, power, np.random.default_rng(3))
    for _ in range(3):
        b = next(gen)
        assert len(b) == 8 and b.max() < 3
