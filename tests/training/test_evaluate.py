"""fer_core.training.evaluate: real predictions (the oracle model) through every layout, and its CLI's errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen import oracle_model, synth_face, write_class_folders, write_fer2013_folders, write_image
from fer_core.training.evaluate import evaluate, format_report, main
from fer_core.training.export import convert_keras
from fer_core.core.labels import CLASSES

REQUIRED_KEYS = {"accuracy", "macro_f1", "per_class", "confusion_matrix", "classes", "n", "skipped"}


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("models")
    m = oracle_model(48)
    m.save(d / "oracle.keras")
    (d / "oracle.tflite").write_bytes(convert_keras(m, "fp32"))
    return {"keras": d / "oracle.keras", "tflite": d / "oracle.tflite"}


@pytest.fixture(scope="module")
def fer_dir(tmp_path_factory) -> Path:
    return write_fer2013_folders(tmp_path_factory.mktemp("d") / "fer2013", n_train=2, n_public=3, n_private=2)


@pytest.mark.parametrize("kind", ["keras", "tflite"])
def test_fer2013_default_split_is_public_test(models, fer_dir, kind):
    rep = evaluate(models[kind], fer_dir)
    assert REQUIRED_KEYS <= set(rep)
    assert rep["split"] == "public_test" and rep["format"] == "fer2013-folders"
    assert rep["n"] == 21 and rep["skipped"] == 0
    assert rep["accuracy"] == 1.0 and rep["macro_f1"] == 1.0
    np.testing.assert_array_equal(rep["confusion_matrix"], np.diag([3] * 7))
    assert evaluate(models[kind], fer_dir, split="private_test")["n"] == 14
    assert evaluate(models[kind], fer_dir, split="all")["n"] == 49


def test_unseen_ck_style_folders_skip_contempt_and_count_it(models, tmp_path):
    root = write_class_folders(tmp_path / "ck", {"anger": 4, "contempt": 3, "happiness": 5, "sadness": 2,
                                                 "surprised": 2})
    (root / "sadness" / "broken.jpg").write_bytes(b"nope")
    rep = evaluate(models["tflite"], root)
    assert rep["format"] == "folders" and rep["split"] == "all"
    assert rep["n"] == 13 and rep["skipped"] == 4
    assert rep["skipped_reasons"] == {"class 'contempt' not one of ours": 3, "unreadable image": 1}
    support = {c: v["support"] for c, v in rep["per_class"].items()}
    assert support == {"angry": 4, "disgust": 0, "fear": 0, "happy": 5, "neutral": 0, "sad": 2, "surprise": 2}
    assert rep["accuracy"] == 1.0  # images of many sizes, resized by the one preprocessing


def test_wrong_predictions_show_up_in_the_matrix(models, tmp_path):
    # images drawn as 'happy' filed under sad/: every one is a true-sad predicted-happy
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / "d" / "sad" / f"{i}.png", synth_face(CLASSES.index("happy"), rng))
        write_image(tmp_path / "d" / "fear" / f"{i}.png", synth_face(CLASSES.index("fear"), rng))
    rep = evaluate(models["keras"], tmp_path / "d")
    cm = np.array(rep["confusion_matrix"])
    assert cm[CLASSES.index("sad"), CLASSES.index("happy")] == 3
    assert rep["accuracy"] == 0.5
    assert rep["per_class"]["sad"]["recall"] == 0.0 and rep["per_class"]["happy"]["precision"] == 0.0


def test_cli_prints_table_and_writes_json(models, fer_dir, tmp_path, capsys):
    out = tmp_path / "sub" / "rep.json"
    assert main(["--model", str(models["tflite"]), "--data", str(fer_dir), "--json", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    for c in CLASSES:
        assert c in text
    assert "confusion matrix (rows = true, columns = predicted)" in text and "macro-F1 1.0000" in text
    rep = json.loads(out.read_text())
    assert REQUIRED_KEYS <= set(rep) and rep["n"] == 21
    assert set(rep["per_class"]["happy"]) == {"precision", "recall", "f1", "specificity", "support"}
    assert format_report(rep).splitlines()[-1].startswith("surprise")
    assert rep["mirror"] is False and "mirror" not in text
    assert main(["--model", str(models["tflite"]), "--data", str(fer_dir), "--json", str(out), "--quiet",
                 "--mirror"]) == 0
    assert "(mirror-averaged)" in capsys.readouterr().out and json.loads(out.read_text())["mirror"] is True


@pytest.mark.parametrize("case", ["missing data", "empty dir", "bad model path", "corrupt model", "bad csv"])
def test_cli_bad_input_is_one_clear_message(models, tmp_path, capsys, case):
    data, model = tmp_path / "data", models["tflite"]
    if case == "missing data":
        data = tmp_path / "nowhere"
    elif case == "empty dir":
        data.mkdir()
    elif case == "bad csv":
        data = tmp_path / "x.csv"
        data.write_text("a,b\n1,2\n")
    else:
        write_class_folders(data, {"happy": 1})
        model = tmp_path / "m.tflite"
        if case == "corrupt model":
            model.write_bytes(b"\x00garbage" * 10)
    assert main(["--model", str(model), "--data", str(data), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err


def test_cli_reads_the_fer_plus_test_split(models, tmp_path, capsys):
    from datagen import votes_for, write_ferplus

    root = write_ferplus(tmp_path / "ferplus", "FER2013Train", [("fer0000001.png", votes_for("fear"), 2)])
    write_ferplus(root, "FER2013Valid", [("fer0000002.png", votes_for("anger"), 0)], seed=1)
    write_ferplus(root, "FER2013Test", [(f"fer00001{i:02d}.png", votes_for(v), c) for i, (v, c) in
                                        enumerate([("happiness", 3), ("surprise", 6), ("sadness", 5)])], seed=2)
    out = tmp_path / "test.json"
    assert main(["--model", str(models["tflite"]), "--data", str(root), "--split", "test", "--json", str(out),
                 "--quiet"]) == 0
    rep = json.loads(out.read_text())
    assert (rep["format"], rep["split"], rep["n"]) == ("ferplus", "test", 3)
    assert main(["--model", str(models["tflite"]), "--data", str(root), "--split", "all", "--json", str(out),
                 "--quiet"]) == 0
    assert json.loads(out.read_text())["n"] == 5
