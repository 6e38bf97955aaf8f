"""Turn what scripts/device_train.py brought back into run folders that fer_core.training.ship accepts.

    python scripts/device_unpack.py --from /work/.device/1 --data ../shared/data/ferplus --out runs/gpu

For each run: model.keras (built here on TensorFlow from the float32 arrays), and the run's
model_config.json, history.json and args.json from the logs archive; class_counts.json is
counted again from the same training data.

The input Normalization layer (weights 0 and 1: mean, variance) is set to identity, which is what
every run trained with: build_model never adapts it, and Keras uses statistics set on a built
model only after a reload. Runs of 2026-11-26 started from a Lite0 pack that carried ImageNet
statistics there; training never applied them, so serving must not either.
"""

from __future__ import annotations

import argparse
import json
import tarfile
from pathlib import Path

import numpy as np

from fer_core.training.data import load_dataset
from fer_core.core.model_folder import CLASS_COUNTS_NAME, CONFIG_NAME, KERAS_NAME


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--from", dest="src", required=True, help="the folder the device tool returned")
    ap.add_argument("--data", required=True, help="the training data the runs used (FER+ folder)")
    ap.add_argument("--out", default="runs/gpu")
    args = ap.parse_args(argv)
    src, out = Path(args.src), Path(args.out)
    with tarfile.open(src / "logs.tar.gz") as tar:
        tar.extractall(out, filter="data")
    counts = load_dataset(args.data, "ferplus", "train").class_counts()
    from fer_core.training.network import build_model

    for npz in sorted(src.glob("*.npz")):
        run = out / npz.stem
        cfg = json.loads((run / CONFIG_NAME).read_text())
        model = build_model(cfg["input_size"])
        z = np.load(npz)
        weights = [z[f"arr_{i}"] for i in range(len(z.files))]
        weights[0], weights[1] = np.zeros_like(weights[0]), np.ones_like(weights[1])  # see below
        model.set_weights(weights)
        model.save(run / KERAS_NAME)
        (run / CLASS_COUNTS_NAME).write_text(json.dumps(counts, indent=1))
        print(f"{run}: {KERAS_NAME} written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
