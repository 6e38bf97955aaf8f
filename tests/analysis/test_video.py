"""Video analysis: a round trip through a clip written with av, sampling, progress, limits and bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from factories import CrowdDetector

from fer_core.engine.analyzer import FaceAnalyzer
from fer_core.engine.classifier import Classifier
from fer_core.engine.faces import REGISTRY, HaarDetector
from fer_core.core.labels import CLASSES
from fer_core.core.records import RECORD_COLUMNS
from fer_core.core.results import FaceBox
from fer_core.bench.scenes import drawn_face, paste_faces, write_test_clip
from fer_core.core.limits import VideoLimits
from fer_core.analysis.video import VideoError, analyze_video, probe_video

FPS = 30


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer(Classifier.from_dir(), HaarDetector(**REGISTRY["haar"].settings["video"]))


def _frames(n: int, w: int = 320, h: int = 240, size: int = 100) -> list[np.ndarray]:
    """A face drifting right by 2 px per frame."""
    base, _ = paste_faces([drawn_face(120)], w, h, size, positions=[((h - size) // 3, (h - size) // 2)])
    return [cv2.warpAffine(base, np.float32([[1, 0, 2 * i], [0, 1, 0]]), (w, h), borderMode=cv2.BORDER_REPLICATE)
            for i in range(n)]


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_test_clip(tmp_path_factory.mktemp("vid") / "clip.mp4", _frames(45), fps=FPS)


def _decode_all(path: Path) -> tuple[list[np.ndarray], av.video.stream.VideoStream]:
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        info = (st.codec_context.name, st.codec_context.pix_fmt, st.codec_context.width, st.codec_context.height)
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(st)]
    return frames, info


@pytest.mark.slow
def test_round_trip_every_frame(analyzer, clip, tmp_path):
    seen = []
    out = tmp_path / "annotated.mp4"
    res = analyze_video(clip, analyzer, progress=lambda f, msg: seen.append((f, msg)), annotated_out=out)
    assert res.n_frames == 45 and res.n_analyzed == 45
    assert res.fps == pytest.approx(FPS, rel=1e-3)
    assert res.duration_s == pytest.approx(45 / FPS, abs=0.01)
    assert (res.width, res.height) == (320, 240)
    # one face found on (almost) every frame, one stable id, timestamps at the frame times
    frames = sorted({r["frame"] for r in res.records})
    assert len(frames) >= 43
    assert {r["face_id"] for r in res.records} == {1}
    for r in res.records:
        assert tuple(r) == RECORD_COLUMNS
        assert r["t"] == pytest.approx(r["frame"] / FPS, abs=1e-3)
        assert abs(sum(r[c] for c in CLASSES) - 1) < 1e-3
    xs = [r["x"] for r in sorted(res.records, key=lambda r: r["frame"])]
    assert xs[-1] - xs[0] > 60  # the box followed the face
    # progress: increasing, ending at 1.0
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    assert seen[-1][1] == "Done: analysed 45 of 45 frames"
    assert res.n_tracks == 1 and res.most_faces_in_a_frame == 1
    # annotated output: decodable H.264 in yuv420p with every frame, boxes drawn on it
    decoded, (codec, pix, w, h) = _decode_all(out)
    assert (codec, pix, w, h) == ("h264", "yuv420p", 320, 240)
    assert len(decoded) == 45
    assert res.annotated_path == out
    # summary
    s = res.summary
    assert s["n_faces"] == 1 and s["dominant"] in CLASSES
    assert abs(sum(s["shares"].values()) - 1) < 1e-3
    assert s["overall_label"] in CLASSES and s["segments"]
    assert res.to_csv().splitlines()[0].split(",")[:3] == ["t", "frame", "face_id"]


@pytest.mark.slow
def test_sampling_rate(analyzer, clip):
    seen = []
    res = analyze_video(clip, analyzer, sample_fps=10, progress=lambda f, msg: seen.append(msg))
    assert res.n_frames == 45
    assert res.n_analyzed == 15
    # 'analysed' means the same in the progress bar and the result: frames the model looked at
    assert seen[-2] == "Analysed 15 frames (read 45 of 45, 1.5 s of video)" and seen[-1].startswith("Done: analysed 15")
    analysed = sorted({r["frame"] for r in res.records})
    assert all(b - a == 3 for a, b in zip(analysed, analysed[1:]))
    assert res.annotated_path is None


@pytest.mark.slow
@pytest.mark.parametrize("suffix,codec", [(".webm", "libvpx-vp9"), (".avi", "mpeg4"), (".mkv", "libx264"),
                                          (".mov", "libx264")])
def test_other_containers(analyzer, tmp_path, suffix, codec):
    p = write_test_clip(tmp_path / f"c{suffix}", _frames(12), fps=FPS, codec=codec)
    res = analyze_video(p, analyzer)
    assert res.n_frames == 12 and len(res.records) >= 10


@pytest.mark.slow
def test_odd_size_source_gives_even_annotated_video(analyzer, tmp_path):
    src = tmp_path / "odd.mkv"
    frames = _frames(6, 161, 121, size=90)
    with av.open(str(src), "w", format="matroska") as out:
        st = out.add_stream("ffv1", rate=FPS)
        st.width, st.height, st.pix_fmt = 161, 121, "yuv444p"
        for i, f in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(f, format="rgb24")
            vf.pts = i
            for pkt in st.encode(vf):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    res = analyze_video(src, analyzer, annotated_out=tmp_path / "o.mp4")
    assert (res.width, res.height) == (161, 121)
    decoded, (_, pix, w, h) = _decode_all(tmp_path / "o.mp4")
    assert (w % 2, h % 2) == (0, 0) and pix == "yuv420p" and len(decoded) == 6


def test_limits(analyzer, clip):
    with pytest.raises(VideoError, match="limit"):
        analyze_video(clip, analyzer, limits=VideoLimits(max_duration_s=1.0))
    with pytest.raises(VideoError, match="long side"):
        analyze_video(clip, analyzer, limits=VideoLimits(max_side=200))
    with pytest.raises(VideoError, match="frames"):
        analyze_video(clip, analyzer, limits=VideoLimits(max_frames=20))
    with pytest.raises(VideoError, match="MB"):
        analyze_video(clip, analyzer, limits=VideoLimits(max_bytes=100))
    info = probe_video(clip)
    assert (info.width, info.height, info.n_frames) == (320, 240, 45)


def test_empty_and_missing_files(analyzer, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(VideoError, match="empty"):
        analyze_video(empty, analyzer)
    with pytest.raises(VideoError, match="does not exist"):
        analyze_video(tmp_path / "missing.mp4", analyzer)


@pytest.mark.parametrize("content", [b"this is a text file, not a video\n" * 50, bytes(range(256)) * 64])
def test_non_video_with_video_extension(analyzer, tmp_path, content):
    p = tmp_path / "fake.mp4"
    p.write_bytes(content)
    with pytest.raises(VideoError, match="could not be read as a video") as exc:
        analyze_video(p, analyzer)
    assert str(tmp_path) not in str(exc.value)  # no server paths in user-facing messages


def test_truncated_file(analyzer, clip, tmp_path):
    data = clip.read_bytes()
    p = tmp_path / "cut.mp4"
    p.write_bytes(data[: len(data) // 2])  # the index (moov) is at the end: lost
    with pytest.raises(VideoError) as exc:
        analyze_video(p, analyzer)
    assert "damaged or truncated" in str(exc.value)


def test_audio_only_file(analyzer, tmp_path):
    p = tmp_path / "sound.mp4"
    with av.open(str(p), "w", format="mp4") as out:
        st = out.add_stream("aac", rate=44100)
        st.layout = "mono"
        for i in range(20):
            fr = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            fr.sample_rate = 44100
            fr.pts = i * 1024
            fr.time_base = Fraction(1, 44100)
            for pkt in st.encode(fr):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    with pytest.raises(VideoError, match="no video stream"):
        analyze_video(p, analyzer)


def _decoded_times(path: Path) -> list[float]:
    with av.open(str(path)) as c:
        return [float(f.time) for f in c.decode(video=0)]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv"])
def test_variable_frame_rate_keeps_real_time(analyzer, tmp_path, suffix):
    """20 frames spanning 100 s became a 0.7 s annotated video (written at a constant 30 fps)."""
    times = [i * 100 / 19 for i in range(20)]
    clip = write_test_clip(tmp_path / f"vfr{suffix}", _frames(20), times=times)
    res = analyze_video(clip, analyzer, sample_fps=10, annotated_out=tmp_path / "out.mp4")
    assert res.n_frames == res.n_analyzed == 20
    assert res.duration_s == pytest.approx(100.0, abs=0.1)
    assert {r["frame"]: r["t"] for r in res.records}[19] == pytest.approx(100.0, abs=0.01)
    assert res.timeline().duration_s == pytest.approx(100.0, abs=0.1)
    shown = _decoded_times(tmp_path / "out.mp4")
    assert len(shown) == 20 and shown[-1] - shown[0] == pytest.approx(100.0, abs=0.1)


def test_only_analysed_frames_are_converted_and_encoded(analyzer, tmp_path):
    """A 60 fps clip analysed 10 times a second: every frame used to be converted, drawn and re-encoded."""
    clip = write_test_clip(tmp_path / "sixty.mp4", _frames(120, 160, 120, size=60), fps=60)
    res = analyze_video(clip, analyzer, sample_fps=10, annotated_out=tmp_path / "out.mp4")
    assert (res.n_frames, res.n_analyzed) == (120, 20)
    shown = _decoded_times(tmp_path / "out.mp4")
    assert len(shown) == 20
    assert shown[-1] == pytest.approx(1.9, abs=0.02) and res.duration_s == pytest.approx(2.0, abs=0.02)


def _mjpeg_avi(path: Path, sizes: list[tuple[int, int]]) -> Path:
    """Motion JPEG whose header says the first frame's size; later frames may be any size."""
    import io

    from PIL import Image

    with av.open(str(path), "w", format="avi") as out:
        st = out.add_stream("mjpeg", rate=10)
        st.width, st.height, st.pix_fmt = *sizes[0], "yuvj420p"
        for i, (w, h) in enumerate(sizes):
            buf = io.BytesIO()
            Image.new("RGB", (w, h), (120, 120, 120)).save(buf, "JPEG", quality=50)
            pkt = av.Packet(buf.getvalue())
            pkt.stream, pkt.pts, pkt.dts, pkt.time_base = st, i, i, Fraction(1, 10)
            out.mux(pkt)
    return path


