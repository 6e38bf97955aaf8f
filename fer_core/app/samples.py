"""The built-in sample photo (two real people) that the Photo and Explain pages offer.

The sample shows real faces, because a demo on drawn faces says nothing about the model: two
public-domain portraits, Grace Hopper (US Navy photo, shipped with matplotlib, a dependency of
the app) and the astronaut Eileen Collins (NASA photo, from scikit-image's sample data, kept in
``fer_core/app/sample_photos/``). Both smile slightly; whatever the model says about them is shown
as it is. Faces drawn by code for tests and benchmarks are in ``fer_core.bench.scenes``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

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
