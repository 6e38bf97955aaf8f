"""The media relay of the live page's WebRTC streams: frames going back to the browser are the
newest analysed ones, each sent once, and never queue in front of the encoder.

streamlit-webrtc hands every track through aiortc's ``MediaRelay``, whose subscriptions queue every
frame without bound; its asynchronous processing also answers each camera frame with the last
analysed frame again. So when the encoder could not keep up (eight sessions on two cores), the
annotated video fell seconds behind, and the encoder spent its time on repeats. Here the track
that goes to the encoder yields only frames it has not seen, and only the newest of them; tracks
received from the browser are relayed whole, so the frame callback sees every frame and counts
those it drops (``fer_core.app.live_session``).
"""

from __future__ import annotations

from aiortc import MediaStreamTrack
from aiortc.contrib.media import MediaRelay
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
