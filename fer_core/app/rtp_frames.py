"""Received video frames are complete at their last RTP packet, not one frame interval later.

aiortc's jitter buffer hands a video frame to the decoder only when the first packet of the *next*
frame arrives, so every received frame waits one camera interval: 67 ms at 15 fps, 125 ms at 8 fps on
the way into the server (and, in the live benchmark, whose clients are aiortc too, the same again on
the way back at the rate the server sends). A sender marks a video frame's last packet (the RTP marker
bit: RFC 3551, RFC 7741 for VP8; aiortc and browsers set it), which is what browsers assemble on.
``install()`` makes aiortc's receivers do so too; a frame whose marker was lost still ends at the next
frame's first packet, as before.
"""

from __future__ import annotations

from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer, JitterFrame


class MarkerJitterBuffer(JitterBuffer):
    """aiortc's jitter buffer, with a video frame complete at its marked last packet."""

    def _remove_frame(self, sequence_number: int) -> JitterFrame | None:
        if not self._is_video or self._prefetch:
            return super()._remove_frame(sequence_number)
        packets = []
        for count in range(self.capacity):
            packet = self._packets[(self._origin + count) % self._capacity]
            if packet is None:  # a gap: wait for it (or for aiortc to give up on it)
                return None
            if packets and packet.timestamp != packets[0].timestamp:  # the last one had no marker
                return super()._remove_frame(sequence_number)
            packets.append(packet)
            if packet.marker:
                self.remove(count + 1)
                return JitterFrame(data=b"".join(p._data for p in packets), timestamp=packet.timestamp)
        return None


def install() -> None:
    """Make every aiortc receiver created from now on use MarkerJitterBuffer (idempotent)."""
    rtcrtpreceiver.JitterBuffer = MarkerJitterBuffer
