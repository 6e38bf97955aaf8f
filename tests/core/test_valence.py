"""Valence: one definition of positive / neutral / negative from the seven probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.core.valence import MIXED, RULE, VALENCES, describe, net_valence, valence_label, valence_shares


def one_hot(label: str) -> np.ndarray:
    p = np.zeros(len(CLASSES))
    p[CLASSES.index(label)] = 1.0
    return p


@pytest.mark.parametrize("label, shares", [
    ("happy", (1, 0, 0)), ("neutral", (0, 1, 0)), ("angry", (0, 0, 1)), ("disgust", (0, 0, 1)),
    ("fear", (0, 0, 1)), ("sad", (0, 0, 1)), ("surprise", (0, 1, 0)),
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


def probs(**shares: float) -> np.ndarray:
    return np.array([shares.get(c, 0.0) for c in CLASSES])


def test_a_surprised_face_never_reads_as_mostly_negative():
    """The issue's surprised man: surprise 64%, the rest mostly fear and sad."""
    surprised = probs(surprise=0.64, fear=0.17, sad=0.12, happy=0.03, neutral=0.03, angry=0.01)
    assert describe(surprised) == "mostly neutral (positive 3%, neutral 67%, negative 30%)"
    shocked = probs(surprise=0.30, fear=0.25, sad=0.25, angry=0.20)  # the negatives add up past surprise
    assert valence_label(shocked) == MIXED and describe(shocked).startswith("mixed (")


def test_a_happy_face_never_reads_as_mostly_negative_nor_a_sad_one_as_positive():
    spread = probs(happy=0.40, angry=0.15, disgust=0.15, fear=0.15, sad=0.15)
    assert valence_label(spread) == MIXED
    rng = np.random.default_rng(1)
    for p in rng.dirichlet(np.full(len(CLASSES), 0.7), size=2000):
        top = CLASSES[int(np.argmax(p))]
        if top in ("happy", "surprise"):
            assert valence_label(p) != "negative", p
        if top in ("angry", "disgust", "fear", "sad"):
            assert valence_label(p) != "positive", p


def test_the_rule_is_one_line_naming_every_class():
    assert "\n" not in RULE and all(c in RULE for c in CLASSES) and "Mixed" in RULE
