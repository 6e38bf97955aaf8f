"""Images made by code: drawn scenes are detectable where the faces were drawn; clips play back."""

from __future__ import annotations

import av
import cv2
import numpy as np
import pytest

from fer_core.bench.scenes import (DEMO_FACES, EXPRESSIONS, HAND_POSES, DrawnFace, draw_scene, drawn_face, person_scene,
                             write_test_clip)


def _haar_faces(rgb: np.ndarray) -> np.ndarray:
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = casc.detectMultiScale(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(30, 30))
    return np.asarray(found).reshape(-1, 4)


def test_drawn_demo_scene_has_one_detected_face_per_drawn_face() -> None:
    img = draw_scene(720, 480, DEMO_FACES)
    boxes = _haar_faces(img)
    assert len(boxes) == len(DEMO_FACES)
    for face in DEMO_FACES:  # every drawn face centre lies inside exactly one detected box
        inside = [(x <= face.cx <= x + w) and (y <= face.cy <= y + h) for x, y, w, h in boxes]
        assert sum(inside) == 1


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_each_expression_is_detectable(expression: str) -> None:
    img = draw_scene(320, 320, [DrawnFace(160, 170, 60, expression)])
    assert len(_haar_faces(img)) == 1


def test_expressions_differ_and_unknown_is_refused() -> None:
    crops = [draw_scene(200, 200, [DrawnFace(100, 110, 50, e)]) for e in EXPRESSIONS]
    for i in range(len(crops)):
        for j in range(i + 1, len(crops)):
            assert np.abs(crops[i].astype(int) - crops[j].astype(int)).sum() > 0
    with pytest.raises(ValueError, match="Unknown expression"):
        draw_scene(100, 100, [DrawnFace(50, 50, 20, "bored")])


def test_clip_holds_the_frames(tmp_path):
    frames = [draw_scene(161, 121, [DrawnFace(80, 60, 30, e)]) for e in EXPRESSIONS]
    path = write_test_clip(tmp_path / "faces.mp4", frames, fps=10)
    with av.open(str(path)) as clip:
        stream = clip.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in clip.decode(stream)]
        assert (stream.width, stream.height) == (160, 120)  # even sides, as H.264 wants
    assert len(decoded) == len(frames)
    assert np.abs(decoded[0].astype(int) - frames[0][:120, :160].astype(int)).mean() < 8


@pytest.mark.parametrize("pose", HAND_POSES)
def test_person_scene_puts_the_face_on_a_body_with_hands(pose: str) -> None:
    face = drawn_face(120, smile=0.5)
    img, box = person_scene(face, 640, 480, 150, pose, seed=2)
    assert img.shape == (480, 640, 3) and img.dtype == np.uint8
    crop = img[box.y:box.y + box.h, box.x:box.x + box.w].astype(int)
    pasted = cv2.resize(face, (150, 150), interpolation=cv2.INTER_CUBIC).astype(int)
    assert np.abs(crop - pasted)[20:-20, 20:-20].mean() < 12  # the face, lightly blurred (hands may cover the chin)
    below = img[box.y + box.h + 60:, box.x:box.x + box.w]
    assert np.abs(below.astype(int) - img[-5:, :5].mean(axis=(0, 1))).mean() > 5  # a body under it, not backdrop
    with pytest.raises(ValueError, match="Unknown pose"):
        person_scene(face, pose="handstand")
