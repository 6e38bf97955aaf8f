"""qat: fake quantisation on the tf_keras copy, a short fine-tune, and an int8 file the classifier serves."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.mark.parametrize("float_se", [True, False])
def test_quantize_aware_model_trains_and_converts_to_int8(tmp_path, float_se):
    from fer_core.core.tf_import import keras as _keras
    from fer_core.engine.classifier import Classifier
    from fer_core.training.network import build_model
    from fer_core.training.qat import quantize_aware, to_int8_tflite
    from fer_core.training.tf_keras_twin import fit_on_recipe, tf_keras_twin

    _keras().utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.uniform(0, 255, (16, 32, 32, 3)).astype(np.float32),
                           y_train=np.arange(16) % 7, targets=None)
    fake = quantize_aware(tf_keras_twin(build_model(32)), float_se)
    assert any("quant" in type(layer).__name__.lower() for layer in fake.layers)
    fit_on_recipe(fake, data, steps=2, lr=1e-4, batch_size=8, seed=0)
    path = tmp_path / "qat_int8.tflite"
    path.write_bytes(to_int8_tflite(fake, data.x_train[:8]))
    clf = Classifier.from_path(path)
    probs = clf.predict_preprocessed(data.x_train[:2])
    assert probs.shape == (2, 7) and np.allclose(probs.sum(1), 1, atol=0.02)
