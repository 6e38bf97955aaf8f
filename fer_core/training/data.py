"""Loading facial-expression datasets in the layouts users download them in.

Supported layouts (``fmt``):
- ``fer2013-folders``: Kaggle FER-2013, ``train/<class>/`` and ``test/<class>/``; the split of a
  file is taken from its name prefix (``Training_``, ``PublicTest_``, ``PrivateTest_``) and,
  for files without one, from its folder (``train`` -> train, ``test`` -> public_test).
- ``fer2013-csv``: the original ``fer2013.csv`` (``emotion,pixels,Usage``).
- ``ferplus``: FER+ ``FER2013Train|Valid|Test/label.csv`` with 10 annotator votes per image.
- ``ckplus``: CK+ face crops, ``<root>/<class>/S<subject>_<sequence>_<frame>.png`` (folder names
  ``anger``, ``sadness``, ``contempt`` ...); split by person, never by image: ``valid`` = the
  subjects whose number is a multiple of 5, ``train`` = the others.
- ``folders``: any ``<root>/<class>/`` directory, class names matched through common aliases.
Images of classes outside the wanted ones (``classes``: the seven by default, so CK+'s ``contempt``) are
counted in ``skipped``; ask for CLASSES_8 to keep contempt (FER+'s contempt votes, CK+'s folder).
"""

from __future__ import annotations

import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from fer_core.core.labels import CLASSES, FER2013_CSV_ORDER, FERPLUS_VOTE_ORDER, canonical_class

FORMATS = ("auto", "fer2013-folders", "fer2013-csv", "ferplus", "ckplus", "folders")
# "valid" and "test" are FER+'s names; in FER-2013 they mean PublicTest and PrivateTest.
SPLITS = ("train", "public_test", "private_test", "valid", "test", "all")
IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".pgm", ".ppm"}
_PREFIX_SPLIT = {"training_": "train", "publictest_": "public_test", "privatetest_": "private_test"}
_FERPLUS_DIRS = {"train": "FER2013Train", "valid": "FER2013Valid", "test": "FER2013Test"}
_CKPLUS_NAME = re.compile(r"^S(\d+)_\d+_\d+$", re.IGNORECASE)
CKPLUS_VALID_EVERY = 5  # valid = subjects S005, S010, ... (the data README's person split)

EXPECTED_LAYOUTS = (
    "Expected one of: a FER-2013 folder tree (train/<class>/*.jpg, test/<class>/*.jpg); "
    "the fer2013.csv file (columns emotion,pixels,Usage); a FER+ folder (FER2013Train/label.csv, "
    "FER2013Valid/label.csv); or a class-per-folder directory (<root>/<class>/*.jpg with class "
    f"names such as {', '.join(CLASSES)} or aliases like anger, sadness, happiness, surprised)."
)


class DatasetError(ValueError):
    """A dataset path that does not match any supported layout, or holds no usable images."""


@dataclass
class FaceDataset:
    """Gray face images with labels in ``classes`` order."""

    images: list[np.ndarray]
    labels: np.ndarray
    names: list[str]
    soft_labels: np.ndarray | None = None
    skipped: int = 0
    fmt: str = ""
    split: str = ""
    skipped_reasons: dict[str, int] = field(default_factory=dict)
    classes: tuple[str, ...] = CLASSES

    def __len__(self) -> int:
        return len(self.images)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts)}


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS


def _class_dirs(root: Path) -> list[Path]:
    return [d for d in sorted(root.iterdir()) if d.is_dir() and not d.name.startswith(".")] if root.is_dir() else []


def _has_class_subdirs(root: Path) -> bool:
    return any(canonical_class(d.name) for d in _class_dirs(root))


