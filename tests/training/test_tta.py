from __future__ import annotations

import numpy as np

from fer_core.training.tta import reframe, tta_probs


def test_reframe_keeps_the_shape_and_zooms_about_the_centre():
    face = np.zeros((48, 48), np.uint8)
    face[20:28, 20:28] = 255
    assert reframe(face, 1.0).shape == (48, 48)
    np.testing.assert_array_equal(reframe(face, 1.0), face)
    tighter, looser = reframe(face, 0.8), reframe(face, 1.25)
    assert (tighter > 128).sum() > (face > 128).sum() > (looser > 128).sum()
    assert tighter[24, 24] == 255 and looser[24, 24] == 255


def test_tta_probs_are_distributions(tiny_model_files):
    from fer_core.engine.classifier import Classifier

    clf = Classifier.from_dir(tiny_model_files)
    faces = [np.random.default_rng(i).integers(0, 255, (48, 48), dtype=np.uint8) for i in range(3)]
    p = tta_probs(clf, faces)
    assert p.shape == (3, 7)
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-4)
