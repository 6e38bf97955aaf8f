"""The seed papers' architectures side by side: same data, same recipe, same budget, same CPU.

    python -m fer_core.training.arch_compare --out runs/arch --epochs 2 --limit 4000
    python -m fer_core.training.arch_compare --out runs/arch --archs cnn,resemotenet   # some arms only

Each arm (fer_core.training.network's ARCHS) is trained by fer_core.training.train from random
weights with the shipped data mix and recipe (FER+ votes as targets, CK+ train subjects, selected on
the validation rule over FER+ valid, CK+ valid and PublicTest), for the same number of epochs over
the same number of training faces; then exported and measured by fer_core.training.export (fp32,
dynamic-range and full-integer int8 with per-channel weights and a representative set of training
faces; the served-variant rule picks one). Finally the served files of all arms are timed together
in alternating rounds (batch 1, 2 threads). A finished arm is not trained again, so an interrupted
comparison picks up where it stopped. The table goes to ``--json`` (models/arch_comparison.json),
which the Model page and the model card show.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from fer_core.core.model_folder import (ARCH_COMPARISON_NAME, CLASS_COUNTS_NAME, HISTORY_NAME, KERAS_NAME,
                                        load_model_config)
from fer_core.training.export import LATENCY_THREADS, MAX_ACCURACY_DROP, VARIANTS_JSON
from fer_core.training.network import ARCHS

EXPORT_VARIANTS = ("fp32", "dynamic", "int8")
MONITOR = "val_selection"
BATCH = 64


def recipe(ferplus: str, ckplus: str, fer2013: str) -> list[str]:
    """The shipped model's data mix and training options (models/TRAINING_LOG.md, run v3e), from
    random weights and with the default peak learning rate, since no arm but B0 has a pretrained start."""
    return ["--data", ferplus, "--soft-labels", "--extra-train", ckplus, "--extra-repeat", "2",
            "--extra-val", ckplus, "--extra-val", fer2013, "--monitor", MONITOR,
            "--augment", "geometric,photometric", "--warmup-epochs", "0.2", "--batch-size", str(BATCH)]


def hardware() -> str:
    """The CPU the figures were measured on, in words."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def count_mflops(model) -> float:
    """Floating-point operations of one face through the model, in millions (TensorFlow's profiler
    on the frozen graph; a multiply-add counts two)."""
    from fer_core.core.tf_import import tensorflow

    tf = tensorflow()  # first: fer_core.core.tf_import sets up what TensorFlow must come after
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    size = int(model.input_shape[1])
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(
        tf.TensorSpec([1, size, size, 3], tf.float32))
    graph = convert_variables_to_constants_v2(fn).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder(
        tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()).with_empty_output().build()
    prof = tf.compat.v1.profiler.profile(graph=graph, run_meta=tf.compat.v1.RunMetadata(), cmd="op", options=opts)
    return round(prof.total_float_ops / 1e6, 1)


def train_arm(arch: str, run: Path, args) -> None:
    """fer_core.training.train on the recipe, unless the arm's model is already there."""
    from fer_core.training.train import main as train_main

    if (run / KERAS_NAME).is_file():
        print(f"{arch}: trained already ({run / KERAS_NAME})", flush=True)
        return
    argv = [*recipe(args.ferplus, args.ckplus, args.fer2013), "--arch", arch, "--out", str(run),
            "--epochs", str(args.epochs), "--limit", str(args.limit), "--seed", str(args.seed),
            "--input-size", str(args.input_size)]
    if train_main(argv) != 0:
        raise SystemExit(f"{arch}: training failed")


def measure_arm(arch: str, run: Path, args) -> dict:
    """One row of the table: size and cost, the best epoch's validation figures, the exported variants."""
    from fer_core.core.tf_import import keras as _keras
    from fer_core.training.export import export_all
    from fer_core.training.train import best_epoch

    model = _keras().models.load_model(run / KERAS_NAME, compile=False)
    history = json.loads((run / HISTORY_NAME).read_text())
    best = best_epoch(history, MONITOR)
    export = run / "export"
    if not (export / VARIANTS_JSON).is_file():
        export_all(run / KERAS_NAME, args.ferplus, export, "ferplus", EXPORT_VARIANTS, args.representative)
    variants = json.loads((export / VARIANTS_JSON).read_text())
    by_name = {v["variant"]: v for v in variants["variants"]}
    served, int8 = by_name[variants["chosen"]], by_name["int8"]
    return {
        "arch": arch, "params": int(model.count_params()), "mflops_per_face": count_mflops(model),
        "ferplus_valid_accuracy": best["val_accuracy"], "ferplus_valid_macro_f1": best["val_macro_f1"],
        "ckplus_valid_accuracy": best.get("val_ckplus_valid_accuracy"),
        "public_test_accuracy": best.get("val_public_test_accuracy"), "selection": best.get(MONITOR),
        "best_epoch": best["epoch"], "epochs": len(history),
        "train_faces": sum(json.loads((run / CLASS_COUNTS_NAME).read_text()).values()),
        "train_minutes": round(sum(r["seconds"] for r in history) / 60, 1),
        "served_variant": served["variant"], "served_size_mb": round(served["size_bytes"] / 1e6, 2),
        "fp32_size_mb": round(by_name["fp32"]["size_bytes"] / 1e6, 2),
        "int8_size_mb": round(int8["size_bytes"] / 1e6, 2),
        "int8_agreement": int8["agreement"], "int8_accuracy_drop": int8["accuracy_drop"],
        "int8_qualifies": bool(int8["accuracy_drop"] <= MAX_ACCURACY_DROP + 1e-9),
        "run": str(run), "served_file": served["file"], "int8_file": int8["file"],
        "gradcam_layer": load_model_config(run)["gradcam_layer"],
    }


