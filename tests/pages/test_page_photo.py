"""Photo page through the router: sample and uploaded photos give faces, charts and downloads;
bad files, faceless photos and face crops each get their own clear message."""

from __future__ import annotations

import csv
import io
import json

import cv2
import numpy as np
import pytest
from conftest import HOSTILE_NAME, assert_clean, assert_plain_text_on_page, texts

from fer_core.core.labels import CLASSES
from fer_core.app.samples import SAMPLE_FACES, sample_photo_png
from fer_core.bench.scenes import backdrop


pytestmark = pytest.mark.usefixtures("tiny_model")


def png(rgb: np.ndarray) -> bytes:
    return cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()


def face_lines(at) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**Face ")]


def test_renders_and_asks_for_a_photo(open_page):
    at = open_page("pages/photo.py")
    assert_clean(at)
    assert at.title[0].value == "Photo"
    assert at.file_uploader(key="photo_upload").accept_multiple_files
    assert set(at.file_uploader(key="photo_upload").allowed_type) >= {".jpg", ".png", ".webp", ".bmp"}
    assert "Choose a photo" in texts(at, "info")


def test_sample_photo_gives_one_result_per_face_with_downloads(open_page, downloads):
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    assert not at.error
    assert len(face_lines(at)) == SAMPLE_FACES
    assert len(at.get("plotly_chart")) == SAMPLE_FACES  # one probability chart per face
    assert any(f"{SAMPLE_FACES} face(s)" in c for img in at.image for c in img.captions)
    report = json.loads(downloads["sample_emotions.json"])
    assert report["n_faces"] == SAMPLE_FACES and report["whole_image"] is False
    rows = list(csv.DictReader(io.StringIO(downloads["sample_emotions.csv"].decode())))
    assert [r["label"] for r in rows] == [f["label"] for f in report["faces"]]
    for r in rows:
        assert abs(sum(float(r[c]) for c in CLASSES) - 1.0) < 1e-3
    annotated = cv2.imdecode(np.frombuffer(downloads["sample_annotated.png"], np.uint8), cv2.IMREAD_COLOR)
    assert annotated.shape[:2] == (480, 890)
    original = cv2.imdecode(np.frombuffer(sample_photo_png(), np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(annotated.astype(int) - original.astype(int)).sum() > 0  # boxes were drawn


def test_threshold_switches_labels_to_uncertain(open_page, downloads):
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    at.slider(key="photo_threshold").set_value(0.0).run()
    assert_clean(at)
    labels = [f["label"] for f in json.loads(downloads["sample_emotions.json"])["faces"]]
    lines = face_lines(at)
    assert not any("uncertain" in line for line in lines)
    assert all(label in line for label, line in zip(labels, lines))
    at.slider(key="photo_threshold").set_value(0.9).run()  # the tiny random model is never this sure
    assert all("uncertain (best guess:" in line for line in face_lines(at))


def test_bad_file_shows_an_error_and_the_good_file_still_gets_results(open_page):
    at = open_page("pages/photo.py")
    at.file_uploader(key="photo_upload").set_value([
        ("broken.png", b"\x89PNG\r\n\x1a\n" + b"not really a png" * 20, "image/png"),
        ("faces.png", sample_photo_png(), "image/png"),
    ]).run()
    assert_clean(at)
    assert len(at.error) == 1
    assert "broken.png" in at.error[0].value and "Traceback" not in at.error[0].value  # names as plain text
    assert len(face_lines(at)) == SAMPLE_FACES


def test_photo_without_faces_says_so_at_natural_size(open_page, image_widths):
    at = open_page("pages/photo.py")
    at.file_uploader(key="photo_upload").set_value(("wall.png", png(backdrop(265, 287)), "image/png")).run()
    assert_clean(at)
    assert not at.error
    assert "No face found in wall.png" in texts(at, "warning")
    # the smallest face searched, in this photo's pixels (it said "about 40 pixels" of any photo)
    assert "at least about 48 pixels wide in this 265x287 image" in texts(at, "warning")
    assert not face_lines(at)
    assert len(at.image) == 1 and image_widths == ["content"]  # shown as it is, not stretched to the column


def test_each_face_has_a_valence_summary(open_page, downloads):
    from fer_core.core.valence import RULE, describe

    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    faces = json.loads(downloads["sample_emotions.json"])["faces"]
    captions = [c.value for c in at.caption if c.value.startswith("Valence: ")]
    assert captions == [f"Valence: {describe([f['probs'][c] for c in CLASSES])}" for f in faces]
    assert RULE in texts(at, "caption")  # one line says how valence is computed


def test_small_square_crop_is_classified_as_a_whole_face(open_page):
    crop = np.full((64, 64, 3), 128, np.uint8)  # no detectable face, but shaped like a FER crop
    at = open_page("pages/photo.py")
    at.file_uploader(key="photo_upload").set_value(("crop.png", png(crop), "image/png")).run()
    assert_clean(at)
    assert "whole image was classified" in texts(at, "info")
    assert len(face_lines(at)) == 1


def test_gradcam_on_demand_for_one_face(open_page):
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    n_images = len(at.image)
    at.toggle[0].set_value(True).run()
    assert_clean(at)
    assert not at.error
    assert len(at.image) == n_images + 1
    assert any("Grad-CAM for" in c for c in at.image[-1].captions)


def test_camera_photo_is_analysed(open_page):
    from fer_core.app.samples import sample_photo

    jpeg = cv2.imencode(".jpg", cv2.cvtColor(sample_photo(), cv2.COLOR_RGB2BGR))[1].tobytes()
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Camera").run()
    assert_clean(at)
    at.camera_input(key="photo_camera").upload("camera.jpg", jpeg).run()
    assert_clean(at)
    assert at.subheader[0].value == "camera.jpg"
    assert len(face_lines(at)) == SAMPLE_FACES


@pytest.mark.slow
def test_mtcnn_detector_finds_the_sample_faces(open_page):
    at = open_page("pages/photo.py")
    at.selectbox(key="photo_detector").set_value("mtcnn")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    assert not at.error, at.error[0].value
    assert len(face_lines(at)) == SAMPLE_FACES


def test_hostile_file_names_are_shown_as_plain_text(open_page):
    """File names written as Markdown (links, remote images, HTML) show as typed, in titles and messages."""
    at = open_page("pages/photo.py")
    at.file_uploader(key="photo_upload").set_value([
        (HOSTILE_NAME + ".png", png(backdrop(160, 120)), "image/png"),
        ("1. " + HOSTILE_NAME + ".jpg", b"not a photo" * 20, "image/jpeg"),
    ]).run()
    assert_clean(at)
    assert_plain_text_on_page(at, HOSTILE_NAME + ".png")  # title, "no face" warning and the image's caption
    assert_plain_text_on_page(at, f"No face found in {HOSTILE_NAME}.png.")
    assert_plain_text_on_page(at, f"1. {HOSTILE_NAME}.jpg: ")  # the error quoting the second file


def test_an_upload_is_capped_in_files_and_pixels(open_page, monkeypatch):
    """Fourteen flat 7000 x 7000 JPEGs in one upload peaked at 4.4 GB: the count and total pixels were
    unlimited. (Small limits here; the defaults are 10 files and 100 megapixels.)"""
    monkeypatch.setenv("FER_MAX_UPLOAD_FILES", "3")
    monkeypatch.setenv("FER_MAX_UPLOAD_PIXELS", str(2 * 300 * 300))
    photo = png(backdrop(300, 300))
    at = open_page("pages/photo.py")
    at.file_uploader(key="photo_upload").set_value(
        [(f"p{i}.png", photo + bytes([i]), "image/png") for i in range(5)]).run()
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    assert sum("No face found" in w for w in warnings) == 2  # analysed
    assert sum("exceed 0.18 megapixels in total (300x300 here)" in w for w in warnings) == 1
    assert sum("at most 3 photos" in w for w in warnings) == 2
    assert len(at.session_state["_photo_results"]) == 2


def test_faces_beyond_the_limit_get_a_notice(open_page, monkeypatch):
    """A photo with 64 or 100 faces showed 32 with no notice."""
    monkeypatch.setenv("FER_MAX_FACES", "1")
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    assert len(face_lines(at)) == 1
    assert f"{SAMPLE_FACES} faces were found; only the 1 largest are analysed" in texts(at, "warning")


def test_a_misconfigured_limit_is_a_clear_message(open_page, monkeypatch):
    monkeypatch.setenv("FER_MAX_UPLOAD_FILES", "lots")
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    assert "FER_MAX_UPLOAD_FILES must be a positive number" in at.error[0].value and not face_lines(at)
