"""tf_keras_twin: the tf_keras copy computes what the Keras 3 model does, and only B0 has one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("tf_keras")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_the_copy_holds_the_models_weights_and_outputs():
    from fer_core.core.tf_import import keras as _keras
    from fer_core.training.network import build_model
    from fer_core.training.tf_keras_twin import tf_keras_twin

    _keras().utils.set_random_seed(0)
    model = build_model(32, 8)
    twin = tf_keras_twin(model)
    assert twin.output_shape == (None, 8) and len(twin.layers) == len(model.layers)
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(twin.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


def test_only_efficientnet_b0_has_a_copy():
    from fer_core.training.network import build_model
    from fer_core.training.tf_keras_twin import tf_keras_twin

    with pytest.raises(ValueError, match="EfficientNet-B0"):
        tf_keras_twin(build_model(32, arch="cnn"))


@pytest.mark.parametrize("command", ["fer_core.training.prune", "fer_core.training.qat"])
def test_the_commands_start_in_a_fresh_process_and_name_bad_data(tmp_path, command, repo_root):
    """A process of its own, as a user runs it: tensorflow-model-optimization imports TensorFlow, which
    must come after fer_core.core.tf_import's set-up (else the process dies without a word)."""
    import subprocess
    import sys

    model = repo_root / "models" / "model.keras"
    out = subprocess.run([sys.executable, "-m", command, "--model", str(model), "--out", str(tmp_path / "run"),
                          "--ferplus", str(tmp_path / "no-such-data")], cwd=repo_root, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    assert "error:" in out.stderr and "no-such-data" in out.stderr
