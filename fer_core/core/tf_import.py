"""The one place fer_core imports TensorFlow / Keras.

Importing TensorFlow before pylibsrtp (pulled in by aiortc / streamlit-webrtc) makes
pylibsrtp's init segfault the whole process; the other order is fine. Every TensorFlow
import in this project goes through here, so pylibsrtp, when installed, is always first.

TensorFlow's start-up chatter (absl's "All log messages before absl::InitializeLog()", the
oneDNN and CPU-instruction notices) looks alarming in a user's terminal and says nothing
actionable: TF_CPP_MIN_LOG_LEVEL=2 is set before the import, and the lines TensorFlow's C++
code writes to stderr while it loads and first looks for devices are held back and passed on
without that noise (on a machine without an NVIDIA GPU, CUDA's cuInit failure too).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import tempfile
import threading
from collections.abc import Iterator

from fer_core.core.long_lived import freeze_once

# Start-up lines of TensorFlow and LiteRT that are noise for a user (INFO level or harmless).
STARTUP_NOISE: tuple[str, ...] = (
    "absl::InitializeLog()",
    "oneDNN custom operations are on",
    "cpu_feature_guard.cc",
    "To enable the following instructions",
    "Created TensorFlow Lite XNNPACK delegate",
    "Could not find cuda drivers",  # the plain tensorflow wheel on a machine without a GPU
)
# TensorFlow asks the CUDA driver for GPUs the first time it uses a device (not at import): on a
# machine without an NVIDIA GPU but with CUDA libraries installed it writes an ERROR line,
# "failed call to cuInit: ... (303)", which means nothing there. Kept on a machine with a GPU,
# where it means the driver is broken.
NO_GPU_NOISE: tuple[str, ...] = ("failed call to cuInit",)
_quiet_lock = threading.Lock()


def has_nvidia_gpu() -> bool:
    """An NVIDIA GPU device node exists (Linux: /dev/nvidia0, ...; other systems: assume one may)."""
    if not sys.platform.startswith("linux"):
        return True
    return any(name.startswith("nvidia") and name[6:].isdigit() for name in _dev_names())


def _dev_names() -> list[str]:
    try:
        return os.listdir("/dev")
    except OSError:
        return []


def _srtp_first() -> None:
    if importlib.util.find_spec("pylibsrtp") is not None:
        import pylibsrtp  # noqa: F401


@contextlib.contextmanager
def quiet_native_logs(noise: tuple[str, ...] = STARTUP_NOISE) -> Iterator[None]:
    """Capture what is written to file descriptor 2 (C++ logging included) inside the block, then
    write it back without the lines containing ``noise``. Another thread's stderr output in the
    meantime is delayed, not lost; nested or concurrent uses leave stderr alone."""
    if not _quiet_lock.acquire(blocking=False):
        yield
        return
    try:
        try:
            sys.stderr.flush()
            saved = os.dup(2)
        except (OSError, ValueError):  # no usable stderr: nothing to quieten
            yield
            return
        with tempfile.TemporaryFile() as held:
            os.dup2(held.fileno(), 2)
            try:
                yield
            finally:
                with contextlib.suppress(OSError, ValueError):
                    sys.stderr.flush()
                os.dup2(saved, 2)
                os.close(saved)
                held.seek(0)
                kept = [line for line in held.read().decode(errors="replace").splitlines(keepends=True)
                        if not any(n in line for n in noise)]
                if kept:
                    os.write(2, "".join(kept).encode())
    finally:
        _quiet_lock.release()


def _import_quietly(name: str):
    """Import ``name`` (tensorflow or keras) with its C++ start-up noise held back."""
    _srtp_first()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # C++ INFO and WARNING after start-up
    if name in sys.modules:  # loaded (or loading in another thread: import_module waits for it)
        return importlib.import_module(name)
    noise = STARTUP_NOISE if has_nvidia_gpu() else STARTUP_NOISE + NO_GPU_NOISE
    with quiet_native_logs(noise):
        module = importlib.import_module(name)
        tf = sys.modules.get("tensorflow")
        if tf is not None:  # the first device use asks CUDA for GPUs: do it now, while noise is held back
            tf.config.list_physical_devices()
    with contextlib.suppress(ImportError):  # Python-side absl warnings ("WARNING:absl:...")
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    freeze_once("tensorflow")  # its objects live as long as the process (fer_core.core.long_lived)
    return module


def tensorflow():
    return _import_quietly("tensorflow")


def keras():
    return _import_quietly("keras")
