"""Result types: box geometry, labels from probabilities, uncertainty, exports."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core.core.labels import CLASSES
from fer_core.core.results import UNCERTAIN_LABEL, FaceBox, FacePrediction, is_uncertain


def _probs(label: str, peak: float) -> np.ndarray:
    p = np.full(len(CLASSES), (1 - peak) / (len(CLASSES) - 1), np.float32)
    p[CLASSES.index(label)] = peak
    return p


def test_box_geometry():
    a, b = FaceBox(0, 0, 10, 10), FaceBox(5, 0, 10, 10)
    assert a.area == 100 and a.center == (5.0, 5.0)
    assert a.iou(b) == pytest.approx(50 / 150)
    assert a.iou(FaceBox(20, 20, 5, 5)) == 0.0
    assert a.iou(a) == 1.0
    assert FaceBox(1, 2, 3, 4).as_xyxy() == (1, 2, 4, 6)


def test_prediction_label_confidence_and_uncertainty():
    p = FacePrediction(FaceBox(1, 2, 30, 30), _probs("surprise", 0.55))
    assert p.label == "surprise"
    assert p.confidence == pytest.approx(0.55)
    assert not p.is_uncertain(0.5) and p.is_uncertain(0.6)
    assert p.display_label(0.6) == UNCERTAIN_LABEL and p.display_label(0.5) == "surprise"


def test_the_uncertain_rule_is_the_same_for_a_record():
    assert is_uncertain(0.55, 0.6) and not is_uncertain(0.55, 0.55)


def test_prediction_rejects_wrong_length():
    with pytest.raises(ValueError, match="Expected 7"):
        FacePrediction(FaceBox(0, 0, 1, 1), np.ones(3))


def test_to_dict_is_json_ready():
    box = FaceBox(3, 4, 50, 60, 0.9, {"left_eye": (10, 20), "right_eye": (30, 21)})
    d = FacePrediction(box, _probs("happy", 0.8), track_id=4, whole_image=False).to_dict()
    back = json.loads(json.dumps(d))
    assert back["label"] == "happy" and back["track_id"] == 4
    assert list(back["probs"]) == list(CLASSES)
    assert back["box"]["landmarks"]["left_eye"] == [10, 20]
    assert sum(back["probs"].values()) == pytest.approx(1.0, abs=1e-5)
