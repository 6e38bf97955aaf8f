"""The emotion classifier: Keras EfficientNet-B0 backbone with a dropout + softmax head."""

from __future__ import annotations

import os

from fer_core.labels import CLASSES

DEFAULT_INPUT_SIZE = 64


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but could not be obtained."""


def build_model(input_size: int = DEFAULT_INPUT_SIZE, num_classes: int = len(CLASSES),
                dropout: float = 0.3, weights: str | None = None):
    """EfficientNet-B0 built flat (one functional graph) so Grad-CAM can reach any block by name.

    ``weights``: None (random init, the default), a path to an EfficientNet-B0 no-top weights
    file, or "imagenet" (downloads from the internet, which may be unreachable).
    """
    from fer_core.tf_import import keras as _keras

    keras = _keras()
    inputs = keras.Input((input_size, input_size, 3), name="face")
    use_file = weights not in (None, "none", "imagenet")
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
    x = keras.layers.Dropout(dropout, name="head_dropout")(backbone.output)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name="fer_efficientnet_b0")
