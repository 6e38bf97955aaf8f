"""The sample photo holds real faces the default detector finds and arrives as an upload would."""

from __future__ import annotations

import cv2
import numpy as np

from fer_core.engine.faces import make_detector
from fer_core.app.samples import SAMPLE_FACES, sample_photo, sample_photo_png


def test_sample_photo_shows_two_real_faces_the_default_detector_finds() -> None:
    img = sample_photo()
    assert img.dtype == np.uint8 and img.shape == (480, 890, 3)
    for purpose in ("photo", "video"):
        found = make_detector(purpose=purpose).detect(img)
        assert len(found) == SAMPLE_FACES
        assert found[0].x + found[0].w < 410 < found[1].x  # one face in each portrait


def test_png_bytes_decode_back_to_the_photo() -> None:
    data = sample_photo_png()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    back = cv2.cvtColor(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    assert np.array_equal(back, sample_photo())
