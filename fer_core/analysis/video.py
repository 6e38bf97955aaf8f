"""Video analysis: decode an uploaded clip with PyAV, analyse every frame or a chosen rate,
report progress, build the per-face record table and summary, and write an annotated H.264
mp4 (yuv420p, even size, faststart) of the analysed frames at their own times, which browsers play.

Uploads are untrusted: only the containers and codecs the page announces are opened (FFmpeg would
also follow a concat playlist that names itself), every decoded frame's size is checked, not only
the header's, and decoding work (pixels x frames) is capped. Only analysed frames are converted,
annotated and re-encoded. Bad uploads (empty, not a video, no video stream, truncated, too long,
too large) raise ``VideoError`` whose str() is a message for the user.
"""

from __future__ import annotations

import csv
import io
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from fer_core.engine.annotate import annotate_frame
from fer_core.engine.faces import clip_box
from fer_core.core.limits import VideoLimits
from fer_core.core.records import make_record, records_to_csv
from fer_core.core.results import FacePrediction
from fer_core.core.timeline import FACE_TABLE_COLUMNS, Timeline
from fer_core.engine.tracker import VIDEO_ALPHA, FaceTracker

VIDEO_EXTENSIONS: tuple[str, ...] = ("mp4", "mov", "webm", "avi", "mkv", "m4v")
# FFmpeg demuxers for those extensions (a demuxer's name lists its aliases); nothing else is probed.
DEMUXERS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi"
# Decoders for the codecs those containers carry in practice; FFmpeg would decode hundreds more.
DECODERS: frozenset[str] = frozenset({
    "h264", "hevc", "vp8", "vp9", "av1", "libdav1d", "libaom-av1", "mpeg4", "msmpeg4", "msmpeg4v2",
    "h263", "mpeg1video", "mpeg2video", "mjpeg", "ffv1", "prores",
})
# The video page's default: analyse 10 frames per second, annotate every frame with the
# latest result.
DEFAULT_SAMPLE_FPS = 10.0
# Faces are detected at most this often (seconds of video; 0: in every analysed frame): every 4th
# analysed frame at 10 a second. In the analysed frames between, the tracker moves each face by its
# velocity and the face is classified there, as on the live page. Detection is most of a frame's
# cost: this analyses a 640x480 clip about 3x faster, with the same faces found
# (``python -m fer_core.bench.speed``); a face that comes into view is found within this time.
DEFAULT_DETECT_INTERVAL_S = 0.4
ANNOTATED_MAX_SIDE = 1280

Progress = Callable[[float, str], None]


class VideoError(ValueError):
    """The upload cannot be analysed; str() is a message for the user."""


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    duration_s: float | None
    n_frames: int | None
    codec: str


