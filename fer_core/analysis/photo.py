"""Photo analysis: uploaded bytes (or an RGB array) -> faces and probabilities, with JSON / CSV /
annotated PNG exports. Nothing is written to disk.

The result is what the analysis found, nothing more: the "uncertain" threshold is a display
choice, so every view that depends on it takes it as an argument and a cached result never
changes when the user moves the slider.

Faces are ordered left to right (then top to bottom) and numbered from 1 everywhere a person sees
them: the numbers drawn on the boxes, the page's "Face N" list and the JSON/CSV ``face`` column.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field

import numpy as np

from fer_core.engine.annotate import annotate_frame
from fer_core.core.imageio import DEFAULT_MAX_DECODE_WORK, DEFAULT_MAX_PIXELS, decode_image, encode_png
from fer_core.core.labels import CLASSES
from fer_core.core.records import make_record
from fer_core.core.results import FacePrediction


@dataclass(frozen=True)
class PhotoResult:
    image: np.ndarray
    faces: list[FacePrediction]
    classes: tuple[str, ...] = field(default=CLASSES, repr=False)
    n_found: int | None = None  # faces detected; more than n_faces when the per-photo limit dropped some

    @property
    def whole_image(self) -> bool:
        """True when no face was detected and the image itself was classified as a face crop."""
        return any(f.whole_image for f in self.faces)

    @property
    def n_faces(self) -> int:
        return len(self.faces)

    @property
    def n_dropped(self) -> int:
        """Faces found but not analysed (beyond the per-photo limit): pages must say so."""
        return max(0, (self.n_found or 0) - self.n_faces)

    @property
    def main_face(self) -> int:
        """Index of the face to show first (Explain opens on it): of the faces at least half as
        large as the largest, the one the detector is surest of (then the most confident emotion).
        The leftmost face need not be the person the photo is of; a false box on a neck or a hand
        is small and scored low."""
        if not self.faces:
            raise ValueError("This photo has no face.")
        largest = max(f.box.area for f in self.faces)
        big = [i for i, f in enumerate(self.faces) if f.box.area >= 0.5 * largest]
        return max(big, key=lambda i: (self.faces[i].box.score, self.faces[i].confidence))

    def annotated(self, threshold: float = 0.0, show_bars: bool = False) -> np.ndarray:
        """A copy of the image with every face drawn and numbered; "uncertain" below ``threshold``."""
        return annotate_frame(self.image, self.faces, threshold=threshold, show_bars=show_bars, numbered=True)

    def annotated_png(self, threshold: float = 0.0, show_bars: bool = False) -> bytes:
        return encode_png(self.annotated(threshold, show_bars))

    def to_dict(self, threshold: float = 0.0) -> dict:
        h, w = self.image.shape[:2]
        faces = []
        for i, f in enumerate(self.faces):
            d = f.to_dict()
            d["face"] = i + 1  # the number drawn on its box
            d["uncertain"] = f.is_uncertain(threshold)
            faces.append(d)
        return {"width": int(w), "height": int(h), "n_faces": self.n_faces, "n_found": self.n_faces + self.n_dropped,
                "whole_image": self.whole_image,
                "threshold": float(threshold), "classes": list(self.classes), "faces": faces}

    def to_json(self, threshold: float = 0.0) -> str:
        return json.dumps(self.to_dict(threshold), indent=2)

    def to_csv(self, threshold: float = 0.0) -> str:
        """One row per face: its record (fer_core.core.records, as batch runs export it) without the
        time columns, plus the face's number and flags."""
        cols = ["face", "x", "y", "w", "h", "label", "confidence", "uncertain", "whole_image", *self.classes]
        buf = io.StringIO()
        wr = csv.DictWriter(buf, cols, extrasaction="ignore", lineterminator="\n")
        wr.writeheader()
        for i, f in enumerate(self.faces):
            wr.writerow({**make_record(f, 0.0, 0), "face": i + 1, "uncertain": f.is_uncertain(threshold),
                         "whole_image": f.whole_image})
        return buf.getvalue()


def analyze_image(rgb: np.ndarray, analyzer) -> PhotoResult:
    """Analyse an already decoded RGB image; faces left to right (then top to bottom), whatever
    order the detector gave."""
    img = np.ascontiguousarray(rgb, dtype=np.uint8)
    faces, n_found = analyzer.analyze_counted(img)
    faces = sorted(faces, key=lambda f: (f.box.x, f.box.y))
    return PhotoResult(img, faces, tuple(analyzer.classifier.classes), n_found)


def analyze_photo(data: bytes, analyzer, *, max_pixels: int = DEFAULT_MAX_PIXELS,
                  max_decode_work: int = DEFAULT_MAX_DECODE_WORK) -> PhotoResult:
    """Decode uploaded bytes (ImageDecodeError with a user message when unusable) and analyse them."""
    return analyze_image(decode_image(data, max_pixels=max_pixels, max_decode_work=max_decode_work), analyzer)


def dropped_faces_notice(result: PhotoResult) -> str | None:
    """What a page says when the per-photo face limit hid faces (64 faces used to show as 32, silently)."""
    if not result.n_dropped:
        return None
    return (f"{result.n_faces + result.n_dropped} faces were found; only the {result.n_faces} largest are analysed "
            "and shown (the limit of faces per photo).")
