"""Training augmentation for the shift from a FER-2013 crop to a camera or photo crop.

Groups, each switchable (``--augment`` in fer_core.training.train) so each can be measured on its own:

- ``geometric``: flip, small rotation, and framing jitter as a face detector produces it
  (tighter and looser boxes, small offsets);
- ``photometric``: brightness, contrast, exposure and gamma;
- ``degrade``: blur, sensor noise, JPEG artefacts, down-then-up scaling (a small face in a big frame);
- ``occlude``: a hand-like patch over the lower face or a glasses-like band over the eyes.

One combined affine warp per face with OpenCV; the rest are cheap per-face operations. Chaining
Keras' random-transform layers cost a quarter of a second per batch on two cores, a third of the
training step.
"""

from __future__ import annotations

import cv2
import numpy as np

GROUPS = ("geometric", "photometric", "degrade", "occlude")


def parse_groups(spec: str) -> tuple[str, ...]:
    """``all``, ``none`` or comma-separated group names -> the groups, checked."""
    if spec == "all":
        return GROUPS
    if spec in ("none", ""):
        return ()
    groups = tuple(g.strip() for g in spec.split(",") if g.strip())
    unknown = sorted(set(groups) - set(GROUPS))
    if unknown:
        raise ValueError(f"unknown augmentation group(s) {', '.join(unknown)}; choose from {', '.join(GROUPS)}")
    return groups


def _geometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = img.shape[0]
    if rng.random() < 0.5:
        img = img[:, ::-1]
    # Framing: a detector's box is up to ~20% tighter or ~25% looser than FER-2013's crop.
    scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    m = cv2.getRotationMatrix2D((s / 2, s / 2), rng.uniform(-12.0, 12.0), scale)
    m[:, 2] += rng.uniform(-0.08, 0.08, 2) * s
    return cv2.warpAffine(np.ascontiguousarray(img), m, (s, s), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


def _photometric(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.4:  # exposure curve
        img = 255.0 * (img / 255.0) ** rng.uniform(0.6, 1.6)
    gain, offset = 1.0 + rng.uniform(-0.25, 0.25), rng.uniform(-0.2, 0.2) * 255.0
    mean = img.mean()
    return (img - mean) * gain + mean + offset


def _degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    s = img.shape[0]
    if rng.random() < 0.25:  # down then up: a face a few dozen pixels wide in the camera frame
        small = max(8, int(s * rng.uniform(0.3, 0.7)))
        img = cv2.resize(cv2.resize(img, (small, small), interpolation=cv2.INTER_AREA), (s, s),
                         interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.2:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.2:
        img = img + rng.normal(0.0, rng.uniform(2.0, 8.0), img.shape).astype(np.float32)
    if rng.random() < 0.25:
        ok, buf = cv2.imencode(".jpg", np.clip(img, 0, 255).astype(np.uint8),
                               [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 70))])
        if ok:
            img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE).astype(np.float32)
    return img


def _occlude(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() >= 0.15:
        return img
    s = img.shape[0]
    img = img.copy()
    if rng.random() < 0.5:  # a hand over mouth or chin: a bright or dark blob in the lower half
        w, h = (rng.uniform(0.25, 0.5, 2) * s).astype(int)
        x0, y0 = int(rng.uniform(0, s - w)), int(rng.uniform(0.5 * s, s - h))
        img[y0:y0 + h, x0:x0 + w] = rng.uniform(60, 220)
    else:  # glasses: a dark band at eye height
        y0, h = int(rng.uniform(0.25, 0.4) * s), max(2, int(rng.uniform(0.08, 0.15) * s))
        img[y0:y0 + h, int(0.1 * s):int(0.9 * s)] *= rng.uniform(0.2, 0.6)
    return img


_STEPS = {"geometric": _geometric, "photometric": _photometric, "degrade": _degrade, "occlude": _occlude}


def augment_batch(x: np.ndarray, rng: np.random.Generator, groups: tuple[str, ...] = GROUPS) -> np.ndarray:
    """Randomly transform a batch of preprocessed faces (N, S, S, C), float32 0..255.

    Gray faces: the first channel is transformed and copied to the others. Shape, dtype and the
    order of the batch (so its labels) are kept."""
    out = np.empty_like(x)
    for i in range(x.shape[0]):
        img = x[i, :, :, 0].astype(np.float32)
        for name in GROUPS:  # fixed order: framing first, camera effects after
            if name in groups:
                img = np.clip(_STEPS[name](img, rng), 0.0, 255.0)
        out[i, :, :, 0] = img
    out[:, :, :, 1:] = out[:, :, :, :1]
    return out
