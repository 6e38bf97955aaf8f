"""Classifier: TFLite (float and int8) and Keras models give the same, known answers; batching,
odd crops, threads and bad model files behave."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from engine_models import SIZE, expected_label, tiny_models
from factories import meeting_runners

from fer_core.core.calibration import Calibration
from fer_core.engine.classifier import Classifier
from fer_core.core.labels import CLASSES
from fer_core.core.model_folder import CONFIG_NAME, SERVED_NAME, ModelFilesError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def models() -> dict[str, Path]:
    return tiny_models()


def _faces(levels, size=48, rgb=True):
    out = []
    for lv in levels:
        g = np.full((size, size), lv, np.uint8)
        out.append(np.repeat(g[:, :, None], 3, axis=2) if rgb else g)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["float", "int8", "keras"])
def test_known_answers_for_each_backend(models, kind):
    clf = Classifier.from_path(models[kind])
    assert clf.input_size == SIZE and clf.classes == CLASSES
    assert clf.backend == ("keras" if kind == "keras" else "tflite")
    levels = [15, 128, 240]
    probs = clf.predict(_faces(levels))
    assert probs.shape == (3, len(CLASSES))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    assert [CLASSES[i] for i in probs.argmax(axis=1)] == [expected_label(v) for v in levels]
    assert [CLASSES[i] for i in probs.argmax(axis=1)] == ["sad", "neutral", "happy"]


@pytest.mark.slow
def test_tflite_matches_keras(models):
    rng = np.random.default_rng(1)
    x = rng.uniform(0, 255, (6, SIZE, SIZE, 3)).astype(np.float32)
    ref = Classifier.from_path(models["keras"]).predict_preprocessed(x)
    np.testing.assert_allclose(Classifier.from_path(models["float"]).predict_preprocessed(x), ref, atol=1e-4)
    # int8 input/output: quantised with the tensors' scale and zero point, so close but not equal
    np.testing.assert_allclose(Classifier.from_path(models["int8"]).predict_preprocessed(x), ref, atol=0.06)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["float", "int8"])
def test_batches_of_any_size_match_single_predictions(models, kind):
    clf = Classifier.from_path(models[kind])
    rng = np.random.default_rng(2)
    x = rng.uniform(0, 255, (41, SIZE, SIZE, 3)).astype(np.float32)  # > the 32 bucket: chunked
    single = np.concatenate([clf.predict_preprocessed(x[i:i + 1]) for i in range(len(x))])
    for n in (0, 1, 3, 5, 17, 41):
        np.testing.assert_allclose(clf.predict_preprocessed(x[:n]), single[:n], atol=1e-5)
    assert clf.predict([]).shape == (0, len(CLASSES))


@pytest.mark.slow
def test_crops_of_any_size_and_layout(models):
    clf = Classifier.from_path(models["float"])
    crops = [np.full((17, 90), 230, np.uint8),                      # gray, not square
             np.full((200, 150, 3), 230, np.uint8),                 # RGB
             np.full((60, 60, 4), 230, np.uint8),                   # RGBA
             np.full((48, 48), 230 * 257, np.uint16)]               # 16-bit gray
    probs = clf.predict(crops)
    assert [CLASSES[i] for i in probs.argmax(axis=1)] == ["happy"] * 4
    with pytest.raises(ValueError, match="batch"):
        clf.predict_preprocessed(np.zeros((1, SIZE + 1, SIZE, 3), np.float32))


@pytest.mark.slow
def test_thread_safe_under_concurrent_calls(models):
    clf = Classifier.from_path(models["float"])
    rng = np.random.default_rng(3)
    inputs = [rng.uniform(0, 255, (int(rng.integers(1, 6)), SIZE, SIZE, 3)).astype(np.float32) for _ in range(24)]
    expected = [clf.predict_preprocessed(x) for x in inputs]
    errors, results = [], {}

    def worker(k: int) -> None:
        try:
            for rep in range(5):
                i = (k * 7 + rep) % len(inputs)
                results[(k, rep)] = (i, clf.predict_preprocessed(inputs[i]))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 30
    for i, got in results.values():
        np.testing.assert_allclose(got, expected[i], atol=1e-6)
    assert clf._created <= 6  # at most one interpreter per caller at once


def test_two_callers_classify_at_once_without_waiting_on_each_other():
    clf = Classifier(Path("fake.tflite"), SIZE, CLASSES, "tflite", runner_factory=meeting_runners(2))
    x = np.zeros((1, SIZE, SIZE, 3), np.float32)
    errors = []

    def session() -> None:
        try:
            clf.predict_preprocessed(x)
        except threading.BrokenBarrierError as exc:  # the other call never ran alongside: they waited
            errors.append(exc)

    threads = [threading.Thread(target=session) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert clf._created == 2
    clf.predict_preprocessed(x[:0])  # an empty batch needs no interpreter
    assert clf._pool.qsize() == 2  # both came back for the next callers


@pytest.mark.slow
def test_mirror_averages_a_face_with_its_left_right_mirror():
    clf = Classifier.from_dir()  # the shipped model: not symmetric, unlike the tiny test models
    rng = np.random.default_rng(4)
    x = rng.uniform(0, 255, (3, clf.input_size, clf.input_size, 3)).astype(np.float32)
    x[:, :, : clf.input_size // 2] *= 0.3  # left half darker: the mirror is a different input
    raw = Classifier.from_dir()
    raw.calibration = Calibration()  # the average is of raw outputs; the shipped calibration comes after it
    plain, mirrored = raw.predict_preprocessed(x), raw.predict_preprocessed(x[:, :, ::-1])
    assert np.abs(plain - mirrored).max() > 1e-3
    both = clf.predict_preprocessed(x, mirror=True)
    np.testing.assert_allclose(both, clf.calibration.apply((plain + mirrored) / 2), atol=1e-5)
    np.testing.assert_allclose(clf.predict_preprocessed(x[:, :, ::-1], mirror=True), both, atol=1e-5)
    crops = [np.asarray(f, np.uint8) for f in x]
    np.testing.assert_allclose(clf.predict(crops, mirror=True), clf.predict([c[:, ::-1] for c in crops], mirror=True),
                               atol=1e-5)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(ModelFilesError, match="not found"):
        Classifier.from_path(tmp_path / "nope.tflite")
    bad = tmp_path / "bad.tflite"
    bad.write_bytes(b"this is not a flatbuffer" * 10)
    with pytest.raises(ModelFilesError, match="could not be loaded"):
        Classifier.from_path(bad)
    other = tmp_path / "model.onnx"
    other.write_bytes(b"x")
    with pytest.raises(ModelFilesError, match="Unsupported"):
        Classifier.from_path(other)


def test_from_dir_errors(tmp_path):
    with pytest.raises(ModelFilesError):
        Classifier.from_dir(tmp_path / "absent")
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"input_size": 64, "classes": list(CLASSES)}))
    with pytest.raises(ModelFilesError, match="missing"):
        Classifier.from_dir(tmp_path)


@pytest.mark.slow
def test_from_dir_checks_input_size(models, tmp_path):
    import shutil

    shutil.copy(models["float"], tmp_path / SERVED_NAME)
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"input_size": SIZE, "classes": list(CLASSES)}))
    clf = Classifier.from_dir(tmp_path)
    assert clf.input_size == SIZE and clf.path.name == SERVED_NAME
    (tmp_path / CONFIG_NAME).write_text(json.dumps({"input_size": SIZE * 2, "classes": list(CLASSES)}))
    with pytest.raises(ModelFilesError, match="config says"):
        Classifier.from_dir(tmp_path)


def test_shipped_model_loads_without_tensorflow():
    """The served model runs in a fresh process that never imports TensorFlow."""
    code = (
        "import sys, json, numpy as np\n"
        "from fer_core.engine.classifier import Classifier\n"
        "from fer_core.core.model_folder import load_model_config\n"
        "c = Classifier.from_dir()\n"
        "p = c.predict([np.zeros((48, 48), np.uint8), np.full((100, 80, 3), 200, np.uint8)])\n"
        "print(json.dumps({'shape': list(p.shape), 'sum': p.sum(axis=1).tolist(), 'size': c.input_size,\n"
        "  'cfg': load_model_config()['input_size'], 'tf': 'tensorflow' in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert res["shape"] == [2, len(CLASSES)]
    assert np.allclose(res["sum"], 1.0, atol=1e-3)
    assert res["size"] == res["cfg"]
    assert res["tf"] is False
