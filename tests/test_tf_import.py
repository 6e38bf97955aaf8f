"""TensorFlow and LiteRT start quietly: no absl / oneDNN / CPU-instruction chatter in the user's terminal."""

from __future__ import annotations

import subprocess
import sys

from fer_core.tf_import import STARTUP_NOISE

PROBE = """
import sys
from fer_core.classifier import Classifier
Classifier.from_dir(sys.argv[1])
print("python line before", file=sys.stderr, flush=True)
from fer_core.tf_import import keras, tensorflow
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
