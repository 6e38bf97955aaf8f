"""Draw predictions on a frame: a box in the emotion's colour, the label and confidence as text
(colour is never the only cue), "uncertain" below a threshold, optional probability bars, and on
photos the face's number, so each box can be matched to the page's "Face N" list."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from fer_core.core.labels import color_rgb, dark_ink
from fer_core.core.results import FacePrediction

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_UNCERTAIN_RGB = (200, 200, 200)


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    return (0, 0, 0) if dark_ink(bg) else (255, 255, 255)


def face_caption(pred: FacePrediction, threshold: float = 0.0, show_id: bool = False,
                 number: int | None = None) -> str:
    """"label NN%", after the face's number ("2: happy 80%") or its track id ("#3 happy 80%")."""
    label = pred.display_label(threshold)
    if number is not None:
        head = f"{number}: "
    else:
        head = f"#{pred.track_id} " if show_id and pred.track_id is not None else ""
    return f"{head}{label} {pred.confidence * 100:.0f}%"


def _scale_for(img: np.ndarray) -> float:
    return max(0.4, min(1.2, max(img.shape[:2]) / 1000.0))


def _label(img: np.ndarray, text: str, x: int, y: int, colour: tuple[int, int, int], scale: float) -> None:
    th = max(1, int(round(scale * 2)))
    (tw, tht), base = cv2.getTextSize(text, _FONT, scale, th)
    h, w = img.shape[:2]
    x = min(max(0, x), max(0, w - tw - 4))
    top = y - tht - base - 4
    if top < 0:  # no room above the box: draw inside it
        top = max(0, y)
    cv2.rectangle(img, (x, top), (x + tw + 4, top + tht + base + 4), colour, -1)
    # Edged in the text's ink: a grey "neutral" label stays visible on a black-and-white photo.
    cv2.rectangle(img, (x, top), (x + tw + 4, top + tht + base + 4), _text_colour(colour), max(1, th // 2))
    cv2.putText(img, text, (x + 2, top + tht + 2), _FONT, scale, _text_colour(colour), th, cv2.LINE_AA)


def _bars(img: np.ndarray, pred: FacePrediction, x: int, y: int, width: int, scale: float) -> None:
    """One bar per class under the box: short name, bar in the class colour, percentage."""
    h, w = img.shape[:2]
    row = max(10, int(14 * scale * 1.4))
    fs = scale * 0.6
    for i, (c, p) in enumerate(zip(pred.classes, pred.probs)):
        yy = y + 4 + i * row
        if yy + row > h:
            break
        name = c[:3]
        cv2.putText(img, name, (x, yy + row - 3), _FONT, fs, (255, 255, 255), 2, cv2.LINE_AA)
        cv2.putText(img, name, (x, yy + row - 3), _FONT, fs, (0, 0, 0), 1, cv2.LINE_AA)
        bx = x + int(32 * scale * 1.3)
        bw = max(1, int((width - (bx - x)) * float(p)))
        cv2.rectangle(img, (bx, yy + 2), (min(w - 1, bx + bw), yy + row - 2), color_rgb(c), -1)


def annotate_frame(rgb: np.ndarray, preds: Sequence[FacePrediction], threshold: float = 0.0,
                   show_bars: bool = False, show_ids: bool = False, copy: bool = True,
                   numbered: bool = False) -> np.ndarray:
    """RGB frame with every prediction drawn on it (a copy unless ``copy=False``); ``numbered``
    writes each face's number from 1, in the order given, before its label."""
    img = np.ascontiguousarray(rgb).copy() if copy else np.ascontiguousarray(rgb)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    scale = _scale_for(img)
    thick = max(2, int(round(scale * 3)))
    for i, p in enumerate(preds):
        b = p.box
        colour = _UNCERTAIN_RGB if p.is_uncertain(threshold) else color_rgb(p.label)
        corners = (int(b.x), int(b.y)), (int(b.x + b.w) - 1, int(b.y + b.h) - 1)
        cv2.rectangle(img, *corners, _text_colour(colour), thick + 2)  # a 1-px contrasting edge on each side
        cv2.rectangle(img, *corners, colour, thick)
        _label(img, face_caption(p, threshold, show_ids, i + 1 if numbered else None), int(b.x), int(b.y),
               colour, scale)
        if show_bars:
            _bars(img, p, int(b.x), int(b.y + b.h), max(int(b.w), 90), scale)
    return img