def detect_format(path: str | os.PathLike) -> str:
    """Work out the layout of ``path``; raise DatasetError naming the expected layouts."""
    p = Path(path)
    if not p.exists():
        raise DatasetError(f"Dataset path {p} does not exist. {EXPECTED_LAYOUTS}")
    if p.is_file():
        if p.suffix.lower() == ".csv":
            return "fer2013-csv"
        raise DatasetError(f"{p} is a file but not a .csv. {EXPECTED_LAYOUTS}")
    if (p / "fer2013.csv").is_file():
        return "fer2013-csv"
    if any((p / d / "label.csv").is_file() for d in _FERPLUS_DIRS.values()):
        return "ferplus"
    if any(_has_class_subdirs(p / d) for d in ("train", "test")):
        return "fer2013-folders"
    if _has_class_subdirs(p):
        return "ckplus" if _looks_like_ckplus(p) else "folders"
    raise DatasetError(f"{p} does not match a known dataset layout. {EXPECTED_LAYOUTS}")


def resolve_dataset_path(path: str | os.PathLike) -> Path:
    """Accept the folder that holds a dataset (like ../shared/data) as well as the dataset itself."""
    p = Path(path)
    if p.is_dir():
        try:
            detect_format(p)
            return p
        except DatasetError:
            for name in ("fer2013", "FER2013", "fer2013.csv", "ferplus", "FERPlus"):
                if (p / name).exists():
                    return p / name
    return p


def _read_gray(path: Path) -> np.ndarray | None:
    data = np.fromfile(str(path), dtype=np.uint8)
    if data.size == 0:
        return None
    img = cv2.imdecode(data, cv2.IMREAD_GRAYSCALE)
    return img


def _split_from_name(name: str, folder: str) -> str:
    low = name.lower()
    for prefix, split in _PREFIX_SPLIT.items():
        if low.startswith(prefix):
            return split
    return "train" if folder == "train" else "public_test"


def _want(split: str, wanted: str) -> bool:
    if wanted == "all":
        return True
    wanted = {"valid": "public_test", "test": "private_test"}.get(wanted, wanted)  # FER-2013's names for them
    return split == wanted


def _finish(images, labels, names, skipped, fmt, split, soft=None, reasons=None, classes=CLASSES) -> FaceDataset:
    if not images:
        raise DatasetError(
            f"No usable images for split '{split}' in this {fmt} dataset "
            f"({skipped} skipped). {EXPECTED_LAYOUTS}"
        )
    return FaceDataset(
        images=images, labels=np.asarray(labels, np.int64), names=names,
        soft_labels=None if soft is None else np.asarray(soft, np.float32),
        skipped=skipped, fmt=fmt, split=split, skipped_reasons=reasons or {}, classes=tuple(classes),
    )


def _count(reasons: dict[str, int], key: str) -> None:
    reasons[key] = reasons.get(key, 0) + 1


def _load_class_folders(root: Path, keep, classes: tuple[str, ...]) -> tuple[list, list, list, int, dict]:
    images, labels, names, reasons = [], [], [], {}
    for d in _class_dirs(root):
        cls = canonical_class(d.name, classes)
        for f in sorted(d.iterdir()):
            if not _is_image(f) or not keep(f, d):
                continue
            if cls is None:
                _count(reasons, f"class '{d.name}' not one of ours")
                continue
            img = _read_gray(f)
            if img is None:
                _count(reasons, "unreadable image")
                continue
            images.append(img)
            labels.append(classes.index(cls))
            names.append(str(f.relative_to(root)))
    return images, labels, names, sum(reasons.values()), reasons


