"""Checkpoint averaging: the element-wise mean, refused mixes, and a run directory ship accepts."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fer_core.training.average import average_weights, main
from fer_core.core.model_folder import CLASS_COUNTS_NAME, CONFIG_NAME, HISTORY_NAME, KERAS_NAME


def test_mean_of_float_weights_and_last_value_of_counters():
    a = [np.array([[1.0, 2.0]], np.float32), np.array(3, np.int64)]
    b = [np.array([[3.0, 6.0]], np.float32), np.array(7, np.int64)]
    out = average_weights([a, b])
    np.testing.assert_allclose(out[0], [[2.0, 4.0]])
    assert out[0].dtype == np.float32
    assert out[1] == 7


def test_refuses_nothing_and_mixed_architectures():
    with pytest.raises(ValueError, match="at least one"):
        average_weights([])
    with pytest.raises(ValueError, match="different architectures"):
        average_weights([[np.zeros((2, 2))], [np.zeros((3, 2))]])


def _tiny_model(keras, seed: int):
    keras.utils.set_random_seed(seed)
    inp = keras.Input((4,))
    x = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inp))
    return keras.Model(inp, keras.layers.Dense(2, activation="softmax")(x))


def test_cli_writes_the_averaged_model_and_the_run_files(tmp_path):
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    run = tmp_path / "run"
    (run / "epochs").mkdir(parents=True)
    models = [_tiny_model(keras, s) for s in (1, 2, 3)]
    paths = []
    for i, m in enumerate(models, 1):
        paths.append(run / "epochs" / f"epoch_{i:02d}.keras")
        m.save(paths[-1])
    (run / CONFIG_NAME).write_text(json.dumps({"input_size": 4}))
    (run / HISTORY_NAME).write_text("[]")

    out = tmp_path / "avg"
    assert main([*map(str, paths), "--run", str(run), "--out", str(out)]) == 0
    got = keras.models.load_model(out / KERAS_NAME).get_weights()
    for i, w in enumerate(got):
        np.testing.assert_allclose(w, np.mean([m.get_weights()[i] for m in models], axis=0), rtol=1e-6)
    assert json.loads((out / CONFIG_NAME).read_text()) == {"input_size": 4}
    assert json.loads((out / "averaged_from.json").read_text()) == [str(p) for p in paths]
    assert not (out / CLASS_COUNTS_NAME).exists()  # copied only when the run has it


def test_cli_names_a_missing_checkpoint(tmp_path, capsys):
    assert main([str(tmp_path / "nope.keras"), "--run", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "nope.keras" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
