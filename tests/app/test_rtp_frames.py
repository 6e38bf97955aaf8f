"""Video frames are assembled at their marked last RTP packet (fer_core.app.rtp_frames)."""

from __future__ import annotations

from aiortc import rtcrtpreceiver
from aiortc.jitterbuffer import JitterBuffer
from aiortc.rtp import RtpPacket

from fer_core.app import rtp_frames
from fer_core.app.rtp_frames import MarkerJitterBuffer


def _packet(seq: int, timestamp: int, data: bytes, marker: bool = False) -> RtpPacket:
    packet = RtpPacket(payload_type=96, marker=int(marker), sequence_number=seq, timestamp=timestamp)
    packet._data = data  # what the receiver sets after depayloading
    return packet


def _frames(buffer: JitterBuffer, packets: list[RtpPacket]) -> list[tuple[int, bytes, int]]:
    """(index of the packet that completed it, data, timestamp) of each frame the buffer gave."""
    out = []
    for k, packet in enumerate(packets):
        frame = buffer.add(packet)[1]
        if frame is not None:
            out.append((k, frame.data, frame.timestamp))
    return out


STREAM = [_packet(1, 3000, b"a1"), _packet(2, 3000, b"a2", marker=True),
          _packet(3, 6000, b"b1", marker=True), _packet(4, 9000, b"c1")]


def test_a_marked_frame_is_complete_at_its_last_packet_where_aiortc_waits_for_the_next():
    ours = _frames(MarkerJitterBuffer(capacity=512, is_video=True), STREAM)
    aiortc = _frames(JitterBuffer(capacity=512, is_video=True), STREAM)
    assert ours == [(1, b"a1a2", 3000), (2, b"b1", 6000)]
    assert aiortc == [(2, b"a1a2", 3000), (3, b"b1", 6000)]  # each one packet (a frame interval) later


def test_a_frame_whose_marker_was_lost_ends_at_the_next_frame_and_a_gap_waits():
    unmarked = [_packet(1, 3000, b"a1"), _packet(2, 3000, b"a2"), _packet(3, 6000, b"b1", marker=True)]
    assert _frames(MarkerJitterBuffer(capacity=512, is_video=True), unmarked) == [(2, b"a1a2", 3000)]
    buffer = MarkerJitterBuffer(capacity=512, is_video=True)
    gap = [_packet(1, 3000, b"a1"), _packet(3, 3000, b"a3", marker=True), _packet(2, 3000, b"a2")]
    assert _frames(buffer, gap) == [(2, b"a1a2a3", 3000)]  # only once the missing packet came


def test_audio_keeps_aiortcs_prefetch():
    packets = [_packet(k, 960 * k, bytes([k]), marker=True) for k in range(1, 8)]
    assert (_frames(MarkerJitterBuffer(capacity=16, prefetch=4), packets)
            == _frames(JitterBuffer(capacity=16, prefetch=4), packets))


def test_install_makes_new_receivers_use_it(monkeypatch):
    monkeypatch.setattr(rtcrtpreceiver, "JitterBuffer", JitterBuffer)
    rtp_frames.install()
    assert rtcrtpreceiver.JitterBuffer is MarkerJitterBuffer
