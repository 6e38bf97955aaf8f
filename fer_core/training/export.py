"""Export the Keras model to TFLite variants, measure them, and pick the one the app serves.

    python -m fer_core.training.export --model runs/main/model.keras --data ../shared/data/fer2013 --out runs/main/export
    python -m fer_core.training.export --model M.keras --data PATH --out DIR --variants fp32,dynamic,fp16,int8

Each variant is measured against the Keras model on the validation split (PublicTest for
FER-2013): file size, top-1 agreement, accuracy, and single-face latency at batch 1 with
2 threads (all variants timed together, in alternating rounds, after the accuracy pass).
The smallest variant that agrees on >= 98% of faces, loses <= 1 accuracy point and runs
within the 2 ms per-face budget is chosen; ``variants.json`` records all of them so the
model card can show the trade-off.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from fer_core.core.labels import CLASSES, classes_for_outputs
from fer_core.core.model_folder import KERAS_NAME, SERVED_NAME, write_model_config
from fer_core.training.network import DEFAULT_ARCH

VARIANTS = ("fp32", "dynamic", "fp16", "int8")
MIN_AGREEMENT = 0.98
MAX_ACCURACY_DROP = 0.01  # one accuracy point
# The serving budget: classifier time per face at batch 1 on 2 cores. Dynamic-range
# models run hybrid kernels and can be the smallest yet several times slower than int8.
MAX_LATENCY_MS = 2.0
LATENCY_TIE = 1.10  # p50s within 10% are one speed on a noisy 2-core machine
LATENCY_THREADS = 2
VARIANTS_JSON = "variants.json"


@dataclass
class VariantResult:
    """One exported TFLite variant and how it compares with the Keras model."""

    variant: str
    file: str
    size_bytes: int
    agreement: float
    accuracy: float
    keras_accuracy: float
    accuracy_drop: float
    macro_f1: float
    latency_p50_ms: float
    latency_p90_ms: float
    meets_accuracy: bool
    meets_latency: bool

    @property
    def eligible(self) -> bool:
        return self.meets_accuracy and self.meets_latency

    @property
    def size_mb(self) -> float:
        return self.size_bytes / 1e6


def variant_filename(variant: str) -> str:
    return "model.tflite" if variant == "fp32" else f"model_{variant}.tflite"


def convert_keras(keras_model, variant: str, representative: np.ndarray | None = None) -> bytes:
    """Keras model -> TFLite flatbuffer: fp32, dynamic-range, fp16 weights, or full-integer int8.

    int8 quantises activations too, so it needs a representative set of preprocessed faces
    (N,S,S,3 float32 0..255); its input and output tensors are int8 with scale/zero-point,
    which the classifier applies.
    """
    from fer_core.core.tf_import import tensorflow

    tf = tensorflow()
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant '{variant}'; choose from {', '.join(VARIANTS)}.")
    conv = tf.lite.TFLiteConverter.from_keras_model(keras_model)
    if variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        if representative is None or len(representative) == 0:
            raise ValueError("int8 export needs a representative set of training faces.")
        rep = np.asarray(representative, np.float32)

        def gen():
            for i in range(len(rep)):
                yield [rep[i:i + 1]]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = gen
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = tf.int8
        conv.inference_output_type = tf.int8
    with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the whole traced signature
        return conv.convert()


def representative_faces(data_path: str, fmt: str, input_size: int, n: int = 300, seed: int = 0,
                         classes: tuple[str, ...] = CLASSES) -> np.ndarray:
    """A few hundred preprocessed faces from the TRAIN split, drawn across classes, for int8 calibration."""
    from fer_core.training.data import load_dataset
    from fer_core.core.preprocess import preprocess_faces

    train = load_dataset(data_path, fmt, "train", classes)
    rng = np.random.default_rng(seed)
    # One face of each class in turn (each class's faces shuffled): the rare classes' activations
    # (disgust's) get their share of the ranges int8 is calibrated on.
    per_class = [rng.permutation(np.flatnonzero(train.labels == k)).tolist() for k in np.unique(train.labels)]
    idx = [i for group in itertools.zip_longest(*per_class) for i in group if i is not None][:n]
    return preprocess_faces([train.images[i] for i in idx], input_size)


def make_placeholder(out_dir: str | os.PathLike, input_size: int = 64, seed: int = 0,
                     arch: str = DEFAULT_ARCH) -> dict:
    """Random-init model + fp32 TFLite + config, so the app and engine run before training lands.

    Its predictions are meaningless; the config says ``"placeholder": true``.
    """
    from fer_core.training.network import build_model, gradcam_layer_for
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    keras.utils.set_random_seed(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(input_size, arch=arch)
    model.save(out / KERAS_NAME)
    (out / SERVED_NAME).write_bytes(convert_keras(model, "fp32"))
    return write_model_config(out, {"arch": arch, "input_size": input_size,
                                    "gradcam_layer": gradcam_layer_for(input_size, arch), "served_model": SERVED_NAME,
                                    "keras_model": KERAS_NAME, "placeholder": True})


def measure_variant(variant: str, path: Path, pred: np.ndarray, y_val: np.ndarray, keras_pred: np.ndarray,
                    keras_accuracy: float, latency: tuple[float, float],
                    max_latency_ms: float | None = MAX_LATENCY_MS, classes: tuple[str, ...] = CLASSES
                    ) -> VariantResult:
    """Size, agreement with Keras, accuracy and latency (p50, p90 ms) of one exported file."""
    from fer_core.training.metrics import classification_report

    rep = classification_report(y_val, pred, classes=classes)
    agreement = float(np.mean(pred == keras_pred))
    drop = keras_accuracy - rep["accuracy"]
    p50, p90 = latency
    return VariantResult(
        variant=variant, file=path.name, size_bytes=path.stat().st_size, agreement=round(agreement, 5),
        accuracy=round(rep["accuracy"], 5), keras_accuracy=round(keras_accuracy, 5),
        accuracy_drop=round(drop, 5), macro_f1=round(rep["macro_f1"], 5),
        latency_p50_ms=round(p50, 3), latency_p90_ms=round(p90, 3),
        meets_accuracy=bool(agreement >= MIN_AGREEMENT and drop <= MAX_ACCURACY_DROP + 1e-9),
        meets_latency=bool(max_latency_ms is None or p50 <= max_latency_ms),
    )


def predict_in_batches(fn, x: np.ndarray, batch_size: int = 256, progress: bool = False) -> np.ndarray:
    """Run ``fn`` over ``x`` in chunks (bounded memory), optionally printing progress."""
    out = []
    for start in range(0, len(x), batch_size):
        out.append(np.asarray(fn(x[start:start + batch_size])))
        if progress:
            print(f"\r  {min(start + batch_size, len(x))}/{len(x)}", end="", file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def choose_variant(results: list[VariantResult]) -> VariantResult:
    """Smallest variant meeting accuracy and latency; if none is fast enough, the smallest accurate one
    within timing noise of the fastest (noise must not decide the file size); else fp32."""
    eligible = [r for r in results if r.eligible]
    if eligible:
        return min(eligible, key=lambda r: r.size_bytes)
    accurate = [r for r in results if r.meets_accuracy]
    if accurate:
        fastest = min(r.latency_p50_ms for r in accurate)
        return min((r for r in accurate if r.latency_p50_ms <= fastest * LATENCY_TIE), key=lambda r: r.size_bytes)
    fp32 = [r for r in results if r.variant == "fp32"]
    return fp32[0] if fp32 else max(results, key=lambda r: r.agreement)


@dataclass
class ExportResult:
    """All variants measured plus the chosen one (its file copied to ``served_path``)."""

    variants: list[VariantResult]
    chosen: VariantResult
    served_path: Path
    split: str
    n_val: int
    max_latency_ms: float | None = MAX_LATENCY_MS

    def to_dict(self) -> dict:
        return {
            "split": self.split, "n": self.n_val, "chosen": self.chosen.variant,
            "served_model": self.served_path.name,
            "criteria": {"min_agreement": MIN_AGREEMENT, "max_accuracy_drop": MAX_ACCURACY_DROP,
                         "max_latency_ms": self.max_latency_ms, "latency_threads": LATENCY_THREADS,
                         "latency_batch": 1},
            "variants": [{**asdict(v), "eligible": v.eligible} for v in self.variants],
        }


def validation_split(data_path: str, fmt: str, classes: tuple[str, ...] = CLASSES) -> tuple:
    """The validation split (fer_core.training.data.load_validation_split) and its name."""
    from fer_core.training.data import load_validation_split

    ds = load_validation_split(data_path, fmt, classes)
    return ds, ds.split


def export_all(model_path: str | os.PathLike, data_path: str, out_dir: str | os.PathLike, fmt: str = "auto",
               variants: tuple[str, ...] = VARIANTS, n_representative: int = 300,
               latency_rounds: int = 10, latency_repeats: int = 10, max_latency_ms: float | None = MAX_LATENCY_MS,
               log=print) -> ExportResult:
    """Convert, measure and choose; writes every variant, variants.json and the chosen file as served.tflite."""
    from fer_core.engine.classifier import Classifier
    from fer_core.engine.litert import interleaved_latency_ms
    from fer_core.core.preprocess import preprocess_faces
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(model_path, compile=False)
    size = int(model.input_shape[1])
    classes = classes_for_outputs(int(model.output_shape[-1]))
    val, split = validation_split(data_path, fmt, classes)
    x_val = preprocess_faces(val.images, size)
    y_val = val.labels
    log(f"validation: {len(val)} faces ({split}); Keras predictions ...")
    keras_probs = predict_in_batches(lambda b: model.predict(b, verbose=0), x_val)
    keras_pred = keras_probs.argmax(1)
    keras_acc = float(np.mean(keras_pred == y_val))
    log(f"keras accuracy {keras_acc:.4f}")
    rep = representative_faces(data_path, fmt, size, n_representative, classes=classes) if "int8" in variants else None
    classifiers, preds = [], []
    for v in variants:
        t = time.time()
        path = out / variant_filename(v)
        path.write_bytes(convert_keras(model, v, rep))
        classifiers.append(Classifier.from_path(path, input_size=size, classes=classes, threads=LATENCY_THREADS))
        preds.append(predict_in_batches(classifiers[-1].predict_preprocessed, x_val).argmax(1))
        log(f"{v:8s} converted and evaluated ({time.time() - t:.0f}s)")
    log(f"timing {len(variants)} variant(s) at batch 1, {LATENCY_THREADS} threads, {latency_rounds} alternating rounds ...")
    latencies = interleaved_latency_ms(classifiers, x_val[:1], latency_rounds, latency_repeats)
    results = [measure_variant(v, out / variant_filename(v), pred, y_val, keras_pred, keras_acc, lat, max_latency_ms,
                               classes)
               for v, pred, lat in zip(variants, preds, latencies)]
    for r in results:
        log(f"{r.variant:8s} {r.size_mb:6.2f} MB  agreement {r.agreement:.4f}  accuracy {r.accuracy:.4f} "
            f"(drop {r.accuracy_drop * 100:+.2f} pt)  p50 {r.latency_p50_ms:.2f} ms  "
            f"{'eligible' if r.eligible else 'too slow' if r.meets_accuracy else 'not eligible'}")
    chosen = choose_variant(results)
    served = out / "served.tflite"
    shutil.copyfile(out / chosen.file, served)
    res = ExportResult(results, chosen, served, split, len(val), max_latency_ms)
    if not chosen.eligible:
        log(f"warning: no variant met every criterion; serving {chosen.variant}")
    (out / VARIANTS_JSON).write_text(json.dumps(res.to_dict(), indent=1))
    log(f"chosen: {chosen.variant} ({chosen.file}, {chosen.size_mb:.2f} MB) -> {served}")
    return res


def parse_variants(spec: str) -> tuple[str, ...]:
    names = tuple(v.strip() for v in spec.split(",") if v.strip())
    bad = [v for v in names if v not in VARIANTS]
    if bad or not names:
        raise ValueError(f"Unknown variant(s) {', '.join(bad) or '(none)'}; choose from {', '.join(VARIANTS)}.")
    return names


def main(argv=None) -> int:
    from fer_core.training.data import FORMATS, DatasetError
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.export", description=__doc__.split("\n")[0])
    ap.add_argument("--model", help="trained Keras model (.keras)")
    ap.add_argument("--data", help="dataset: train split for int8 calibration, validation split for measuring")
    ap.add_argument("--format", default="auto", choices=FORMATS)
    ap.add_argument("--out", required=True, help="output directory")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--representative", type=int, default=300, help="training faces for int8 calibration")
    ap.add_argument("--max-latency-ms", type=float, default=MAX_LATENCY_MS,
                    help="p50 budget per face at batch 1, 2 threads (<= 0: no latency criterion)")
    ap.add_argument("--placeholder", action="store_true", help="write a random-init placeholder model to --out")
    ap.add_argument("--input-size", type=int, default=64, help="placeholder input size")
    args = ap.parse_args(argv)
    try:
        if args.placeholder:
            make_placeholder(args.out, args.input_size)
            print(f"placeholder model written to {args.out}")
            return 0
        if not args.model or not args.data:
            ap.error("--model and --data are required (or --placeholder)")
        if not Path(args.model).is_file() or Path(args.model).suffix != ".keras":
            raise ModelFilesError(f"--model {args.model} is not an existing .keras file.")
        export_all(args.model, args.data, args.out, args.format, parse_variants(args.variants),
                   args.representative, max_latency_ms=args.max_latency_ms if args.max_latency_ms > 0 else None)
    except (DatasetError, ModelFilesError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
