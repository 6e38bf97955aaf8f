"""Grad-CAM for the emotion model: which parts of a face drove a class score.

Uses the Keras model (TensorFlow, via fer_core.core.tf_import) and a convolutional block whose map
is at least 7x7 at the model's input size: EfficientNet-B0's last block is 1/32 of the input
(2x2 at 64x64), so model_config.json names an earlier one (``block3b_add``: 1/8, 8x8 at 64; each
architecture's choice is fer_core.training.network.gradcam_layer_for).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.engine.faces import DEFAULT_MARGIN, crop_face, expand_box
from fer_core.core.preprocess import preprocess_face
from fer_core.core.results import FaceBox, FacePrediction

COLORMAPS: dict[str, int] = {
    "jet": cv2.COLORMAP_JET, "turbo": cv2.COLORMAP_TURBO, "inferno": cv2.COLORMAP_INFERNO,
    "viridis": cv2.COLORMAP_VIRIDIS, "magma": cv2.COLORMAP_MAGMA, "hot": cv2.COLORMAP_HOT,
    "plasma": cv2.COLORMAP_PLASMA, "cividis": cv2.COLORMAP_CIVIDIS,
}
MIN_MAP_SIZE = 7  # a Grad-CAM layer's map is at least this on a side: coarser heatmaps are too blocky to point
# at a face's features (training.network.gradcam_layer_for names such a block in every model's config)

_grad_models: dict[tuple[int, str], object] = {}
_lock = threading.Lock()


def load_keras_model(model_dir: str | Path | None = None):
    """The Keras model named in model_config.json (ModelFilesError when missing or corrupt)."""
    from fer_core.core.model_folder import ModelFilesError, keras_model_path
    from fer_core.core.tf_import import keras as _keras

    path = keras_model_path(model_dir)
    try:
        return _keras().models.load_model(str(path), compile=False)
    except Exception as exc:  # Keras raises many types for a bad archive
        raise ModelFilesError(f"The Keras model {path} could not be loaded (corrupt or incompatible): {exc}") from None


def configured_layer(model_dir: str | Path | None = None) -> str | None:
    """The block model_config.json names for Grad-CAM; None (pick_gradcam_layer decides) when it
    names none or cannot be read."""
    from fer_core.core.model_folder import ModelFilesError, load_model_config

    try:
        return load_model_config(model_dir).get("gradcam_layer")
    except ModelFilesError:
        return None


def pick_gradcam_layer(model, min_size: int = MIN_MAP_SIZE) -> str:
    """Deepest 4-D layer whose map is still at least ``min_size`` pixels on a side."""
    best = None
    for layer in model.layers:
        try:
            shape = layer.output.shape
        except (AttributeError, ValueError):
            continue
        if (len(shape) == 4 and None not in shape[1:3] and min(shape[1:3]) >= min_size
                and shape[-1] and shape[-1] > 3):  # both sides: attention pools are (h, 1) maps
            best = layer.name
    if best is None:
        raise ValueError(f"The model has no convolutional layer with a map of at least {min_size}x{min_size}.")
    return best


def _grad_model(model, layer_name: str):
    from fer_core.core.tf_import import keras as _keras

    key = (id(model), layer_name)
    with _lock:
        gm = _grad_models.get(key)
        if gm is None:
            keras = _keras()
            try:
                layer = model.get_layer(layer_name)
            except ValueError:
                raise ValueError(f"Layer {layer_name!r} is not in the model; pick one of its conv blocks.") from None
            gm = keras.Model(model.inputs, [layer.output, model.output])
            _grad_models[key] = gm
    return gm


def gradcam_heatmap(keras_model, face_rgb: np.ndarray, class_index: int | None = None,
                    layer_name: str | None = None) -> np.ndarray:
    """Grad-CAM map for one face crop: HxW float32 in 0..1 at the crop's size (target: predicted class)."""
    maps, _ = gradcam_with_probs(keras_model, face_rgb, class_index, layer_name)
    return maps


