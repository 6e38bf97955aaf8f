"""Quantisation-aware fine-tuning toward a full-integer int8 model that agrees with the float one.

    python -m fer_core.training.qat --model models/model.keras --out runs/qat --steps 300 --lr 1e-4 --float-se

Post-training int8 of the shipped B0 loses about 3 points of FER+ valid accuracy (model card), more
than the 1 point the served-variant rule allows. Here tensorflow-model-optimization fake-quantises the
tf_keras copy's weights and activations (its default 8-bit scheme; the input's rescaling stays float,
and so do the squeeze-excite products with ``--float-se``, else they get an 8-bit output), fine-tunes it
on the shipped recipe's faces, and converts it to int8 TFLite (float input and output, int8 inside),
which is measured beside the served file on the same faces: accuracy, agreement, size and ms per face.
The figures go to ``--json``; nothing is shipped from here.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from fer_core.training.cli import print_report, run_command
from fer_core.training.tf_keras_twin import fit_on_recipe, measure_files, recipe_data, require_tfmot, tf_keras_twin

FLOAT_TYPES = ("InputLayer", "Rescaling", "Normalization", "Dropout")  # kept float: no 8-bit scheme, or no work


def quantize_aware(twin, float_se: bool):
    """``twin`` with fake quantisation on every layer tfmot has a scheme for."""
    import tensorflow_model_optimization as tfmot
    import tf_keras
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_configs as configs)

    def annotate(layer):
        kind = type(layer).__name__
        if kind in FLOAT_TYPES or (kind == "Multiply" and float_se):
            return layer
        if kind == "Multiply":  # no default scheme: quantise its output only
            return tfmot.quantization.keras.quantize_annotate_layer(layer, configs.Default8BitOutputQuantizeConfig())
        return tfmot.quantization.keras.quantize_annotate_layer(layer)

    annotated = tf_keras.models.clone_model(twin, clone_function=annotate)
    with tfmot.quantization.keras.quantize_scope(
            {"Default8BitOutputQuantizeConfig": configs.Default8BitOutputQuantizeConfig}):
        return tfmot.quantization.keras.quantize_apply(annotated)


def to_int8_tflite(model, representative: np.ndarray) -> bytes:
    """The fake-quantised model as an int8 TFLite flatbuffer (float input and output)."""
    from fer_core.core.tf_import import tensorflow

    tf = tensorflow()
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(len(representative)))
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return conv.convert()


def qat(args) -> dict:
    require_tfmot()
    from fer_core.core.tf_import import keras as _keras
    from fer_core.core.model_folder import served_model_path
    from fer_core.training.arch_compare import hardware
    from fer_core.training.data import load_validation_split
    from fer_core.training.evaluate import folder_classes
    from fer_core.training.export import LATENCY_THREADS, representative_faces

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model = _keras().models.load_model(args.model, compile=False)
    classes, size = folder_classes(args.model), int(model.input_shape[1])
    t0 = time.time()
    data = recipe_data(args.ferplus, args.ckplus, size, classes, out)  # data errors first: cheaper than the model
    fake = quantize_aware(tf_keras_twin(model), args.float_se)
    fit_on_recipe(fake, data, args.steps, args.lr, args.batch_size, args.seed)
    files = {"served": served_model_path(Path(args.model).parent), "qat_int8": out / "qat_int8.tflite"}
    files["qat_int8"].write_bytes(to_int8_tflite(fake, representative_faces(args.ferplus, "ferplus", size, 300,
                                                                            classes=classes)))
    minutes = round((time.time() - t0) / 60, 1)
    sets = {name: load_validation_split(path, classes=classes)
            for name, path in (("ferplus_valid", args.ferplus), ("ckplus_valid", args.ckplus))}
    rows = measure_files(files, classes, sets)
    rows["qat_int8"]["minutes"] = minutes
    table = {"what": f"quantisation-aware fine-tuning, {args.steps} steps of {args.batch_size} faces at lr {args.lr}, "
                     f"squeeze-excite {'float' if args.float_se else '8-bit'}; int8 TFLite beside the served file",
             "figures": "Single pass, raw outputs (no calibration); ms per face at batch 1, "
                        f"{LATENCY_THREADS} threads", "hardware": hardware(),
             "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": rows}
    Path(args.json or out / "qat.json").write_text(json.dumps(table, indent=1))
    return table


def main(argv=None) -> int:
    from fer_core.core.model_folder import ModelFilesError
    from fer_core.training.data import DatasetError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.qat", description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="models/model.keras", help="the Keras model (read, never changed); "
                                                                   "its folder's served file is the baseline")
    ap.add_argument("--out", required=True, help="folder for qat_int8.tflite and qat.json")
    ap.add_argument("--json", default=None, help="where the figures are written (default: <out>/qat.json)")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--float-se", action="store_true", help="keep the squeeze-excite products float")
    ap.add_argument("--ferplus", default="../shared/data/ferplus")
    ap.add_argument("--ckplus", default="../shared/data/ckplus48")
    ap.add_argument("--seed", type=int, default=1337)
    return run_command(lambda: print_report(qat(ap.parse_args(argv))), (DatasetError, ModelFilesError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
