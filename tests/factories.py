"""Test data built by code: session records, a model's side files (metrics, history, counts, card), a
face detector that finds a crowd and fake interpreters that only answer callers running at once."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from fer_core.core.labels import CLASSES
from fer_core.training.metrics import classification_report


def make_records(labels: list[str], faces: int = 1, fps: float = 10.0, seed: int = 0,
                 classes: tuple[str, ...] = CLASSES) -> list[dict]:
    """Records shaped like the engine's: one per face per frame, probabilities peaked on the label."""
    rng = np.random.default_rng(seed)
    out = []
    for frame, label in enumerate(labels):
        for face in range(faces):
            p = rng.dirichlet(np.ones(len(classes))) * 0.3
            p[classes.index(label)] += 0.7
            out.append({"t": frame / fps, "frame": frame, "face_id": face, "x": 10 + face * 50, "y": 20,
                        "w": 40, "h": 40, "label": label, "confidence": float(p.max()),
                        **{c: float(v) for c, v in zip(classes, p)}})
    return out


def peaked_record(t: float, face: int, label: str, peak: float = 0.8, frame: int | None = None) -> dict:
    """One record whose probability is ``peak`` on ``label`` and shared evenly by the other classes."""
    p = {c: (1 - peak) / (len(CLASSES) - 1) for c in CLASSES}
    p[label] = peak
    return {"t": t, "frame": frame if frame is not None else int(round(t * 10)), "face_id": face,
            "x": 0, "y": 0, "w": 10, "h": 10, "label": label, "confidence": peak, **p}


def two_emotion_records(fps: float = 10.0) -> list[dict]:
    """Face 1: happy 1.0 s then sad 0.5 s; face 2: neutral for 0.5 s starting at 0.3 s (newest first)."""
    recs = [peaked_record(i / fps, 1, "happy") for i in range(10)]
    recs += [peaked_record(1.0 + i / fps, 1, "sad") for i in range(5)]
    recs += [peaked_record(0.3 + i / fps, 2, "neutral", 0.6) for i in range(5)]
    return recs[::-1]  # any order in, sorted out


def fake_report(seed: int = 0, n: int = 700, skill: float = 0.7) -> dict:
    """An evaluate-JSON report of a made-up classifier that is right ``skill`` of the time."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    pred = np.where(rng.random(n) < skill, y, rng.integers(0, len(CLASSES), n))
    return classification_report(y, pred)


def fake_history(epochs: int = 6, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    rows = []
    for e in range(1, epochs + 1):
        acc = 0.3 + 0.05 * e + rng.random() * 0.01
        rows.append({"epoch": e, "loss": 1.5 / e, "accuracy": acc, "val_accuracy": acc - 0.02,
                     "val_macro_f1": acc - 0.05, "lr": 1e-3 / e, "seconds": 60.0 + e,
                     "val_recall": {c: float(rng.random()) for c in CLASSES}})
    return rows


CARD = """# Model card: test model

Made-up figures for tests.

![old figure](old_figure.png)

## Intended use
Intended: trying the test app. Not to be used for judging anybody.

### Compared with the `fer` package

| evaluation set | accuracy | macro-F1 |
|---|---:|---:|
| FER-2013 PublicTest | 0.6123 | 0.5511 |
| FER+ valid | 0.6456 | 0.5622 |

## Limitations

