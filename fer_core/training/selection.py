"""The one rule that picks a model: a weighted score over the kinds of face it must read.

Written before model v3 was trained (issue 24), and used both by training (``--monitor
val_selection`` picks the epoch) and by shipping (a candidate must beat the shipped model on it):

    score = 0.4 x FER+ valid macro-F1 + 0.4 x CK+ valid accuracy + 0.2 x PublicTest accuracy

FER+ valid macro-F1 keeps the web faces and their rare classes; CK+ valid subjects (posed, lab
light, other people than CK+ train) stand for the strong expressions a webcam user makes;
PublicTest accuracy keeps FER-2013's own labels in view. Each is reported on its own too.
"""

from __future__ import annotations

from typing import Mapping

# (validation set, metric, weight); the sets are metrics.json's sections and train's log names.
SELECTION_RULE: tuple[tuple[str, str, float], ...] = (
    ("ferplus_valid", "macro_f1", 0.4),
    ("ckplus_valid", "accuracy", 0.4),
    ("public_test", "accuracy", 0.2),
)


def selection_score(figures: Mapping[str, Mapping[str, float]]) -> float | None:
    """The rule's score from ``{set: {metric: value}}``; None when a set is missing."""
    try:
        return round(sum(w * float(figures[name][metric]) for name, metric, w in SELECTION_RULE), 4)
    except (KeyError, TypeError):
        return None


def describe() -> str:
    return " + ".join(f"{w:g} x {name} {metric}" for name, metric, w in SELECTION_RULE)
