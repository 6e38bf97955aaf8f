"""Face detection and cropping on generated scenes (drawn faces; FER-2013 crops when the data is there)."""

from __future__ import annotations

import importlib.util

import cv2
import numpy as np
import pytest

from fer_core.engine.faces import (DEFAULT_DETECTOR, DETECTOR_HELP, DETECTORS, PURPOSES, REGISTRY, TF_FREE_DETECTORS,
                                   HaarDetector, findable_faces_text,
                            clip_box, crop_face, drop_face_parts, expand_box, keypoints_make_a_face, make_detector,
                            part_of_face)
from fer_core.core.results import FaceBox
from fer_core.bench.scenes import background, drawn_face, load_fer_faces, paste_faces


def _matches(found: list[FaceBox], truth: list[FaceBox], iou: float = 0.4) -> int:
    return sum(any(t.iou(f) >= iou for f in found) for t in truth)


def test_detector_registry():
    assert DETECTORS == ("blazeface", "haar", "mtcnn") and DEFAULT_DETECTOR == "blazeface"
    assert TF_FREE_DETECTORS == ("blazeface", "haar")
    with pytest.raises(ValueError, match="Unknown face detector"):
        make_detector("nope")
    with pytest.raises(ValueError, match="Unknown detector purpose"):
        make_detector("haar", "party")
    assert make_detector().name == "blazeface"
    assert make_detector("haar", "live").detector.max_side == REGISTRY["haar"].settings["live"]["max_side"]
    assert make_detector("haar", "live", max_side=99).detector.max_side == 99  # overrides win


def test_the_registry_lists_every_detector_the_pages_offer():
    """One entry per detector holds all the pages need: the class made, label, help and settings per use."""
    assert DETECTORS == tuple(REGISTRY) and DEFAULT_DETECTOR in REGISTRY
    assert TF_FREE_DETECTORS == tuple(n for n, e in REGISTRY.items() if not e.factory.needs_tensorflow)
    for name, entry in REGISTRY.items():
        assert entry.name == entry.factory.name == name
        assert set(entry.settings) == set(PURPOSES)
        assert 0 < len(entry.label) <= 24 and entry.help in DETECTOR_HELP  # the sidebar's label and help
    for name in TF_FREE_DETECTORS:  # MTCNN needs TensorFlow: its own slow test
        for purpose in PURPOSES:
            made = make_detector(name, purpose).detector
            assert type(made) is REGISTRY[name].factory
            assert all(getattr(made, k) == v for k, v in REGISTRY[name].settings[purpose].items())


