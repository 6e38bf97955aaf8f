"""The one face preprocessing used by training, evaluation and the app.

A face crop of any size and channel layout becomes a square grayscale image,
repeated to three channels, as float32 in 0..255 (EfficientNet rescales inside
the model). Keeping it here means a model sees at serving time exactly what it
saw in training.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

PREPROCESSING_NAME = "gray-resize-3ch-0to255-v1"  # model_config.json's "preprocessing": checked on load
PREPROCESSING_DOC = ("grayscale -> square resize (area when shrinking, bilinear when growing) "
                     "-> repeat to 3 channels -> float32 0..255 (the model rescales inside)")


def to_gray_uint8(image: np.ndarray) -> np.ndarray:
    """Grayscale uint8 view of an RGB / RGBA / gray / 16-bit / float image."""
    img = np.asarray(image)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = img.astype(np.float32)
        if img.size and img.max() <= 1.0:
            img = img * 255.0
        img = np.clip(img, 0, 255).astype(np.uint8)
    if img.ndim == 2:
        return img
    if img.ndim == 3 and img.shape[2] == 3:
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    if img.ndim == 3 and img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_RGBA2GRAY)
    raise ValueError(f"Unsupported image shape {img.shape}: expected HxW, HxWx3 or HxWx4.")


def resize_gray(gray: np.ndarray, size: int) -> np.ndarray:
    """Square-resize a grayscale face (area filter when shrinking, bilinear when growing)."""
    h, w = gray.shape[:2]
    interp = cv2.INTER_AREA if min(h, w) > size else cv2.INTER_LINEAR
    return cv2.resize(gray, (size, size), interpolation=interp)


def preprocess_face(image: np.ndarray, size: int) -> np.ndarray:
    """One face crop -> (size, size, 3) float32 in 0..255."""
    g = resize_gray(to_gray_uint8(image), size)
    return np.repeat(g[:, :, None], 3, axis=2).astype(np.float32)


def preprocess_faces(images: Sequence[np.ndarray] | np.ndarray, size: int) -> np.ndarray:
    """A batch of face crops -> (N, size, size, 3) float32 in 0..255."""
    if len(images) == 0:
        return np.zeros((0, size, size, 3), np.float32)
    return np.stack([preprocess_face(im, size) for im in images])
