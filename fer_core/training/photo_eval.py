"""The whole photo pipeline on labelled photos with one face each (e.g. ``realphotos_dev``).

    python -m fer_core.training.photo_eval --data ../shared/data/realphotos_dev [--json OUT]

Each photo goes through what the Photo page runs: decode, the photo detector, crop, the served
classifier (its calibration included), mirror-averaged. Every photo shows exactly one person, so a
photo with no box is a missed face and any second box a false one. The face judged is the largest;
it is right when its top class is the photo's label (all seven classes compete). ``binary_accuracy``
also reports neutral-vs-happy alone (of those two scores, the larger), as a rough check.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from fer_core.training.data import IMAGE_EXTS, DatasetError
from fer_core.training.cli import print_report, run_command
from fer_core.core.labels import canonical_class


def labelled_photos(root: str | Path) -> list[tuple[Path, str]]:
    """(photo, class) for every image in ``<root>/<class>/``, class names through the aliases."""
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder of <class>/ photo folders")
    photos = [(f, canonical_class(d.name)) for d in sorted(root.iterdir()) if d.is_dir()
              for f in sorted(d.iterdir()) if f.suffix.lower() in IMAGE_EXTS]
    photos = [(f, c) for f, c in photos if c is not None]
    if not photos:
        raise DatasetError(f"{root} holds no photos in class folders")
    return photos


def evaluate_photos(root: str | Path, analyzer, progress=None) -> dict:
    """Faces found, missed and false, and how often the largest face's label is right."""
    from fer_core.analysis.photo import analyze_photo

    classes = list(analyzer.classifier.classes)
    photos = labelled_photos(root)
    n_none = n_extra = right = binary_right = judged = 0
    answers: dict[str, Counter] = {}  # true label -> the model's answers (largest face) and how often
    t0 = time.perf_counter()
    for i, (path, label) in enumerate(photos):
        result = analyze_photo(path.read_bytes(), analyzer)
        found = 0 if result.whole_image else result.n_faces + result.n_dropped
        n_none += found == 0
        n_extra += found > 1
        if found:
            face = max(result.faces, key=lambda f: f.box.area)
            judged += 1
            right += face.label == label
            answers.setdefault(label, Counter())[face.label] += 1
            pair = [classes.index(c) for c in ("happy", "neutral")]
            if label in ("happy", "neutral"):
                binary_right += classes[pair[int(np.argmax(face.probs[pair]))]] == label
        if progress:
            progress(i + 1, len(photos))
    n = len(photos)
    return {
        "photos": n, "no_face": n_none, "no_face_rate": round(n_none / n, 4),
        "second_face": n_extra, "faces_judged": judged,
        "accuracy": round(right / max(judged, 1), 4), "binary_accuracy": round(binary_right / max(judged, 1), 4),
        "accuracy_of_all_photos": round(right / n, 4),
        "ms_per_photo": round(1e3 * (time.perf_counter() - t0) / n, 1), "data": str(root),
        "answers": {label: dict(answers[label].most_common()) for label in sorted(answers)},
    }


def main(argv=None) -> int:
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.classifier import Classifier
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.photo_eval", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="<root>/<class>/ photos, one face each")
    ap.add_argument("--model-dir", default=None, help="model folder (default: $FER_MODEL_DIR or models/)")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    return run_command(lambda: print_report(evaluate_photos(args.data, make_analyzer(Classifier.from_dir(args.model_dir))),
                                            args.json), (DatasetError, ModelFilesError))


if __name__ == "__main__":
    sys.exit(main())
