"""The built-in sample photo (two real people), and cartoon faces drawn by code for tests.

The sample shows real faces, because a demo on drawn faces says nothing about the model: two
public-domain portraits, Grace Hopper (US Navy photo, shipped with matplotlib, a dependency of
the app) and the astronaut Eileen Collins (NASA photo, from scikit-image's sample data, kept in
``fer_core/sample_photos/``). Both smile slightly; whatever the model says about them is shown
as it is. The drawn faces (``draw_scene``) are test and benchmark fixtures with known positions.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

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

SAMPLE_CAPTION = ("Sample photo: two real people in public-domain portraits, Rear Admiral Grace Hopper "
                  "(US Navy photo, shipped with matplotlib) and astronaut Eileen Collins (NASA photo). "
                  "What the model says about them is shown unedited: it can be wrong here too.")
SAMPLE_FACES = 2  # one face in each portrait
SAMPLE_HEIGHT = 480


def _sample_files() -> list[Path]:
    """The two portraits: matplotlib's copy of Grace Hopper's (found without importing
    matplotlib) and this package's copy of Eileen Collins's."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("The sample photo needs matplotlib (pip install matplotlib).")
    hopper = Path(spec.submodule_search_locations[0]) / "mpl-data" / "sample_data" / "grace_hopper.jpg"
    return [hopper, Path(__file__).resolve().parent / "sample_photos" / "eileen_collins.jpg"]


def sample_photo() -> np.ndarray:
    """The built-in sample photo (RGB): both portraits side by side, 480 px high."""
    parts = []
    for path in _sample_files():
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            raise FileNotFoundError(f"Sample portrait {path} is missing or unreadable.")
        h, w = bgr.shape[:2]
        parts.append(cv2.resize(bgr, (round(w * SAMPLE_HEIGHT / h), SAMPLE_HEIGHT), interpolation=cv2.INTER_AREA))
    return cv2.cvtColor(np.hstack(parts), cv2.COLOR_BGR2RGB)


def sample_photo_png() -> bytes:
    """The sample photo as PNG bytes, the form an upload arrives in."""
    ok, buf = cv2.imencode(".png", cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))
    if not ok:  # pragma: no cover - encoding a valid uint8 image does not fail
        raise RuntimeError("PNG encoding of the sample photo failed.")
    return buf.tobytes()
