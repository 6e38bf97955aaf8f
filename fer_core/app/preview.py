"""The copy of an image that a page shows: no wider than the page can display.

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
