"""The annotated video's VP8 encoder (fer_core.app.annotated_encoder): aiortc's, with faster libvpx
options, giving the browser the same picture at the same bitrate."""

from __future__ import annotations

from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
from aiortc import rtcrtpsender
from aiortc.codecs import get_encoder
from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

from fer_core.app import annotated_encoder
from fer_core.app.annotated_encoder import FASTER, LiveVp8Encoder
from fer_core.app.live_session import encoder_frame
from fer_core.bench import live as live_bench


def test_the_options_aiortc_sets_get_the_faster_ones():
    context = SimpleNamespace()
    encoder = LiveVp8Encoder()
    encoder.codec = context
    encoder.codec.width = 320
    encoder.codec.options = {"deadline": "realtime", "cpu-used": "-6", "noise-sensitivity": "4"}
    assert context.width == 320 and context.options == {"deadline": "realtime", **FASTER}
    encoder.codec = None
    assert encoder.codec is None


def _stream(encoder, frames):
    """(bytes a frame, mean PSNR against the input) of ``frames`` through ``encoder`` and a decoder."""
    decoder, size, psnr = av.CodecContext.create("libvpx", "r"), 0, []
    for i, rgb in enumerate(frames):
        frame = encoder_frame(rgb)
        frame.pts, frame.time_base = i * 4500, Fraction(1, 90000)
        payloads, _ = encoder.encode(frame)
        data = b"".join(vp8_depayload(p) for p in payloads)
        size += len(data)
        for out in decoder.decode(av.Packet(data)):
            err = np.mean((out.to_ndarray(format="rgb24").astype(np.float64) - rgb) ** 2)
            psnr.append(10 * np.log10(255 ** 2 / err))
    assert len(psnr) == len(frames)  # every frame decoded
    return size / len(frames), float(np.mean(psnr[5:]))


def test_the_browser_gets_the_same_picture_at_the_same_bitrate():
    rng = np.random.default_rng(0)
    frames = []
    for k, rgb in enumerate(live_bench.test_frames(40, 320, 240) * 2):
        rgb = rgb.copy()
        live_bench.draw_counter(rgb, k)
        frames.append(np.clip(rgb + rng.normal(0, 2, rgb.shape), 0, 255).astype(np.uint8))  # sensor noise
    aiortc_size, aiortc_psnr = _stream(Vp8Encoder(), frames)
    size, psnr = _stream(LiveVp8Encoder(), frames)
    assert abs(size - aiortc_size) < 0.1 * aiortc_size
    assert psnr > aiortc_psnr - 0.5 and psnr > 30  # measured 39.3 against 39.0 dB


def test_install_gives_senders_the_live_encoder_for_vp8_only(monkeypatch):
    monkeypatch.setattr(rtcrtpsender, "get_encoder", get_encoder)
    annotated_encoder.install()
    vp8 = SimpleNamespace(mimeType="video/VP8", clockRate=90000, channels=None, parameters={})
    opus = SimpleNamespace(mimeType="audio/opus", clockRate=48000, channels=2, parameters={})
    assert isinstance(rtcrtpsender.get_encoder(vp8), LiveVp8Encoder)
    assert type(rtcrtpsender.get_encoder(opus)).__name__ == "OpusEncoder"
