"""Test-time augmentation beside the mirror: does averaging a few framings of each face pay?

    python -m fer_core.training.tta --model-dir models --data ../shared/data/ferplus --data ../shared/data/ckplus48

Each face is also classified a little tighter and a little looser (the way another detector box
would frame it), mirror-averaged each time, and the probabilities averaged. Reported per set:
accuracy of the mirror alone and of mirror + framings, and the cost in forward passes.
"""

from __future__ import annotations

import argparse
import json
import sys

import cv2
import numpy as np

DEFAULT_SCALES = (1.0, 0.9, 1.1)


def reframe(face: np.ndarray, scale: float) -> np.ndarray:
    """The face zoomed about its centre: < 1 a tighter box, > 1 a looser one (edges reflected)."""
    h, w = face.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 1.0 / scale)
    return cv2.warpAffine(face, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def tta_probs(classifier, faces: list[np.ndarray], scales=DEFAULT_SCALES, batch_size: int = 256) -> np.ndarray:
    """Mean of the mirror-averaged probabilities over the framings."""
    out = []
    for start in range(0, len(faces), batch_size):
        chunk = faces[start:start + batch_size]
        out.append(np.mean([classifier.predict([reframe(f, s) for f in chunk], mirror=True) for s in scales], axis=0))
    return np.concatenate(out) if out else np.zeros((0, len(classifier.classes)), np.float32)


def main(argv=None) -> int:
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import DatasetError, load_validation_split
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.tta", description=__doc__.split("\n")[0])
    ap.add_argument("--model-dir", default=None)
    ap.add_argument("--data", action="append", required=True)
    ap.add_argument("--scales", default=",".join(map(str, DEFAULT_SCALES)))
    args = ap.parse_args(argv)
    scales = tuple(float(s) for s in args.scales.split(","))
    try:
        clf = Classifier.from_dir(args.model_dir)
        report = {}
        for d in args.data:
            ds = load_validation_split(d)
            mirror = tta_probs(clf, ds.images, (1.0,)).argmax(1) == ds.labels
            framed = tta_probs(clf, ds.images, scales).argmax(1) == ds.labels
            report[d] = {"n": len(ds), "mirror": round(float(mirror.mean()), 4),
                         "mirror_and_framings": round(float(framed.mean()), 4), "scales": list(scales),
                         "passes_per_face": 2 * len(scales), "only_framings_right": int((framed & ~mirror).sum()),
                         "only_mirror_right": int((mirror & ~framed).sum())}
    except (DatasetError, ModelFilesError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
