"""The media relay of the live page's WebRTC streams: frames going back to the browser are the
newest analysed ones, each sent once, and never queue in front of the encoder.

streamlit-webrtc hands every track through aiortc's ``MediaRelay``, whose subscriptions queue every
frame without bound; its asynchronous processing also answers each camera frame with the last
analysed frame again. So when the encoder could not keep up (eight sessions on two cores), the
annotated video fell seconds behind, and the encoder spent its time on repeats. Here the track
that goes to the encoder yields only frames it has not seen, and only the newest of them; tracks
received from the browser are relayed whole, so the frame callback sees every frame and counts
those it drops (``fer_core.app.live_session``).

Before the relay, streamlit-webrtc's asynchronous processing sends an analysed frame only when the
next camera frame arrives, one frame for each camera frame, and when two analysed frames wait it
keeps the older. A frame that was ready waited up to a camera interval (50 ms at 20 fps), and where
camera frames reached the server in bursts (a loaded machine), analysed frames were thrown away: in
the live benchmark, in 12 of about 100 runs, the encoder of one session of eight got 12.7 of the
18.3 frames a second the server analysed for it. ``PromptResults`` sends each analysed frame as
soon as the frame callback returns it (the newest, when several wait); ``install()`` puts it in
streamlit-webrtc's place. streamlit-webrtc is handed in by the caller (the page, the benchmark): this
library has no Streamlit in it.
"""

from __future__ import annotations

import asyncio
from collections import deque

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpreceiver import RemoteStreamTrack


class NewestFrames(MediaStreamTrack):
    """A relayed track that skips repeats of the frame it gave last (the same object again)."""

    def __init__(self, proxy: MediaStreamTrack) -> None:
        super().__init__()
        self.kind = proxy.kind
        self._proxy = proxy
        self._last = None

    async def recv(self):
        while True:
            frame = await self._proxy.recv()
            if frame is not self._last:
                self._last = frame
                return frame

    def stop(self) -> None:
        super().stop()
        self._proxy.stop()


class NewestFrameRelay(MediaRelay):
    """``MediaRelay`` whose subscriptions to locally made tracks (the processed video) give the
    newest new frame only; subscriptions to received tracks keep every frame, in order."""

    def subscribe(self, track: MediaStreamTrack, buffered: bool = True) -> MediaStreamTrack:
        if isinstance(track, RemoteStreamTrack):
            return super().subscribe(track, buffered=buffered)
        return NewestFrames(super().subscribe(track, buffered=False))


class _Announced(deque):
    """The worker thread's queue of analysed frames, which wakes the track's reader on its event loop."""

    def __init__(self, wake) -> None:
        super().__init__()
        self._wake = wake

    def extend(self, frames) -> None:
        super().extend(frames)
        if self:
            self._wake()


class PromptResults:
    """Mixed into streamlit-webrtc's ``AsyncVideoProcessTrack`` (its worker thread runs the frame
    callback; this uses its queues and worker): camera frames go to the worker as they come, and each
    analysed frame is sent when it is ready."""

    _pump: asyncio.Future | None = None
    _last_in = None

    async def recv(self):
        if self._pump is None:
            self._start()
            loop, self._ready = asyncio.get_running_loop(), asyncio.Event()
            self._out_deque = _Announced(lambda: self._call(loop, self._ready.set))
            self._pump = asyncio.ensure_future(self._feed())
        while True:
            if self.readyState != "live":
                raise MediaStreamError
            with self._worker_exception_lock:
                if self._worker_exception:
                    raise self._worker_exception
            await self._ready.wait()
            self._ready.clear()
            with self._out_lock:
                frame = self._out_deque[-1] if self._out_deque else None
                self._out_deque.clear()
            if frame is not None:
                if frame.pts is None and self._last_in is not None:  # a callback that set no timestamp
                    frame.pts, frame.time_base = self._last_in.pts, self._last_in.time_base
                return frame

    async def _feed(self) -> None:
        """Every camera frame to the worker as it arrives."""
        try:
            while True:
                self._last_in = await self.track.recv()
                self._in_queue.put(self._last_in)
        except MediaStreamError:
            pass

    def _run_worker_thread(self) -> None:
        super()._run_worker_thread()
        self._wake_reader()  # the worker stopped or failed: a waiting recv says so

    def _wake_reader(self) -> None:
        if self._pump is not None:
            self._call(self._pump.get_loop(), self._ready.set)

    @staticmethod
    def _call(loop: asyncio.AbstractEventLoop, fn) -> None:
        try:
            loop.call_soon_threadsafe(fn)
        except RuntimeError:  # the loop closed: nobody is waiting
            pass

    def stop(self) -> None:
        if self._pump is not None:
            self._pump.cancel()
        super().stop()
        self._wake_reader()


def install(webrtc) -> None:
    """Make streamlit-webrtc (its ``webrtc`` module, which builds the processing tracks) build
    PromptResultTrack, streamlit-webrtc's track with PromptResults, from now on (idempotent)."""
    base = webrtc.AsyncVideoProcessTrack
    if not issubclass(base, PromptResults):
        webrtc.AsyncVideoProcessTrack = type("PromptResultTrack", (PromptResults, base), {})