@pytest.mark.parametrize("later,match", [
    ((300, 60), "frame 4 is 300x60; the limit is 256 px"),  # decoded, then refused by its size
    ((1000, 800), "frame 4 could not be decoded: it is larger than 256x256"),  # refused by the decoder
])
def test_every_decoded_frame_size_is_checked(analyzer, tmp_path, later, match):
    """The size limit was checked on the header only: later 16000 x 16000 frames were analysed (3.2 GB)."""
    clip = _mjpeg_avi(tmp_path / "grow.avi", [(64, 48)] * 3 + [later] * 3)
    assert probe_video(clip).width == 64
    with pytest.raises(VideoError, match=match):
        analyze_video(clip, analyzer, limits=VideoLimits(max_side=256))
    assert analyze_video(_mjpeg_avi(tmp_path / "same.avi", [(64, 48)] * 6), analyzer,
                         limits=VideoLimits(max_side=256)).n_frames == 6


def test_decode_work_is_capped(analyzer, clip):
    with pytest.raises(VideoError, match="too many pixels to decode"):
        analyze_video(clip, analyzer, limits=VideoLimits(max_decode_work=320 * 240 * 44))
    assert analyze_video(clip, analyzer, sample_fps=2, limits=VideoLimits(max_decode_work=320 * 240 * 45)).n_frames == 45


