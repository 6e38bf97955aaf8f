"""Calibrated, prior-aware outputs: temperature scaling and logit adjustment.

A model trained on FER+ learned its annotators' priors (neutral is the majority for 35% of the
training faces, disgust for 0.65%), so strong negative expressions drift to neutral or sad.
Logit adjustment subtracts a share ``tau`` of the training log-prior from the log-probabilities
(Menon et al., "Long-tail learning via logit adjustment", 2021); temperature scaling divides them
by ``T`` so that a confidence of 0.6 is right about 60% of the time, whatever the class, and the
pages' "uncertain" threshold means the same thing for every class.

``Calibration.apply`` is numpy only: the served classifier applies it on the live path.
The fitting helpers are for the toolchain (fer_core.ship), on validation splits only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

_EPS = 1e-7


@dataclass(frozen=True)
class Calibration:
    """``softmax((log p - tau * log_prior) / T)``; the identity when T = 1 and tau = 0."""

    temperature: float = 1.0
    tau: float = 0.0
    log_prior: tuple[float, ...] = ()

    def apply(self, probs: np.ndarray) -> np.ndarray:
        if self.is_identity() or probs.size == 0:
            return probs
        z = np.log(np.clip(probs, _EPS, 1.0))
        if self.tau and self.log_prior:
            z = z - self.tau * np.asarray(self.log_prior, np.float32)
        z = z / self.temperature
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return (e / e.sum(axis=1, keepdims=True)).astype(np.float32)

    def is_identity(self) -> bool:
        return self.temperature == 1.0 and (self.tau == 0.0 or not self.log_prior)

    def to_dict(self) -> dict:
        return {"temperature": self.temperature, "tau": self.tau, "log_prior": list(self.log_prior)}

    @classmethod
    def from_dict(cls, d: Mapping | None, n_classes: int | None = None) -> Calibration:
        """The model config's ``calibration`` entry (missing: identity); a prior of the wrong
        length is refused rather than broadcast."""
        if not d:
            return cls()
        prior = tuple(float(v) for v in d.get("log_prior", ()))
        if n_classes is not None and prior and len(prior) != n_classes:
            raise ValueError(f"calibration log_prior has {len(prior)} values for {n_classes} classes")
        temperature = float(d.get("temperature", 1.0))
        if not temperature > 0:
            raise ValueError(f"calibration temperature must be positive, got {temperature}")
        return cls(temperature, float(d.get("tau", 0.0)), prior)


def folder_calibration(model_dir) -> Calibration:
    """The calibration a model folder's config names (identity when it names none): a model is
    evaluated as it is served. An unusable entry is a ModelFilesError with the reason."""
    from fer_core.model_store import ModelFilesError, load_model_config

    cfg = load_model_config(model_dir)
    try:
        return Calibration.from_dict(cfg.get("calibration"), len(cfg["classes"]))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFilesError(f"model_config.json has an unusable calibration entry: {exc}") from exc


def log_prior(class_counts: Mapping[str, int], classes: Sequence[str]) -> tuple[float, ...]:
    """Training log-prior from the run's class counts (add-one, so an absent class stays finite)."""
    counts = np.array([class_counts.get(c, 0) for c in classes], np.float64) + 1.0
    return tuple(np.round(np.log(counts / counts.sum()), 5).tolist())


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


def choose_calibration(probs: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray],
                       prior: Sequence[float], classes: Sequence[str], fit_on: str = "ferplus_valid",
                       taus: Sequence[float] = TAU_GRID) -> tuple[Calibration, list[dict]]:
    """Pick ``tau`` by the selection rule over the validation sets, then fit ``T`` on ``fit_on``.

    ``probs``/``labels`` are keyed by fer_core.selection's set names. Returns the calibration and
    one row per tau tried (each set's accuracy, macro-F1 and ECE, and the rule's score), the
    figures the training log reports. Validation splits only: these are validation figures."""
    from fer_core.metrics import classification_report
    from fer_core.selection import selection_score

    rows = []
    for tau in taus:
        cal = Calibration(1.0, float(tau), tuple(prior))
        figures, row = {}, {"tau": float(tau)}
        for name, p in probs.items():
            q = cal.apply(p)
            rep = classification_report(labels[name], q.argmax(1))
            figures[name] = rep
            row[name] = {"accuracy": round(rep["accuracy"], 4), "macro_f1": round(rep["macro_f1"], 4),
                         "ece": expected_calibration_error(q, labels[name])}
        row["selection"] = selection_score(figures)
        rows.append(row)
    best = max(rows, key=lambda r: (r["selection"] or 0.0, -r["tau"]))
    adjusted = Calibration(1.0, best["tau"], tuple(prior))
    temperature = fit_temperature(adjusted.apply(probs[fit_on]), labels[fit_on])
    chosen = Calibration(temperature, best["tau"], tuple(prior))
    for name, p in probs.items():
        q = chosen.apply(p)
        best.setdefault("calibrated", {})[name] = {
            "ece": expected_calibration_error(q, labels[name]), "ece_per_class": per_class_ece(q, labels[name], classes)}
    return chosen, rows
