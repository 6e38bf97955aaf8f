"""The VP8 encoder of the annotated video the live page sends back: aiortc's, with libvpx's temporal
denoiser off and its fastest real-time speed (``FASTER``).

aiortc tunes its encoder for a camera's noisy picture (``noise-sensitivity`` 4, ``cpu-used`` -6). The
live server encodes one annotated frame per analysed frame for every session, and on the 2-core
machine the encoder was a fifth of the server's CPU with eight sessions (README, live benchmark).
``install()`` makes aiortc's senders use ``LiveVp8Encoder``; the browsers' own encoders and the
bench's clients are untouched.
"""

from __future__ import annotations

from aiortc import rtcrtpsender
from aiortc.codecs import get_encoder as aiortc_encoder
from aiortc.codecs.vpx import Vp8Encoder

FASTER = {"noise-sensitivity": "0", "cpu-used": "-16"}


class _FasterOptions:
    """aiortc's libvpx codec context, with the options aiortc gives it changed by FASTER."""

    def __init__(self, context) -> None:
        object.__setattr__(self, "_context", context)

    def __getattr__(self, name: str):
        return getattr(self._context, name)

    def __setattr__(self, name: str, value) -> None:
        setattr(self._context, name, {**value, **FASTER} if name == "options" else value)


class LiveVp8Encoder(Vp8Encoder):
    """aiortc's VP8 encoder (bitrate, keyframes, packets as it does them), whose codec gets FASTER."""

    @property
    def codec(self):
        return self._codec

    @codec.setter
    def codec(self, context) -> None:
        self._codec = None if context is None else _FasterOptions(context)


def _encoder(codec):
    return LiveVp8Encoder() if codec.mimeType.lower() == "video/vp8" else aiortc_encoder(codec)


def install() -> None:
    """Make aiortc's senders created from now on encode VP8 with LiveVp8Encoder (idempotent)."""
    rtcrtpsender.get_encoder = _encoder