def test_a_concat_playlist_is_not_followed(analyzer, tmp_path):
    """An ffconcat file naming itself made FFmpeg open it until the process ran out of file handles."""
    import time

    p = tmp_path / "self.mp4"
    p.write_text("ffconcat version 1.0\nfile self.mp4\nfile self.mp4\n")
    t = time.perf_counter()
    with pytest.raises(VideoError, match="could not be read as a video") as exc:
        analyze_video(p, analyzer)
    assert "Too many open files" not in str(exc.value) and time.perf_counter() - t < 2.0


def test_only_the_announced_containers_are_opened(analyzer, tmp_path):
    """A raw H.264 stream renamed .mp4 was opened by FFmpeg's raw demuxer; it is not an mp4."""
    raw = write_test_clip(tmp_path / "raw.mp4", [np.full((48, 64, 3), 40 * i, np.uint8) for i in range(5)],
                          fps=10, container="h264")
    with pytest.raises(VideoError, match="could not be read as a video"):
        analyze_video(raw, analyzer)


def test_codecs_outside_the_announced_ones_are_refused(analyzer, tmp_path):
    p = write_test_clip(tmp_path / "png.mov", [np.full((48, 64, 3), 60 * i, np.uint8) for i in range(3)],
                        fps=10, codec="png", pix_fmt="rgb24")
    with pytest.raises(VideoError, match="uses the png video codec"):
        analyze_video(p, analyzer)