def gradcam_with_probs(keras_model, face_rgb: np.ndarray, class_index: int | None = None,
                       layer_name: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM map (as gradcam_heatmap) and the model's class probabilities for the crop."""
    from fer_core.core.tf_import import tensorflow

    tf = tensorflow()
    size = int(keras_model.input_shape[1])
    layer_name = layer_name or pick_gradcam_layer(keras_model)
    gm = _grad_model(keras_model, layer_name)
    x = tf.convert_to_tensor(preprocess_face(face_rgb, size)[None])
    with tf.GradientTape() as tape:
        feats, probs = gm(x, training=False)
        k = int(tf.argmax(probs[0])) if class_index is None else int(class_index)
        if not 0 <= k < int(probs.shape[-1]):
            raise ValueError(f"class_index must be in 0..{int(probs.shape[-1]) - 1}.")
        score = probs[:, k]
    grads = tape.gradient(score, feats)[0].numpy()
    fmap = feats[0].numpy()
    weights = grads.mean(axis=(0, 1))
    cam = np.maximum((fmap * weights).sum(axis=-1), 0.0)
    if cam.max() <= 1e-12:  # nothing pushes the class up: show where it is pushed down least
        cam = (fmap * weights).sum(axis=-1)
        cam = cam - cam.min()
    cam = cam / cam.max() if cam.max() > 0 else cam
    h, w = np.asarray(face_rgb).shape[:2]
    heat = np.clip(cv2.resize(cam.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC), 0.0, None)
    # Cubic upsampling can undershoot the coarse map's peak; rescale so the hottest pixel is 1 again.
    peak = float(heat.max())
    return (heat / peak if peak > 0 else heat), probs[0].numpy().astype(np.float32)


def colorize(heatmap: np.ndarray, colormap: str = "jet") -> np.ndarray:
    """0..1 map -> RGB uint8 colour image."""
    if colormap not in COLORMAPS:
        raise ValueError(f"Unknown colormap {colormap!r}; choose one of {', '.join(COLORMAPS)}.")
    u8 = np.clip(np.asarray(heatmap) * 255.0, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(u8, COLORMAPS[colormap]), cv2.COLOR_BGR2RGB)


def overlay_heatmap(rgb: np.ndarray, heatmap: np.ndarray, colormap: str = "jet", alpha: float = 0.4) -> np.ndarray:
    """The heatmap in colour, blended over the image (resized to it) with opacity ``alpha``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError("alpha must be between 0 and 1.")
    img = np.asarray(rgb)
    if img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    h, w = img.shape[:2]
    heat = cv2.resize(np.asarray(heatmap, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
    colour = colorize(heat, colormap)
    return cv2.addWeighted(colour, alpha, img.astype(np.uint8), 1.0 - alpha, 0)


def overlay_on_image(rgb: np.ndarray, box: FaceBox, heatmap: np.ndarray, margin: float,
                     colormap: str = "jet", alpha: float = 0.4, outline: bool = False) -> np.ndarray:
    """The face's heatmap blended over the full image, inside the face's crop square (``outline``:
    that square edged in white, so a faint map still shows which face it belongs to)."""
    img = np.array(rgb, dtype=np.uint8, copy=True)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = expand_box(box, margin)
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return img
    full = cv2.resize(np.asarray(heatmap, np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    part = full[cy0 - y0: cy1 - y0, cx0 - x0: cx1 - x0]
    img[cy0:cy1, cx0:cx1] = overlay_heatmap(img[cy0:cy1, cx0:cx1], part, colormap, alpha)
    if outline:
        cv2.rectangle(img, (cx0, cy0), (cx1 - 1, cy1 - 1), (255, 255, 255), max(1, round(max(h, w) / 400)))
    return img


def crop_margin(pred: FacePrediction) -> float:
    """A whole-image prediction is its own crop; a detected face gets the engine's margin."""
    return 0.0 if pred.whole_image else DEFAULT_MARGIN


@dataclass(frozen=True)
class Explanation:
    """Grad-CAM of one face: the crop it saw, the map at the crop's size, and where the crop lies.

    Computing it is the slow part, so pages keep it and draw it (on_crop, on_image) with whatever
    colormap and opacity the user picks.
    """

    crop: np.ndarray
    heatmap: np.ndarray
    probs: np.ndarray
    class_index: int
    layer_name: str
    box: FaceBox
    margin: float

    def on_crop(self, colormap: str = "jet", alpha: float = 0.4) -> np.ndarray:
        return overlay_heatmap(self.crop, self.heatmap, colormap, alpha)

    def on_image(self, rgb: np.ndarray, colormap: str = "jet", alpha: float = 0.4, outline: bool = False) -> np.ndarray:
        return overlay_on_image(rgb, self.box, self.heatmap, self.margin, colormap, alpha, outline)


def explain_face(keras_model, rgb: np.ndarray, box: FaceBox, class_index: int | None = None,
                 layer_name: str | None = None, margin: float = DEFAULT_MARGIN) -> Explanation:
    """Grad-CAM for one face of an image (target: the predicted class unless ``class_index``).

    The crop is taken without eye alignment so the map lines up with the original image.
    """
    layer_name = layer_name or pick_gradcam_layer(keras_model)
    crop = crop_face(rgb, box, margin=margin, align=False)
    heat, probs = gradcam_with_probs(keras_model, crop, class_index, layer_name)
    k = int(np.argmax(probs)) if class_index is None else int(class_index)
    return Explanation(crop, heat, probs, k, layer_name, box, margin)
