"""Calibrated, prior-aware outputs: temperature scaling and logit adjustment.

A model trained on FER+ learned its annotators' priors (neutral is the majority for 35% of the
training faces, disgust for 0.65%), so strong negative expressions drift to neutral or sad.
Logit adjustment subtracts a share ``tau`` of the training log-prior from the log-probabilities
(Menon et al., "Long-tail learning via logit adjustment", 2021); temperature scaling divides them
by ``T`` so that a confidence of 0.6 is right about 60% of the time, whatever the class, and the
pages' "uncertain" threshold means the same thing for every class.

``Calibration.apply`` is numpy only: the served classifier applies it on the live path.
Fitting it (on validation splits only) is the toolchain's job: ``fer_core.training.calibrate``.
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
    from fer_core.core.model_folder import ModelFilesError, load_model_config

    cfg = load_model_config(model_dir)
    try:
        return Calibration.from_dict(cfg.get("calibration"), len(cfg["classes"]))
    except (ValueError, TypeError, AttributeError) as exc:
        raise ModelFilesError(f"model_config.json has an unusable calibration entry: {exc}") from exc


def log_prior(class_counts: Mapping[str, int], classes: Sequence[str]) -> tuple[float, ...]:
    """Training log-prior from the run's class counts (add-one, so an absent class stays finite)."""
    counts = np.array([class_counts.get(c, 0) for c in classes], np.float64) + 1.0
    return tuple(np.round(np.log(counts / counts.sum()), 5).tolist())
