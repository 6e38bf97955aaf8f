"""Fitting the served calibration on validation splits: temperature, logit-adjustment share, ECE.

What the fitted numbers mean, and how the classifier applies them: ``fer_core.core.calibration``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fer_core.core.calibration import Calibration
from fer_core.training.metrics import classification_report
from fer_core.training.selection import selection_score

_EPS = 1e-7


def nll(probs: np.ndarray, y: np.ndarray) -> float:
    return float(-np.mean(np.log(np.clip(probs[np.arange(len(y)), y], _EPS, 1.0))))


def fit_temperature(probs: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = (0.05, 10.0)) -> float:
    """The temperature that minimises the negative log-likelihood of ``y`` under ``probs``."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda t: nll(Calibration(t).apply(probs), y), bounds=bounds, method="bounded")
    return round(float(res.x), 4)


def expected_calibration_error(probs: np.ndarray, y: np.ndarray, bins: int = 15) -> float:
    """ECE of the top class: the confidence-weighted gap between confidence and accuracy."""
    if len(y) == 0:
        return 0.0
    conf, right = probs.max(1), probs.argmax(1) == y
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1]), 0, bins - 1)
    gap = sum(abs(conf[which == b].mean() - right[which == b].mean()) * np.mean(which == b)
              for b in range(bins) if np.any(which == b))
    return round(float(gap), 4)


def per_class_ece(probs: np.ndarray, y: np.ndarray, classes: Sequence[str], bins: int = 10) -> dict[str, float]:
    """ECE among the faces predicted as each class: does a given confidence mean the same for all?"""
    pred = probs.argmax(1)
    return {c: expected_calibration_error(probs[pred == i], y[pred == i], bins)
            for i, c in enumerate(classes) if np.any(pred == i)}


TAU_GRID = (0.0, 0.25, 0.5, 0.75, 1.0)
# A rule score this close to the best is a tie (a few faces): the adjustment must earn the top classes it changes.
TAU_MARGIN = 0.002


def pick_tau(rows: Sequence[Mapping]) -> Mapping:
    """The row with the smallest tau whose rule score is within TAU_MARGIN of the best."""
    top = max(r["selection"] or 0.0 for r in rows)
    return min((r for r in rows if (r["selection"] or 0.0) >= top - TAU_MARGIN), key=lambda r: r["tau"])


def choose_calibration(probs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                       prior: Sequence[float], classes: Sequence[str], fit_on: str = "ferplus_valid",
                       taus: Sequence[float] = TAU_GRID) -> tuple[Calibration, list[dict]]:
    """Pick ``tau`` by the selection rule over the validation sets (``pick_tau``), then fit ``T`` on ``fit_on``.

    ``probs``/``labels`` are keyed by fer_core.training.selection's set names. Returns the calibration and
    one row per tau tried (each set's accuracy, macro-F1 and ECE, and the rule's score), the
    figures the training log reports. Validation splits only: these are validation figures."""
    rows = []
    for tau in taus:
        cal = Calibration(1.0, float(tau), tuple(prior))
        figures, row = {}, {"tau": float(tau)}
        for name, p in probs.items():
            q = cal.apply(p)
            rep = classification_report(labels[name], q.argmax(1), classes=tuple(classes))
            figures[name] = rep
            row[name] = {"accuracy": round(rep["accuracy"], 4), "macro_f1": round(rep["macro_f1"], 4),
                         "ece": expected_calibration_error(q, labels[name])}
        row["selection"] = selection_score(figures)
        rows.append(row)
    best = pick_tau(rows)
    adjusted = Calibration(1.0, best["tau"], tuple(prior))
    temperature = fit_temperature(adjusted.apply(probs[fit_on]), labels[fit_on])
    chosen = Calibration(temperature, best["tau"], tuple(prior))
    for name, p in probs.items():
        q = chosen.apply(p)
        best.setdefault("calibrated", {})[name] = {
            "ece": expected_calibration_error(q, labels[name]), "ece_per_class": per_class_ece(q, labels[name], classes)}
    return chosen, rows
