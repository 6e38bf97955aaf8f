"""Explain page through the router: Grad-CAM per face and target class, colormap and opacity,
with the probabilities; bad or faceless photos get clear messages."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from conftest import HOSTILE_NAME, assert_clean, assert_plain_text_on_page

from fer_core.core.labels import CLASSES
from fer_core.app.samples import SAMPLE_FACES
from fer_core.bench.scenes import backdrop


pytestmark = pytest.mark.usefixtures("tiny_model")


def with_sample(at):
    return at.radio(key="explain_source").set_value("Sample photo").run()


def target_box(at):
    return next(s for s in at.selectbox if str(s.key).startswith("explain_target_"))


def face_box(at):
    return next(s for s in at.selectbox if str(s.key).startswith("explain_face_"))


def test_face_crops_are_enlarged_here_never_stretched_by_the_browser(open_page, image_widths):
    at = with_sample(open_page("pages/explain.py"))
    assert_clean(at)
    assert image_widths[-3:] == ["content", "content", "stretch"]  # crop, its heatmap, the whole photo


def test_renders_and_asks_for_a_photo(open_page):
    at = open_page("pages/explain.py")
    assert_clean(at)
    assert at.title[0].value == "Explain (Grad-CAM)"
    assert not at.file_uploader(key="explain_upload").accept_multiple_files
    assert "Choose a photo to explain" in at.info[0].value


def test_sample_face_heatmaps_and_probabilities(open_page):
    at = with_sample(open_page("pages/explain.py"))
    assert_clean(at)
    assert not at.error
    faces = face_box(at)
    assert len(faces.options) == SAMPLE_FACES
    assert all(o.startswith(f"Face {i + 1}: ") for i, o in enumerate(faces.options))
    captions = [c for img in at.image for c in img.captions]
    assert captions[0] == "Face 1" and captions[2] == "Heatmap over the full image"
    # Default target: the predicted class, which the probability chart's largest bar names.
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    probs = chart["data"][0]["x"]
    assert target_box(at).value == CLASSES[int(np.argmax(probs))]
    assert captions[1] == f"Grad-CAM: '{target_box(at).value}'"


def test_changing_target_colormap_and_face_updates_the_heatmap(open_page):
    at = with_sample(open_page("pages/explain.py"))
    first = [img.value for img in at.image]
    other = next(c for c in CLASSES if c != target_box(at).value)
    target_box(at).set_value(other).run()
    assert_clean(at)
    assert at.image[1].captions == [f"Grad-CAM: '{other}'"]
    assert at.image[1].value != first[1] and at.image[0].value == first[0]  # new map, same face
    at.selectbox(key="explain_colormap").set_value("viridis").run()
    at.slider(key="explain_alpha").set_value(0.8).run()
    assert_clean(at)
    face_box(at).set_value(SAMPLE_FACES - 1).run()
    assert_clean(at)
    assert at.image[0].captions == [f"Face {SAMPLE_FACES}"]
    assert [img.value for img in at.image][0] != first[0]  # a different face crop
    assert not at.error


def test_a_new_photo_gets_a_new_face_picker(open_page):
    """The picker is keyed on the photo: the browser never keeps the previous photo's 'Face 1: ...' label;
    it opens on the photo's main face (the largest, surest), not on the leftmost."""
    from fer_core.app.samples import sample_photo_png

    at = with_sample(open_page("pages/explain.py"))
    first = face_box(at)
    first_key, first_options = first.key, list(first.options)
    at.radio(key="explain_source").set_value("Upload").run()
    other = cv2.imdecode(np.frombuffer(sample_photo_png(), np.uint8), cv2.IMREAD_COLOR)[:, ::-1]
    at.file_uploader(key="explain_upload").set_value(
        ("mirrored.png", cv2.imencode(".png", np.ascontiguousarray(other))[1].tobytes(), "image/png")).run()
    assert_clean(at)
    picker = face_box(at)
    # Mirrored, the small face is face 1 (left); Explain opens on the large one, face 2.
    assert picker.key != first_key and picker.value == 1
    assert list(picker.options) != first_options  # the mirrored photo's own faces and predictions
    badge = next(m.value for m in at.markdown if m.value.startswith("**Prediction for face 2:**"))
    assert picker.options[1].split(": ", 1)[1].split(" (")[0] in badge  # picker and prediction agree
    assert any(c.value.startswith("Valence: mostly ") for c in at.caption)
    from fer_core.core.valence import RULE

    assert any(RULE in c.value for c in at.caption)  # says how valence is computed, as Photo does


def test_bad_file_gives_an_error(open_page):
    at = open_page("pages/explain.py")
    at.file_uploader(key="explain_upload").set_value(("notes.jpg", b"hello, not a jpeg", "image/jpeg")).run()
    assert_clean(at)
    assert "notes.jpg" in at.error[0].value and "not an image format" in at.error[0].value


def test_no_face_means_nothing_to_explain(open_page):
    png = cv2.imencode(".png", backdrop(400, 300))[1].tobytes()
    at = open_page("pages/explain.py")
    at.file_uploader(key="explain_upload").set_value(("wall.png", png, "image/png")).run()
    assert_clean(at)
    assert "No face found in wall.png" in at.warning[0].value
    assert not at.get("plotly_chart")
    assert len(at.image) == 1  # the photo itself, at its natural size (tests/pages/test_page_photo.py checks the width)


def test_hostile_file_name_is_shown_as_plain_text(open_page):
    png = cv2.imencode(".png", backdrop(160, 120))[1].tobytes()
    at = open_page("pages/explain.py")
    at.file_uploader(key="explain_upload").set_value((HOSTILE_NAME + ".png", png, "image/png")).run()
    assert_clean(at)
    assert_plain_text_on_page(at, f"No face found in {HOSTILE_NAME}.png, so")
