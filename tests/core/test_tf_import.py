"""TensorFlow and LiteRT start quietly: no absl / oneDNN / CPU-instruction chatter in the user's terminal."""

from __future__ import annotations

import subprocess
import sys

import pytest

from fer_core.core.tf_import import STARTUP_NOISE

PROBE = """
import sys

import pytest
from fer_core.engine.classifier import Classifier
Classifier.from_dir(sys.argv[1])
print("python line before", file=sys.stderr, flush=True)
from fer_core.core.tf_import import keras, tensorflow
tensorflow(); keras()
print("python line after", file=sys.stderr, flush=True)
"""


def test_tensorflow_and_litert_start_without_log_noise(repo_root):
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", PROBE, str(repo_root / "models")], cwd=repo_root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    for noise in STARTUP_NOISE:
        assert noise not in out.stderr, out.stderr[-3000:]
    assert "absl" not in out.stderr and "I0000" not in out.stderr
    # other stderr output is kept, in order
    assert out.stderr.index("python line before") < out.stderr.index("python line after")


KERAS_PREDICT = """
import numpy as np
from fer_core.core.tf_import import keras
k = keras()
model = k.Sequential([k.Input((4,)), k.layers.Dense(2)])
print("predicted", model.predict(np.zeros((1, 4)), verbose=0).shape)
"""


def test_no_cuda_line_on_a_machine_without_a_gpu(repo_root):
    """The first device use (a Keras predict, as Grad-CAM's first run) asks CUDA for GPUs; without one,
    its "failed call to cuInit" ERROR line must not reach the user's terminal."""
    from fer_core.core.tf_import import has_nvidia_gpu

    if has_nvidia_gpu():
        pytest.skip("this machine has an NVIDIA GPU: a cuInit failure here would be real and is kept")
    env = {k: v for k, v in __import__("os").environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    out = subprocess.run([sys.executable, "-c", KERAS_PREDICT], cwd=repo_root, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "predicted (1, 2)" in out.stdout, out.stderr[-3000:]
    assert "cuInit" not in out.stderr and "CUDA error" not in out.stderr, out.stderr[-3000:]
