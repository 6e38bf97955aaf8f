"""Class-weighted sampling of training batches, so rare classes (disgust) are seen often enough."""

from __future__ import annotations

import numpy as np


def class_sampling_weights(labels: np.ndarray, num_classes: int, power: float = 0.5) -> np.ndarray:
    """Per-sample probabilities where class c is drawn in proportion to n_c ** (1 - power).

    power=0 keeps the natural class mix, power=1 draws every class equally often,
    0.5 (the default) is the square-root compromise that lifts rare classes without
    repeating their few images too often.
    """
    labels = np.asarray(labels)
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    per_class = np.zeros(num_classes)
    present = counts > 0
    per_class[present] = counts[present] ** (-power)
    p = per_class[labels]
    return p / p.sum()


def weighted_batches(labels: np.ndarray, batch_size: int, num_classes: int, power: float,
                     rng: np.random.Generator):
    """Endless stream of index batches drawn with replacement by class weight (power=0: shuffled epochs)."""
    n = len(labels)
    if power <= 0:
        while True:
            order = rng.permutation(n)
            for start in range(0, n - batch_size + 1, batch_size):
                yield order[start:start + batch_size]
            if n < batch_size:
                yield rng.choice(n, batch_size, replace=True)
    p = class_sampling_weights(labels, num_classes, power)
    while True:
        yield rng.choice(n, size=batch_size, replace=True, p=p)
