"""The emotion classifier: Keras EfficientNet-B0 backbone with a dropout + softmax head."""

from __future__ import annotations

import os

from fer_core.analysis.gradcam import MIN_MAP_SIZE
from fer_core.core.labels import CLASSES

DEFAULT_INPUT_SIZE = 64


def gradcam_layer_for(input_size: int) -> str:
    """Deepest EfficientNet-B0 block whose map is at least MIN_MAP_SIZE on a side at this input size
    (Grad-CAM's rule, fer_core.analysis.gradcam)."""
    for name, stride in (("top_activation", 32), ("block5c_add", 16), ("block3b_add", 8), ("block2b_add", 4)):
        if -(-input_size // stride) >= MIN_MAP_SIZE:
            return name
    return "block1a_project_bn"


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but could not be obtained."""


def build_model(input_size: int = DEFAULT_INPUT_SIZE, num_classes: int = len(CLASSES),
                dropout: float = 0.3, weights: str | None = None):
    """EfficientNet-B0 built flat (one functional graph) so Grad-CAM can reach any block by name.

    ``weights``: None (random init, the default), "lite0" or a Lite0 ``.pth`` file (ImageNet
    weights of EfficientNet-Lite0 in B0's shared layers, see ``fer_core.training.imagenet_init``), a path
    to an EfficientNet-B0 no-top weights file, or "imagenet" (a download, unreachable here).
    """
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    inputs = keras.Input((input_size, input_size, 3), name="face")
    lite0 = weights == "lite0" or str(weights).endswith(".pth")
    use_file = weights not in (None, "none", "imagenet") and not lite0
    if use_file and not os.path.isfile(str(weights)):
        raise WeightsUnavailableError(f"Weights file {weights} not found.")
    try:
        backbone = keras.applications.EfficientNetB0(
            include_top=False, weights="imagenet" if weights == "imagenet" else None,
            input_tensor=inputs, pooling="avg",
        )
    except Exception as exc:  # network errors surface as many exception types
        raise WeightsUnavailableError(
            "Could not download ImageNet weights (this machine may have no internet access). "
            "Train from random initialisation (the default) or pass --weights PATH to a local "
            f"EfficientNetB0 no-top weights file. Cause: {exc}"
        ) from exc
    if use_file:
        backbone.load_weights(str(weights), skip_mismatch=True)
    if lite0:
        from fer_core.training.imagenet_init import Lite0Unavailable, init_from_lite0

        try:
            init_from_lite0(backbone, None if weights == "lite0" else weights)
        except (Lite0Unavailable, OSError) as exc:
            raise WeightsUnavailableError(str(exc)) from exc
    x = keras.layers.Dropout(dropout, name="head_dropout")(backbone.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name="fer_efficientnet_b0")