def shipped_int8(model: Path, export: Path, args) -> dict:
    """Full-integer int8 of the shipped Keras model against it, measured as for the arms."""
    from fer_core.training.export import export_all

    if not (export / VARIANTS_JSON).is_file():
        export_all(model, args.ferplus, export, "ferplus", EXPORT_VARIANTS, args.representative)
    res = json.loads((export / VARIANTS_JSON).read_text())
    int8 = next(v for v in res["variants"] if v["variant"] == "int8")
    return {"model": str(model), "split": "FER+ valid", "n": res["n"], "int8_agreement": int8["agreement"],
            "int8_accuracy_drop": int8["accuracy_drop"],
            "int8_qualifies": bool(int8["accuracy_drop"] <= MAX_ACCURACY_DROP + 1e-9),
            "variants": {v["variant"]: {"agreement": v["agreement"], "accuracy_drop": v["accuracy_drop"],
                                        "ms_p50": v["latency_p50_ms"], "size_mb": round(v["size_bytes"] / 1e6, 2)}
                         for v in res["variants"]},
            "rule_picks": res["chosen"], "representative_faces": args.representative}


def time_rows(rows: list[dict], input_size: int) -> None:
    """ms per face (p50, batch 1) of every arm's served and int8 files, all timed together in
    alternating rounds so a burst of load elsewhere lands on every arm alike."""
    import numpy as np

    from fer_core.engine.classifier import Classifier
    from fer_core.engine.litert import interleaved_latency_ms

    files = [(row, key) for row in rows for key in ("served", "int8")]
    classifiers = [Classifier.from_path(Path(row["run"]) / "export" / row[f"{key}_file"], input_size=input_size,
                                        classes=load_model_config(row["run"])["classes"],
                                        threads=LATENCY_THREADS) for row, key in files]
    x1 = np.random.default_rng(0).uniform(0, 255, (1, input_size, input_size, 3)).astype(np.float32)
    for (row, key), (p50, _) in zip(files, interleaved_latency_ms(classifiers, x1, rounds=10, repeats=20)):
        row[f"{key}_ms_p50"] = round(p50, 3)


def training_running() -> bool:
    """Whether another training run shares the CPU (the timings then read high)."""
    import subprocess

    out = subprocess.run(["pgrep", "-f", "fer_core.training.train|fer_core.train "], capture_output=True, text=True)
    return bool(out.stdout.strip())


def compare(args) -> dict:
    out = Path(args.out)
    path = Path(args.json)
    table = json.loads(path.read_text()) if path.is_file() else {}
    rows = {row["arch"]: row for row in table.get("rows", [])}
    for arch in args.archs:
        t0 = time.time()
        train_arm(arch, out / arch, args)
        rows[arch] = measure_arm(arch, out / arch, args)
        print(f"{arch}: {json.dumps(rows[arch])} ({(time.time() - t0) / 60:.1f} min)", flush=True)
    ordered = [rows[a] for a in ARCHS if a in rows]
    busy = training_running()
    time_rows(ordered, args.input_size)
    table = {
        "what": "each architecture trained from random weights with the shipped recipe and data mix for the same "
                "budget, then exported and timed on this machine",
        "budget": {"epochs": args.epochs, "ferplus_faces": args.limit,
                   "train_faces_per_epoch": ordered[0]["train_faces"] if ordered else None,
                   "steps_per_arm": args.epochs * max(1, ordered[0]["train_faces"] // BATCH) if ordered else None,
                   "note": "a short, equal budget per arm on a 2-core CPU: far from converged, so the "
                           "figures rank the architectures at this budget, not at their best"},
        "recipe": " ".join(recipe("FERPLUS", "CKPLUS", "FER2013")),
        "figures": "validation figures of the Keras model at its best epoch (val_selection); ms per face at batch 1, "
                   f"{LATENCY_THREADS} threads, TFLite (LiteRT); int8 qualifies when it loses <= "
                   f"{MAX_ACCURACY_DROP * 100:.0f} point of FER+ valid accuracy against the Keras model",
        "hardware": hardware(), "other_training_during_timing": busy, "note": args.note,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "rows": ordered,
    }
    if args.shipped:
        table["shipped_int8"] = shipped_int8(Path(args.shipped), out / "shipped_export", args)
    path.write_text(json.dumps(table, indent=1))
    return table


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.training.arch_compare", description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the arms' training runs (one sub-folder per arm)")
    ap.add_argument("--json", default=f"models/{ARCH_COMPARISON_NAME}", help="where the table is written")
    ap.add_argument("--archs", default=",".join(ARCHS), help="comma-separated arms (default: all)")
    ap.add_argument("--epochs", type=int, default=2, help="epochs per arm (the same for every arm)")
    ap.add_argument("--limit", type=int, default=4000,
                    help="FER+ training faces per arm (the same subset for every arm)")
    ap.add_argument("--ferplus", default="../shared/data/ferplus")
    ap.add_argument("--ckplus", default="../shared/data/ckplus48")
    ap.add_argument("--fer2013", default="../shared/data/fer2013")
    ap.add_argument("--representative", type=int, default=300, help="training faces for int8 calibration")
    ap.add_argument("--shipped", default=None,
                    help="also measure int8 of this Keras model (models/model.keras; read, never changed)")
    ap.add_argument("--note", default="", help="what the run's figures mean, in words, kept in the table")
    ap.add_argument("--input-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=1337)
    args = ap.parse_args(argv)
    args.archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    bad = [a for a in args.archs if a not in ARCHS]
    if bad:
        ap.error(f"unknown arm(s) {', '.join(bad)}; choose from {', '.join(ARCHS)}")
    compare(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