def test_made_detectors_serialise_calls():
    """One detector serves every session of the server: make_detector's wrapper takes a lock."""
    import threading

    inside, peak = [0], [0]

    class Slow:
        name, needs_tensorflow = "slow", False

        def detect(self, rgb):
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
            threading.Event().wait(0.02)
            inside[0] -= 1
            return []

    from fer_core.engine.faces import LockedDetector

    det = LockedDetector(Slow())
    threads = [threading.Thread(target=det.detect, args=(None,)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 1


def test_haar_finds_drawn_faces_where_they_are():
    faces = [drawn_face(120, smile=s) for s in (-0.8, 0.0, 0.8)]
    frame, truth = paste_faces(faces, 640, 480, 110, positions=[(40, 60), (260, 200), (480, 330)])
    found = HaarDetector().detect(frame)
    assert len(found) == 3
    assert _matches(found, truth) == 3
    for b in found:
        assert 0 <= b.x and 0 <= b.y and b.x + b.w <= 640 and b.y + b.h <= 480
        assert 0.0 < b.score <= 1.0


def test_no_faces_on_a_plain_background():
    assert HaarDetector().detect(background(640, 480, seed=3)) == []
    assert HaarDetector().detect(np.zeros((10, 10, 3), np.uint8)) == []


def test_downscaled_detection_returns_original_coordinates():
    frame, truth = paste_faces([drawn_face(240)], 1920, 1440, 300, positions=[(1300, 900)])
    det = HaarDetector(max_side=480)
    found = det.detect(frame)
    assert _matches(found, truth, 0.5) == 1
    assert abs(found[0].w - 300) < 60  # scaled back up, not the shrunk size


def test_min_face_size_is_respected():
    frame, _ = paste_faces([drawn_face(120)], 640, 480, 70, positions=[(100, 100)])
    assert len(HaarDetector(min_face=40).detect(frame)) == 1
    assert HaarDetector(min_face=110).detect(frame) == []


def test_gray_and_rgba_inputs():
    frame, truth = paste_faces([drawn_face(120)], 320, 320, 110, positions=[(100, 100)])
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    rgba = np.dstack([frame, np.full(frame.shape[:2], 255, np.uint8)])
    for img in (gray, rgba):
        assert _matches(HaarDetector().detect(img), truth) == 1
    with pytest.raises(ValueError, match="RGB"):
        HaarDetector().detect(np.zeros((10, 10, 2), np.uint8))


def test_clip_box():
    assert clip_box(FaceBox(-10, -5, 30, 30), 100, 100) == FaceBox(0, 0, 20, 25)
    assert clip_box(FaceBox(90, 90, 30, 30), 100, 100) == FaceBox(90, 90, 10, 10)
    assert clip_box(FaceBox(200, 200, 30, 30), 100, 100) is None


def test_parts_of_a_larger_face_are_not_faces():
    """Real photos got boxes on an eye, on hands held over the face and just under the chin."""
    face = FaceBox(200, 100, 200, 200, 0.9)
    eye = FaceBox(240, 150, 50, 50, 0.95)  # inside, and scored higher than the face
    hands = FaceBox(260, 250, 100, 100, 0.7)  # its top half over the face's chin
    under_chin = FaceBox(250, 290, 90, 90, 0.7)  # touching the chin from below, no real overlap
    hair = FaceBox(230, 65, 40, 40, 0.5)  # an eighth of it on the forehead
    neighbour = FaceBox(395, 120, 180, 180, 0.8)  # the next person, cheek to cheek
    child = FaceBox(240, 330, 120, 120, 0.95)  # below the face, detected more surely: a face
    assert all(part_of_face(b, face) for b in (eye, hands, under_chin, hair))
    assert not part_of_face(neighbour, face) and not part_of_face(child, face)
    assert not part_of_face(face, eye)  # only the smaller box can be a part
    assert drop_face_parts([eye, hands, face, under_chin, hair, neighbour, child]) == [face, child, neighbour]


def test_a_box_holding_two_faces_is_a_group_not_a_face():
    a, b = FaceBox(100, 100, 80, 80, 0.9), FaceBox(220, 110, 80, 80, 0.9)
    group = FaceBox(60, 60, 300, 300, 0.7)
    assert drop_face_parts([group, b, a]) == [a, b]  # and left to right


def _keypoints(box=(100, 100, 300, 300), eyes=((160, 160), (240, 160)), nose=(200, 200), mouth=(200, 240)):
    """BlazeFace's 16 values: box x0, y0, x1, y1, then right eye, left eye, nose, mouth and the ears."""
    ears = ((110, 170), (290, 170))
    return np.array([*box, *eyes[0], *eyes[1], *nose, *mouth, *ears[0], *ears[1]], np.float32)


def test_keypoints_that_do_not_make_a_face():
    assert keypoints_make_a_face(_keypoints())
    assert keypoints_make_a_face(_keypoints(eyes=((160, 170), (240, 150))))  # a rolled face is a face
    assert not keypoints_make_a_face(_keypoints(nose=(200, 130)))  # nose above the eyes
    assert not keypoints_make_a_face(_keypoints(mouth=(200, 180)))  # mouth above the nose
    assert not keypoints_make_a_face(_keypoints(eyes=((195, 160), (205, 160))))  # eyes 5% of the box apart
    assert not keypoints_make_a_face(_keypoints(eyes=((90, 160), (170, 160))))  # an eye outside the box


def test_crop_margin_and_edges():
    img = np.arange(200 * 300 * 3, dtype=np.uint32).reshape(200, 300, 3).astype(np.uint8)
    box = FaceBox(100, 50, 60, 60)
    assert crop_face(img, box, margin=0.0).shape == (60, 60, 3)
    assert crop_face(img, box, margin=0.25).shape == (90, 90, 3)
    np.testing.assert_array_equal(crop_face(img, box, margin=0.0), img[50:110, 100:160])
    # A face at the corner: still square (edges replicated, not stretched).
    corner = crop_face(img, FaceBox(0, 0, 40, 50), margin=0.2)
    assert corner.shape == (70, 70, 3)
    # Non-square boxes become squares on their long side.
    x0, y0, x1, y1 = expand_box(FaceBox(10, 10, 40, 80), 0.0)
    assert (x1 - x0, y1 - y0) == (80, 80)
    with pytest.raises(ValueError, match="outside"):
        crop_face(img, FaceBox(1000, 1000, 10, 10))


def test_eye_alignment_levels_the_eyes():
    img = np.full((200, 200, 3), 255, np.uint8)
    left, right = (70, 90), (130, 110)  # right eye 20 px lower: ~18 degrees of roll
    cv2.circle(img, left, 5, (0, 0, 0), -1)
    cv2.circle(img, right, 5, (0, 0, 0), -1)
    box = FaceBox(50, 50, 100, 100, landmarks={"left_eye": left, "right_eye": right})

    def eye_rows(crop):
        dark = crop[:, :, 0] < 100
        cols = np.where(dark.any(axis=0))[0]
        mid = (cols.min() + cols.max()) // 2
        ys_l = np.where(dark[:, :mid].any(axis=1))[0]
        ys_r = np.where(dark[:, mid:].any(axis=1))[0]
        return ys_l.mean(), ys_r.mean()

    yl, yr = eye_rows(crop_face(img, box, margin=0.0, align=False))
    assert abs(yl - yr) > 15
    yl, yr = eye_rows(crop_face(img, box, margin=0.0, align=True))
    assert abs(yl - yr) < 2


@pytest.mark.data
def test_haar_on_fer_faces_pasted_in_scenes():
    """Recall and box agreement on real FER-2013 faces (measured: ~60% found, IoU ~0.78)."""
    faces = load_fer_faces(60, seed=5)
    assert len(faces) == 60
    det = HaarDetector()
    found, ious = 0, []
    for i, f in enumerate(faces):
        frame, truth = paste_faces([f], 320, 320, 110, seed=i)
        got = det.detect(frame)
        if len(got) == 1:
            found += 1
            ious.append(got[0].iou(truth[0]))
        assert len(got) <= 1
    assert found >= 24  # >= 40% of tight FER crops
    assert np.mean(ious) > 0.6


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("mtcnn") is None, reason="mtcnn not installed (pip install mtcnn)")
def test_mtcnn_finds_faces_with_landmarks():
    det = make_detector("mtcnn")
    assert det.needs_tensorflow
    frame, truth = paste_faces([drawn_face(120), drawn_face(120, smile=0.8)], 480, 320, 110,
                               positions=[(40, 100), (300, 120)])
    found = det.detect(frame)
    assert _matches(found, truth, 0.3) == 2
    for b in found:
        assert b.landmarks and {"left_eye", "right_eye"} <= set(b.landmarks)
        (lx, ly), (rx, _) = b.landmarks["left_eye"], b.landmarks["right_eye"]
        assert b.x <= min(lx, rx) and max(lx, rx) <= b.x + b.w and ly < b.y + b.h / 2 + 10


_MTCNN = pytest.param("mtcnn", marks=[pytest.mark.slow, pytest.mark.skipif(
    importlib.util.find_spec("mtcnn") is None, reason="mtcnn not installed (pip install mtcnn)")])


@pytest.mark.parametrize("name", ["blazeface", "haar", _MTCNN])
def test_extreme_strips_have_no_face_and_fail_nowhere(name):
    """A 3 x 100,000 strip made MTCNN's shrink step round a side to 0 px (cv2.resize assertion)."""
    det = make_detector(name, "photo")
    for h, w in ((3, 100_000), (100_000, 3), (8, 16_384), (16_384, 8)):
        assert det.detect(np.full((h, w, 3), 128, np.uint8)) == []


def test_the_no_face_message_names_the_smallest_face_searched_in_the_photos_own_pixels():
    """The pages said "at least about 40 pixels wide" whatever the photo; big photos are searched
    shrunk, so their smallest face is larger (and the video settings search for larger faces)."""
    blaze, haar = make_detector("blazeface", "photo"), make_detector("haar", "photo")
    assert findable_faces_text(blaze, 640, 480) == ("Faces need to be roughly frontal, well lit and at least about "
                                                    "48 pixels wide in this 640x480 image.")
    assert "about 164 pixels wide in this 7000x7000 image" in findable_faces_text(blaze, 7000, 7000)
    assert "about 24 pixels wide in this 640x480" in findable_faces_text(haar, 640, 480)
    assert "about 137 pixels wide" in findable_faces_text(haar, 7000, 7000)  # 20 px of the 1024 px copy
    assert "about 180 pixels wide in this 1920x1080" in findable_faces_text(make_detector("blazeface", "video"), 1920, 1080)
    assert findable_faces_text(object(), 640, 480) == "Faces need to be roughly frontal and well lit."
