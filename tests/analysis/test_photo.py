"""Photo analysis from uploaded bytes: faces, exports (JSON, CSV, PNG), bad files, face crops."""

from __future__ import annotations

import csv
import dataclasses
import io
import json

import numpy as np
import pytest
from PIL import Image

from fer_core.engine.analyzer import FaceAnalyzer
from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import HaarDetector
from fer_core.core.imageio import ImageDecodeError, decode_image
from fer_core.core.labels import CLASSES
from fer_core.analysis.photo import analyze_image, analyze_photo, dropped_faces_notice
from fer_core.core.results import FaceBox
from fer_core.bench.scenes import drawn_face, paste_faces
from factories import CrowdDetector


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(Classifier.from_dir(), HaarDetector())


def _jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=92)
    return buf.getvalue()


def test_photo_with_two_faces(analyzer):
    frame, truth = paste_faces([drawn_face(120), drawn_face(120, smile=0.8)], 640, 480, 120,
                               positions=[(60, 100), (400, 220)])
    res = analyze_photo(_jpeg(frame), analyzer)
    assert res.n_faces == 2 and not res.whole_image
    assert res.image.shape == (480, 640, 3)
    annotated = res.annotated(0.3)
    assert annotated.shape == res.image.shape and (annotated != res.image).any()

    d = json.loads(res.to_json(0.3))
    assert d["n_faces"] == 2 and d["width"] == 640 and d["classes"] == list(CLASSES) and d["threshold"] == 0.3
    for f, p in zip(d["faces"], res.faces):
        assert f["label"] == p.label and f["uncertain"] == p.is_uncertain(0.3)
        assert abs(sum(f["probs"].values()) - 1) < 1e-3

    assert [f["face"] for f in d["faces"]] == [1, 2]  # numbered from 1, as on the boxes and the page

    rows = list(csv.DictReader(io.StringIO(res.to_csv(0.3))))
    assert len(rows) == 2 and list(rows[0])[-len(CLASSES):] == list(CLASSES)
    assert [r["face"] for r in rows] == ["1", "2"]
    assert {int(r["x"]) for r in rows} == {p.box.x for p in res.faces}

    assert [r["uncertain"] for r in rows] == [str(p.is_uncertain(0.3)) for p in res.faces]

    png = res.annotated_png(0.3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(decode_image(png), annotated)


class _Boxes:
    """A detector that returns the given boxes, in the given order."""

    name, needs_tensorflow = "fixed", False

    def __init__(self, boxes):
        self.boxes = boxes

    def detect(self, rgb):
        return list(self.boxes)


def test_faces_are_ordered_left_to_right_and_the_main_face_is_large_and_sure(analyzer):
    """A false box on a neck was 'Face 1' and Explain opened on it."""
    neck = FaceBox(40, 300, 90, 90, 0.7)
    big_unsure = FaceBox(380, 60, 200, 200, 0.75)
    big_sure = FaceBox(150, 80, 180, 180, 0.93)
    res = analyze_image(np.full((480, 640, 3), 120, np.uint8),
                        FaceAnalyzer(analyzer.classifier, _Boxes([big_unsure, neck, big_sure])))
    assert [f.box for f in res.faces] == [neck, big_sure, big_unsure]
    assert res.main_face == 1  # not the leftmost, not the largest: the surest of the large ones
    only = analyze_image(np.full((480, 640, 3), 120, np.uint8), FaceAnalyzer(analyzer.classifier, _Boxes([neck])))
    assert only.main_face == 0
    with pytest.raises(ValueError, match="no face"):
        analyze_image(np.full((300, 400, 3), 128, np.uint8), analyzer).main_face


def test_threshold_is_passed_where_it_is_used_and_never_stored(analyzer):
    """A cached result serves every threshold the user picks: it has none of its own to change."""
    frame, _ = paste_faces([drawn_face(120)], 320, 240, 120, positions=[(100, 60)])
    res = analyze_image(frame, analyzer)
    assert res.n_faces == 1
    image = res.image.copy()
    assert not json.loads(res.to_json())["faces"][0]["uncertain"]
    assert json.loads(res.to_json(1.01))["faces"][0]["uncertain"]
    assert next(csv.DictReader(io.StringIO(res.to_csv(1.01))))["uncertain"] == "True"
    assert (res.annotated(1.01) != res.annotated(0.0)).any()  # grey "uncertain" box instead of the emotion
    np.testing.assert_array_equal(res.image, image)  # drawing never touches the analysed image
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.threshold = 0.5


def test_fer_sized_crop_is_classified_whole(analyzer):
    crop = np.random.default_rng(1).integers(100, 120, (48, 48), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(crop, "L").save(buf, format="PNG")
    res = analyze_photo(buf.getvalue(), analyzer)
    assert res.whole_image and res.n_faces == 1
    assert json.loads(res.to_json())["whole_image"] is True


def test_no_face(analyzer):
    res = analyze_image(np.full((300, 400, 3), 128, np.uint8), analyzer)
    assert res.n_faces == 0 and not res.whole_image
    assert res.to_csv().count("\n") == 1  # header only
    assert json.loads(res.to_json())["faces"] == []


def test_bad_upload_raises_user_message(analyzer):
    with pytest.raises(ImageDecodeError, match="not an image"):
        analyze_photo(b"%PDF-1.4 definitely not a picture", analyzer)
    with pytest.raises(ImageDecodeError, match="empty"):
        analyze_photo(b"", analyzer)


def test_faces_beyond_the_limit_are_counted_and_noticed(analyzer):
    """A photo with 64 or 100 faces showed 32 with no notice."""
    crowd = analyze_image(np.full((200, 400, 3), 128, np.uint8), FaceAnalyzer(analyzer.classifier, CrowdDetector(5),
                                                                               max_faces=3))
    assert (crowd.n_faces, crowd.n_dropped, json.loads(crowd.to_json())["n_found"]) == (3, 2, 5)
    assert dropped_faces_notice(crowd) == ("5 faces were found; only the 3 largest are analysed and shown "
                                           "(the limit of faces per photo).")
    few = analyze_image(np.full((200, 400, 3), 128, np.uint8), FaceAnalyzer(analyzer.classifier, CrowdDetector(3),
                                                                             max_faces=3))
    assert few.n_dropped == 0 and dropped_faces_notice(few) is None


def test_decode_limits_are_passed_on(analyzer):
    with pytest.raises(ImageDecodeError, match="megapixels"):
        analyze_photo(_jpeg(np.zeros((100, 100, 3), np.uint8)), analyzer, max_pixels=5000)
    with pytest.raises(ImageDecodeError, match="pixel-passes"):
        analyze_photo(_jpeg(np.zeros((100, 100, 3), np.uint8)), analyzer, max_decode_work=5000)
