"""Average the weights of several checkpoints of one run (stochastic weight averaging after the fact).

    python -m fer_core.training.average --run runs/next3 --out runs/next3_avg \
        runs/next3/epochs/epoch_12.keras runs/next3/epochs/epoch_13.keras ...

The last epochs of a cosine schedule sit around one flat optimum; the mean of their weights often
generalises a little better than any single one, and costs nothing at inference time. Writes a run
directory that ``fer_core.training.ship`` accepts: the averaged ``model.keras`` (uncompiled) plus the source
run's ``model_config.json``, ``history.json`` and ``class_counts.json``, and ``averaged_from.json``
naming the checkpoints. Batch-norm statistics are averaged like any other weight. Evaluate the result
with ``fer_core.training.evaluate`` before shipping it: averaging is not guaranteed to help.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fer_core.core.model_folder import CLASS_COUNTS_NAME, CONFIG_NAME, HISTORY_NAME, KERAS_NAME
from fer_core.training.cli import run_command

RUN_FILES = (CONFIG_NAME, HISTORY_NAME, CLASS_COUNTS_NAME)


def average_weights(weight_lists: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Element-wise mean of same-shaped weight lists; non-float arrays (counters, seeds) keep the last value."""
    if not weight_lists:
        raise ValueError("Nothing to average: give at least one checkpoint.")
    shapes = [[np.shape(w) for w in ws] for ws in weight_lists]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("Checkpoints have different architectures (weight shapes differ); "
                         "average only checkpoints of one run.")
    out = []
    for ws in zip(*weight_lists):
        last = np.asarray(ws[-1])
        if np.issubdtype(last.dtype, np.floating):
            out.append(np.mean(np.stack([np.asarray(w, np.float64) for w in ws]), axis=0).astype(last.dtype))
        else:
            out.append(last)
    return out


def average_checkpoints(checkpoints: Sequence[str | Path], run_dir: str | Path, out_dir: str | Path) -> Path:
    """Write the averaged model and the run's metadata to out_dir; returns the model path."""
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    paths = [Path(p) for p in checkpoints]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"Checkpoint(s) not found: {', '.join(missing)}")
    model = keras.models.load_model(paths[0], compile=False)
    weights = [model.get_weights()]
    weights += [keras.models.load_model(p, compile=False).get_weights() for p in paths[1:]]
    model.set_weights(average_weights(weights))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save(out / KERAS_NAME)
    for name in RUN_FILES:
        if (Path(run_dir) / name).is_file():
            shutil.copyfile(Path(run_dir) / name, out / name)
    (out / "averaged_from.json").write_text(json.dumps([str(p) for p in paths], indent=1))
    return out / KERAS_NAME


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help=".keras checkpoints of one run (e.g. <run>/epochs/epoch_NN.keras)")
    ap.add_argument("--run", required=True, help="the run they come from (its config and history are copied)")
    ap.add_argument("--out", required=True, help="output run directory for fer_core.training.evaluate / fer_core.training.ship")
    args = ap.parse_args(argv)

    def work() -> None:
        path = average_checkpoints(args.checkpoints, args.run, args.out)
        print(f"saved {path} (mean of {len(args.checkpoints)} checkpoints)")

    return run_command(work, (FileNotFoundError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
