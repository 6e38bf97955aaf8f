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
import json
import sys
import time
from pathlib import Path

from fer_core.training.cli import print_report, run_command
from fer_core.training.tf_keras_twin import fit_on_recipe, measure_files, recipe_data, require_tfmot, tf_keras_twin

PRUNED_TYPES = ("Conv2D", "DepthwiseConv2D", "Dense")  # the layers holding nearly all weights


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
    """Prune (or, at 0, only fine-tune) for ``steps`` batches of the recipe's training faces;
    returns the stripped tf_keras model."""
    import tensorflow_model_optimization as tfmot

    model = prunable(twin, sparsity, steps) if sparsity > 0 else twin
    callbacks = [tfmot.sparsity.keras.UpdatePruningStep()] if sparsity > 0 else []
    fit_on_recipe(model, data, steps, lr, batch_size, seed, callbacks)
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


def prune_all(args) -> dict:
    require_tfmot()
    from fer_core.core.tf_import import keras as _keras
    from fer_core.training.arch_compare import hardware
    from fer_core.training.data import load_validation_split
    from fer_core.training.evaluate import folder_classes
    from fer_core.training.export import LATENCY_THREADS, convert_keras

    keras = _keras()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = keras.models.load_model(args.model, compile=False)
    classes = folder_classes(args.model)
    size = int(model.input_shape[1])
    data = recipe_data(args.ferplus, args.ckplus, size, classes, out)
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

    rows = measure_files(files, classes, sets)
    for name, arm in arms.items():
        rows[name] = {**arm, **rows[name]}
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
