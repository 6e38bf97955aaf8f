"""The whole-photo-pipeline evaluation: missed faces, false faces and right answers are counted."""

from __future__ import annotations

import numpy as np
import pytest

from datagen import write_class_folders
from fer_core.training.data import DatasetError
from fer_core.core.labels import CLASSES
from fer_core.training.photo_eval import evaluate_photos, labelled_photos
from fer_core.core.results import FaceBox, FacePrediction


class _Classifier:
    classes = CLASSES


class _ScriptedAnalyzer:
    """Answers by file order: no face, two faces (the larger says happy), one neutral face, ..."""

    classifier = _Classifier()

    def __init__(self, script):
        self.script = list(script)

    def analyze_counted(self, rgb):
        faces = []
        for size, label in self.script.pop(0):
            p = np.full(len(CLASSES), 0.01, np.float32)
            p[CLASSES.index(label)] = 0.9
            faces.append(FacePrediction(FaceBox(0, 0, size, size, 1.0), p))
        return faces, len(faces)


def test_counts_missed_and_second_faces_and_judges_the_largest(tmp_path):
    root = write_class_folders(tmp_path / "photos", {"happy": 2, "neutral": 2})
    assert [c for _, c in labelled_photos(root)] == ["happy", "happy", "neutral", "neutral"]
    analyzer = _ScriptedAnalyzer([
        [],                                   # happy photo, no face found
        [(40, "sad"), (90, "happy")],         # happy photo, a false second face; the largest is right
        [(80, "neutral")],                    # right
        [(80, "sad")],                        # wrong among all seven, but neutral > happy in the pair
    ])
    seen = []
    r = evaluate_photos(root, analyzer, progress=lambda i, n: seen.append((i, n)))
    assert (r["photos"], r["no_face"], r["second_face"], r["faces_judged"]) == (4, 1, 1, 3)
    assert r["accuracy"] == pytest.approx(2 / 3, abs=1e-4) and r["accuracy_of_all_photos"] == 0.5
    assert r["answers"] == {"happy": {"happy": 1}, "neutral": {"neutral": 1, "sad": 1}}  # what each class was called
    assert seen[-1] == (4, 4)


def test_a_folder_without_class_folders_is_a_clear_error(tmp_path):
    with pytest.raises(DatasetError, match="class folders"):
        labelled_photos(tmp_path)
    with pytest.raises(DatasetError, match="not a folder"):
        labelled_photos(tmp_path / "missing")


@pytest.mark.data
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_realphotos_dev_pipeline_matches_metrics_json(realphotos_dir):
    """The shipped figures on the real photos, re-measured (skips without ../shared/data)."""
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.classifier import Classifier
    from fer_core.core.model_folder import default_model_dir, load_metrics

    want = (load_metrics(default_model_dir()) or {}).get("realphotos_dev")
    if want is None:
        pytest.skip("the shipped metrics.json has no realphotos_dev section")
    got = evaluate_photos(realphotos_dir, make_analyzer(Classifier.from_dir()))
    for key in ("photos", "no_face", "second_face", "faces_judged"):
        assert got[key] == want[key], key
    # a borderline photo may fall the other way on another CPU (LiteRT's kernels follow it), and the
    # figures are rounded to four places
    assert got["accuracy"] == pytest.approx(want["accuracy"], abs=2.01 / got["faces_judged"])
