"""Grad-CAM on the shipped Keras model: a real, non-flat map from the configured block that
differs between classes; overlays on the crop and on the full image."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.engine.faces import DEFAULT_MARGIN, HaarDetector, crop_face, expand_box
from fer_core.core.model_folder import load_model_config
from fer_core.core.results import FaceBox
from fer_core.bench.scenes import drawn_face, face_pool, paste_faces

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model():
    from fer_core.analysis.gradcam import load_keras_model

    return load_keras_model()


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    return face_pool(1, seed=3)[0]  # a FER-2013 face when the data is there, a drawn one otherwise


def test_configured_layer_is_at_least_7x7(model):
    from fer_core.analysis.gradcam import MIN_MAP_SIZE, pick_gradcam_layer

    cfg = load_model_config()
    layer = model.get_layer(cfg["gradcam_layer"])
    assert layer.output.shape[1] >= MIN_MAP_SIZE
    auto = model.get_layer(pick_gradcam_layer(model))
    assert auto.output.shape[1] >= MIN_MAP_SIZE


def test_map_is_normalised_not_flat_and_class_specific(model, face):
    from fer_core.analysis.gradcam import gradcam_heatmap, gradcam_with_probs

    layer = load_model_config()["gradcam_layer"]
    crop = np.asarray(face)
    heat, probs = gradcam_with_probs(model, crop, layer_name=layer)
    assert heat.shape == crop.shape[:2] and heat.dtype == np.float32
    assert heat.min() >= 0.0 and heat.max() == pytest.approx(1.0, abs=1e-3)
    assert heat.std() > 0.05
    # The two most likely classes must still get different maps.
    top2 = np.argsort(probs)[::-1][:2]
    maps = [gradcam_heatmap(model, crop, int(k), layer) for k in top2]
    np.testing.assert_allclose(maps[0], heat, atol=1e-5)  # default target = predicted class
    corr = np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1]
    assert corr < 0.9
    with pytest.raises(ValueError, match="class_index"):
        gradcam_heatmap(model, crop, 99, layer)
    with pytest.raises(ValueError, match="not in the model"):
        gradcam_heatmap(model, crop, 0, "no_such_layer")


def test_overlays():
    from fer_core.analysis.gradcam import overlay_heatmap, overlay_on_image

    img = np.full((40, 60, 3), 100, np.uint8)
    heat = np.zeros((10, 10), np.float32)
    heat[:, 5:] = 1.0
    np.testing.assert_array_equal(overlay_heatmap(img, heat, alpha=0.0), img)
    over = overlay_heatmap(img, heat, "jet", 0.5)
    assert over.shape == img.shape and (over[:, -1] != over[:, 0]).any()
    with pytest.raises(ValueError, match="colormap"):
        overlay_heatmap(img, heat, "rainbowish")
    with pytest.raises(ValueError, match="alpha"):
        overlay_heatmap(img, heat, alpha=1.5)
    big = np.full((200, 300, 3), 100, np.uint8)
    full = overlay_on_image(big, FaceBox(100, 50, 60, 60), np.ones((8, 8), np.float32), margin=0.0, alpha=0.5)
    changed = (full != 100).any(axis=-1)
    ys, xs = np.where(changed)
    assert (ys.min(), ys.max(), xs.min(), xs.max()) == (50, 109, 100, 159)


def test_explain_face_in_a_scene(model):
    from fer_core.analysis.gradcam import configured_layer, explain_face

    frame, _ = paste_faces([drawn_face(120)], 400, 300, 120, positions=[(140, 90)])
    box = HaarDetector().detect(frame)[0]
    ex = explain_face(model, frame, box, layer_name=configured_layer())
    assert ex.layer_name == load_model_config()["gradcam_layer"] and ex.margin == DEFAULT_MARGIN
    np.testing.assert_array_equal(ex.crop, crop_face(frame, box, DEFAULT_MARGIN, align=False))
    on_image = ex.on_image(frame, colormap="turbo", alpha=0.5)
    assert on_image.shape == frame.shape
    assert ex.on_crop("turbo", 0.5).shape == ex.crop.shape and ex.heatmap.shape == ex.crop.shape[:2]
    assert ex.class_index == int(np.argmax(ex.probs)) and abs(float(ex.probs.sum()) - 1) < 1e-3
    outside = np.ones(frame.shape[:2], bool)
    outside[box.y - 10: box.y + box.h + 10, box.x - 10: box.x + box.w + 10] = False
    np.testing.assert_array_equal(on_image[outside], frame[outside])
    outlined = ex.on_image(frame, colormap="turbo", alpha=0.5, outline=True)
    np.testing.assert_array_equal(outlined[outside], frame[outside])  # the outline stays on the crop's edge
    x0, y0, _, _ = expand_box(box, DEFAULT_MARGIN)
    assert (outlined[y0, x0] == 255).all() and (outlined != on_image).any()
    # rendering again (another colormap, opacity) needs no new Grad-CAM: the explanation holds the map
    assert (ex.on_crop("viridis", 0.9) != ex.on_crop("turbo", 0.5)).any()


def test_margin_follows_the_prediction():
    from fer_core.analysis.gradcam import crop_margin
    from fer_core.core.results import FacePrediction

    probs = np.full(7, 1 / 7, np.float32)
    assert crop_margin(FacePrediction(FaceBox(0, 0, 48, 48), probs, whole_image=True)) == 0.0
    assert crop_margin(FacePrediction(FaceBox(5, 5, 40, 40), probs)) == DEFAULT_MARGIN