@dataclass
class VideoResult:
    records: list[dict]
    fps: float
    duration_s: float
    n_frames: int
    n_analyzed: int
    width: int
    height: int
    annotated_path: Path | None
    summary: dict
    sample_fps: float | None = None
    warnings: list[str] = field(default_factory=list)

    def timeline(self) -> Timeline:
        return Timeline.from_records(self.records)

    @property
    def n_tracks(self) -> int:
        """Faces followed from frame to frame; two people who appear one after the other in the
        same place can share one track, and one person who leaves and comes back gets two."""
        return len({r["face_id"] for r in self.records})

    @property
    def most_faces_in_a_frame(self) -> int:
        """The most faces analysed together in one frame: how many people were in view at once."""
        per_frame = Counter(r["frame"] for r in self.records)
        return max(per_frame.values(), default=0)

    def to_csv(self) -> str:
        return records_to_csv(self.records)

    def faces_to_csv(self) -> str:
        """The per-face summary (Timeline.face_table, FACE_TABLE_COLUMNS) as CSV."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(FACE_TABLE_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.timeline().face_table())
        return buf.getvalue()


def _fail_open(path: Path, exc: Exception) -> VideoError:
    # The decoder's message names the server-side temp file: keep only its reason.
    reason = str(exc).replace(str(path), path.name)
    return VideoError(f"{path.name} could not be read as a video (not a supported video file, or it is damaged "
                      f"or truncated). Supported: {', '.join(VIDEO_EXTENSIONS)}. Details: {reason}")


def _open(path: Path, limits: VideoLimits):
    if not path.is_file():
        raise VideoError(f"The video file {path.name} does not exist.")
    size = path.stat().st_size
    if size == 0:
        raise VideoError(f"{path.name} is empty (0 bytes).")
    if limits.max_bytes and size > limits.max_bytes:
        raise VideoError(f"{path.name} is {size / 1e6:.0f} MB; the limit is {limits.max_bytes / 1e6:.0f} MB.")
    try:
        container = av.open(str(path), mode="r",
                            container_options={"format_whitelist": DEMUXERS, "protocol_whitelist": "file"})
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _fail_open(path, exc) from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{path.name} has no video stream (audio-only or not a video).")
    codec = container.streams.video[0].codec_context.name
    if codec not in DECODERS:
        container.close()
        raise VideoError(f"{path.name} uses the {codec} video codec, which this app does not read. Please "
                         "convert it to H.264, HEVC, VP8/VP9, AV1 or MPEG-4 (for example mp4 or webm).")
    return container


def _info(container, path: Path) -> VideoInfo:
    st = container.streams.video[0]
    cc = st.codec_context
    w, h = int(cc.width or 0), int(cc.height or 0)
    if w <= 0 or h <= 0:
        raise VideoError(f"{path.name}: the video stream has no picture size (damaged file?).")
    rate = st.average_rate or st.guessed_rate or st.base_rate
    fps = float(rate) if rate else 0.0
    if not (0 < fps < 1000):
        fps = 30.0
    dur = None
    if st.duration is not None and st.time_base is not None:
        dur = float(st.duration * st.time_base)
    elif container.duration is not None:
        dur = container.duration / av.time_base
    n = int(st.frames) if st.frames else (int(round(dur * fps)) if dur else None)
    return VideoInfo(w, h, fps, dur, n, cc.name or "?")


def probe_video(path: str | os.PathLike, limits: VideoLimits = VideoLimits()) -> VideoInfo:
    """Size, rate, duration and frame count, checked against ``limits``."""
    p = Path(path)
    with _open(p, limits) as c:
        info = _info(c, p)
    _check_limits(info, limits, p)
    return info


def _check_limits(info: VideoInfo, limits: VideoLimits, path: Path) -> None:
    if max(info.width, info.height) > limits.max_side:
        raise VideoError(f"{path.name} is {info.width}x{info.height}; the limit is {limits.max_side} px on the "
                         "long side. Please upload a smaller video.")
    if info.duration_s is not None and info.duration_s > limits.max_duration_s + 0.5:
        raise VideoError(f"{path.name} lasts {info.duration_s / 60:.1f} min; the limit is "
                         f"{limits.max_duration_s / 60:.1f} min. Please trim it.")
    if limits.max_frames and info.n_frames and info.n_frames > limits.max_frames:
        raise VideoError(f"{path.name} has {info.n_frames} frames; the limit is {limits.max_frames}.")
    if limits.max_decode_work and info.n_frames and info.width * info.height * info.n_frames > limits.max_decode_work:
        raise VideoError(_too_much_work(path, info.width * info.height * info.n_frames, limits))


def _too_much_work(path: Path, work: float, limits: VideoLimits) -> str:
    return (f"{path.name} has too many pixels to decode: at least {work / 1e9:.1f} billion (frame size x frames); "
            f"the limit is {limits.max_decode_work / 1e9:.1f} billion, about 10 minutes of 1080p at 30 fps by "
            "default. Please upload a shorter, smaller or lower-frame-rate clip.")


def _check_frame(frame, idx: int, limits: VideoLimits, path: Path) -> None:
    """The header's size proves nothing: any frame may change it."""
    if max(frame.width, frame.height) > limits.max_side or min(frame.width, frame.height) <= 0:
        raise VideoError(f"{path.name}: frame {idx + 1} is {frame.width}x{frame.height}; the limit is "
                         f"{limits.max_side} px on the long side. Please upload a smaller video.")


