"""Generated datasets in every supported layout, so loader/trainer tests need no real data.

Each class draws a bright horizontal bar at its own height over noise: learnable by a tiny
model and unambiguous to check, yet written exactly as users' files are (JPEG/PNG, CSV).
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from fer_core.core.labels import CLASSES, FER2013_CSV_ORDER, FERPLUS_VOTE_ORDER


def synth_face(class_index: int, rng: np.random.Generator, size: int = 48) -> np.ndarray:
    """Gray uint8 image whose bar position encodes the class."""
    img = rng.normal(100, 15, (size, size)).clip(0, 255)
    top = -(-class_index * size // len(CLASSES))  # ceil: the bar starts at the same fraction at any size
    img[top:top + max(2, size // len(CLASSES) - 2), :] = 230
    return img.astype(np.uint8)


def bar_class(img: np.ndarray) -> int:
    """The class synth_face drew, read back from the pixels (any size, after resizing too)."""
    rows = np.asarray(img, float)
    rows = rows.mean(axis=tuple(range(1, rows.ndim)))
    return min(int(np.argmax(rows) * len(CLASSES) // len(rows)), len(CLASSES) - 1)


def oracle_model(size: int = 48):
    """A tiny Keras model that classifies synth_face images (nearly) perfectly, by construction.

    Its Dense weights average the rows where each class's bar lies, so real predictions and a
    real confusion matrix flow through evaluation and export without any training.
    """
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    k = len(CLASSES)
    w = np.zeros((size, size, 3, k), np.float32)
    for c in range(k):
        rows = [r for r in range(size) if c / k <= (r + 0.5) / size <= c / k + 0.06]
        w[rows, :, :, c] = 1.0 / (len(rows) * size * 3)
    inp = keras.Input((size, size, 3), name="face")
    x = keras.layers.Flatten()(inp)
    dense = keras.layers.Dense(k, name="logits")
    x = dense(x)
    x = keras.layers.Rescaling(0.1)(x)
    out = keras.layers.Softmax(name="emotion")(x)
    model = keras.Model(inp, out, name="oracle")
    dense.set_weights([w.reshape(-1, k), np.full(k, 0.0, np.float32)])
    return model


def write_image(path: Path, gray: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 98] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), gray, params):
        raise OSError(f"could not write {path}")
    return path


def write_fer2013_folders(root: Path, n_train: int = 4, n_public: int = 2, n_private: int = 1,
                          seed: int = 0, classes=CLASSES) -> Path:
    """Kaggle layout: train/<class>/Training_*.jpg, test/<class>/PublicTest_* and PrivateTest_*."""
    rng = np.random.default_rng(seed)
    k = 0
    for ci, c in enumerate(classes):
        idx = CLASSES.index(c) if c in CLASSES else ci % len(CLASSES)
        for folder, prefix, n in (("train", "Training", n_train), ("test", "PublicTest", n_public),
                                  ("test", "PrivateTest", n_private)):
            for _ in range(n):
                k += 1
                write_image(root / folder / c / f"{prefix}_{k:06d}.jpg", synth_face(idx, rng))
    return root


def fer2013_csv_rows(n_per_split: int = 2, seed: int = 0) -> list[dict]:
    """Rows of fer2013.csv (emotion coded in the CSV's own order) for every class and split."""
    rng = np.random.default_rng(seed)
    rows = []
    for usage in ("Training", "PublicTest", "PrivateTest"):
        for code, name in enumerate(FER2013_CSV_ORDER):
            for _ in range(n_per_split):
                img = synth_face(CLASSES.index(name), rng)
                rows.append({"emotion": str(code), "pixels": " ".join(map(str, img.ravel())), "Usage": usage})
    return rows


def write_csv(path: Path, rows: list[dict], fieldnames=("emotion", "pixels", "Usage")) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(fieldnames), extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


def votes_for(name: str, strength: int = 7) -> list[int]:
    """10 FER+ vote counts with ``name`` (a FERPLUS_VOTE_ORDER entry) the clear majority."""
    v = [0] * len(FERPLUS_VOTE_ORDER)
    v[FERPLUS_VOTE_ORDER.index(name)] = strength
    v[FERPLUS_VOTE_ORDER.index("neutral" if name != "neutral" else "happiness")] = 10 - strength
    return v


def write_ferplus(root: Path, split_dir: str, entries: list[tuple[str, list[int], int | None]],
                  seed: int = 0, header: bool = False) -> Path:
    """FER+ folder: <split_dir>/label.csv rows (name, box, 10 votes) and PNGs drawn for class index."""
    rng = np.random.default_rng(seed)
    d = root / split_dir
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "label.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        if header:
            w.writerow(["Image name", "Face bounding box", *FERPLUS_VOTE_ORDER])
        for name, votes, class_index in entries:
            w.writerow([name, "(0, 0, 48, 48)", *votes])
            if class_index is not None:
                write_image(d / name, synth_face(class_index, rng))
    return root


def write_class_folders(root: Path, folders: dict[str, int], seed: int = 0, ext: str = ".png") -> Path:
    """<root>/<folder>/*.png; the folder name's canonical class decides the drawn bar (others: class 0)."""
    from fer_core.core.labels import canonical_class

    rng = np.random.default_rng(seed)
    for folder, n in folders.items():
        cls = canonical_class(folder)
        idx = CLASSES.index(cls) if cls else 0
        for i in range(n):
            write_image(root / folder / f"img{i:03d}{ext}", synth_face(idx, rng, size=int(rng.integers(40, 160))))
    return root


def write_ckplus(root: Path, subjects: dict[int, dict[str, int]], seed: int = 0) -> Path:
    """CK+ layout: <root>/<folder>/S<subject>_<sequence>_<frame>.png, ``{subject: {folder: frames}}``
    with the download's folder names (anger, sadness, contempt, ...)."""
    from fer_core.core.labels import canonical_class

    rng = np.random.default_rng(seed)
    for subject, folders in subjects.items():
        for seq, (folder, frames) in enumerate(folders.items(), start=1):
            cls = canonical_class(folder)
            for frame in range(frames):
                write_image(root / folder / f"S{subject:03d}_{seq:03d}_{frame + 10:08d}.png",
                            synth_face(CLASSES.index(cls) if cls else 0, rng))
    return root


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


def toy_outputs(n: int = 4000, true_t: float = 1.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A toy model whose logits are calibrated at temperature ``true_t``: labels are drawn from
    softmax(z), and the model reports softmax(z * true_t), i.e. it is over-confident for t > 1."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0, 2.0, (n, 7))
    y = np.array([rng.choice(7, p=p) for p in softmax(z)])
    return softmax(z * true_t).astype(np.float32), y
