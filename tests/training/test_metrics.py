"""fer_core.training.metrics on hand-made predictions whose figures were worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fer_core.core.labels import CLASSES
from fer_core.training.metrics import classification_report

ANGRY, DISGUST, FEAR, HAPPY = (CLASSES.index(c) for c in ("angry", "disgust", "fear", "happy"))

# true:  angry x3, disgust x1, happy x4 (no fear, neutral, sad, surprise)
Y_TRUE = [ANGRY, ANGRY, ANGRY, DISGUST, HAPPY, HAPPY, HAPPY, HAPPY]
Y_PRED = [ANGRY, ANGRY, HAPPY, DISGUST, HAPPY, HAPPY, ANGRY, DISGUST]


@pytest.fixture(scope="module")
def report() -> dict:
    return classification_report(np.array(Y_TRUE), np.array(Y_PRED), skipped=3)


def test_headline_figures(report):
    assert report["n"] == 8
    assert report["skipped"] == 3
    assert report["accuracy"] == pytest.approx(5 / 8)
    # macro-F1 averages only classes present in the truth: (2/3 + 2/3 + 4/7) / 3
    assert report["macro_f1"] == pytest.approx(40 / 63)
    present = sorted(set(Y_TRUE))
    assert report["macro_f1"] == pytest.approx(f1_score(Y_TRUE, Y_PRED, labels=present, average="macro"))


def test_per_class_by_hand(report):
    pc = report["per_class"]
    assert set(pc) == set(CLASSES)
    assert pc["angry"] == pytest.approx({"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3,
                                          "specificity": 4 / 5, "support": 3})
    assert pc["disgust"] == pytest.approx({"precision": 1 / 2, "recall": 1.0, "f1": 2 / 3,
                                            "specificity": 6 / 7, "support": 1})
    assert pc["happy"] == pytest.approx({"precision": 2 / 3, "recall": 1 / 2, "f1": 4 / 7,
                                          "specificity": 3 / 4, "support": 4})
    # never true, never predicted: no division-by-zero noise, every negative correctly rejected
    assert pc["fear"] == pytest.approx({"precision": 0.0, "recall": 0.0, "f1": 0.0,
                                         "specificity": 1.0, "support": 0})


def test_confusion_matrix_rows_are_true_classes(report):
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (7, 7)
    assert report["classes"] == list(CLASSES)
    assert cm[ANGRY, HAPPY] == 1      # a true angry predicted happy
    assert cm[HAPPY, ANGRY] == 1      # a true happy predicted angry
    assert cm[HAPPY, DISGUST] == 1
    assert cm[DISGUST, HAPPY] == 0
    assert cm.sum(axis=1)[HAPPY] == 4
    assert cm.sum() == 8 and np.trace(cm) == 5


def test_empty_input_is_all_zero_not_an_error():
    rep = classification_report(np.array([], int), np.array([], int))
    assert rep["n"] == 0 and rep["accuracy"] == 0.0 and rep["macro_f1"] == 0.0
    assert np.array(rep["confusion_matrix"]).sum() == 0


def test_perfect_predictions():
    y = np.arange(7).repeat(3)
    rep = classification_report(y, y)
    assert rep["accuracy"] == 1.0 and rep["macro_f1"] == 1.0
    assert all(v["specificity"] == 1.0 and v["recall"] == 1.0 for v in rep["per_class"].values())
