"""A tf_keras copy of the EfficientNet-B0 classifier, for tensorflow-model-optimization (which wraps
tf_keras models only): built, filled with the Keras 3 model's weights, fine-tuned on the shipped recipe's
faces, and its TFLite files measured on the validation sets (fer_core.training.prune, .qat)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from fer_core.training.cli import CommandError

MAX_TWIN_DIFF = 1e-4  # probabilities: the tf_keras copy must compute what the Keras 3 model does


def require_tfmot() -> None:
    """A clear message instead of an ImportError when the pruning extra is not installed."""
    from fer_core.core.tf_import import tensorflow

    tensorflow()  # first: fer_core.core.tf_import sets up what TensorFlow must come after
    try:
        import tensorflow_model_optimization  # noqa: F401
    except ImportError:
        raise CommandError("this needs tensorflow-model-optimization: "
                           ".venv/bin/pip install --no-deps -r requirements-prune.txt") from None


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
        raise ValueError(f"only EfficientNet-B0 models have a tf_keras copy here ({model.name} has another network)")
    for mine, theirs in zip(twin.layers, model.layers):
        if mine.weights:
            mine.set_weights(theirs.get_weights())
    probe = np.random.default_rng(0).uniform(0, 255, (4, size, size, 3)).astype(np.float32)
    diff = float(np.abs(twin.predict(probe, verbose=0) - model.predict(probe, verbose=0)).max())
    if diff > MAX_TWIN_DIFF:
        raise ValueError(f"the tf_keras copy differs from the model by {diff:.2g}")
    return twin


def recipe_data(ferplus: str, ckplus: str, input_size: int, classes: tuple[str, ...], out: Path):
    """The shipped recipe's training faces: FER+ vote shares plus CK+ train subjects twice."""
    from fer_core.training.train import load_training_data, parse_args

    argv = ["--data", ferplus, "--soft-labels", "--extra-train", ckplus, "--extra-repeat", "2",
            "--input-size", str(input_size), "--out", str(out)] + (["--contempt"] if len(classes) == 8 else [])
    return load_training_data(parse_args(argv))


def fit_on_recipe(model, data, steps: int, lr: float, batch_size: int, seed: int, callbacks=()) -> None:
    """``steps`` batches of class-weighted, augmented (geometric, photometric) faces, with the recipe's
    focal loss."""
    import tf_keras

    from fer_core.training.augment import augment_batch, parse_groups
    from fer_core.training.sampler import weighted_batches

    n_classes = int(model.output_shape[-1])
    targets = data.targets if data.targets is not None else np.eye(n_classes, dtype=np.float32)[data.y_train]
    rng = np.random.default_rng(seed)
    groups = parse_groups("geometric,photometric")

    def batches():
        for idx in weighted_batches(data.y_train, batch_size, n_classes, 0.5, rng):
            yield augment_batch(data.x_train[idx], rng, groups), targets[idx]

    model.compile(optimizer=tf_keras.optimizers.Adam(lr),
                  loss=tf_keras.losses.CategoricalFocalCrossentropy(gamma=2.0, label_smoothing=0.05))
    model.fit(batches(), steps_per_epoch=steps, epochs=1, callbacks=list(callbacks), verbose=2)


def measure_files(files: dict[str, Path], classes: tuple[str, ...], sets: dict) -> dict[str, dict]:
    """``measure_file`` for each file, agreement taken against the first, and ms per face (batch 1),
    every file timed in alternating rounds."""
    from fer_core.engine.classifier import Classifier
    from fer_core.engine.litert import interleaved_latency_ms
    from fer_core.training.export import LATENCY_THREADS

    classifiers = {k: Classifier.from_path(p, classes=classes, threads=LATENCY_THREADS) for k, p in files.items()}
    rows, first = {}, None
    for name, path in files.items():
        rows[name] = measure_file(path, classifiers[name], sets, first)
        first = first or rows[name]
    size = next(iter(classifiers.values())).input_size
    x1 = np.random.default_rng(0).uniform(0, 255, (1, size, size, 3)).astype(np.float32)
    for name, (p50, _) in zip(files, interleaved_latency_ms(list(classifiers.values()), x1, rounds=10, repeats=20)):
        rows[name]["ms_p50"] = round(p50, 3)
    for row in rows.values():
        row.pop("predictions")
    return rows


def measure_file(path: Path, classifier, sets: dict, reference: dict | None) -> dict:
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
