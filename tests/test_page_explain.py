"""Explain page through the router: Grad-CAM per face and target class, colormap and opacity,
with the probabilities; bad or faceless photos get clear messages."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from fer_core.labels import CLASSES
from fer_core.samples import DEMO_FACES, backdrop


@pytest.fixture(autouse=True)
def tiny_model(tiny_model_files, monkeypatch):
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_files))


def assert_clean(at) -> None:
    assert not at.exception, [e.value for e in at.exception]


def with_sample(at):
    return at.radio(key="explain_source").set_value("Sample photo").run()


def target_box(at):
    return next(s for s in at.selectbox if str(s.key).startswith("explain_target_"))


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
    faces = at.selectbox(key="explain_face")
    assert len(faces.options) == len(DEMO_FACES)
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
    at.selectbox(key="explain_face").set_value(2).run()
    assert_clean(at)
    assert at.image[0].captions == ["Face 3"]
    assert [img.value for img in at.image][0] != first[0]  # a different face crop
    assert not at.error


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