class _Writer:
    """H.264 mp4 writer; each frame keeps its own time (variable frame rate clips stay their length);
    frames are scaled to even dimensions."""

    TIME_BASE = Fraction(1, 1000)

    def __init__(self, path: Path, width: int, height: int, fps: float) -> None:
        s = min(1.0, ANNOTATED_MAX_SIDE / max(width, height))
        self.w = max(2, int(width * s) // 2 * 2)
        self.h = max(2, int(height * s) // 2 * 2)
        self.out = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        rate = Fraction(min(max(fps, 1.0), 240.0)).limit_denominator(1001)
        self.stream = self.out.add_stream("libx264", rate=rate)
        self.stream.width, self.stream.height = self.w, self.h
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.time_base = self.TIME_BASE
        self.stream.options = {"preset": "superfast", "crf": "23", "tune": "zerolatency"}
        self.stream.codec_context.thread_count = 2
        self.n = 0
        self.last_pts = -1

    def write(self, rgb: np.ndarray, t: float) -> None:
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame = frame.reformat(width=self.w, height=self.h, format="yuv420p")
        frame.pts = self.last_pts = max(self.last_pts + 1, int(round(t * 1000)))
        frame.time_base = self.TIME_BASE
        self.n += 1
        for pkt in self.stream.encode(frame):
            self.out.mux(pkt)

    def close(self) -> None:
        for pkt in self.stream.encode(None):
            self.out.mux(pkt)
        self.out.close()


def progress_text(n_analyzed: int, idx: int, total: int, t: float) -> str:
    """'Analysed' always counts frames the model looked at (VideoResult.n_analyzed); 'read' counts decoded ones."""
    return f"Analysed {n_analyzed} frames (read {idx} of {total or '?'}, {t:.1f} s of video)"


def _report(progress: Progress | None, idx: int, total: int, t: float, n_analyzed: int) -> None:
    if progress is not None and (idx % 10 == 0 or idx == total):
        frac = min(1.0, idx / total) if total else 0.0
        progress(frac, progress_text(n_analyzed, idx, total, t))


def dropped_faces_warning(n_frames: int, most_found: int, max_faces: int) -> str:
    """Said whenever the per-image face limit hid faces (a crowd of 64 showed 32 without a word)."""
    where = "one frame" if n_frames == 1 else f"{n_frames} analysed frames"
    return (f"In {where} more faces were found than the limit of {max_faces} per image (up to {most_found}); "
            f"only the {max_faces} largest were analysed.")


def _tracked_faces(tracker: FaceTracker, analyzer, rgb: np.ndarray, frame: int) -> tuple[list, list[FacePrediction]]:
    """Between detections: the visible tracks where their velocity puts them, each face classified there."""
    h, w = rgb.shape[:2]
    placed = [(tr, b) for tr in tracker.predict(frame) if (b := clip_box(tr.box, w, h)) is not None]
    probs = analyzer.classify_boxes(rgb, [b for _, b in placed])
    return ([tr for tr, _ in placed],
            [FacePrediction(b, p, classes=analyzer.classifier.classes) for (_, b), p in zip(placed, probs)])


def analyze_video(path: str | os.PathLike, analyzer, *, sample_fps: float | None = None,
                  progress: Progress | None = None, limits: VideoLimits = VideoLimits(),
                  annotated_out: str | os.PathLike | None = None, threshold: float = 0.0,
                  smoothing: str = "none", alpha: float = VIDEO_ALPHA,
                  detect_interval_s: float = DEFAULT_DETECT_INTERVAL_S) -> VideoResult:
    """Analyse a clip. ``sample_fps``: analyse this many frames per second (None: every frame);
    faces are detected every ``detect_interval_s`` and tracked in the analysed frames between.
    Only analysed frames become pixels; they alone are annotated and written to ``annotated_out``,
    each at its own time. ``progress(fraction, text)`` is called as frames are decoded. Records
    carry the raw (or, with ``smoothing``, smoothed) probabilities."""
    p = Path(path)
    container = _open(p, limits)
    writer: _Writer | None = None
    warnings: list[str] = []
    try:
        info = _info(container, p)
        _check_limits(info, limits, p)
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        # The decoder itself refuses a frame of more pixels than the largest allowed square, before
        # allocating it (an MJPEG stream may switch to 16000 x 16000 after a small first frame).
        stream.codec_context.options = {"max_pixels": str(limits.max_side ** 2)}
        every = max(1e-6, 1.0 / sample_fps) if sample_fps else 0.0
        tracker = FaceTracker(smoothing=smoothing, alpha=alpha, max_misses=3)
        records: list[dict] = []
        idx = n_analyzed = work = dropped_in = most_found = 0
        next_t = next_detect = 0.0
        whole_image = False  # the last detection classified the whole (tiny) frame: no box to track
        t0: float | None = None
        last_t, last_len = 0.0, 1.0 / info.fps
        total = info.n_frames or 0
        max_frames = limits.max_frames or int(limits.max_duration_s * max(info.fps, 30.0) * 1.05) + 10
        try:
            for frame in container.decode(stream):
                _check_frame(frame, idx, limits, p)
                work += frame.width * frame.height
                if limits.max_decode_work and work > limits.max_decode_work:
                    raise VideoError(_too_much_work(p, work, limits))
                t_abs = float(frame.time) if frame.time is not None else idx / info.fps
                if t0 is None:
                    t0 = t_abs
                t = max(0.0, t_abs - t0)
                if t > limits.max_duration_s + 0.5 or idx >= max_frames:
                    raise VideoError(f"{p.name} is longer than the limit of {limits.max_duration_s / 60:.1f} min "
                                     f"({max_frames} frames). Please trim it.")
                own = float(frame.duration * frame.time_base) if frame.duration and frame.time_base else 0.0
                last_t, last_len = t, min(own, 1.0 / info.fps) if own > 0 else 1.0 / info.fps
                idx += 1
                if every and t + 1e-6 < next_t:  # not analysed: never converted, drawn or re-encoded
                    _report(progress, idx, total, t, n_analyzed)
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                next_t = (np.floor((t + 1e-6) / every) + 1) * every if every else 0.0
                if whole_image or t + 1e-6 >= next_detect:
                    next_detect = t + detect_interval_s
                    preds, n_found = analyzer.analyze_counted(rgb)
                    if n_found > len(preds):
                        dropped_in, most_found = dropped_in + 1, max(most_found, n_found)
                    whole_image = any(f.whole_image for f in preds)
                    tracks = tracker.update([f.box for f in preds], frame=idx - 1)
                else:
                    tracks, preds = _tracked_faces(tracker, analyzer, rgb, idx - 1)
                current = []
                for f, tr in zip(preds, tracks):
                    fp = FacePrediction(f.box, tracker.smooth(tr, f.probs), track_id=tr.id,
                                        whole_image=f.whole_image, classes=f.classes)
                    current.append(fp)
                    records.append(make_record(fp, t, idx - 1, tr.id))
                n_analyzed += 1
                if annotated_out is not None:
                    if writer is None:
                        writer = _Writer(Path(annotated_out), rgb.shape[1], rgb.shape[0], sample_fps or info.fps)
                    writer.write(annotate_frame(rgb, current, threshold=threshold, show_ids=True, copy=False)
                                 if current else rgb, t)
                _report(progress, idx, total, t, n_analyzed)
        except av.ArgumentError as exc:  # the decoder's max_pixels refusal is EINVAL
            if idx == 0:
                raise _fail_open(p, exc) from None
            raise VideoError(f"{p.name}: frame {idx + 1} could not be decoded: it is larger than "
                             f"{limits.max_side}x{limits.max_side} pixels, or damaged. Please upload a smaller "
                             "video.") from None
        except av.FFmpegError as exc:
            if idx == 0:
                raise _fail_open(p, exc) from None
            warnings.append(f"The file is damaged or truncated after {idx} frames ({last_t:.1f} s); "
                            "results cover the readable part.")
        if idx == 0:
            raise VideoError(f"{p.name} contains no decodable video frames (damaged or truncated file).")
        if not warnings and info.duration_s and last_t + last_len < 0.9 * info.duration_s - 0.5:
            warnings.append(f"The file ends after {idx} frames ({last_t + last_len:.1f} s) although it says it lasts "
                            f"{info.duration_s:.1f} s: it is probably truncated; results cover the readable part.")
        if dropped_in:
            warnings.append(dropped_faces_warning(dropped_in, most_found, analyzer.max_faces))
        if writer is not None:
            writer.close()
            writer = None
        if progress is not None:
            progress(1.0, f"Done: analysed {n_analyzed} of {idx} frames")
    finally:
        if writer is not None:
            try:
                writer.close()
            except Exception:  # already failing; keep the first error
                pass
        container.close()
    duration = last_t + last_len
    if info.duration_s is not None and last_t < info.duration_s < duration:
        duration = info.duration_s  # the container knows when the last frame ends
    summary = Timeline.from_records(records).summary()
    return VideoResult(records, info.fps, round(duration, 4), idx, n_analyzed, info.width, info.height,
                       Path(annotated_out) if annotated_out is not None else None, summary, sample_fps, warnings)
