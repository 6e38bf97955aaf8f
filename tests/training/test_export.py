"""TFLite export: every variant converts, int8 is full-integer and still agrees, the choice rule holds.

Uses the tiny oracle model from tests/datagen.py (fast to convert); the EfficientNet path is
covered end to end in tests/training/test_train.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen import oracle_model, synth_face, write_fer2013_folders
from fer_core.training.export import (MAX_ACCURACY_DROP, MIN_AGREEMENT, VariantResult, choose_variant, convert_keras,
                             export_all, main, parse_variants)
from fer_core.core.preprocess import preprocess_faces

SIZE = 48


def _faces(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(7).repeat(n_per_class)
    return preprocess_faces([synth_face(int(c), rng) for c in y], SIZE), y


@pytest.fixture(scope="module")
def oracle_keras(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("oracle") / "model.keras"
    oracle_model(SIZE).save(path)
    return path


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return write_fer2013_folders(tmp_path_factory.mktemp("data") / "fer2013", n_train=6, n_public=4, n_private=1)


def _interpreter(content: bytes):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_content=content)
    it.allocate_tensors()
    return it


@pytest.mark.parametrize("variant", ["fp32", "dynamic", "fp16", "int8"])
def test_each_variant_converts_and_agrees(oracle_keras, variant, tmp_path):
    from fer_core.engine.classifier import Classifier
    from fer_core.core.tf_import import keras as _keras

    model = _keras().models.load_model(oracle_keras, compile=False)
    rep, _ = _faces(10, seed=1)
    content = convert_keras(model, variant, rep)
    it = _interpreter(content)
    in_dtype, out_dtype = it.get_input_details()[0]["dtype"], it.get_output_details()[0]["dtype"]
    if variant == "int8":
        assert in_dtype == np.int8 and out_dtype == np.int8  # full-integer: int8 in and out
        assert it.get_input_details()[0]["quantization"][0] > 0
    else:
        assert in_dtype == np.float32 and out_dtype == np.float32
    path = tmp_path / f"m_{variant}.tflite"
    path.write_bytes(content)
    x, y = _faces(5, seed=2)
    clf = Classifier.from_path(path)  # the app's classifier must handle each variant's I/O
    probs = clf.predict_preprocessed(x)
    assert probs.shape == (35, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)
    keras_pred = model.predict(x, verbose=0).argmax(1)
    assert np.mean(probs.argmax(1) == keras_pred) >= 0.97
    assert np.mean(probs.argmax(1) == y) >= 0.97


def test_int8_needs_a_representative_set(oracle_keras):
    from fer_core.core.tf_import import keras as _keras

    model = _keras().models.load_model(oracle_keras, compile=False)
    with pytest.raises(ValueError, match="representative"):
        convert_keras(model, "int8", None)
    with pytest.raises(ValueError, match="Unknown variant"):
        convert_keras(model, "int4")


def _vr(variant, size, agreement=1.0, drop=0.0, p50=1.0, max_ms=2.0) -> VariantResult:
    return VariantResult(variant, f"{variant}.tflite", size, agreement, 0.7 - drop, 0.7, drop, 0.6, p50, p50,
                         meets_accuracy=agreement >= MIN_AGREEMENT and drop <= MAX_ACCURACY_DROP,
                         meets_latency=p50 <= max_ms)


def test_choice_is_smallest_that_agrees_loses_at_most_a_point_and_is_fast_enough():
    fp32, fp16 = _vr("fp32", 16_000_000, p50=5), _vr("fp16", 8_000_000, p50=1.8)
    # smallest of all, but agreement 97.9% -> out; dynamic smaller than fp16 but too slow
    int8_bad, dyn = _vr("int8", 4_900_000, agreement=0.979), _vr("dynamic", 4_500_000, p50=10)
    assert choose_variant([fp32, dyn, fp16, int8_bad]).variant == "fp16"
    int8_ok = _vr("int8", 4_900_000, agreement=0.985, drop=0.009, p50=1.4)
    assert choose_variant([fp32, dyn, fp16, int8_ok]).variant == "int8"
    int8_drop = _vr("int8", 4_900_000, agreement=0.99, drop=0.011)
    assert choose_variant([fp32, int8_drop]).variant == "fp32"
    # nothing within the latency budget: the fastest of the accurate ones
    assert choose_variant([_vr("fp32", 16, p50=5), _vr("dynamic", 4, p50=10)]).variant == "fp32"
    # ... unless a smaller accurate one is within timing noise (10%) of it
    assert choose_variant([_vr("fp32", 16, p50=2.43), _vr("fp16", 8, p50=2.50), _vr("dynamic", 4, p50=3.0)]).variant == "fp16"
    assert choose_variant([_vr("fp32", 16, p50=2.43), _vr("fp16", 8, p50=2.70)]).variant == "fp32"


def test_export_all_writes_variants_and_serves_the_choice(oracle_keras, dataset, tmp_path):
    out = tmp_path / "export"
    res = export_all(oracle_keras, str(dataset), out, variants=("fp32", "int8"), n_representative=20,
                     latency_repeats=5, max_latency_ms=None, log=lambda *_: None)
    info = json.loads((out / "variants.json").read_text())
    assert info["split"] == "public_test" and info["n"] == 28
    assert [v["variant"] for v in info["variants"]] == ["fp32", "int8"]
    for v in info["variants"]:
        assert (out / v["file"]).stat().st_size == v["size_bytes"]
        assert v["accuracy"] == pytest.approx(1.0) and v["agreement"] == pytest.approx(1.0)
        assert v["latency_p50_ms"] > 0
    sizes = {v["variant"]: v["size_bytes"] for v in info["variants"]}
    assert sizes["int8"] < sizes["fp32"] / 2
    assert info["chosen"] == res.chosen.variant == "int8"
    assert (out / "served.tflite").read_bytes() == (out / "model_int8.tflite").read_bytes()


def test_cli_errors_are_messages_not_tracebacks(tmp_path, capsys, dataset):
    assert main(["--model", str(tmp_path / "none.keras"), "--data", str(dataset), "--out", str(tmp_path)]) == 2
    assert "not an existing .keras file" in capsys.readouterr().err
    with pytest.raises(ValueError, match="Unknown variant"):
        parse_variants("fp32,int3")
    assert parse_variants(" int8 , fp16") == ("int8", "fp16")
