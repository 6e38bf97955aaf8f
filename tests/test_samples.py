"""The sample photo holds real faces the default detector finds; drawn test faces are detectable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.faces import make_detector
from fer_core.samples import DEMO_FACES, EXPRESSIONS, SAMPLE_FACES, DrawnFace, draw_scene, sample_photo, sample_photo_png


def _haar_faces(rgb: np.ndarray) -> np.ndarray:
    casc = cv2.CascadeClassifier(cv2.data.haarcascades + "haarcascade_frontalface_default.xml")
    found = casc.detectMultiScale(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), 1.1, 5, minSize=(30, 30))
    return np.asarray(found).reshape(-1, 4)


def test_sample_photo_shows_two_real_faces_the_default_detector_finds() -> None:
    img = sample_photo()
    assert img.dtype == np.uint8 and img.shape == (480, 890, 3)
    for purpose in ("photo", "video"):
        found = make_detector(purpose=purpose).detect(img)
        assert len(found) == SAMPLE_FACES
        assert found[0].x + found[0].w < 410 < found[1].x  # one face in each portrait


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


def test_png_bytes_decode_back_to_the_photo() -> None:
    data = sample_photo_png()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, sample_photo())
