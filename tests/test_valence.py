"""Valence: one definition of positive / neutral / negative from the seven probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.labels import CLASSES
from fer_core.valence import VALENCES, describe, net_valence, valence_label, valence_shares


def one_hot(label: str) -> np.ndarray:
    p = np.zeros(len(CLASSES))
    p[CLASSES.index(label)] = 1.0
    return p


@pytest.mark.parametrize("label, shares", [
    ("happy", (1, 0, 0)), ("neutral", (0, 1, 0)), ("angry", (0, 0, 1)), ("disgust", (0, 0, 1)),
    ("fear", (0, 0, 1)), ("sad", (0, 0, 1)), ("surprise", (0.5, 0, 0.5)),
])
def test_each_class_has_one_valence(label, shares):
    np.testing.assert_allclose(valence_shares(one_hot(label)), shares)


def test_shares_sum_to_one_and_surprise_leaves_net_valence_alone():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(len(CLASSES)), size=50)
    np.testing.assert_allclose(valence_shares(p).sum(axis=1), 1.0)
    moved = p.copy()
    moved[:, CLASSES.index("surprise")] += 0.3  # more surprise, nothing else changes
    np.testing.assert_allclose(net_valence(moved), net_valence(p))
    assert net_valence(one_hot("happy")) == 1.0 and net_valence(one_hot("sad")) == -1.0


def test_label_and_description():
    p = np.array([0.05, 0.0, 0.05, 0.7, 0.1, 0.1, 0.0])
    assert valence_label(p) == "positive" and VALENCES == ("positive", "neutral", "negative")
    assert describe(p) == "mostly positive (positive 70%, neutral 10%, negative 20%)"
    with pytest.raises(ValueError, match="7 probabilities"):
        valence_shares([0.5, 0.5])
