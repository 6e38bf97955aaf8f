"""Test and benchmark frames: real FER-2013 faces pasted into larger scenes, or drawn faces.

Tests and ``fer_core.bench`` need frames where the detector really finds a known number of
faces. Real crops come from ``../shared/data`` when it is there; otherwise a drawn face
(shaded oval, eyes, brows, nose, mouth) that OpenCV's frontal cascade accepts is used.
"""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from fer_core.labels import CLASSES
from fer_core.results import FaceBox

REPO_ROOT = Path(__file__).resolve().parent.parent


def shared_data_dir() -> Path:
    """../shared/data beside the repository (FER_SHARED_DATA overrides)."""
    return Path(os.environ.get("FER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


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
