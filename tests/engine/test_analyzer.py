"""Analyzer: faces in a scene are classified in place; small square crops fall back to the whole image."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from fer_core.engine.analyzer import FaceAnalyzer, looks_like_face_crop
from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import HaarDetector
from fer_core.core.labels import CLASSES
from fer_core.bench.scenes import background, drawn_face, load_fer_faces, paste_faces


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(Classifier.from_dir(), HaarDetector())


def test_faces_in_a_scene(analyzer):
    frame, truth = paste_faces([drawn_face(120), drawn_face(120, smile=0.8)], 640, 480, 120,
                               positions=[(60, 100), (400, 220)])
    preds = analyzer.analyze(frame)
    assert len(preds) == 2
    for p, t in zip(sorted(preds, key=lambda p: p.box.x), truth):
        assert p.box.iou(t) > 0.5
        assert not p.whole_image
        assert p.probs.shape == (len(CLASSES),) and abs(float(p.probs.sum()) - 1) < 1e-3
        assert p.label in CLASSES


def test_batch_equals_single_face_classification(analyzer):
    frame, _ = paste_faces([drawn_face(120), drawn_face(120, smile=-0.8)], 640, 480, 120,
                           positions=[(60, 100), (400, 220)])
    preds = analyzer.analyze(frame)
    assert len(preds) == 2, "both drawn faces must be found, or there is nothing to compare"
    for p in preds:
        alone = analyzer.classify_boxes(frame, [p.box])[0]
        np.testing.assert_allclose(alone, p.probs, atol=1e-5)


@pytest.mark.parametrize("shape,expected", [
    ((48, 48), True), ((128, 128), True), ((100, 125), True), ((125, 100), True),
    ((129, 129), False), ((100, 130), False), ((60, 40), False), ((0, 0), False),
    ((1, 1), False), ((8, 8), False), ((23, 23), False), ((24, 24), True),
])
def test_face_crop_rule(shape, expected):
    assert looks_like_face_crop(shape) is expected


def test_whole_image_fallback(analyzer):
    small = np.random.default_rng(0).integers(90, 110, (48, 48), dtype=np.uint8)
    preds = analyzer.analyze(np.repeat(small[:, :, None], 3, axis=2))
    assert len(preds) == 1 and preds[0].whole_image
    assert (preds[0].box.w, preds[0].box.h) == (48, 48)
    # a large image without faces is "no face", not a whole-image guess
    assert analyzer.analyze(background(320, 240)) == []
    # and the fallback can be switched off
    assert FaceAnalyzer(analyzer.classifier, analyzer.detector, whole_image_fallback=False).analyze(
        np.repeat(small[:, :, None], 3, axis=2)) == []


@pytest.mark.data
def test_fer_images_always_get_a_prediction(analyzer):
    """A FER-2013 file as uploaded (48x48 gray) is classified, found as a face or as a whole image."""
    for face in load_fer_faces(20, seed=2):
        preds = analyzer.analyze(face)
        assert len(preds) >= 1
        assert all(p.whole_image or p.box.w >= 20 for p in preds)


def test_max_faces_keeps_the_largest(analyzer):
    frame = background(640, 480)
    for (x, y), s in zip([(20, 40), (250, 200), (450, 40)], [130, 90, 110]):
        frame[y:y + s, x:x + s] = cv2.resize(drawn_face(120), (s, s))
    assert len(analyzer.analyze(frame)) == 3
    two = FaceAnalyzer(analyzer.classifier, analyzer.detector, max_faces=2).analyze(frame)
    assert len(two) == 2
    assert sorted(round(p.box.w / 10) for p in two) == [11, 13]
    # how many were found is reported, so pages can say that some were dropped
    faces, n_found = FaceAnalyzer(analyzer.classifier, analyzer.detector, max_faces=2).analyze_counted(frame)
    assert len(faces) == 2 and n_found == 3


def test_a_one_pixel_image_is_not_a_face(analyzer):
    """A 1x1 (or 8x8) image was classified as a face by the whole-image fallback."""
    for side in (1, 8):
        assert analyzer.analyze_counted(np.full((side, side, 3), 128, np.uint8)) == ([], 0)


def test_make_analyzer_runs_stills_mirrored_with_the_detector_for_the_purpose(analyzer):
    from fer_core.core.limits import Limits
    from fer_core.engine.analyzer import MIRROR_STILLS, make_analyzer

    made = make_analyzer(analyzer.classifier, "haar", "video")
    assert made.mirror is MIRROR_STILLS and made.max_faces == Limits().faces_per_image
    assert made.detector.name == "haar"
    given = make_analyzer(analyzer.classifier, analyzer.detector, mirror=False, max_faces=2)
    assert given.detector is analyzer.detector and not given.mirror and given.max_faces == 2
