"""The one place fer_core imports TensorFlow / Keras.

Importing TensorFlow before pylibsrtp (pulled in by aiortc / streamlit-webrtc) makes
pylibsrtp's init segfault the whole process; the other order is fine. Every TensorFlow
import in this project goes through here, so pylibsrtp, when installed, is always first.
"""

from __future__ import annotations

import importlib.util


def _srtp_first() -> None:
    if importlib.util.find_spec("pylibsrtp") is not None:
        import pylibsrtp  # noqa: F401


def tensorflow():
    _srtp_first()
    import tensorflow as tf

    return tf


def keras():
    _srtp_first()
    import keras as k

    return k
