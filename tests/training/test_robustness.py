"""robustness: accuracy on clean faces and under each augmentation group alone."""

from __future__ import annotations

import numpy as np

from datagen import synth_face
from fer_core.training.augment import GROUPS


def test_robustness_reports_clean_and_each_group(tiny_model_files):
    from fer_core.engine.classifier import Classifier
    from fer_core.training.robustness import robustness

    rng = np.random.default_rng(0)
    images = [synth_face(i % 7, rng) for i in range(20)]
    report = robustness(Classifier.from_dir(tiny_model_files), images, np.arange(20) % 7)
    assert list(report) == ["clean", *GROUPS]
    assert all(0.0 <= v <= 1.0 for v in report.values())