Not for decisions about people. ![remote](https://example.com/tracker.png)
"""

# The `fer` package's figures as reference_figures.json holds them: the same as CARD's table.
REFERENCE_FIGURES = {"FER-2013 PublicTest": {"accuracy": 0.6123, "macro_f1": 0.5511},
                     "FER+ valid": {"accuracy": 0.6456, "macro_f1": 0.5622}}

TRAINING_LOG = """# Training log: test model

Run `t1` trained for 2 epochs; McNemar p = 0.5.
"""


def write_model_side_files(directory: Path, seed: int = 0) -> dict:
    """Write metrics.json ({keras, served}), history.json, class_counts.json, MODEL_CARD.md, TRAINING_LOG.md
    and reference_figures.json."""
    metrics = {"keras": fake_report(seed, skill=0.72), "served": fake_report(seed + 1, skill=0.7),
               "served_model": "model.tflite", "served_variant": "int8", "split": "public_test",
               "variants": [{"variant": v, "file": f"model_{v}.tflite", "size_bytes": size, "agreement": agree,
                             "accuracy": 0.7, "keras_accuracy": 0.72, "accuracy_drop": 0.02, "macro_f1": 0.69,
                             "latency_p50_ms": ms, "latency_p90_ms": ms * 1.2, "meets_accuracy": True,
                             "meets_latency": True, "eligible": True}
                            for v, size, agree, ms in (("fp32", 16_000_000, 1.0, 3.1), ("int8", 4_500_000, 0.985, 1.2))]}
    counts = {c: int(100 + 37 * i) for i, c in enumerate(CLASSES)}
    (directory / "metrics.json").write_text(json.dumps(metrics))
    (directory / "history.json").write_text(json.dumps(fake_history(seed=seed)))
    (directory / "class_counts.json").write_text(json.dumps(counts))
    (directory / "MODEL_CARD.md").write_text(CARD)
    (directory / "TRAINING_LOG.md").write_text(TRAINING_LOG)
    (directory / "reference_figures.json").write_text(json.dumps({"figures": REFERENCE_FIGURES}))
    return {"metrics": metrics, "counts": counts}


class CrowdDetector:
    """A face detector that finds ``n`` faces in a row in any image: for the per-image face limit."""

    name, needs_tensorflow = "crowd", False

    def __init__(self, n: int, side: int = 20) -> None:
        self.n, self.side = n, side

    def detect(self, rgb):
        from fer_core.core.results import FaceBox

        h, w = rgb.shape[:2]
        per_row = max(1, w // self.side)
        return [FaceBox((i % per_row) * self.side, (i // per_row) * self.side % max(1, h - self.side),
                        self.side, self.side, 0.9) for i in range(self.n)]


def meeting_runners(parties: int = 2, timeout: float = 10.0):
    """A ``runner_factory`` for Classifier whose fake interpreters only answer once ``parties`` runs are
    in progress at the same moment: callers that shared one interpreter, or waited on each other's
    lock, never meet (``threading.BrokenBarrierError`` after the timeout)."""
    meeting = threading.Barrier(parties, timeout=timeout)

    class Runner:
        def run(self, x: np.ndarray) -> np.ndarray:
            meeting.wait()
            return np.full((len(x), len(CLASSES)), 1.0 / len(CLASSES), np.float32)

    return Runner


def fake_arch_table() -> dict:
    """arch_comparison.json as fer_core.training.arch_compare writes it, two made-up arms: the
    B0 arm reads faces better, the CNN arm is faster."""
    def row(arch, params, f1, ms, drop):
        return {"arch": arch, "params": params, "mflops_per_face": 60.5, "ferplus_valid_accuracy": f1 + 0.1,
                "ferplus_valid_macro_f1": f1, "ckplus_valid_accuracy": 0.8, "public_test_accuracy": 0.5,
                "selection": 0.6, "best_epoch": 3, "epochs": 3, "train_faces": 11458, "train_minutes": 7.5,
                "served_variant": "int8", "served_size_mb": 1.2, "fp32_size_mb": 4.8, "int8_size_mb": 1.2,
                "int8_agreement": 0.97, "int8_accuracy_drop": drop, "int8_qualifies": drop <= 0.01,
                "served_ms_p50": ms, "int8_ms_p50": ms, "gradcam_layer": "x", "run": "runs/arch/" + arch,
                "served_file": "model_int8.tflite", "int8_file": "model_int8.tflite"}

    return {"budget": {"epochs": 3, "ferplus_faces": 10000, "train_faces_per_epoch": 11458, "steps_per_arm": 537,
                       "note": "a short, equal budget"},
            "hardware": "Made-up CPU, 2 cores", "other_training_during_timing": False,
            "figures": "made-up figures for tests",
            "rows": [row("efficientnet_b0", 4_058_538, 0.61, 1.52, 0.047), row("cnn", 812_000, 0.42, 0.35, 0.004)],
            "shipped_int8": {"int8_agreement": 0.856, "int8_accuracy_drop": 0.047, "int8_qualifies": False, "n": 3370,
                             "representative_faces": 300, "rule_picks": "dynamic"}}
