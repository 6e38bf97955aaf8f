"""Every architecture of fer_core.training.network end to end at 32x32 on generated faces:
``train --arch`` trains it and records it, int8 export runs through the served Classifier, and
Grad-CAM explains a face from the block the run's config names. The figures are meaningless;
the plumbing is what is checked."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datagen import write_fer2013_folders
from fer_core.core.labels import CLASSES
from fer_core.core.results import FaceBox
from fer_core.training.network import ARCHS

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_fer2013_folders(tmp_path_factory.mktemp("fer") / "fer2013", n_train=4, n_public=2, n_private=1)


def test_unknown_architecture_and_weights_for_a_new_one_are_refused():
    from fer_core.training.network import WeightsUnavailableError, build_model, gradcam_layer_for

    with pytest.raises(ValueError, match="Unknown architecture"):
        gradcam_layer_for(64, "vit")
    with pytest.raises(WeightsUnavailableError, match="random init"):
        build_model(32, arch="cnn", weights="lite0")


@pytest.mark.parametrize("arch", ARCHS)
def test_architecture_trains_exports_serves_and_explains(arch, data, tmp_path):
    from fer_core.analysis.gradcam import MIN_MAP_SIZE, configured_layer, explain_face, load_keras_model
    from fer_core.core.model_folder import SERVED_NAME, load_model_config
    from fer_core.core.preprocess import preprocess_faces
    from fer_core.engine.classifier import Classifier
    from fer_core.training.export import convert_keras
    from fer_core.training.network import build_model
    from fer_core.training.train import main as train_main

    run = tmp_path / "run"
    rc = train_main(["--data", str(data), "--out", str(run), "--arch", arch, "--epochs", "1", "--input-size", "32",
                     "--batch-size", "14", "--no-augment", "--lr", "1e-3"])
    assert rc == 0
    cfg = load_model_config(run)
    assert cfg["arch"] == arch and cfg["classes"] == list(CLASSES)
    model = load_keras_model(run)
    assert model.name == f"fer_{arch}" and model.output_shape == (None, len(CLASSES))
    fresh = build_model(32, arch=arch)
    assert any(not np.array_equal(a, b) for a, b in zip(model.get_weights(), fresh.get_weights()))  # it trained

    faces = [np.random.default_rng(i).integers(0, 255, (48, 48), np.uint8) for i in range(8)]
    x = preprocess_faces(faces, 32)
    (run / SERVED_NAME).write_bytes(convert_keras(model, "int8", x))
    served = Classifier.from_dir(run)
    probs = served.predict(faces)
    assert probs.shape == (len(faces), len(CLASSES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=0.02)
    fp32 = Classifier.from_path(_write(tmp_path / "fp32.tflite", convert_keras(model, "fp32")), input_size=32)
    np.testing.assert_allclose(fp32.predict_preprocessed(x), model.predict(x, verbose=0), atol=1e-4)

    layer = configured_layer(run)
    assert min(model.get_layer(layer).output.shape[1:3]) >= MIN_MAP_SIZE
    image = np.dstack([np.pad(faces[0], 8)] * 3)
    exp = explain_face(model, image, FaceBox(8, 8, 48, 48), layer_name=layer, margin=0.0)
    assert exp.layer_name == layer and exp.heatmap.shape == exp.crop.shape[:2]
    assert exp.heatmap.min() >= 0.0 and exp.heatmap.max() == pytest.approx(1.0, abs=1e-3)
    assert exp.heatmap.std() > 1e-3
    np.testing.assert_allclose(exp.probs, model.predict(preprocess_faces([exp.crop], 32), verbose=0)[0], atol=1e-4)
    assert json.loads((run / "args.json").read_text())["arch"] == arch


def _write(path, content: bytes):
    path.write_bytes(content)
    return path
