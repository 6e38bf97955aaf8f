"""The copy of an image that a page shows: no wider than the page can display, and small face
crops enlarged here (Lanczos) rather than blurred up by the browser.

Streamlit shrinks wide images itself, rounding the new height down: a 16,384 x 8 strip became
1460 x 0 and st.image raised ValueError. A copy shrunk here keeps every side at least 1 px, and a
49-megapixel photo is not re-encoded at full size for the browser.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_WIDTH = 1400  # under Streamlit's widest content (1460 px): it never resizes again


def preview(rgb: np.ndarray, max_width: int = MAX_WIDTH) -> np.ndarray:
    """``rgb`` itself when narrow enough, else a copy ``max_width`` wide (height at least 1 px)."""
    h, w = rgb.shape[:2]
    if w <= max_width:
        return rgb
    return cv2.resize(rgb, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)


CROP_SIDE = 320  # a quarter of the wide layout: Explain's face crops fill their column without browser scaling


def enlarged(rgb: np.ndarray, side: int = CROP_SIDE) -> np.ndarray:
    """``rgb`` scaled up to ``side`` px on its longer edge when smaller (Lanczos keeps edges sharp where
    the browser's smoothing of a 120 px crop at column width looks blurred); larger images unchanged."""
    h, w = rgb.shape[:2]
    if max(h, w) >= side:
        return rgb
    scale = side / max(h, w)
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_LANCZOS4)
