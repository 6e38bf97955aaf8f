"""One image in, one FacePrediction per face out: detect, crop, classify in one batch.

When nothing is detected in an image that already looks like a face crop (short side
<= 128 px, nearly square, like a FER-2013 image), the whole image is classified and the
prediction says so (``whole_image=True``) instead of reporting "no face".
"""

from __future__ import annotations

import numpy as np

from fer_core.core.limits import Limits
from fer_core.core.results import FaceBox, FacePrediction
from fer_core.engine.faces import DEFAULT_DETECTOR, DEFAULT_MARGIN, crop_face, make_detector

# Photos and videos are not real-time: each face is averaged with its mirror image, right more
# often for twice the classifier work (the live path classifies once per frame).
MIRROR_STILLS = True
WHOLE_IMAGE_MAX_SIDE = 128
# Below this there are too few pixels to read a face from (a 1x1 image was "classified" as one).
WHOLE_IMAGE_MIN_SIDE = 24
WHOLE_IMAGE_ASPECT = (0.8, 1.25)
MAX_FACES = Limits.faces_per_image  # the default; FER_MAX_FACES configures it (fer_core.core.limits)


def looks_like_face_crop(shape: tuple[int, ...], max_short_side: int = WHOLE_IMAGE_MAX_SIDE,
                         aspect: tuple[float, float] = WHOLE_IMAGE_ASPECT) -> bool:
    """Small and nearly square, yet not tiny: treat as an already-cropped face rather than a scene."""
    h, w = int(shape[0]), int(shape[1])
    if min(h, w) < WHOLE_IMAGE_MIN_SIDE:
        return False
    return min(h, w) <= max_short_side and aspect[0] <= w / h <= aspect[1]


class FaceAnalyzer:
    """Detector + classifier; ``analyze`` is safe to call from several threads if both parts are."""

    def __init__(self, classifier, detector, margin: float = DEFAULT_MARGIN, align: bool = True,
                 whole_image_fallback: bool = True, max_faces: int = MAX_FACES, mirror: bool = False) -> None:
        self.classifier = classifier
        self.detector = detector
        self.margin = margin
        self.align = align
        self.whole_image_fallback = whole_image_fallback
        self.max_faces = max_faces
        self.mirror = mirror  # average with the mirror image (Classifier.predict_preprocessed)

    def classify_boxes(self, rgb: np.ndarray, boxes: list[FaceBox]) -> np.ndarray:
        """Probabilities for the given boxes, in one classifier batch."""
        if not boxes:
            return np.zeros((0, len(self.classifier.classes)), np.float32)
        crops = [crop_face(rgb, b, self.margin, self.align) for b in boxes]
        return self.classifier.predict(crops, self.mirror)

    def analyze(self, rgb: np.ndarray) -> list[FacePrediction]:
        return self.analyze_counted(rgb)[0]

    def analyze_counted(self, rgb: np.ndarray) -> tuple[list[FacePrediction], int]:
        """The faces analysed and how many were detected: beyond ``max_faces`` only the largest are
        analysed, and callers say so instead of silently showing fewer faces."""
        img = np.asarray(rgb)
        boxes = self.detector.detect(img)
        n_found = len(boxes)
        if n_found > self.max_faces:  # keep the largest faces
            boxes = sorted(sorted(boxes, key=lambda b: b.area, reverse=True)[: self.max_faces],
                           key=lambda b: (b.x, b.y))
        if boxes:
            probs = self.classify_boxes(img, boxes)
            return [FacePrediction(b, p, classes=self.classifier.classes) for b, p in zip(boxes, probs)], n_found
        if self.whole_image_fallback and looks_like_face_crop(img.shape):
            h, w = img.shape[:2]
            probs = self.classifier.predict([img], self.mirror)[0]
            return [FacePrediction(FaceBox(0, 0, w, h, 0.0), probs, whole_image=True,
                                   classes=self.classifier.classes)], 1
        return [], 0


def make_analyzer(classifier, detector=DEFAULT_DETECTOR, purpose: str = "photo", **options) -> FaceAnalyzer:
    """The analyzer photos and videos are run with everywhere (pages, batch runs, benchmarks,
    evaluation): ``detector`` by name (made with the settings for ``purpose``) or one already made,
    each face mirror-averaged (MIRROR_STILLS) unless ``options`` say otherwise."""
    if isinstance(detector, str):
        detector = make_detector(detector, purpose)
    return FaceAnalyzer(classifier, detector, **{"mirror": MIRROR_STILLS, **options})
