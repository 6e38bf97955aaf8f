"""Hostile uploads through the pages (AppTest): every generated file, photo or video, ends in a clear
message or a result, never a traceback, in bounded time, with no temporary file left behind.

Each case builds its file here (small: limits are lowered through FER_MAX_* where a real attack
would be large) and names what the page must say. Engine-level details are in test_imageio,
test_video, test_photo_upload and test_video_upload; this suite checks the pages hold together.
"""

from __future__ import annotations

import io
import re
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from fer_core.app.samples import sample_photo_png
from fer_core.bench.scenes import DrawnFace, backdrop, draw_scene, write_test_clip

CASE_SECONDS = 60  # a hang, not a slow machine: every case takes a few seconds at most


@dataclass
class Case:
    """One hostile upload: the files (built lazily, in a temp folder), what the page must show."""

    id: str
    page: str  # "photo", "explain" or "video"
    build: Callable[[Path], list[tuple[str, bytes]]]
    expect: tuple[str, ...]  # each must appear in the page's text (plain, Markdown escapes removed)
    env: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- photo builders
def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gray(w: int, h: int, v: int = 128) -> Image.Image:
    return Image.new("L", (w, h), v)


def _scene() -> Image.Image:
    return Image.fromarray(backdrop(160, 120))


def _many_scans(w: int, h: int, scans: int) -> bytes:
    data = _save(_gray(w, h), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    return data[:last] + data[last:-2] * (scans - data.count(b"\xff\xda") + 1) + data[-2:]


def _png_claiming(w: int, h: int) -> bytes:
    """A small PNG whose header (IHDR, with a valid checksum) claims w x h pixels."""
    data = bytearray(_save(_gray(16, 16), "PNG"))
    data[16:24] = struct.pack(">II", w, h)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _jpeg_claiming(w: int, h: int) -> bytes:
    data = bytearray(_save(_gray(16, 16), "JPEG"))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(data)


def _exif_jpeg(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return _save(_scene(), "JPEG", exif=exif.tobytes())


def _ztxt_bomb() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "A" * 20_000_000, zip=True)  # 20 MB of text in about 20 kB
    return _save(_scene(), "PNG", pnginfo=info)


def _animated_webp() -> bytes:
    frames = [Image.new("RGB", (64, 48), c) for c in ((200, 0, 0), (0, 0, 200))]
    return _save(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)


def _one(name: str, data: bytes | Callable[[], bytes]) -> Callable[[Path], list[tuple[str, bytes]]]:
    return lambda tmp: [(name, data() if callable(data) else data)]


NOT_IMAGE = "not an image format we can read"
DAMAGED = "damaged or truncated"
SIDES = "each side must be between 8 and 16,384 pixels"
NO_FACE = "No face found in"
LINK = "[click me](https://evil.example/x)![](http://host/x.png)"

PHOTO_CASES = [
    Case("empty", "photo", _one("empty.png", b""), ("empty.png: The file is empty",)),
    Case("text-as-png", "photo", _one("notes.png", b"hello, just text\n" * 40), (NOT_IMAGE,)),
    Case("random-bytes-jpg", "photo", _one("noise.jpg", bytes(np.random.default_rng(0).integers(0, 256, 5000,
                                                                                          np.uint8))), (NOT_IMAGE,)),
    Case("svg-as-png", "photo", _one("vector.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>'), (NOT_IMAGE,)),
    Case("png-signature-only", "photo", _one("sig.png", b"\x89PNG\r\n\x1a\n"), (NOT_IMAGE,)),
    Case("truncated-jpeg", "photo", _one("cut.jpg", lambda: _save(Image.fromarray(
        np.random.default_rng(1).integers(0, 255, (200, 200, 3), np.uint8)), "JPEG")[:3000]), (DAMAGED,)),
    Case("truncated-png", "photo", _one("cut.png", lambda: _save(_scene(), "PNG")[:200]), (DAMAGED,)),
    Case("bad-crc-png", "photo", _one("crc.png", lambda: (lambda d: d[:29] + bytes([d[29] ^ 0xFF]) + d[30:])(
        _save(_scene(), "PNG"))), (NOT_IMAGE,)),  # a damaged header: Pillow cannot tell the format
    Case("gif", "photo", _one("anim.png", lambda: _save(_scene(), "GIF")), (NOT_IMAGE,)),
    Case("tiff", "photo", _one("scan.jpg", lambda: _save(_scene(), "TIFF")), (NOT_IMAGE,)),
    Case("ico", "photo", _one("icon.png", lambda: _save(_scene(), "ICO")), (NOT_IMAGE,)),
    Case("ppm", "photo", _one("raw.png", lambda: _save(_scene(), "PPM")), (NOT_IMAGE,)),
    Case("strip-3x100000", "photo", _one("strip.png", lambda: _save(_gray(100_000, 3), "PNG")), (SIDES,)),
    Case("strip-100000x3", "photo", _one("tall.png", lambda: _save(_gray(3, 100_000), "PNG")), (SIDES,)),
    Case("one-pixel", "photo", _one("dot.png", lambda: _save(_gray(1, 1), "PNG")), (SIDES,)),
    Case("four-pixels", "photo", _one("tiny.png", lambda: _save(_gray(4, 4), "PNG")), (SIDES,)),
    Case("side-over-16384", "photo", _one("wide.png", lambda: _save(_gray(20_000, 20), "PNG")), (SIDES,)),
    Case("strip-16384x8", "photo", _one("ribbon.png", lambda: _save(_gray(16_384, 8), "PNG")), (NO_FACE,)),
    Case("strip-8x16384", "photo", _one("pole.png", lambda: _save(_gray(8, 16_384), "PNG")), (NO_FACE,)),
    Case("tiny-8x8-not-a-face", "photo", _one("speck.png", lambda: _save(_gray(8, 8), "PNG")), (NO_FACE,)),
    Case("bilevel-bomb-100mp", "photo", _one("bomb.png", lambda: _save(Image.new("1", (10_000, 10_000)), "PNG")),
         ("too large", "the limit is 50 megapixels")),
    Case("png-header-50000", "photo", _one("liar.png", lambda: _png_claiming(50_000, 50_000)), ("too large",)),
    Case("jpeg-header-65000", "photo", _one("liar.jpg", lambda: _jpeg_claiming(65_000, 65_000)), ("too large",)),
    Case("jpeg-3000-scans", "photo", _one("scans.jpg", lambda: _many_scans(64, 64, 3000)), ("passes (scans)",)),
    Case("jpeg-decode-work", "photo", _one("work.jpg", lambda: _many_scans(7000, 7000, 60)),
         ("pixel-passes, over the limit",)),
    Case("ztxt-bomb", "photo", _one("chatty.png", _ztxt_bomb), ("Decompressed data too large",)),
    Case("cmyk-jpeg", "photo", _one("print.jpg", lambda: _save(_scene().convert("CMYK"), "JPEG")), (NO_FACE,)),
    Case("sixteen-bit-png", "photo", _one("deep.png", lambda: _save(Image.fromarray(
        (np.arange(160 * 120).reshape(120, 160) * 3).astype(np.uint16)), "PNG")), (NO_FACE,)),
    Case("palette-transparent-png", "photo", _one("pal.png", lambda: _save(
        _scene().convert("P"), "PNG", transparency=0)), (NO_FACE,)),
    Case("rgba-png", "photo", _one("alpha.png", lambda: _save(_scene().convert("RGBA"), "PNG")), (NO_FACE,)),
    Case("animated-webp", "photo", _one("anim.webp", _animated_webp), (NO_FACE,)),
    Case("bmp", "photo", _one("old.bmp", lambda: _save(_scene(), "BMP")), (NO_FACE,)),
    Case("exif-rotated", "photo", _one("turned.jpg", lambda: _exif_jpeg(6)), (NO_FACE,)),
    Case("exif-nonsense-orientation", "photo", _one("odd.jpg", lambda: _exif_jpeg(77)), (NO_FACE,)),
    Case("markdown-name", "photo", _one(f"{LINK}.png", lambda: _save(_scene(), "PNG")), (f"{NO_FACE} {LINK}.png",)),
    Case("html-name", "photo", _one("<img src=x onerror=alert(1)>.png", b"x"), ("<img src=x onerror=alert(1)>.png",)),
    Case("traversal-name", "photo", _one("../../etc/passwd.png", lambda: _save(_scene(), "PNG")),
         (f"{NO_FACE} ../../etc/passwd.png",)),
    Case("long-name", "photo", _one("n" * 300 + ".png", b"junk"), (NOT_IMAGE,)),
    Case("too-many-files", "photo", lambda tmp: [(f"p{i}.png", _save(_gray(64, 40, i), "PNG")) for i in range(5)],
         ("an upload may hold at most 3 photos",), {"FER_MAX_UPLOAD_FILES": "3"}),
    Case("too-many-pixels", "photo", lambda tmp: [(f"big{i}.png", _save(_gray(400, 300, i), "PNG")) for i in range(3)],
         ("exceed 0.25 megapixels in total (400x300 here)",), {"FER_MAX_UPLOAD_PIXELS": "250000"}),
    Case("crowd-over-face-limit", "photo", _one("people.png", sample_photo_png),
         ("2 faces were found; only the 1 largest",), {"FER_MAX_FACES": "1"}),
    Case("explain-strip", "explain", _one("strip.png", lambda: _save(_gray(100_000, 3), "PNG")), (SIDES,)),
    Case("explain-scans", "explain", _one("scans.jpg", lambda: _many_scans(64, 64, 3000)), ("passes (scans)",)),
    Case("explain-ico", "explain", _one("icon.png", lambda: _save(_scene(), "ICO")), (NOT_IMAGE,)),
    Case("explain-markdown-name", "explain", _one(f"{LINK}.png", lambda: _save(_scene(), "PNG")),
         (f"No face found in {LINK}.png",)),
]


# ----------------------------------------------------------------------------- video builders
def _clip(tmp: Path, name: str, n: int = 12, w: int = 160, h: int = 120, fps: int = 10, **kw) -> bytes:
    frames = [draw_scene(w, h, [DrawnFace(w // 2, h // 2, min(w, h) // 5, "happy")]) for _ in range(n)]
    return write_test_clip(tmp / name, frames, fps=fps, **kw).read_bytes()


def _encoded(tmp: Path, name: str, fmt: str, codec: str, pix_fmt: str = "yuv420p", n: int = 3,
             w: int = 64, h: int = 48) -> bytes:
    p = tmp / name
    with av.open(str(p), "w", format=fmt) as out:
        st = out.add_stream(codec, rate=10)
        st.width, st.height, st.pix_fmt = w, h, pix_fmt
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((h, w, 3), 40 * i, np.uint8), format="rgb24")
            f = f.reformat(format=pix_fmt)
            f.pts = i
            for pkt in st.encode(f):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return p.read_bytes()


def _mjpeg(tmp: Path, sizes: list[tuple[int, int]]) -> bytes:
    p = tmp / "grow.avi"
    with av.open(str(p), "w", format="avi") as out:
        st = out.add_stream("mjpeg", rate=10)
        st.width, st.height, st.pix_fmt = *sizes[0], "yuvj420p"
        for i, (w, h) in enumerate(sizes):
            pkt = av.Packet(_save(_gray(w, h), "JPEG", quality=30))
            pkt.stream, pkt.pts, pkt.dts, pkt.time_base = st, i, i, Fraction(1, 10)
            out.mux(pkt)
    return p.read_bytes()


def _audio_only(tmp: Path) -> bytes:
    p = tmp / "voice.mp4"
    with av.open(str(p), "w", format="mp4") as out:
        st = out.add_stream("aac", rate=16000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = 16000, 0, Fraction(1, 16000)
        for pkt in [*st.encode(frame), *st.encode(None)]:
            out.mux(pkt)
    return p.read_bytes()


def _v(name: str, build: Callable[[Path], bytes]) -> Callable[[Path], list[tuple[str, bytes]]]:
    return lambda tmp: [(name, build(tmp))]


NOT_VIDEO = "could not be read as a video"
RESULT = "Frames analysed"  # the result's metrics are shown
NO_FACE_CLIP = "No face was found in"

VIDEO_CASES = [
    Case("video-empty", "video", _v("empty.mp4", lambda tmp: b""), ("empty.mp4 is empty (0 bytes)",)),
    Case("video-text", "video", _v("notes.mp4", lambda tmp: b"not a video\n" * 200), (NOT_VIDEO,)),
    Case("video-random", "video", _v("noise.webm", lambda tmp: bytes(np.random.default_rng(2).integers(
        0, 256, 20_000, np.uint8))), (NOT_VIDEO,)),
    Case("video-truncated-mp4", "video", _v("cut.mp4", lambda tmp: (lambda d: d[:len(d) // 2])(_clip(tmp, "c.mp4"))),
         (NOT_VIDEO,)),
    Case("video-truncated-mkv", "video", _v("cut.mkv", lambda tmp: (lambda d: d[:len(d) // 2])(
        _clip(tmp, "c.mkv", n=30))), ("contains no decodable video frames",)),
    Case("video-cut-short-mkv", "video", _v("short.mkv", lambda tmp: (lambda d: d[:len(d) * 4 // 5])(
        _clip(tmp, "c.mkv", n=30))), ("probably truncated; results cover the readable part",)),
    Case("video-audio-only", "video", _v("voice.mp4", _audio_only), ("has no video stream",)),
    Case("video-concat-self", "video", _v("self.mp4", lambda tmp: b"ffconcat version 1.0\nfile self.mp4\n" * 3),
         (NOT_VIDEO,)),
    Case("video-raw-h264", "video", _v("raw.mp4", lambda tmp: _encoded(tmp, "r.h264", "h264", "libx264")),
         (NOT_VIDEO,)),
    Case("video-jpeg-as-mp4", "video", _v("photo.mp4", lambda tmp: _save(_scene(), "JPEG")), (NOT_VIDEO,)),
    Case("video-gif-as-mp4", "video", _v("anim.mp4", lambda tmp: _save(_scene(), "GIF")), (NOT_VIDEO,)),
    Case("video-png-codec", "video", _v("shots.mov", lambda tmp: _encoded(tmp, "p.mov", "mov", "png", "rgb24")),
         ("uses the png video codec",)),
    Case("video-rawvideo-codec", "video", _v("raw.avi", lambda tmp: _encoded(tmp, "r.avi", "avi", "rawvideo")),
         ("uses the rawvideo video codec",)),
    Case("video-mjpeg-frames-grow", "video", _v("grow.avi", lambda tmp: _mjpeg(tmp, [(64, 48)] * 3 + [(5000, 5000)])),
         ("frame 4 could not be decoded: it is larger than 4096x4096",)),
    Case("video-mjpeg-frame-too-wide", "video", _v("wide.avi", lambda tmp: _mjpeg(tmp, [(64, 48)] * 3 + [(4500, 16)])),
         ("frame 4 is 4500x16; the limit is 4096 px",)),
    Case("video-too-long", "video", _v("long.mp4", lambda tmp: _clip(tmp, "l.mp4", n=20, w=64, h=48, fps=2)),
         ("the limit is 0.1 min",), {"FER_MAX_VIDEO_SECONDS": "6"}),
    Case("video-too-large", "video", _v("big.mp4", lambda tmp: _clip(tmp, "b.mp4")),
         ("160x120; the limit is 100 px",), {"FER_MAX_VIDEO_SIDE": "100"}),
    Case("video-too-many-frames", "video", _v("many.mp4", lambda tmp: _clip(tmp, "m.mp4")),
         ("has 12 frames; the limit is 5",), {"FER_MAX_VIDEO_FRAMES": "5"}),
    Case("video-decode-work", "video", _v("work.mp4", lambda tmp: _clip(tmp, "w.mp4")),
         ("too many pixels to decode",), {"FER_MAX_VIDEO_DECODE_WORK": "100000"}),
    Case("video-named-like-output", "video", _v("annotated-output.mp4", lambda tmp: _clip(tmp, "a.mp4")),
         ("12 of 12",)),
    Case("video-markdown-name", "video", _v(f"{LINK}.mp4", lambda tmp: _clip(tmp, "m.mp4", w=64, h=48)),
         (f"{NO_FACE_CLIP} {LINK}.mp4",)),
    Case("video-traversal-name", "video", _v("../../etc/x.mp4", lambda tmp: b"junk" * 100), ("x.mp4 " + NOT_VIDEO,)),
    Case("video-variable-frame-rate", "video", _v("vfr.mp4", lambda tmp: _clip(
        tmp, "v.mp4", n=20, times=[i * 100 / 19 for i in range(20)])), ("Duration 100.1 s",)),  # + the last frame
    Case("video-sixty-fps", "video", _v("sixty.mp4", lambda tmp: _clip(tmp, "s.mp4", n=60, fps=60)), ("10 of 60",)),
    Case("video-vp9-webm", "video", _v("clip.webm", lambda tmp: _clip(tmp, "c.webm", codec="libvpx-vp9")), (RESULT,)),
    Case("video-mpeg4-avi", "video", _v("clip.avi", lambda tmp: _clip(tmp, "c.avi", codec="mpeg4")), (RESULT,)),
    Case("video-tiny-frames", "video", _v("tiny.mp4", lambda tmp: _clip(tmp, "t.mp4", w=16, h=16)), (NO_FACE_CLIP,)),
    Case("video-crowd-over-face-limit", "video", _v("two.mp4", lambda tmp: write_test_clip(
        tmp / "two.mp4", [draw_scene(320, 160, [DrawnFace(80, 80, 40, "happy"), DrawnFace(240, 80, 40, "sad")])] * 5,
        fps=10).read_bytes()), ("more faces were found than the limit of 1 per image (up to 2)",), {"FER_MAX_FACES": "1"}),
]

CASES = PHOTO_CASES + VIDEO_CASES


def test_the_suite_is_large_enough():
    assert len(CASES) >= 50 and len({c.id for c in CASES}) == len(CASES)
    assert len(PHOTO_CASES) >= 25 and len(VIDEO_CASES) >= 25


@pytest.fixture(autouse=True)
def tiny_model(tiny_model_files, monkeypatch):
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_files))


def _shown(at) -> str:
    """Everything the page wrote, as the reader sees it (Markdown backslash escapes and plain()'s
    invisible word joiners removed)."""
    parts = []
    for kind in ("title", "subheader", "markdown", "caption", "info", "warning", "error", "success"):
        parts += [str(e.value) for e in at.get(kind)]
    parts += [f"{m.label} {m.value}" for m in at.metric]
    parts += [c for img in at.image for c in img.captions]
    return re.sub(r"\\(.)", r"\1", "\n".join(parts)).replace("\u2060", "")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_upload(case: Case, open_page, private_tmp, tmp_path, monkeypatch):
    for var, value in case.env.items():
        monkeypatch.setenv(var, value)
    work = tmp_path / "files"
    work.mkdir()
    files = case.build(work)
    at = open_page(f"pages/{case.page}.py", timeout=CASE_SECONDS)
    started = time.perf_counter()
    if case.page == "video":
        (name, data), = files
        at.file_uploader(key="video_upload").set_value((name, data, "video/mp4")).run()
    elif case.page == "explain":
        (name, data), = files
        at.file_uploader(key="explain_upload").set_value((name, data, "image/png")).run()
    else:
        at.file_uploader(key="photo_upload").set_value([(n, d, "image/png") for n, d in files]).run()
    elapsed = time.perf_counter() - started

    assert not at.exception, [e.value for e in at.exception]
    shown = _shown(at)
    assert "Traceback" not in shown and "File \"/" not in shown
    for text in case.expect:
        assert text in shown, f"{case.id}: {text!r} not shown in:\n{shown}"
    assert elapsed < CASE_SECONDS
    assert list(private_tmp.iterdir()) == [], f"{case.id} left {list(private_tmp.iterdir())}"
