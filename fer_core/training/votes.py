"""Attach FER+ annotator votes to FER-2013 faces, so training can blend both label sets.

FER+ relabelled the FER-2013 images with ten annotators each, but its files carry no FER-2013
file names: faces are joined by their pixels (JPEG/PNG round trips leave small differences).
"""

from __future__ import annotations

import numpy as np

from fer_core.core.labels import CLASSES

MATCH_SIZE = 16  # faces are compared as 16x16 thumbnails: robust to compression noise, cheap
MAX_RMS = 2.0  # gray levels; different faces are tens of levels apart


def _thumbnails(images: list[np.ndarray]) -> np.ndarray:
    import cv2

    return np.stack([cv2.resize(im, (MATCH_SIZE, MATCH_SIZE), interpolation=cv2.INTER_AREA).ravel()
                     for im in images]).astype(np.float32)


def match_faces(query: list[np.ndarray], reference: list[np.ndarray], max_rms: float = MAX_RMS) -> np.ndarray:
    """Index of each query face's pixel twin in ``reference``, or -1 when it has none."""
    from sklearn.neighbors import NearestNeighbors

    if not query or not reference:
        return np.full(len(query), -1, int)
    dist, idx = NearestNeighbors(n_neighbors=1).fit(_thumbnails(reference)).kneighbors(_thumbnails(query))
    rms = dist[:, 0] / MATCH_SIZE  # Euclidean over 16*16 pixels -> root mean square per pixel
    return np.where(rms <= max_rms, idx[:, 0], -1)


def blend_targets(labels: np.ndarray, votes: np.ndarray, match: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * one-hot label + weight * matched vote distribution; unmatched faces stay one-hot."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"vote weight must be between 0 and 1, got {weight}")
    targets = np.eye(len(CLASSES), dtype=np.float32)[labels]
    hit = match >= 0
    targets[hit] = (1.0 - weight) * targets[hit] + weight * votes[match[hit]]
    return targets
