"""prune: pruning reaches its sparsity, and the pruned weights come back into the Keras 3 model unchanged."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("tensorflow_model_optimization")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def model():
    from fer_core.core.tf_import import keras as _keras
    from fer_core.training.network import build_model

    _keras().utils.set_random_seed(0)
    return build_model(32)


def test_pruning_reaches_its_sparsity_and_comes_back_into_the_model(model):
    from fer_core.training.prune import back_into, fine_tune, sparsity_of
    from fer_core.training.tf_keras_twin import tf_keras_twin

    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.uniform(0, 255, (32, 32, 32, 3)).astype(np.float32),
                           y_train=np.arange(32) % 7, targets=None)
    assert sparsity_of(model) < 0.01
    tuned = fine_tune(tf_keras_twin(model), data, sparsity=0.5, steps=4, lr=1e-4, batch_size=8, seed=0)
    pruned = back_into(model, tuned)
    assert 0.45 <= sparsity_of(pruned) <= 0.55
    x = data.x_train[:4]
    np.testing.assert_allclose(pruned.predict(x, verbose=0), tuned.predict(x, verbose=0), atol=1e-5)
    assert sparsity_of(model) < 0.01  # the model given is never changed
