"""Evaluate a trained model (Keras or any exported TFLite file) on a dataset split.

    python -m fer_core.training.evaluate --model models/model.tflite --data ../shared/data/fer2013
    python -m fer_core.training.evaluate --model runs/main/model.keras --data my_ckplus/ --json ck.json

Prints accuracy, macro-F1, per-class precision / recall / F1 / specificity / support and the
confusion matrix (rows = true class, columns = predicted), and writes the same as JSON.
Images of classes the model does not have (CK+'s ``contempt`` for a seven-class model) and
unreadable files are skipped and counted. The split defaults to PublicTest (FER+ valid) when the dataset has one, else
every image.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from fer_core.core.labels import CLASSES
from fer_core.training.cli import run_command, write_json

DEFAULT_SPLIT = "auto"
_ABBREV = {c: c[:4] for c in CLASSES}


def _dataset(data_path: str | os.PathLike, fmt: str, split: str, classes: tuple[str, ...] = CLASSES):
    """Load the split; 'auto' means the validation split when the layout has one, else all images."""
    from fer_core.training.data import load_dataset, load_validation_split

    if split == "auto":
        return load_validation_split(data_path, fmt, classes)
    return load_dataset(data_path, fmt, split, classes)


def folder_classes(model_path: str | os.PathLike) -> tuple[str, ...]:
    """The classes of the model folder (or run folder) a model file sits in; the seven without one."""
    from fer_core.core.model_folder import CONFIG_NAME, load_model_config

    folder = Path(model_path).parent
    return tuple(load_model_config(folder)["classes"]) if (folder / CONFIG_NAME).is_file() else CLASSES


def _served_calibration(model_path: str | os.PathLike):
    """A model file inside a model folder is evaluated with the folder's calibration, as served."""
    from fer_core.core.calibration import folder_calibration
    from fer_core.core.model_folder import CONFIG_NAME

    folder = Path(model_path).parent
    return folder_calibration(folder) if (folder / CONFIG_NAME).is_file() else None


def predict_dataset(classifier, images: list[np.ndarray], batch_size: int = 256,
                    progress: bool = False, mirror: bool = False) -> np.ndarray:
    """(N, classes) probabilities, preprocessing batch by batch so memory stays bounded on big splits."""
    from fer_core.core.preprocess import preprocess_faces

    out = []
    t0 = last = time.time()
    tty = sys.stderr.isatty()
    for start in range(0, len(images), batch_size):
        x = preprocess_faces(images[start:start + batch_size], classifier.input_size)
        out.append(classifier.predict_preprocessed(x, mirror))
        done = min(start + batch_size, len(images))
        if progress and (tty or time.time() - last > 10 or done == len(images)):
            last = time.time()
            rate = done / max(last - t0, 1e-6)
            print(f"{chr(13) if tty else ''}  predicted {done}/{len(images)} ({rate:.0f} img/s)",
                  end="" if tty else "\n", file=sys.stderr, flush=True)
    if progress and tty and images:
        print(file=sys.stderr)
    return np.concatenate(out) if out else np.zeros((0, len(classifier.classes)), np.float32)


def evaluate(model_path: str | os.PathLike, data_path: str | os.PathLike, fmt: str = "auto",
             split: str = DEFAULT_SPLIT, batch_size: int = 256, progress: bool = False,
             classifier=None, mirror: bool = False) -> dict:
    """The evaluate JSON (fer_core.training.metrics.classification_report) plus what was evaluated on
    what: the faces of the model's classes (an eight-class model's include contempt's)."""
    from fer_core.engine.classifier import Classifier
    from fer_core.training.metrics import classification_report

    t0 = time.time()
    classes = tuple(classifier.classes) if classifier else folder_classes(model_path)
    ds = _dataset(data_path, fmt, split, classes)  # data errors first: cheaper than a model
    clf = classifier or Classifier.from_path(model_path, classes=classes, calibration=_served_calibration(model_path))
    if progress:
        print(f"evaluating {Path(model_path).name} on {len(ds)} images ({ds.fmt}, split {ds.split}, "
              f"{ds.skipped} skipped)", file=sys.stderr, flush=True)
    probs = predict_dataset(clf, ds.images, batch_size, progress, mirror)
    report = classification_report(ds.labels, probs.argmax(1), skipped=ds.skipped, classes=tuple(clf.classes))
    report.update({
        "model": Path(model_path).name,
        "backend": getattr(clf, "backend", None),
        "mirror": mirror,
        "input_size": int(clf.input_size),
        "data": str(data_path),
        "format": ds.fmt,
        "split": ds.split,
        "skipped_reasons": dict(ds.skipped_reasons),
        "seconds": round(time.time() - t0, 2),
    })
    return report


def format_report(report: dict) -> str:
    """Readable text: headline figures, per-class table, confusion matrix with class names."""
    classes = report["classes"]
    lines = [
        f"model {report.get('model', '?')}{' (mirror-averaged)' if report.get('mirror') else ''} "
        f"on {report.get('format', '?')} split {report.get('split', '?')}: "
        f"{report['n']} images, {report['skipped']} skipped"
        + (f" ({', '.join(f'{k}: {v}' for k, v in report.get('skipped_reasons', {}).items())})"
           if report.get("skipped_reasons") else ""),
        f"accuracy {report['accuracy']:.4f}   macro-F1 {report['macro_f1']:.4f}",
        "",
        f"{'class':<10}{'precision':>10}{'recall':>8}{'F1':>8}{'specif.':>9}{'support':>9}",
    ]
    for c in classes:
        m = report["per_class"][c]
        lines.append(f"{c:<10}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>8.3f}"
                     f"{m['specificity']:>9.3f}{m['support']:>9d}")
    width = max(6, max(len(str(v)) for row in report["confusion_matrix"] for v in row) + 1)
    lines += ["", "confusion matrix (rows = true, columns = predicted)",
              f"{'':<10}" + "".join(f"{_ABBREV.get(c, c[:4]):>{width}}" for c in classes)]
    for c, row in zip(classes, report["confusion_matrix"]):
        lines.append(f"{c:<10}" + "".join(f"{v:>{width}d}" for v in row))
    return "\n".join(lines)


def main(argv=None) -> int:
    from fer_core.training.data import FORMATS, SPLITS, DatasetError
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.evaluate", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model file: .keras or .tflite")
    ap.add_argument("--data", required=True, help="dataset path (FER-2013 folders/CSV, FER+, class folders)")
    ap.add_argument("--format", default="auto", choices=FORMATS)
    ap.add_argument("--split", default=DEFAULT_SPLIT, choices=("auto", *SPLITS),
                    help="auto (default): PublicTest / FER+ valid when present, else every image; "
                         "test: FER+ test (FER2013Test) or FER-2013 PrivateTest; all: every split")
    ap.add_argument("--json", default=None, help="write the report as JSON here")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--quiet", action="store_true", help="no progress output")
    ap.add_argument("--mirror", action="store_true",
                    help="average each face with its mirror image, as the app does for photos and videos")
    args = ap.parse_args(argv)

    def work() -> None:
        report = evaluate(args.model, args.data, args.format, args.split, args.batch_size, not args.quiet,
                          mirror=args.mirror)
        print(format_report(report))
        if args.json:
            write_json(report, args.json)
            print(f"wrote {args.json}")

    return run_command(work, (DatasetError, ModelFilesError))


if __name__ == "__main__":
    sys.exit(main())
