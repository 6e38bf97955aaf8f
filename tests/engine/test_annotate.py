"""Annotation: emotion-coloured boxes with text, grey "uncertain" boxes, probability bars."""

from __future__ import annotations

import numpy as np

from fer_core.engine.annotate import annotate_frame, face_caption
from fer_core.core.labels import CLASSES, color_rgb
from fer_core.core.results import FaceBox, FacePrediction


def _pred(label, peak, box=FaceBox(100, 80, 120, 120), track_id=None):
    p = np.full(len(CLASSES), (1 - peak) / (len(CLASSES) - 1), np.float32)
    p[CLASSES.index(label)] = peak
    return FacePrediction(box, p, track_id=track_id)


def _blank():
    return np.full((360, 480, 3), 40, np.uint8)


def test_box_in_emotion_colour_and_input_untouched():
    img = _blank()
    out = annotate_frame(img, [_pred("sad", 0.9)])
    assert (img == 40).all()  # a copy was drawn on
    # left edge of the box, below the label: the class colour
    assert tuple(out[150, 100]) == color_rgb("sad")
    assert tuple(out[150, 219]) == color_rgb("sad")
    # text label drawn above the box: pixels in the label strip differ from the background
    strip = out[50:80, 100:200]
    assert (strip != 40).any()


def test_uncertain_faces_are_grey_and_say_so():
    pred = _pred("angry", 0.3)
    out = annotate_frame(_blank(), [pred], threshold=0.5)
    assert tuple(out[150, 100]) == (200, 200, 200)
    assert face_caption(pred, 0.5).startswith("uncertain")
    assert face_caption(pred, 0.2) == "angry 30%"
    assert face_caption(_pred("happy", 0.8, track_id=3), show_id=True) == "#3 happy 80%"
    assert face_caption(_pred("happy", 0.8, track_id=3), show_id=True, number=2) == "2: happy 80%"


def test_numbered_boxes_carry_their_face_number():
    """Photos number their faces: each box's label starts with its number, so box and list match."""
    preds = [_pred("sad", 0.9), _pred("sad", 0.9, FaceBox(300, 80, 120, 120))]
    plain, numbered = annotate_frame(_blank(), preds), annotate_frame(_blank(), preds, numbered=True)
    strip = (slice(40, 80), slice(100, 420))
    assert (plain[strip] != numbered[strip]).any()  # the labels differ ("1: sad 90%" vs "sad 90%")
    np.testing.assert_array_equal(plain[120:, :], numbered[120:, :])  # boxes themselves unchanged


def test_probability_bars_are_drawn_below_the_box():
    plain = annotate_frame(_blank(), [_pred("fear", 0.7)])
    bars = annotate_frame(_blank(), [_pred("fear", 0.7)], show_bars=True)
    below = (slice(205, 330), slice(100, 230))
    assert (plain[below] == 40).all()
    assert (bars[below] != 40).any()
    # the fear bar (largest) has the fear colour somewhere
    assert (bars[below] == np.array(color_rgb("fear"), np.uint8)).all(axis=-1).any()


def test_faces_at_the_border_and_gray_frames():
    gray = np.full((120, 160), 90, np.uint8)
    out = annotate_frame(gray, [_pred("happy", 0.9, FaceBox(0, 0, 60, 60)),
                                _pred("surprise", 0.9, FaceBox(120, 90, 40, 30))], show_bars=True)
    assert out.shape == (120, 160, 3)
    assert tuple(out[30, 0]) == color_rgb("happy")


def test_grey_neutral_label_stands_out_on_a_grey_photo():
    """On a black-and-white photo the same grey as the 'neutral' colour, label and box are edged in black."""
    grey = np.full((360, 480, 3), color_rgb("neutral")[0], np.uint8)
    out = annotate_frame(grey, [_pred("neutral", 0.9)])
    changed = np.argwhere((out != grey).any(axis=-1))
    top = changed[:, 0].min()  # the label's top edge, above the face box
    edge = np.nonzero((out[top] != grey[0, 0]).any(axis=-1))[0]
    assert len(edge) > 40 and (out[top, edge] == 0).all()  # a black line, not the photo's grey
    assert (out[top:top + 15, edge[0]] == 0).all()  # down the label's left side too
    assert tuple(out[150, 100 - 2]) == (0, 0, 0)  # and the face box has a black edge beside its grey line
