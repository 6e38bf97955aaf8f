"""Joining FER-2013 faces to their FER+ votes by pixels, and blending the two label sets."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from datagen import synth_face
from fer_core.core.labels import CLASSES
from fer_core.training.votes import blend_targets, match_faces


def _jpeg(img: np.ndarray, quality: int = 90) -> np.ndarray:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)


def test_faces_find_their_recompressed_twins_and_strangers_find_none():
    rng = np.random.default_rng(0)
    faces = [synth_face(i % len(CLASSES), rng).astype(np.uint8) for i in range(30)]
    order = rng.permutation(20)  # the reference holds 20 of the 30 faces, shuffled and re-encoded
    reference = [_jpeg(faces[i]) for i in order]
    match = match_faces(faces, reference)
    np.testing.assert_array_equal(match[:20], np.argsort(order))
    assert (match[20:] == -1).all()  # same class, same look, but a different face


def test_match_with_an_empty_side():
    face = np.zeros((48, 48), np.uint8)
    assert match_faces([face], []).tolist() == [-1]
    assert match_faces([], [face]).shape == (0,)


def test_blend_mixes_label_and_votes_and_leaves_unmatched_faces_one_hot():
    labels = np.array([0, 3, 5])
    votes = np.zeros((2, len(CLASSES)), np.float32)
    votes[0, 4] = 1.0  # annotators say neutral
    votes[1, [3, 6]] = 0.5  # annotators split between happy and surprise
    t = blend_targets(labels, votes, np.array([0, 1, -1]), weight=0.25)
    np.testing.assert_allclose(t[0], np.eye(7)[0] * 0.75 + np.eye(7)[4] * 0.25)
    np.testing.assert_allclose(t[1], np.eye(7)[3] * 0.875 + np.eye(7)[6] * 0.125)
    np.testing.assert_array_equal(t[2], np.eye(7)[5])
    np.testing.assert_allclose(t.sum(1), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(blend_targets(labels, votes, np.array([0, 1, -1]), 0.0), np.eye(7)[labels])


@pytest.mark.parametrize("weight", [-0.1, 1.5])
def test_blend_rejects_a_weight_outside_0_1(weight):
    with pytest.raises(ValueError, match="between 0 and 1"):
        blend_targets(np.array([0]), np.zeros((1, 7)), np.array([0]), weight)
