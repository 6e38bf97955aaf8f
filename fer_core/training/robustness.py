"""How much each camera-like shift costs a model: validation faces altered by one augmentation
group at a time (fer_core.training.augment), accuracy before and after.

    python -m fer_core.training.robustness --model-dir models --data ../shared/data/ferplus [--json OUT]

A model trained with a group should lose less under it. Same seeds for every model, so two
models see the very same altered faces. Validation splits only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fer_core.training.augment import GROUPS, augment_batch
from fer_core.training.cli import print_report, run_command


def robustness(classifier, images: list[np.ndarray], labels: np.ndarray, seed: int = 0,
               batch_size: int = 256) -> dict[str, float]:
    """Accuracy on the clean faces and under each augmentation group alone."""
    from fer_core.core.preprocess import preprocess_faces

    out = {}
    for group in ("clean", *GROUPS):
        right = 0
        for start in range(0, len(images), batch_size):
            x = preprocess_faces(images[start:start + batch_size], classifier.input_size)
            if group != "clean":
                x = augment_batch(x, np.random.default_rng((seed, start)), (group,))
            right += int((classifier.predict_preprocessed(x).argmax(1) == labels[start:start + batch_size]).sum())
        out[group] = round(right / max(len(images), 1), 4)
    return out


def main(argv=None) -> int:
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import DatasetError, load_validation_split
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.robustness", description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", action="append", required=True, help="model folder; repeat to compare")
    ap.add_argument("--data", action="append", required=True, help="dataset (its validation split); repeatable")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)

    def work() -> None:
        sets = {d: load_validation_split(d) for d in args.data}
        print_report({m: {d: robustness(Classifier.from_dir(m), ds.images, ds.labels) for d, ds in sets.items()}
                      for m in args.model_dir}, args.json)

    return run_command(work, (DatasetError, ModelFilesError))


if __name__ == "__main__":
    sys.exit(main())
