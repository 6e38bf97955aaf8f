"""The live page's media path under load: a camera faster than the analysis and an encoder slower than
the camera, wired as streamlit-webrtc wires them (received track -> relay -> asynchronous processing
with the page's queued-frames callback -> relay -> encoder). The analysis sees only the newest
frames and counts the rest, and the encoder gets each analysed frame once, when it is ready, never a
backlog."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
from aiortc.rtcrtpreceiver import RemoteStreamTrack
from streamlit_webrtc.models import CallbackAttachableProcessor
from streamlit_webrtc.process import AsyncVideoProcessTrack

from fer_core.analysis.live import LiveSettings
from fer_core.app import frame_relay
from fer_core.app.frame_relay import NewestFrameRelay, PromptResults
from fer_core.app.live_session import LiveSession


def _prompt_track():
    """streamlit-webrtc's track as install() makes it for the page."""
    module = SimpleNamespace(AsyncVideoProcessTrack=AsyncVideoProcessTrack)
    frame_relay.install(module)
    return module.AsyncVideoProcessTrack


def numbered(n: int) -> av.VideoFrame:
    """Frame ``n`` (< 1024) as two levels 8 apart, which survive the encoder's yuv420p (a level or two)."""
    frame = av.VideoFrame.from_ndarray(np.full((16, 16, 3), (n // 32 * 8 + 4, n % 32 * 8 + 4, 0), np.uint8),
                                       format="rgb24")
    frame.pts, frame.time_base = n, Fraction(1, 200)
    return frame


def number_of(rgb: np.ndarray) -> int:
    return int(rgb[0, 0, 0]) // 8 * 32 + int(rgb[0, 0, 1]) // 8


class SlowProcessor:
    """Stands in for LiveProcessor: ``work_s`` a frame, noting which frame it got and how many were
    skipped; its output is marked (blue), unlike the camera frames streamlit-webrtc's own track sends back
    before the first analysed one."""

    settings = LiveSettings()

    def __init__(self, camera: list[int], work_s: float = 0.04) -> None:
        self.camera, self.seen, self.behind, self.skipped, self.work_s = camera, [], [], 0, work_s

    def process(self, rgb, skipped=0):
        self.seen.append(number_of(rgb))
        self.behind.append(self.camera[0] - self.seen[-1])  # frames sent after this one, so far
        self.skipped += skipped
        time.sleep(self.work_s)
        out = rgb.copy()
        out[..., 2] = 255
        return out

    def reset(self) -> None:
        pass

    def add_cpu_ms(self, stage: str, ms: float) -> None:  # the profile's conversion timings: not looked at here
        pass


async def play(seconds: float = 1.5, track=None, camera_s: float = 0.005, work_s: float = 0.04,
               encoder_s: float = 0.06):
    """A camera sending a frame every ``camera_s``, analysis taking ``work_s`` and an encoder ``encoder_s``
    a frame; returns the frames sent, the processor, and (frame, analysed?, seconds after it was sent)
    for each frame the encoder got."""
    track = track or _prompt_track()
    camera, sent_at = [0], {}
    processor = SlowProcessor(camera, work_s)
    live = LiveSession(processor)
    relay = NewestFrameRelay()
    received = RemoteStreamTrack(kind="video")  # what aiortc's decoder fills

    async def send() -> None:
        while True:
            camera[0] += 1
            sent_at[camera[0]] = time.monotonic()
            await received._queue.put(numbered(camera[0]))
            await asyncio.sleep(camera_s)

    analysed = track(relay.subscribe(received), CallbackAttachableProcessor(
        frame_callback=None, queued_frames_callback=live.on_frames, ended_callback=None))
    to_encoder = relay.subscribe(analysed)
    sender = asyncio.ensure_future(send())
    encoded = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        frame = await asyncio.wait_for(to_encoder.recv(), 2)
        rgb = frame.to_ndarray(format="rgb24")
        n = number_of(rgb)
        encoded.append((n, bool(rgb[0, 0, 2] > 200), time.monotonic() - sent_at[n]))
        await asyncio.sleep(encoder_s)
    sender.cancel()
    to_encoder.stop()
    analysed.stop()
    return camera[0], processor, encoded


def test_slow_analysis_sees_only_the_newest_frames_and_the_encoder_no_backlog():
    sent, processor, encoded = asyncio.run(play())
    seen = processor.seen
    assert sent > 150 and 10 <= len(seen) <= 45  # 40 ms a frame: far fewer analysed than sent
    assert seen == sorted(seen) and len(set(seen)) == len(seen)
    assert max(processor.behind[1:]) <= 3  # each analysed frame was the newest (a few ms of frames)
    assert processor.skipped >= sent - len(seen) - 20  # the others were counted as dropped
    real = [n for n, analysed, _ in encoded if analysed]
    assert real and real == sorted(real) and len(set(real)) == len(real)  # each analysed frame encoded once
    assert set(real) <= set(seen) and len(real) <= len(seen)


def test_an_analysed_frame_goes_to_the_encoder_when_ready_not_at_the_next_camera_frame():
    """A 10 fps camera and 10 ms of analysis: each frame's analysed copy reaches the encoder about
    10 ms after it was sent; streamlit-webrtc's own track sends it with the next camera frame, 100 ms on."""
    def delays(track):
        _, processor, encoded = asyncio.run(play(1.2, track, camera_s=0.1, work_s=0.01, encoder_s=0.0))
        return [d for _, analysed, d in encoded if analysed], processor

    prompt, processor = delays(_prompt_track())
    assert len(prompt) >= 8 and len(prompt) >= len(processor.seen) - 1  # every analysed frame went out
    assert np.median(prompt) < 0.05
    assert np.median(delays(AsyncVideoProcessTrack)[0]) > 0.08


def test_install_makes_streamlit_webrtc_build_the_prompt_track_once():
    module = SimpleNamespace(AsyncVideoProcessTrack=AsyncVideoProcessTrack)
    frame_relay.install(module)
    built = module.AsyncVideoProcessTrack
    frame_relay.install(module)
    assert module.AsyncVideoProcessTrack is built and built.__mro__[1:3] == (PromptResults, AsyncVideoProcessTrack)
