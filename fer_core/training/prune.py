"""Magnitude pruning of a trained model: size, speed and accuracy at several sparsities.

    python -m fer_core.training.prune --model models/model.keras --out runs/prune --sparsity 0,0.3,0.5,0.7 \\
        --ferplus ../shared/data/ferplus --ckplus ../shared/data/ckplus48

tensorflow-model-optimization prunes tf_keras (Keras 2) models only, so each arm builds the same
EfficientNet-B0 in tf_keras, copies the model's weights into it (checked: same outputs), wraps its
convolutions and its head in ``prune_low_magnitude`` (the sparsity rises from 0 to the target over
the first half of the steps, then holds) and fine-tunes it on the shipped recipe's data. The
stripped weights then go back into the Keras 3 model, which is exported to dynamic-range TFLite (the
served variant) and measured like the shipped file on the same faces: FER+ valid accuracy and
macro-F1, CK+ valid accuracy, agreement with the shipped model, file size raw and gzip-compressed
(zeros only shrink a compressed file), and ms per face, every file timed in alternating rounds.
Sparsity 0 is the control: the same fine-tuning without pruning. The table goes to ``--json``
(models/pruning.json), which the model card shows; an arm whose file is there already is measured,
not trained again.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path

import numpy as np

from fer_core.training.cli import CommandError, print_report, run_command

PRUNED_TYPES = ("Conv2D", "DepthwiseConv2D", "Dense")  # the layers holding nearly all weights
MAX_TWIN_DIFF = 1e-4  # probabilities: the tf_keras copy must compute what the Keras 3 model does


def tf_keras_twin(model):
    """The same EfficientNet-B0 classifier built in tf_keras, holding ``model``'s weights."""
    import tf_keras

    size, n_classes = int(model.input_shape[1]), int(model.output_shape[-1])
    inputs = tf_keras.Input((size, size, 3), name="face")
    backbone = tf_keras.applications.EfficientNetB0(include_top=False, weights=None, input_tensor=inputs,
                                                    pooling="avg")
    x = tf_keras.layers.Dropout(0.3, name="head_dropout")(backbone.output)
    twin = tf_keras.Model(inputs, tf_keras.layers.Dense(n_classes, activation="softmax", name="emotion")(x))
    if len(twin.layers) != len(model.layers):
        raise ValueError(f"only EfficientNet-B0 models can be pruned here ({model.name} has another network)")
    for mine, theirs in zip(twin.layers, model.layers):
        if mine.weights:
            mine.set_weights(theirs.get_weights())
    probe = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    diff = float(np.abs(twin.predict(probe, verbose=0) - model.predict(probe, verbose=0)).max())
    if diff > MAX_TWIN_DIFF:
        raise ValueError(f"the tf_keras copy differs from the model by {diff:.2g}")
    return twin


def prunable(twin, sparsity: float, steps: int):
    """``twin`` with its convolutions and dense layer wrapped for magnitude pruning to ``sparsity``
    (the wrappers and the other layers are ``twin``'s own, weights included)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    schedule = tfmot.sparsity.keras.PolynomialDecay(initial_sparsity=0.0, final_sparsity=sparsity, begin_step=0,
                                                    end_step=max(1, steps // 2), frequency=max(1, steps // 20))

    def wrap(layer):
        if type(layer).__name__ in PRUNED_TYPES:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule)
        return layer

    return tf_keras.models.clone_model(twin, clone_function=wrap)


def sparsity_of(model) -> float:
    """Share of zero weights in the kernels of the pruned layer types."""
    kernels = [w for layer in model.layers if type(layer).__name__ in PRUNED_TYPES for w in layer.get_weights()[:1]]
    total = sum(k.size for k in kernels)
    return float(sum(int((k == 0).sum()) for k in kernels) / total) if total else 0.0


def fine_tune(twin, data, sparsity: float, steps: int, lr: float, batch_size: int, seed: int):
    """Prune (or, at 0, only fine-tune) for ``steps`` batches of the recipe's class-weighted,
    augmented training faces; returns the stripped tf_keras model."""
    import tensorflow_model_optimization as tfmot
    import tf_keras

    from fer_core.training.augment import augment_batch, parse_groups
    from fer_core.training.sampler import weighted_batches

    model = prunable(twin, sparsity, steps) if sparsity > 0 else twin
    n_classes = int(twin.output_shape[-1])
    targets = data.targets if data.targets is not None else np.eye(n_classes, dtype=np.float32)[data.y_train]
    rng = np.random.default_rng(seed)
    groups = parse_groups("geometric,photometric")

    def batches():
        for idx in weighted_batches(data.y_train, batch_size, n_classes, 0.5, rng):
            yield augment_batch(data.x_train[idx], rng, groups), targets[idx]

    model.compile(optimizer=tf_keras.optimizers.Adam(lr),
                  loss=tf_keras.losses.CategoricalFocalCrossentropy(gamma=2.0, label_smoothing=0.05))
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()] if sparsity > 0 else []
    model.fit(batches(), steps_per_epoch=steps, epochs=1, callbacks=callbacks, verbose=2)
    return tfmot.sparsity.keras.strip_pruning(model) if sparsity > 0 else model


def back_into(model, tuned):
    """``tuned``'s weights in a copy of the Keras 3 ``model`` (exported and served like any other)."""
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    out = keras.models.clone_model(model)
    for mine, theirs in zip(out.layers, tuned.layers):
        if mine.weights:
            mine.set_weights(theirs.get_weights())
    return out