def test_dropped_faces_are_reported(analyzer, clip):
    crowd = FaceAnalyzer(analyzer.classifier, CrowdDetector(3), max_faces=2)
    res = analyze_video(clip, crowd, sample_fps=10)
    assert res.most_faces_in_a_frame == 2
    assert any("more faces were found than the limit of 2 per image (up to 3)" in w for w in res.warnings)
    assert not analyze_video(clip, FaceAnalyzer(analyzer.classifier, CrowdDetector(3)), sample_fps=10).warnings


def test_a_clip_cut_short_says_so(analyzer, tmp_path):
    """A truncated mkv gave 12 of its 30 frames as if that were the whole clip."""
    data = write_test_clip(tmp_path / "c.mkv", _frames(30, 160, 120, size=60), fps=10).read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) * 4 // 5])
    res = analyze_video(cut, analyzer, sample_fps=None)
    assert res.n_frames < 30
    assert any("probably truncated; results cover the readable part" in w for w in res.warnings)
    assert not analyze_video(tmp_path / "c.mkv", analyzer).warnings


class _Counted:
    """A detector that counts its calls."""

    def __init__(self, detector) -> None:
        self.detector, self.name, self.needs_tensorflow, self.calls = detector, detector.name, False, 0

    def detect(self, rgb):
        self.calls += 1
        return self.detector.detect(rgb)


def test_faces_are_detected_every_interval_and_tracked_between(analyzer, clip):
    """Detection is most of a frame's cost: with detection every 0.4 s and the tracker between, the
    clip has the same face in the same frames, where detecting in every frame puts it."""
    every = analyze_video(clip, analyzer, sample_fps=10, detect_interval_s=0)
    counted = _Counted(analyzer.detector)
    tracked = analyze_video(clip, FaceAnalyzer(analyzer.classifier, counted), sample_fps=10)
    assert counted.calls == 4  # 15 frames in 1.5 s: detected at 0, 0.4, 0.8 and 1.2 s
    assert [r["frame"] for r in tracked.records] == [r["frame"] for r in every.records]
    assert len(every.records) >= 14 and tracked.n_tracks == 1
    box = lambda r: FaceBox(r["x"], r["y"], r["w"], r["h"])  # noqa: E731
    assert min(box(a).iou(box(b)) for a, b in zip(tracked.records, every.records)) >= 0.6
    assert tracked.records[-1]["x"] - tracked.records[0]["x"] > 60  # the tracked box followed the face


def test_a_face_that_comes_into_view_is_found_within_the_interval(analyzer, tmp_path):
    frames = _frames(45)
    frames[:10] = [np.full_like(frames[0], 128)] * 10  # no face before frame 10 (0.33 s)
    res = analyze_video(write_test_clip(tmp_path / "late.mp4", frames, fps=FPS), analyzer, sample_fps=10)
    assert min(r["t"] for r in res.records) <= 10 / FPS + 0.4
