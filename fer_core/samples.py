"""A demo photo drawn by code, so the dashboard can be tried with no photo of a real person.

No face photo ships with the packages the app depends on (OpenCV's wheels carry only cascade
files, scikit-learn's sample images show a temple and a flower), and committing someone's face
would raise consent and licence questions. Simple drawn faces are found by the bundled Haar
cascade, which is all a demo of the pipeline needs; they say nothing about model accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

EXPRESSIONS: tuple[str, ...] = ("happy", "surprise", "sad", "neutral")


@dataclass(frozen=True)
class DrawnFace:
    """Where a face is drawn: centre (cx, cy), half-width s in pixels, and its expression."""

    cx: int
    cy: int
    s: int
    expression: str = "neutral"


_HAIR = (50, 35, 25)
_BROW = (60, 40, 30)


def draw_face(img: np.ndarray, face: DrawnFace, skin: tuple[int, int, int] = (224, 180, 150)) -> np.ndarray:
    """Draw one frontal cartoon face in place (RGB) and return the image."""
    if face.expression not in EXPRESSIONS:
        raise ValueError(f"Unknown expression {face.expression!r}; expected one of {EXPRESSIONS}.")
    cx, cy, s = face.cx, face.cy, face.s
    e = face.expression
    cv2.ellipse(img, (cx, cy - int(0.25 * s)), (int(1.08 * s), int(1.2 * s)), 0, 180, 360, _HAIR, -1)
    cv2.ellipse(img, (cx, cy), (s, int(1.3 * s)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy - int(0.9 * s)), (s, int(0.45 * s)), 0, 180, 360, _HAIR, -1)
    ey, ex = cy - int(0.25 * s), int(0.42 * s)
    brow_lift = {"surprise": 0.05, "sad": -0.04}.get(e, 0.0)
    eye_open = 0.12 if e == "surprise" else 0.1
    for side in (-1, 1):
        x = cx + side * ex
        y_out = ey - int((0.25 + brow_lift) * s)
        y_in = y_out - (int(0.08 * s) if e == "sad" else 0)  # sad: inner ends of the brows raised
        cv2.line(img, (x - side * int(0.25 * s), y_in), (x + side * int(0.25 * s), y_out), _BROW,
                 max(2, int(0.08 * s)))
        cv2.ellipse(img, (x, ey), (int(0.2 * s), int(eye_open * s)), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(img, (x, ey), int(0.09 * s), (70, 50, 40), -1)
        cv2.circle(img, (x, ey), int(0.04 * s), (10, 10, 10), -1)
    nose = np.array([[cx, ey + int(0.05 * s)], [cx - int(0.12 * s), cy + int(0.3 * s)],
                     [cx + int(0.12 * s), cy + int(0.3 * s)]], np.int32)
    cv2.polylines(img, [nose], False, (170, 120, 100), max(1, int(0.04 * s)))
    my = cy + int(0.62 * s)
    lip = (120, 40, 50)
    if e == "happy":
        cv2.ellipse(img, (cx, my - int(0.1 * s)), (int(0.35 * s), int(0.25 * s)), 0, 0, 180, lip, -1)
    elif e == "surprise":
        cv2.ellipse(img, (cx, my), (int(0.22 * s), int(0.15 * s)), 0, 0, 360, lip, -1)
    elif e == "sad":
        cv2.ellipse(img, (cx, my + int(0.1 * s)), (int(0.3 * s), int(0.14 * s)), 0, 180, 360, lip,
                    max(2, int(0.07 * s)))
    else:
        cv2.line(img, (cx - int(0.3 * s), my), (cx + int(0.3 * s), my), lip, max(2, int(0.07 * s)))
    return img


def backdrop(width: int, height: int) -> np.ndarray:
    """A soft vertical gradient, so faces are not on a flat field (Haar features need contrast)."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([90, 110, 140], np.float32), np.array([160, 170, 180], np.float32)
    img = (top * (1 - y) + bottom * y).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)))


def draw_scene(width: int, height: int, faces: Sequence[DrawnFace]) -> np.ndarray:
    """An RGB uint8 scene with the given faces, lightly blurred like a camera image."""
    img = backdrop(width, height)
    for face in faces:
        draw_face(img, face)
    return cv2.GaussianBlur(img, (5, 5), 0)


DEMO_FACES: tuple[DrawnFace, ...] = (
    DrawnFace(150, 250, 64, "happy"),
    DrawnFace(360, 240, 70, "surprise"),
    DrawnFace(560, 255, 62, "sad"),
)


def sample_photo() -> np.ndarray:
    """The built-in demo photo: three drawn faces (happy, surprised, sad) on a 720x480 backdrop."""
    return draw_scene(720, 480, DEMO_FACES)


def sample_photo_png() -> bytes:
    """The demo photo as PNG bytes, the form an upload arrives in."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
        raise RuntimeError("PNG encoding of the sample photo failed.")
    return buf.tobytes()