def file_row(path: Path, classifier, sets: dict, reference: dict | None) -> dict:
    """Size and validation figures of one served file (raw outputs, single pass)."""
    from fer_core.training.evaluate import predict_dataset
    from fer_core.training.metrics import classification_report

    row = {"file": str(path), "size_mb": round(path.stat().st_size / 1e6, 2),
           "gzip_mb": round(len(gzip.compress(path.read_bytes(), 6)) / 1e6, 2), "predictions": {}}
    for name, ds in sets.items():
        pred = predict_dataset(classifier, ds.images).argmax(1)
        rep = classification_report(ds.labels, pred, classes=tuple(classifier.classes))
        row[f"{name}_accuracy"], row[f"{name}_macro_f1"] = round(rep["accuracy"], 4), round(rep["macro_f1"], 4)
        row["predictions"][name] = pred
        if reference is not None:
            row[f"{name}_agreement"] = round(float(np.mean(pred == reference["predictions"][name])), 4)
    return row


def prune_all(args) -> dict:
    try:
        import tensorflow_model_optimization  # noqa: F401
    except ImportError:
        raise CommandError("pruning needs tensorflow-model-optimization: "
                           ".venv/bin/pip install --no-deps -r requirements-prune.txt") from None
    from fer_core.core.tf_import import keras as _keras
    from fer_core.engine.classifier import Classifier
    from fer_core.engine.litert import interleaved_latency_ms
    from fer_core.training.arch_compare import hardware
    from fer_core.training.data import load_validation_split
    from fer_core.training.evaluate import folder_classes
    from fer_core.training.export import LATENCY_THREADS, convert_keras
    from fer_core.training.train import load_training_data, parse_args

    keras = _keras()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(args.model, compile=False)
    classes = folder_classes(args.model)
    size = int(model.input_shape[1])
    recipe = ["--data", args.ferplus, "--soft-labels", "--extra-train", args.ckplus, "--extra-repeat", "2",
              "--input-size", str(size), "--out", str(out)] + (["--contempt"] if len(classes) == 8 else [])
    data = load_training_data(parse_args(recipe))
    sets = {name: load_validation_split(path, classes=classes)
            for name, path in (("ferplus_valid", args.ferplus), ("ckplus_valid", args.ckplus)) if path}

    files = {"shipped": out / "shipped_dynamic.tflite"}
    files["shipped"].write_bytes(convert_keras(model, "dynamic"))
    arms = {}
    for sparsity in args.sparsity:
        name = f"sparsity_{round(sparsity * 100)}"
        path = out / f"{name}.tflite"
        if not path.is_file():
            t0 = time.time()
            tuned = fine_tune(tf_keras_twin(model), data, sparsity, args.steps, args.lr, args.batch_size, args.seed)
            pruned = back_into(model, tuned)
            path.write_bytes(convert_keras(pruned, "dynamic"))
            (out / f"{name}.json").write_text(json.dumps({"sparsity": round(sparsity_of(pruned), 4),
                                                          "minutes": round((time.time() - t0) / 60, 1)}))
        files[name] = path
        arms[name] = {"target_sparsity": sparsity, **json.loads((out / f"{name}.json").read_text())}

    classifiers = {k: Classifier.from_path(p, classes=classes, threads=LATENCY_THREADS) for k, p in files.items()}
    rows = {"shipped": file_row(files["shipped"], classifiers["shipped"], sets, None)}
    for name in arms:
        rows[name] = {**arms[name], **file_row(files[name], classifiers[name], sets, rows["shipped"])}
    x1 = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    for name, (p50, _) in zip(files, interleaved_latency_ms(list(classifiers.values()), x1, rounds=10, repeats=20)):
        rows[name]["ms_p50"] = round(p50, 3)
    for row in rows.values():
        row.pop("predictions")
    table = {"what": "magnitude pruning (tensorflow-model-optimization) of the shipped model, fine-tuned "
                     f"{args.steps} steps of {args.batch_size} faces per arm, exported dynamic-range like the served file",
             "model": str(args.model), "steps": args.steps, "lr": args.lr, "hardware": hardware(),
             "figures": "Single pass, raw outputs (no calibration); ms per face at batch 1, "
                        f"{LATENCY_THREADS} threads, all files timed in alternating rounds",
             "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "note": args.note, "rows": rows}
    Path(args.json).write_text(json.dumps(table, indent=1))
    return table


def main(argv=None) -> int:
    from fer_core.core.model_folder import ModelFilesError
    from fer_core.training.data import DatasetError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.prune", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/model.keras", help="the Keras model to prune (read, never changed)")
    ap.add_argument("--out", required=True, help="folder for the arms' files")
    ap.add_argument("--json", default="models/pruning.json", help="where the table is written")
    ap.add_argument("--sparsity", default="0,0.3,0.5,0.7", help="comma-separated target sparsities (0 = control)")
    ap.add_argument("--steps", type=int, default=300, help="fine-tuning steps per arm")
    ap.add_argument("--lr", type=float, default=5e-5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--ferplus", default="../shared/data/ferplus")
    ap.add_argument("--ckplus", default="../shared/data/ckplus48")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--note", default="", help="what the figures mean and what was decided, in words, kept in the table")
    args = ap.parse_args(argv)
    args.sparsity = [float(s) for s in args.sparsity.split(",") if s.strip()]
    if any(not 0 <= s < 1 for s in args.sparsity):
        ap.error("sparsities must be at least 0 and below 1")
    return run_command(lambda: print_report(prune_all(args)), (DatasetError, ModelFilesError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