def load_fer2013_folders(root: Path, split: str, classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    images, labels, names, skipped, reasons = [], [], [], 0, {}
    for folder in ("train", "test"):
        if not (root / folder).is_dir():
            continue
        i, l, n, s, r = _load_class_folders(
            root / folder, lambda f, d, folder=folder: _want(_split_from_name(f.name, folder), split), classes)
        images += i
        labels += l
        names += [f"{folder}/{x}" for x in n]
        skipped += s
        for k, v in r.items():
            reasons[k] = reasons.get(k, 0) + v
    return _finish(images, labels, names, skipped, "fer2013-folders", split, reasons=reasons, classes=classes)


def load_fer2013_csv(path: Path, split: str, classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    csv_path = path / "fer2013.csv" if path.is_dir() else path
    usage_split = {"training": "train", "publictest": "public_test", "privatetest": "private_test"}
    images, labels, names, reasons = [], [], [], {}
    with open(csv_path, newline="") as fh:
        reader = csv.DictReader(fh)
        cols = {c.strip().lower() for c in (reader.fieldnames or [])}
        if not {"emotion", "pixels"} <= cols:
            raise DatasetError(f"{csv_path} has columns {reader.fieldnames}, expected emotion,pixels,Usage. {EXPECTED_LAYOUTS}")
        for i, row in enumerate(reader):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            row_split = usage_split.get(row.get("usage", "training").lower(), "train")
            if not _want(row_split, split):
                continue
            try:
                emotion = int(row["emotion"])
                pixels = np.array(row["pixels"].split(), dtype=np.float32)
                side = int(round(np.sqrt(pixels.size)))
                if emotion not in range(7) or side * side != pixels.size or side == 0:
                    raise ValueError
            except (ValueError, KeyError):
                _count(reasons, "malformed row")
                continue
            images.append(np.clip(pixels, 0, 255).astype(np.uint8).reshape(side, side))
            labels.append(classes.index(FER2013_CSV_ORDER[emotion]))
            names.append(f"row{i}")
    return _finish(images, labels, names, sum(reasons.values()), "fer2013-csv", split, reasons=reasons,
                   classes=classes)


def ferplus_votes_to_label(votes: np.ndarray, classes: tuple[str, ...] = CLASSES
                           ) -> tuple[int | None, np.ndarray | None, str | None]:
    """FER+ 10-way votes -> (class index in ``classes``, soft label over them), or a reason to drop.

    Votes for a class outside ``classes`` (contempt, for the seven) are left out of the soft label,
    and a face whose majority is such a class is dropped."""
    votes = np.asarray(votes, np.float32)
    top = votes.max()
    if top <= 0:
        return None, None, "no votes"
    winners = np.flatnonzero(votes == top)
    if len(winners) > 1:
        return None, None, "tied majority"
    name = FERPLUS_VOTE_ORDER[winners[0]]
    if name in ("unknown", "NF"):
        return None, None, f"majority {name}"
    if canonical_class(name, classes) is None:
        return None, None, f"majority {name}"
    ours = np.zeros(len(classes), np.float32)
    for col, vname in enumerate(FERPLUS_VOTE_ORDER[:8]):
        if (cls := canonical_class(vname, classes)) is not None:
            ours[classes.index(cls)] += votes[col]
    soft = ours / ours.sum()
    return classes.index(canonical_class(name, classes)), soft, None


def load_ferplus(root: Path, split: str, classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    wanted = {"train": ["train"], "valid": ["valid"], "public_test": ["valid"], "private_test": ["test"],
              "test": ["test"], "all": ["train", "valid", "test"]}[split]
    images, labels, names, soft, reasons = [], [], [], [], {}
    for key in wanted:
        d = root / _FERPLUS_DIRS[key]
        if not (d / "label.csv").is_file():
            continue
        with open(d / "label.csv", newline="") as fh:
            for row in csv.reader(fh):
                is_header = bool(row) and row[0].strip().lower() in ("image name", "image")
                if len(row) < 12 or not row[0].strip() or is_header:
                    if row and not is_header:
                        _count(reasons, "malformed row")
                    continue
                try:
                    votes = np.array([float(v) for v in row[2:12]], np.float32)
                except ValueError:
                    _count(reasons, "malformed row")
                    continue
                idx, s, why = ferplus_votes_to_label(votes, classes)
                if idx is None:
                    _count(reasons, why)
                    continue
                img = _read_gray(d / row[0].strip()) if (d / row[0].strip()).is_file() else None
                if img is None:
                    _count(reasons, "missing or unreadable image")
                    continue
                images.append(img)
                labels.append(idx)
                soft.append(s)
                names.append(f"{d.name}/{row[0].strip()}")
    return _finish(images, labels, names, sum(reasons.values()), "ferplus", split, soft=soft or None, reasons=reasons,
                   classes=classes)


def ckplus_subject(name: str) -> int | None:
    """The subject number of a CK+ file name (``S010_004_00000017.png`` -> 10), else None."""
    m = _CKPLUS_NAME.match(Path(name).stem)
    return int(m.group(1)) if m else None


def ckplus_split(name: str) -> str:
    """``valid`` for the subjects whose number is a multiple of 5, ``train`` for the others."""
    subject = ckplus_subject(name)
    if subject is None:
        raise DatasetError(f"{name} is not a CK+ file name (S<subject>_<sequence>_<frame>)")
    return "valid" if subject % CKPLUS_VALID_EVERY == 0 else "train"


def _looks_like_ckplus(root: Path) -> bool:
    """Class folders whose images all carry CK+ subject names."""
    files = [f for d in _class_dirs(root) for f in d.iterdir() if _is_image(f)]
    return bool(files) and all(ckplus_subject(f.name) is not None for f in files)


def load_ckplus(root: Path, split: str, classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    wanted = {"train": "train", "valid": "valid", "public_test": "valid", "all": None}.get(split, "none")
    if wanted == "none":
        raise DatasetError(f"CK+ has a train and a valid split (by person), not '{split}'.")
    images, labels, names, skipped, reasons = _load_class_folders(
        root, lambda f, d: ckplus_subject(f.name) is not None and wanted in (None, ckplus_split(f.name)), classes)
    return _finish(images, labels, names, skipped, "ckplus", split, reasons=reasons, classes=classes)


def load_folders(root: Path, split: str, classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    images, labels, names, skipped, reasons = _load_class_folders(root, lambda f, d: True, classes)
    return _finish(images, labels, names, skipped, "folders", split, reasons=reasons, classes=classes)


def load_dataset(path: str | os.PathLike, fmt: str = "auto", split: str = "all",
                 classes: tuple[str, ...] = CLASSES) -> FaceDataset:
    """Load one split of a dataset as gray uint8 images with labels in ``classes`` order (CLASSES, or
    CLASSES_8 for an eight-class model)."""
    if fmt not in FORMATS:
        raise DatasetError(f"Unknown format '{fmt}'; choose one of {', '.join(FORMATS)}.")
    if split not in SPLITS:
        raise DatasetError(f"Unknown split '{split}'; choose one of {', '.join(SPLITS)}.")
    p = resolve_dataset_path(path)
    if fmt == "auto":
        fmt = detect_format(p)
    elif not p.exists():
        raise DatasetError(f"Dataset path {p} does not exist. {EXPECTED_LAYOUTS}")
    loader = {"fer2013-folders": load_fer2013_folders, "fer2013-csv": load_fer2013_csv,
              "ferplus": load_ferplus, "ckplus": load_ckplus, "folders": load_folders}[fmt]
    try:
        return loader(p, split, tuple(classes))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise DatasetError(f"Could not read {p} as {fmt}: {exc}. {EXPECTED_LAYOUTS}") from exc


def load_validation_split(path: str | os.PathLike, fmt: str = "auto", classes: tuple[str, ...] = CLASSES
                          ) -> FaceDataset:
    """The split models are measured and chosen on: PublicTest (FER+ valid) when the layout has
    one, else every image (plain class folders have no splits); ``.split`` says which."""
    try:
        ds = load_dataset(path, fmt, "public_test", classes)
    except DatasetError:
        return load_dataset(path, fmt, "all", classes)
    if ds.fmt == "folders":
        ds.split = "all"
    return ds
