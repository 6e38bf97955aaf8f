"""Tiny real models with known behaviour for the engine tests (built once per test process).

The "brightness" model averages the face and scores it: dark faces -> sad, bright -> happy,
mid-grey -> neutral. Exported as Keras, float TFLite and fully int8 TFLite, so the classifier
can be checked against exact expectations without the shipped (possibly placeholder) model.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np

from fer_core.core.labels import CLASSES

SIZE = 32


def _brightness_model():
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    inp = keras.Input((SIZE, SIZE, 3), name="face")
    x = keras.layers.Rescaling(1.0 / 255.0)(inp)
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv", kernel_initializer="ones",
                            bias_initializer="zeros", activation=None)(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(CLASSES), activation="softmax", name="emotion")(x)
    model = keras.Model(inp, out)
    # conv output = 27 * mean brightness per channel (all 4 equal); dense sees m' = mean in 0..1
    w = np.zeros((4, len(CLASSES)), np.float32)
    b = np.full(len(CLASSES), -6.0, np.float32)
    k_sad, k_happy, k_neu = CLASSES.index("sad"), CLASSES.index("happy"), CLASSES.index("neutral")
    scale = 1.0 / (27.0 * 4.0)
    w[:, k_happy], b[k_happy] = 12.0 * scale, -6.0
    w[:, k_sad], b[k_sad] = -12.0 * scale, 6.0
    w[:, k_neu], b[k_neu] = 0.0, 2.0
    model.get_layer("emotion").set_weights([w, b])
    return model


@functools.lru_cache(maxsize=1)
def tiny_models() -> dict[str, Path]:
    """Paths of the brightness model as .keras, float .tflite and int8 .tflite."""
    from fer_core.core.tf_import import tensorflow

    tf = tensorflow()
    d = Path(tempfile.mkdtemp(prefix="fer-engine-models-"))
    model = _brightness_model()
    model.save(d / "tiny.keras")
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    (d / "tiny.tflite").write_bytes(conv.convert())
    rng = np.random.default_rng(0)

    def rep():
        for _ in range(32):
            yield [np.full((1, SIZE, SIZE, 3), rng.uniform(0, 255), np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = rep
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    (d / "tiny_int8.tflite").write_bytes(conv.convert())
    return {"keras": d / "tiny.keras", "float": d / "tiny.tflite", "int8": d / "tiny_int8.tflite", "dir": d}


def expected_label(gray_level: float) -> str:
    """What the brightness model says for a uniform face of this grey level (0..255)."""
    m = gray_level / 255.0
    logits = {"happy": 12 * m - 6, "sad": -12 * m + 6, "neutral": 2.0}
    return max(logits, key=logits.get)
