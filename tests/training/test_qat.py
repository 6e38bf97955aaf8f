"""qat: fake quantisation on the tf_keras copy, a short fine-tune, and an int8 file the classifier serves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_quantize_aware_model_trains_and_converts_to_int8(tmp_path):
    """The 8-bit squeeze-excite branch (its Multiply layers get an output-only scheme) end to end; the
    float branch only differs in leaving them alone (next test), so it is not trained again here."""
    from fer_core.core.tf_import import keras as _keras
    from fer_core.engine.classifier import Classifier
    from fer_core.training.network import build_model
    from fer_core.training.qat import quantize_aware, to_int8_tflite
    from fer_core.training.tf_keras_twin import fit_on_recipe, tf_keras_twin

    _keras().utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.uniform(0, 255, (16, 32, 32, 3)).astype(np.float32),
                           y_train=np.arange(16) % 7, targets=None)
    fake = quantize_aware(tf_keras_twin(build_model(32)), float_se=False)
    assert any("quant" in type(layer).__name__.lower() for layer in fake.layers)
    fit_on_recipe(fake, data, steps=2, lr=1e-4, batch_size=8, seed=0)
    path = tmp_path / "qat_int8.tflite"
    path.write_bytes(to_int8_tflite(fake, data.x_train[:8]))
    clf = Classifier.from_path(path)
    probs = clf.predict_preprocessed(data.x_train[:2])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=0.02)


def test_float_squeeze_excite_leaves_the_multiplies_unquantised():
    from fer_core.training.network import build_model
    from fer_core.training.qat import quantize_aware
    from fer_core.training.tf_keras_twin import tf_keras_twin

    twin = tf_keras_twin(build_model(32))
    fake = quantize_aware(twin, float_se=True)
    kinds = {type(layer).__name__ for layer in fake.layers}
    assert "Multiply" in kinds and "QuantizeWrapperV2" in kinds  # SE multiplies kept as they are, the rest wrapped
