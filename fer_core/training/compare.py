"""Paired comparison of two model folders on the same validation faces: ship only what is better.

    python -m fer_core.training.compare --candidate runs/v3/models --baseline models \\
        --ferplus ../shared/data/ferplus --ckplus ../shared/data/ckplus48 --fer2013 ../shared/data/fer2013

Each folder's served model runs as the pages run it (its calibration included), on the faces of the
classes both have (the seven, when one folder has eight: contempt answers count as wrong). Per validation set:
each model's accuracy, the faces only one of them gets right and the exact McNemar p-value on
them; then each model's score by the selection rule (fer_core.training.selection). The candidate is better
when its score is higher.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from fer_core.training.cli import print_report, run_command

SETS = {"ferplus_valid": ("ferplus", "valid"), "ckplus_valid": ("ckplus", "valid"),
        "public_test": ("auto", "public_test")}


def mcnemar_p(only_a: int, only_b: int) -> float:
    """Exact two-sided McNemar test: are the discordant faces split evenly?"""
    from scipy.stats import binomtest

    n = only_a + only_b
    return 1.0 if n == 0 else float(binomtest(only_a, n, 0.5).pvalue)


def paired(right_a: np.ndarray, right_b: np.ndarray) -> dict:
    only_a, only_b = int((right_a & ~right_b).sum()), int((right_b & ~right_a).sum())
    return {"n": int(len(right_a)), "accuracy_candidate": round(float(right_a.mean()), 4),
            "accuracy_baseline": round(float(right_b.mean()), 4), "only_candidate": only_a,
            "only_baseline": only_b, "p_mcnemar": round(mcnemar_p(only_a, only_b), 6)}


def compare(candidate: str, baseline: str, data: dict[str, str], mirror: bool = False) -> dict:
    """``data`` maps set names of SETS to dataset paths."""
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import load_dataset
    from fer_core.training.evaluate import predict_dataset
    from fer_core.training.metrics import classification_report
    from fer_core.training.selection import describe, selection_score

    models = {"candidate": Classifier.from_dir(candidate), "baseline": Classifier.from_dir(baseline)}
    shared = tuple(c for c in models["candidate"].classes if c in models["baseline"].classes)
    if any(tuple(clf.classes[:len(shared)]) != shared for clf in models.values()):
        raise ValueError("the two folders' class lists do not start with the same classes")
    out: dict = {"rule": describe(), "mirror": mirror, "sets": {}}
    figures: dict[str, dict] = {"candidate": {}, "baseline": {}}
    for name, path in data.items():
        fmt, split = SETS[name]
        ds = load_dataset(path, fmt, split, shared)
        right = {}
        for who, clf in models.items():
            pred = predict_dataset(clf, ds.images, mirror=mirror).argmax(1)
            figures[who][name] = classification_report(ds.labels, pred, classes=tuple(clf.classes))
            right[who] = pred == ds.labels
        out["sets"][name] = {**paired(right["candidate"], right["baseline"]),
                             "macro_f1_candidate": round(figures["candidate"][name]["macro_f1"], 4),
                             "macro_f1_baseline": round(figures["baseline"][name]["macro_f1"], 4)}
    out["score_candidate"] = selection_score(figures["candidate"])
    out["score_baseline"] = selection_score(figures["baseline"])
    out["candidate_is_better"] = (out["score_candidate"] or 0.0) > (out["score_baseline"] or 0.0)
    return out


def main(argv=None) -> int:
    from fer_core.training.data import DatasetError
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.compare", description=__doc__.split("\n")[0])
    ap.add_argument("--candidate", required=True, help="model folder to judge")
    ap.add_argument("--baseline", default="models", help="model folder it must beat (default: models)")
    ap.add_argument("--ferplus", help="FER+ data (valid split)")
    ap.add_argument("--ckplus", help="CK+ data (valid subjects)")
    ap.add_argument("--fer2013", help="FER-2013 data (PublicTest)")
    ap.add_argument("--mirror", action="store_true", help="mirror-averaged, as photos and videos run")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    data = {k: v for k, v in (("ferplus_valid", args.ferplus), ("ckplus_valid", args.ckplus),
                              ("public_test", args.fer2013)) if v}
    if not data:
        ap.error("give at least one of --ferplus, --ckplus, --fer2013")
    return run_command(lambda: print_report(compare(args.candidate, args.baseline, data, args.mirror), args.json),
                       (DatasetError, ModelFilesError, ValueError))


if __name__ == "__main__":
    sys.exit(main())
