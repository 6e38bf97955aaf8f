"""Small result types shared by the detector, classifier, analyzer and the pages.

A face is a box plus a probability vector in CLASSES order; everything the dashboard shows
or exports (labels, confidence, JSON; the record table in fer_core.core.records) is derived from these two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from fer_core.core.labels import CLASSES

UNCERTAIN_LABEL = "uncertain"


def is_uncertain(confidence: float, threshold: float) -> bool:
    """Below the threshold the dashboard shows "uncertain" instead of the label."""
    return confidence < threshold


@dataclass
class FaceBox:
    """Face rectangle in pixel coordinates of the analysed image (top-left x, y; width, height)."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0
    landmarks: dict[str, tuple[int, int]] | None = None

    @property
    def area(self) -> int:
        return max(0, self.w) * max(0, self.h)

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2.0, self.y + self.h / 2.0

    def as_xyxy(self) -> tuple[int, int, int, int]:
        return self.x, self.y, self.x + self.w, self.y + self.h

    def iou(self, other: FaceBox) -> float:
        """Intersection over union, the tracker's matching score."""
        ax0, ay0, ax1, ay1 = self.as_xyxy()
        bx0, by0, bx1, by1 = other.as_xyxy()
        iw = max(0, min(ax1, bx1) - max(ax0, bx0))
        ih = max(0, min(ay1, by1) - max(ay0, by0))
        inter = iw * ih
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0

    def to_dict(self) -> dict:
        d: dict = {"x": int(self.x), "y": int(self.y), "w": int(self.w), "h": int(self.h),
                   "score": float(self.score)}
        if self.landmarks:
            d["landmarks"] = {k: [int(v[0]), int(v[1])] for k, v in self.landmarks.items()}
        return d


@dataclass
class FacePrediction:
    """One face's box and class probabilities (CLASSES order); track_id is set by the tracker."""

    box: FaceBox
    probs: np.ndarray
    track_id: int | None = None
    whole_image: bool = False
    classes: tuple[str, ...] = field(default=CLASSES, repr=False)

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, dtype=np.float32).reshape(-1)
        if self.probs.shape[0] != len(self.classes):
            raise ValueError(f"Expected {len(self.classes)} probabilities, got {self.probs.shape[0]}.")

    @property
    def label(self) -> str:
        return self.classes[int(np.argmax(self.probs))]

    @property
    def confidence(self) -> float:
        return float(np.max(self.probs))

    def is_uncertain(self, threshold: float) -> bool:
        return is_uncertain(self.confidence, threshold)

    def display_label(self, threshold: float = 0.0) -> str:
        return UNCERTAIN_LABEL if self.is_uncertain(threshold) else self.label

    def to_dict(self) -> dict:
        return {
            "box": self.box.to_dict(),
            "label": self.label,
            "confidence": self.confidence,
            "probs": {c: float(p) for c, p in zip(self.classes, self.probs)},
            "track_id": self.track_id,
            "whole_image": bool(self.whole_image),
        }
