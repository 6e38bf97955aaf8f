from __future__ import annotations

import pytest

from fer_core.training.selection import SELECTION_RULE, describe, selection_score


def test_score_weights_each_set():
    figures = {"ferplus_valid": {"macro_f1": 0.8}, "ckplus_valid": {"accuracy": 0.9}, "public_test": {"accuracy": 0.6}}
    assert selection_score(figures) == pytest.approx(0.4 * 0.8 + 0.4 * 0.9 + 0.2 * 0.6)
    assert sum(w for *_, w in SELECTION_RULE) == pytest.approx(1.0)
    assert "ckplus_valid accuracy" in describe()


def test_missing_set_gives_no_score():
    assert selection_score({"ferplus_valid": {"macro_f1": 0.8}}) is None
