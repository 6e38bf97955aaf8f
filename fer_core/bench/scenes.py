"""Every image and clip made by code, for tests, benchmarks and the browser test: one home.

Tests and ``fer_core.bench.speed`` need frames where the detector really finds a known number of
faces. Real crops come from ``../shared/data`` when it is there; otherwise a drawn face is used.
There are two painters, for two uses: ``drawn_face`` is a face crop (shaded oval, eyes, brows,
nose, mouth) that detectors accept wherever ``paste_faces`` puts it; ``draw_scene`` paints whole
scenes of ``DrawnFace`` s with a chosen expression at known centres. ``write_test_clip`` turns
frames into a small video file.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from fer_core import REPO_ROOT
from fer_core.core.environ import env_text
from fer_core.core.labels import CLASSES
from fer_core.core.results import FaceBox



def shared_data_dir() -> Path:
    """../shared/data beside the repository (FER_SHARED_DATA overrides)."""
    return Path(env_text("FER_SHARED_DATA") or REPO_ROOT.parent / "shared" / "data")


def load_fer_faces(n: int, seed: int = 0, classes: tuple[str, ...] = CLASSES,
                   data_dir: Path | None = None) -> list[np.ndarray]:
    """Up to ``n`` FER-2013 PublicTest crops as RGB uint8 (empty when the data is absent)."""
    root = Path(data_dir) if data_dir else shared_data_dir() / "fer2013" / "test"
    files: list[Path] = []
    for c in classes:
        d = root / c
        if d.is_dir():
            files.extend(sorted(d.glob("*.jpg"))[:400])
    if not files:
        return []
    rng = np.random.default_rng(seed)
    out = []
    for i in rng.permutation(len(files)):
        g = cv2.imread(str(files[i]), cv2.IMREAD_GRAYSCALE)
        if g is not None:
            out.append(cv2.cvtColor(g, cv2.COLOR_GRAY2RGB))
        if len(out) >= n:
            break
    return out


def drawn_face(size: int = 120, smile: float = 0.0, tone: int = 190) -> np.ndarray:
    """A simple frontal face (RGB) with the light/dark layout a Haar cascade keys on."""
    s = size
    img = np.full((s, s, 3), 70, np.uint8)
    cv2.ellipse(img, (s // 2, s // 2 + s // 20), (int(s * 0.36), int(s * 0.47)), 0, 0, 360, (tone, tone - 20, tone - 40), -1)
    cv2.rectangle(img, (int(s * 0.14), 0), (int(s * 0.86), int(s * 0.16)), (50, 40, 30), -1)  # hair
    for ex in (0.34, 0.66):
        c = (int(s * ex), int(s * 0.42))
        cv2.ellipse(img, (c[0], c[1] - int(s * 0.09)), (int(s * 0.1), int(s * 0.025)), 0, 0, 360, (60, 45, 35), -1)
        cv2.ellipse(img, c, (int(s * 0.085), int(s * 0.045)), 0, 0, 360, (235, 235, 235), -1)
        cv2.circle(img, c, int(s * 0.04), (40, 30, 25), -1)
    cv2.line(img, (s // 2, int(s * 0.45)), (s // 2 - int(s * 0.03), int(s * 0.62)), (tone - 70,) * 3, max(1, s // 40))
    cv2.ellipse(img, (s // 2, int(s * 0.63)), (int(s * 0.07), int(s * 0.025)), 0, 0, 360, (tone - 60,) * 3, -1)
    mouth_y = int(s * 0.76)
    curve = int(s * 0.06 * smile)
    cv2.ellipse(img, (s // 2, mouth_y), (int(s * 0.15), max(2, int(s * 0.035) + curve)), 0, 0, 180 if smile > 0 else 360,
                (120, 40, 45), -1)
    return cv2.GaussianBlur(img, (0, 0), s / 100.0)


def background(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A smooth, slightly noisy room-like backdrop (no face-like structure)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([120 + 50 * xx / width, 110 + 40 * yy / height, 100 + 30 * (1 - xx / width)], axis=2)
    noise = cv2.GaussianBlur(rng.normal(0, 12, (height, width)).astype(np.float32), (0, 0), 3)[:, :, None]
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def paste_faces(faces: list[np.ndarray], width: int = 640, height: int = 480, face_size: int = 110,
                seed: int = 0, positions: list[tuple[int, int]] | None = None) -> tuple[np.ndarray, list[FaceBox]]:
    """Faces resized to ``face_size`` and pasted on a backdrop; returns the frame and where they went."""
    frame = background(width, height, seed)
    n = len(faces)
    if positions is None:
        cols = min(n, max(1, (width - 20) // (face_size + 20)))
        rows = (n + cols - 1) // cols
        gx = (width - cols * face_size) // (cols + 1)
        gy = (height - rows * face_size) // (rows + 1)
        if gx < 0 or gy < 0:
            raise ValueError(f"{n} faces of {face_size}px do not fit in {width}x{height}.")
        positions = [(gx + (i % cols) * (face_size + gx), gy + (i // cols) * (face_size + gy)) for i in range(n)]
    boxes = []
    for face, (x, y) in zip(faces, positions):
        f = cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_CUBIC)
        frame[y:y + face_size, x:x + face_size] = f
        boxes.append(FaceBox(x, y, face_size, face_size))
    return frame, boxes


def face_pool(n: int, seed: int = 0, real: bool | None = None) -> list[np.ndarray]:
    """``n`` face images: FER-2013 crops when available (or ``real=True``), else drawn faces."""
    if real is not False:
        faces = load_fer_faces(n, seed)
        if len(faces) >= n:
            return faces
        if real:
            raise FileNotFoundError(f"FER-2013 crops not found under {shared_data_dir()}.")
    return [drawn_face(120, smile=(i % 3 - 1) * 0.8) for i in range(n)]


def detected_scene(detector, n_faces: int, width: int = 640, height: int = 480, face_size: int = 110,
                   seed: int = 0, real: bool | None = None, tries: int = 60) -> tuple[np.ndarray, list[FaceBox]]:
    """A frame in which ``detector`` finds exactly ``n_faces`` faces, where they were pasted.

    Faces the detector misses in place are swapped for others from the pool until all are found.
    """
    rng = np.random.default_rng(seed)
    pool = face_pool(max(n_faces * 8, 40), seed, real)
    order = [int(i) for i in rng.permutation(len(pool))]
    chosen, spare = order[:n_faces], order[n_faces:]
    for t in range(tries):
        frame, boxes = paste_faces([pool[i] for i in chosen], width, height, face_size, seed + t)
        found = detector.detect(frame)
        hit = [any(b.iou(f) > 0.3 for f in found) for b in boxes]
        if all(hit) and len(found) == n_faces:
            return frame, boxes
        missed = [k for k, ok in enumerate(hit) if not ok]
        for k in missed:
            if spare:
                chosen[k] = spare.pop(0)
    raise RuntimeError(f"Could not build a {width}x{height} frame where {detector.name} finds {n_faces} faces.")


HAND_POSES: tuple[str, ...] = ("under_chin", "chest", "waving")


def _hand(img: np.ndarray, cx: int, cy: int, size: int, skin: tuple[int, int, int], angle: float) -> None:
    """A palm with four fingers and a thumb, roughly ``size`` pixels tall, turned by ``angle`` degrees."""
    palm = (max(2, int(size * 0.3)), max(2, int(size * 0.28)))
    cv2.ellipse(img, (cx, cy), palm, angle, 0, 360, skin, -1)
    t = np.radians(angle - 90)
    for i, off in enumerate((-0.21, -0.07, 0.07, 0.21)):
        bx = cx + int(off * size * np.cos(np.radians(angle)))
        by = cy + int(off * size * np.sin(np.radians(angle)))
        length = size * (0.42 if i in (1, 2) else 0.35)
        tip = (int(bx + length * np.cos(t)), int(by + length * np.sin(t)))
        cv2.line(img, (bx, by), tip, skin, max(2, int(size * 0.11)))
        cv2.line(img, (bx, by), tip, tuple(max(0, c - 45) for c in skin), 1)  # the crease between fingers
    thumb = (int(cx + size * 0.38 * np.cos(np.radians(angle + 20))), int(cy + size * 0.38 * np.sin(np.radians(angle + 20))))
    cv2.line(img, (cx, cy), thumb, skin, max(2, int(size * 0.12)))


def person_scene(face: np.ndarray, width: int = 640, height: int = 480, face_size: int = 150,
                 pose: str = "under_chin", seed: int = 0) -> tuple[np.ndarray, FaceBox]:
    """A person: ``face`` pasted as the head over a drawn neck, shoulders and shirt, with both
    hands under the chin, on the chest or raised beside the face (``pose``, see HAND_POSES).

    The hands, neck and collar are the skin-coloured shapes under a face on which detectors
    drew false boxes in real photos; the face is the only face, at the returned box."""
    if pose not in HAND_POSES:
        raise ValueError(f"Unknown pose {pose!r}; expected one of {HAND_POSES}.")
    rng = np.random.default_rng(seed)
    img = background(width, height, seed)
    f = cv2.resize(face, (face_size, face_size), interpolation=cv2.INTER_CUBIC)
    skin = tuple(int(c) for c in np.median(f[face_size // 3: 2 * face_size // 3, face_size // 3: 2 * face_size // 3]
                                           .reshape(-1, 3), axis=0))
    shirt = tuple(int(c) for c in rng.integers(30, 200, 3))
    x = (width - face_size) // 2 + int(rng.integers(-width // 8, width // 8 + 1))
    y = max(0, int(height * 0.12) + int(rng.integers(-10, 11)))
    cx, chin = x + face_size // 2, y + face_size
    cv2.rectangle(img, (cx - int(face_size * 0.22), chin - 10), (cx + int(face_size * 0.22), chin + int(face_size * 0.35)),
                  skin, -1)  # neck
    shoulders = chin + int(face_size * 0.3)
    cv2.ellipse(img, (cx, height + face_size), (int(face_size * 1.4), height + face_size - shoulders), 0, 180, 360, shirt, -1)
    cv2.ellipse(img, (cx, shoulders), (int(face_size * 0.28), int(face_size * 0.18)), 0, 0, 180, skin, -1)  # collar opening
    img[y:y + face_size, x:x + face_size] = f
    hand = int(face_size * 0.75)
    if pose == "under_chin":
        spots = [(cx - int(face_size * 0.25), chin + hand // 4, 15.0), (cx + int(face_size * 0.25), chin + hand // 4, -15.0)]
    elif pose == "chest":
        spots = [(cx - int(face_size * 0.3), chin + int(face_size * 0.9), 70.0),
                 (cx + int(face_size * 0.3), chin + int(face_size * 0.9), -70.0)]
    else:
        spots = [(x - hand // 2, y + face_size // 2, -10.0), (x + face_size + hand // 2, y + face_size // 2, 10.0)]
    for hx, hy, angle in spots:
        _hand(img, hx, hy, hand, skin, angle + float(rng.uniform(-10, 10)))
    return cv2.GaussianBlur(img, (3, 3), 0), FaceBox(x, y, face_size, face_size)


# ------------------------------------------------------------ drawn scenes
EXPRESSIONS: tuple[str, ...] = ("happy", "surprise", "sad", "neutral")


@dataclass(frozen=True)
class DrawnFace:
    """Where a face is drawn: centre (cx, cy), half-width s in pixels, and its expression."""

    cx: int
    cy: int
    s: int
    expression: str = "neutral"


_HAIR = (50, 35, 25)
_BROW = (60, 40, 30)


def draw_face(img: np.ndarray, face: DrawnFace, skin: tuple[int, int, int] = (224, 180, 150)) -> np.ndarray:
    """Draw one frontal cartoon face in place (RGB) and return the image."""
    if face.expression not in EXPRESSIONS:
        raise ValueError(f"Unknown expression {face.expression!r}; expected one of {EXPRESSIONS}.")
    cx, cy, s = face.cx, face.cy, face.s
    e = face.expression
    cv2.ellipse(img, (cx, cy - int(0.25 * s)), (int(1.08 * s), int(1.2 * s)), 0, 180, 360, _HAIR, -1)
    cv2.ellipse(img, (cx, cy), (s, int(1.3 * s)), 0, 0, 360, skin, -1)
    cv2.ellipse(img, (cx, cy - int(0.9 * s)), (s, int(0.45 * s)), 0, 180, 360, _HAIR, -1)
    ey, ex = cy - int(0.25 * s), int(0.42 * s)
    brow_lift = {"surprise": 0.05, "sad": -0.04}.get(e, 0.0)
    eye_open = 0.12 if e == "surprise" else 0.1
    for side in (-1, 1):
        x = cx + side * ex
        y_out = ey - int((0.25 + brow_lift) * s)
        y_in = y_out - (int(0.08 * s) if e == "sad" else 0)  # sad: inner ends of the brows raised
        cv2.line(img, (x - side * int(0.25 * s), y_in), (x + side * int(0.25 * s), y_out), _BROW,
                 max(2, int(0.08 * s)))
        cv2.ellipse(img, (x, ey), (int(0.2 * s), int(eye_open * s)), 0, 0, 360, (250, 250, 250), -1)
        cv2.circle(img, (x, ey), int(0.09 * s), (70, 50, 40), -1)
        cv2.circle(img, (x, ey), int(0.04 * s), (10, 10, 10), -1)
    nose = np.array([[cx, ey + int(0.05 * s)], [cx - int(0.12 * s), cy + int(0.3 * s)],
                     [cx + int(0.12 * s), cy + int(0.3 * s)]], np.int32)
    cv2.polylines(img, [nose], False, (170, 120, 100), max(1, int(0.04 * s)))
    my = cy + int(0.62 * s)
    lip = (120, 40, 50)
    if e == "happy":
        cv2.ellipse(img, (cx, my - int(0.1 * s)), (int(0.35 * s), int(0.25 * s)), 0, 0, 180, lip, -1)
    elif e == "surprise":
        cv2.ellipse(img, (cx, my), (int(0.22 * s), int(0.15 * s)), 0, 0, 360, lip, -1)
    elif e == "sad":
        cv2.ellipse(img, (cx, my + int(0.1 * s)), (int(0.3 * s), int(0.14 * s)), 0, 180, 360, lip,
                    max(2, int(0.07 * s)))
    else:
        cv2.line(img, (cx - int(0.3 * s), my), (cx + int(0.3 * s), my), lip, max(2, int(0.07 * s)))
    return img


def backdrop(width: int, height: int) -> np.ndarray:
    """A soft vertical gradient, so faces are not on a flat field (Haar features need contrast)."""
    y = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top, bottom = np.array([90, 110, 140], np.float32), np.array([160, 170, 180], np.float32)
    img = (top * (1 - y) + bottom * y).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(img, (height, width, 3)))


def draw_scene(width: int, height: int, faces: Sequence[DrawnFace]) -> np.ndarray:
    """An RGB uint8 scene with the given faces, lightly blurred like a camera image."""
    img = backdrop(width, height)
    for face in faces:
        draw_face(img, face)
    return cv2.GaussianBlur(img, (5, 5), 0)


DEMO_FACES: tuple[DrawnFace, ...] = (
    DrawnFace(150, 250, 64, "happy"),
    DrawnFace(360, 240, 70, "surprise"),
    DrawnFace(560, 255, 62, "sad"),
)


# ------------------------------------------------------------------ clips
def write_test_clip(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 30,
                    codec: str = "libx264", times: list[float] | None = None, container: str | None = None,
                    pix_fmt: str = "yuv420p") -> Path:
    """Write RGB frames as a small clip (tests, benchmarks, samples); ``times`` (seconds, one per
    frame) makes a variable-frame-rate clip; ``container`` overrides the one the suffix names
    (a raw stream under a misleading name, say)."""
    p = Path(path)
    h, w = frames[0].shape[:2]
    fmt = container or {".webm": "webm", ".mkv": "matroska", ".avi": "avi", ".mov": "mov"}.get(p.suffix.lower(), "mp4")
    with av.open(str(p), mode="w", format=fmt) as out:
        st = out.add_stream(codec, rate=fps)
        st.width, st.height = w // 2 * 2, h // 2 * 2
        st.pix_fmt = pix_fmt
        if times is not None:
            st.codec_context.time_base = Fraction(1, 1000)
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[: st.height, : st.width]), format="rgb24")
            f.pts = i if times is None else int(round(times[i] * 1000))
            if times is not None:
                f.time_base = Fraction(1, 1000)
            for pkt in st.encode(f):
                out.mux(pkt)
        for pkt in st.encode(None):
            out.mux(pkt)
    return p
