"""A tiny end-to-end run on generated data: train -> ship (export + evaluate) -> serve.

EfficientNet-B0 at 32x32 for one short epoch: the figures are meaningless, the plumbing is
what is checked (files, configs, JSON shapes, int8 export, the served model loading).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from datagen import votes_for, write_fer2013_folders, write_ferplus, write_image
from fer_core.core.labels import CLASSES

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REQUIRED_KEYS = {"accuracy", "macro_f1", "per_class", "confusion_matrix", "classes", "n", "skipped"}
HISTORY_KEYS = {"epoch", "loss", "accuracy", "val_accuracy", "val_macro_f1", "val_recall", "lr", "seconds"}
SHIPPED = {"model.keras", "model.tflite", "model_config.json", "history.json", "class_counts.json",
           "metrics.json"}


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict[str, Path]:
    from fer_core.training.ship import ship
    from fer_core.training.train import main as train_main

    base = tmp_path_factory.mktemp("e2e")
    data = write_fer2013_folders(base / "fer2013", n_train=8, n_public=3, n_private=1)
    run, out = base / "run", base / "models"
    rc = train_main(["--data", str(data), "--out", str(run), "--epochs", "1", "--input-size", "32",
                     "--batch-size", "16", "--no-augment", "--patience", "5", "--keep-epochs"])
    assert rc == 0
    ferplus = write_ferplus(base / "ferplus", "FER2013Valid", [(f"fer{i:07d}.png", votes_for(v, 8), CLASSES.index(c))
                                                                for i, (v, c) in enumerate([("happiness", "happy"),
                                                                                            ("fear", "fear")] * 2)])
    from datagen import write_ckplus

    ckplus = write_ckplus(base / "ckplus48", {5: {"anger": 2, "happy": 2}, 10: {"sadness": 1, "contempt": 1}})
    ship(str(run), str(data), str(out), variants=("fp32", "int8"), n_representative=30,
         max_latency_ms=None, log=lambda *_: None, ferplus=str(ferplus), ckplus=str(ckplus), calibrate=True)
    return {"data": data, "run": run, "out": out}


def test_training_run_writes_its_files(pipeline):
    run = pipeline["run"]
    for name in ("model.keras", "model_config.json", "history.json", "class_counts.json", "best.weights.h5",
                 "history.csv", "args.json"):
        assert (run / name).is_file(), name
    assert list((run / "backup").glob("*.weights.h5"))  # BackupAndRestore's state, kept for --resume
    assert [p.name for p in (run / "epochs").iterdir()] == ["epoch_01.keras"]  # --keep-epochs
    cfg = json.loads((run / "model_config.json").read_text())
    assert cfg["input_size"] == 32 and cfg["classes"] == list(CLASSES)
    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1] and 0 <= hist[0]["val_accuracy"] <= 1
    assert set(hist[0]) == HISTORY_KEYS and set(hist[0]["val_recall"]) == set(CLASSES)
    assert json.loads((run / "class_counts.json").read_text()) == {c: 8 for c in CLASSES}
    assert json.loads((run / "args.json").read_text())["epochs"] == 1


def test_ship_writes_only_final_files(pipeline):
    out = pipeline["out"]
    assert {p.name for p in out.iterdir()} == SHIPPED
    assert not (out / "export").exists()


def _saved_groups(path: Path) -> set[str]:
    """Top-level groups of a weights file, or of the weights file inside a .keras archive."""
    import io
    import zipfile

    import h5py

    if path.suffix != ".keras":
        with h5py.File(path, "r") as f:
            return set(f.keys())
    with zipfile.ZipFile(path) as z, h5py.File(io.BytesIO(z.read("model.weights.h5")), "r") as f:
        return set(f.keys())


def test_shipped_config_and_models_load(pipeline):
    from fer_core.engine.classifier import Classifier
    from fer_core.core.model_folder import load_model_config
    from fer_core.core.tf_import import keras as _keras

    out = pipeline["out"]
    cfg = load_model_config(out)
    assert cfg["input_size"] == 32 and cfg["served_model"] == "model.tflite" and "placeholder" not in cfg
    assert cfg["served_variant"] in ("fp32", "int8")
    (backup,) = (pipeline["run"] / "backup").glob("*.weights.h5")
    assert _saved_groups(backup) >= {"layers", "optimizer"}  # resumable: the optimizer state is backed up
    assert "optimizer" not in _saved_groups(out / "model.keras")  # shipped without optimizer state
    keras_model = _keras().models.load_model(out / "model.keras", compile=False)
    assert keras_model.output_shape == (None, 7)
    clf = Classifier.from_dir(out)
    probs = clf.predict([np.zeros((48, 48), np.uint8), np.full((80, 60, 3), 200, np.uint8)])
    assert probs.shape == (2, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-3)


def _set_logged_score(log: Path, epoch: int, key: str, value: str) -> None:
    """Rewrite one value of the CSVLogger's history.csv (its epoch column counts from 0)."""
    import csv

    with log.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        if int(row["epoch"]) == epoch - 1:
            row[key] = value
    with log.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_resume_with_more_epochs_continues_the_run_and_keeps_its_best_weights(pipeline, tmp_path):
    """``--resume --epochs 3`` on the finished one-epoch run trains epochs 2 and 3 on the cosine
    re-targeted to 3 epochs (the optimizer's step counter came back), and epochs that do not beat
    the run's best so far leave best.weights.h5 (and so model.keras) at the old best epoch."""
    import shutil

    from fer_core.core.tf_import import keras as _keras
    from fer_core.training.train import main as train_main

    run = tmp_path / "run"
    shutil.copytree(pipeline["run"], run)
    _set_logged_score(run / "history.csv", 1, "val_macro_f1", "1.0")  # an epoch-1 score no epoch can beat
    best_before = (run / "best.weights.h5").read_bytes()

    assert train_main(["--out", str(run), "--resume", "--epochs", "3"]) == 0  # data etc. from args.json

    hist = json.loads((run / "history.json").read_text())
    assert [h["epoch"] for h in hist] == [1, 2, 3]
    assert sorted(p.name for p in (run / "epochs").iterdir()) == [f"epoch_0{e}.keras" for e in (1, 2, 3)]
    args = json.loads((run / "args.json").read_text())
    assert args["epochs"] == 3 and args["input_size"] == 32
    # Warm-up ends with epoch 1; the 3-epoch cosine is half way down after epoch 2 and at its 1% floor after 3.
    assert [h["lr"] for h in hist] == pytest.approx([args["lr"], args["lr"] * (0.01 + 0.99 / 2), args["lr"] * 0.01],
                                                    rel=1e-3)
    assert (run / "best.weights.h5").read_bytes() == best_before
    keras = _keras()
    final = keras.models.load_model(run / "model.keras", compile=False).get_weights()
    epoch1 = keras.models.load_model(run / "epochs" / "epoch_01.keras", compile=False).get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(final, epoch1, strict=True))


def test_history_keeps_one_row_per_epoch_the_later_one(tmp_path):
    """An epoch logged but not backed up before an interruption runs again on resume: history.json
    keeps its later row, while the best score so far counts the earlier one too (its weights may be
    in best.weights.h5)."""
    from fer_core.training.train import best_epoch, best_score_so_far, history_rows

    recall = {f"val_recall_{c}": 0.5 for c in CLASSES}
    rows = [dict(epoch=0, val_macro_f1=0.2), dict(epoch=1, val_macro_f1=0.6), dict(epoch=1, val_macro_f1=0.4)]
    log = tmp_path / "history.csv"
    log.write_text("\n".join([",".join(["epoch", "loss", "accuracy", "val_accuracy", "val_macro_f1", "lr", "seconds",
                                        *recall])] +
                             [",".join(map(str, [r["epoch"], 1.0, 0.5, 0.5, r["val_macro_f1"], 1e-3, 9.0,
                                                 *recall.values()])) for r in rows]) + "\n")
    hist = history_rows(log)
    assert [(h["epoch"], h["val_macro_f1"]) for h in hist] == [(1, 0.2), (2, 0.4)]
    assert hist[0]["val_recall"] == {c: 0.5 for c in CLASSES} and "second_val_accuracy" not in hist[0]
    assert best_epoch(hist, "val_macro_f1")["epoch"] == 2
    assert best_score_so_far(tmp_path, "val_macro_f1") == 0.6


def test_resume_keeps_the_runs_arguments_but_the_epochs(capsys):
    from fer_core.training.train import parse_args, resumed_args

    saved = vars(parse_args(["--data", "D", "--out", "old", "--epochs", "16", "--lr", "3e-4"]))
    args = resumed_args(parse_args(["--out", "new", "--resume", "--epochs", "20", "--lr", "1e-3"]), saved)
    assert (args.data, args.out, args.epochs, args.lr) == ("D", "new", 20, 3e-4)
    assert "ignoring --lr" in capsys.readouterr().out
    assert resumed_args(parse_args(["--out", "new", "--resume"]), saved).epochs == 16


def test_metrics_json_is_the_evaluate_json_of_each_model(pipeline):
    from fer_core.training.evaluate import main as evaluate_main

    out = pipeline["out"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["split"] == "public_test" and metrics["served_model"] == "model.tflite"
    assert {v["variant"] for v in metrics["variants"]} == {"fp32", "int8"}
    for key in ("keras", "served", "served_mirror"):
        assert REQUIRED_KEYS <= set(metrics[key])
        assert metrics[key]["mirror"] is (key == "served_mirror")
        assert metrics[key]["n"] == 21 and np.array(metrics[key]["confusion_matrix"]).sum() == 21
        fp = metrics["ferplus_valid"][key]  # --ferplus: the first-line figures on FER+ valid
        assert REQUIRED_KEYS <= set(fp) and (fp["format"], fp["split"], fp["n"]) == ("ferplus", "valid", 4)
        assert fp["mirror"] is (key == "served_mirror")
    # evaluating the served file again from the CLI gives the same figures
    again = out.parent / "again.json"
    assert evaluate_main(["--model", str(out / "model.tflite"), "--data", str(pipeline["data"]),
                          "--split", "public_test", "--json", str(again), "--quiet"]) == 0
    rep = json.loads(again.read_text())
    assert rep["confusion_matrix"] == metrics["served"]["confusion_matrix"]
    assert rep["accuracy"] == pytest.approx(metrics["served"]["accuracy"])


def test_ship_measures_ckplus_scores_by_the_rule_and_serves_its_calibration(pipeline):
    from fer_core.core.calibration import folder_calibration
    from fer_core.training.selection import selection_score

    out = pipeline["out"]
    metrics = json.loads((out / "metrics.json").read_text())
    ck = metrics["ckplus_valid"]["served"]
    assert (ck["format"], ck["split"], ck["n"]) == ("ckplus", "valid", 5)  # contempt is skipped
    figures = {"public_test": metrics["served"], "ferplus_valid": metrics["ferplus_valid"]["served"],
               "ckplus_valid": ck}
    assert metrics["selection"]["score"] == selection_score(figures)
    chosen = metrics["calibration"]["chosen"]
    assert [r["tau"] for r in metrics["calibration"]["tried"]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert folder_calibration(out).to_dict() == chosen and chosen["temperature"] > 0
    assert len(chosen["log_prior"]) == len(CLASSES)


def test_ship_refuses_an_unfinished_run(tmp_path, pipeline):
    from fer_core.training.ship import main as ship_main

    (tmp_path / "run").mkdir()
    assert ship_main(["--run", str(tmp_path / "run"), "--data", str(pipeline["data"]),
                      "--out", str(tmp_path / "m")]) == 2
    assert not (tmp_path / "m").exists()


def test_soft_targets_follow_their_faces_through_sampling():
    import argparse

    from fer_core.training.train import train_batches

    n, s = 40, 8
    x = np.stack([np.full((s, s, 3), i, np.float32) for i in range(n)])  # face i is filled with i
    y = np.arange(n) % len(CLASSES)
    soft = np.random.default_rng(0).dirichlet(np.ones(len(CLASSES)), n).astype(np.float32)
    args = argparse.Namespace(seed=0, sampling="weighted", sampling_power=0.5, batch_size=8, no_augment=True,
                              input_size=s, workers=1)
    batches = train_batches(x, y, args, soft)
    assert len(batches) == n // 8
    epoch1 = [batches[i] for i in range(len(batches))]
    for xb, tb in epoch1:
        np.testing.assert_allclose(tb, soft[xb[:, 0, 0, 0].astype(int)])
    batches.on_epoch_end()  # a new epoch draws new batches
    assert not np.array_equal(batches[0][0], epoch1[0][0])
    onehot = train_batches(x, y, args)  # default: one-hot majority labels
    for xb, tb in (onehot[i] for i in range(2)):
        np.testing.assert_array_equal(tb.argmax(1), y[xb[:, 0, 0, 0].astype(int)])
        assert set(np.unique(tb)) == {0.0, 1.0}


def test_soft_labels_need_annotator_votes(tmp_path, capsys):
    from fer_core.training.train import main as train_main

    data = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    assert train_main(["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1", "--soft-labels"]) == 2
    assert "--soft-labels needs annotator votes (FER+ data)" in capsys.readouterr().err


def _ferplus_of(faces: list[np.ndarray], vote: str, root: Path) -> Path:
    """FER+ train folder holding ``faces`` as PNGs, every face voted ``vote`` by all ten annotators."""
    names = [f"fer{i:07d}.png" for i in range(len(faces))]
    write_ferplus(root, "FER2013Train", [(name, votes_for(vote, 10), None) for name in names])
    for name, face in zip(names, faces):
        write_image(root / "FER2013Train" / name, face)
    return root


def test_votes_from_blends_fer_plus_votes_into_the_matched_faces(tmp_path, capsys):
    from fer_core.training.data import load_dataset
    from fer_core.training.train import blended_targets

    data = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    train = load_dataset(data, "fer2013-folders", "train")
    votes = _ferplus_of(train.images[:5], "surprise", tmp_path / "ferplus")
    t = blended_targets(train, str(votes), 0.5)
    onehot = np.eye(len(CLASSES))[train.labels]
    np.testing.assert_allclose(t[:5], 0.5 * onehot[:5] + 0.5 * np.eye(len(CLASSES))[CLASSES.index("surprise")])
    np.testing.assert_array_equal(t[5:], onehot[5:])
    assert "5 of 14 faces matched" in capsys.readouterr().out


def test_votes_from_needs_fer_plus_data_and_excludes_soft_labels(tmp_path, capsys):
    from fer_core.training.train import main as train_main

    data = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    run = ["--data", str(data), "--out", str(tmp_path / "run"), "--epochs", "1"]
    assert train_main([*run, "--votes-from", str(data)]) == 2  # FER-2013 folders hold no votes
    assert "error: --votes-from" in capsys.readouterr().err
    assert not (tmp_path / "run" / "model.keras").exists()
    with pytest.raises(SystemExit) as exc:
        train_main([*run, "--soft-labels", "--votes-from", str(data)])
    assert exc.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_votes_runs_select_on_fer_plus_valid_and_log_publictest_second(tmp_path):
    """Trained toward the annotators' votes, a run is selected on FER+ valid; the FER-2013
    validation split (PublicTest) is logged beside it as a second line."""
    from fer_core.training.data import load_dataset
    from fer_core.training.train import main as train_main

    data = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    votes = _ferplus_of(load_dataset(data, "fer2013-folders", "train").images[:5], "happiness", tmp_path / "ferplus")
    write_ferplus(votes, "FER2013Valid", [(f"fer{i:07d}.png", votes_for(c, 10), i % len(CLASSES))
                                          for i, c in enumerate(["happiness", "sadness", "surprise", "neutral"])])
    run = tmp_path / "run"
    assert train_main(["--data", str(data), "--out", str(run), "--epochs", "1", "--input-size", "32",
                       "--batch-size", "8", "--no-augment", "--votes-from", str(votes)]) == 0
    assert json.loads((run / "model_config.json").read_text())["validation_split"] == "valid"
    (row,) = json.loads((run / "history.json").read_text())
    assert 0 <= row["second_val_accuracy"] <= 1 and 0 <= row["second_val_macro_f1"] <= 1


def test_fer2013_labels_blend_only_the_rare_negative_classes(tmp_path, capsys):
    from fer_core.training.data import load_dataset
    from fer_core.training.train import fer2013_label_targets

    data = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    fer = load_dataset(data, "fer2013-folders", "train")
    ferplus = load_dataset(_ferplus_of(fer.images, "neutral", tmp_path / "ferplus"), "ferplus", "train")
    targets = fer2013_label_targets(ferplus, str(data), 0.4, "angry,disgust,fear")
    neutral = np.eye(len(CLASSES), dtype=np.float32)[CLASSES.index("neutral")]
    for face, target in zip(ferplus.images, targets):
        (twin,) = [i for i, im in enumerate(fer.images) if np.array_equal(im, face)] or [None]
        label = CLASSES[fer.labels[twin]]
        if label in ("angry", "disgust", "fear"):
            np.testing.assert_allclose(target, 0.6 * neutral + 0.4 * np.eye(len(CLASSES))[CLASSES.index(label)])
        else:
            np.testing.assert_allclose(target, neutral)
    assert "blended in at weight 0.4" in capsys.readouterr().out


def test_mixed_run_trains_on_ckplus_and_selects_by_the_rule(tmp_path):
    """FER+ votes plus CK+ train subjects repeated; CK+ valid and PublicTest logged every epoch,
    and val_selection (fer_core.training.selection) chooses the epoch."""
    from datagen import write_ckplus
    from fer_core.training.data import load_dataset
    from fer_core.training.train import main as train_main

    fer = write_fer2013_folders(tmp_path / "fer2013", n_train=2, n_public=1, n_private=0)
    ferplus = _ferplus_of(load_dataset(fer, "fer2013-folders", "train").images, "fear", tmp_path / "ferplus")
    write_ferplus(ferplus, "FER2013Valid", [(f"fer{i:07d}.png", votes_for(c, 10), i % len(CLASSES))
                                            for i, c in enumerate(["happiness", "sadness", "anger", "neutral"])])
    ck = write_ckplus(tmp_path / "ckplus48", {5: {"anger": 2, "fear": 2}, 11: {"disgust": 2, "happy": 2}})
    run = tmp_path / "run"
    assert train_main(["--data", str(ferplus), "--soft-labels", "--out", str(run), "--epochs", "1", "--input-size", "32",
                       "--batch-size", "8", "--no-augment", "--extra-train", str(ck), "--extra-repeat", "3",
                       "--fer2013-labels", str(fer), "--extra-val", str(ck), "--extra-val", str(fer),
                       "--monitor", "val_selection"]) == 0
    counts = json.loads((run / "class_counts.json").read_text())
    assert counts["disgust"] == 6 and counts["happy"] == 6  # CK+ train subject S011, three times
    (row,) = json.loads((run / "history.json").read_text())
    for name in ("ckplus_valid", "public_test"):
        assert 0 <= row[f"val_{name}_accuracy"] <= 1
    want = 0.4 * row["val_macro_f1"] + 0.4 * row["val_ckplus_valid_accuracy"] + 0.2 * row["val_public_test_accuracy"]
    assert row["val_selection"] == pytest.approx(want, abs=1e-4)
    assert (run / "best.weights.h5").is_file()


def test_init_from_a_seven_class_model_keeps_its_head_for_the_shared_classes():
    from fer_core.training.network import build_model
    from fer_core.training.train import init_from

    seven, eight = build_model(32, 7, arch="cnn"), build_model(32, 8, arch="cnn")
    init_from(eight, seven)
    (k7, b7), (k8, b8) = seven.layers[-1].get_weights(), eight.layers[-1].get_weights()
    assert np.array_equal(k8[:, :7], k7) and not k8[:, 7].any() and b8[7] == b7.min()
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype(np.float32)
    p7, p8 = seven.predict(x, verbose=0), eight.predict(x, verbose=0)
    np.testing.assert_allclose(p8[:, :7] / p8[:, :7].sum(1, keepdims=True), p7, atol=1e-5)  # same odds
    with pytest.raises(SystemExit, match="head"):
        init_from(build_model(32, 7, arch="cnn"), eight)


def test_contempt_run_trains_and_ships_eight_classes_from_a_seven_class_model(pipeline, tmp_path):
    """--contempt: FER+ contempt votes and CK+'s contempt folder become the eighth class; the seven-class
    model starts the run; export, calibration and every evaluation then run on eight classes."""
    from datagen import write_ckplus
    from fer_core.core.labels import CLASSES_8
    from fer_core.engine.classifier import Classifier
    from fer_core.training.ship import ship
    from fer_core.training.train import main as train_main

    def entries(names, start):
        return [(f"fer{start + i:07d}.png", votes_for(v, 8), i % 7) for i, v in enumerate(names)]

    ferplus = write_ferplus(tmp_path / "ferplus", "FER2013Train", entries(["happiness", "fear", "contempt"] * 2, 0))
    write_ferplus(ferplus, "FER2013Valid", entries(["happiness", "contempt", "fear"], 100), seed=1)
    ck = write_ckplus(tmp_path / "ckplus48", {5: {"contempt": 1, "happy": 1}, 6: {"contempt": 2, "anger": 2}})
    run, out = tmp_path / "run", tmp_path / "models"
    assert train_main(["--data", str(ferplus), "--soft-labels", "--contempt", "--out", str(run), "--epochs", "1",
                       "--input-size", "32", "--batch-size", "4", "--no-augment", "--extra-train", str(ck),
                       "--extra-val", str(ck), "--init-from", str(pipeline["run"] / "model.keras")]) == 0
    assert json.loads((run / "model_config.json").read_text())["classes"] == list(CLASSES_8)
    assert json.loads((run / "class_counts.json").read_text())["contempt"] == 4  # 2 FER+ and S006's 2
    assert "contempt" in json.loads((run / "history.json").read_text())[0]["val_recall"]

    metrics = ship(str(run), str(ferplus), str(out), variants=("fp32",), max_latency_ms=None, log=lambda *_: None,
                   ckplus=str(ck), calibrate=True)
    assert metrics["served"]["classes"] == list(CLASSES_8)
    assert metrics["served"]["per_class"]["contempt"]["support"] == 1  # FER+ valid's contempt face
    assert metrics["ckplus_valid"]["served_mirror"]["per_class"]["contempt"]["support"] == 1  # S005
    assert len(json.loads((out / "model_config.json").read_text())["calibration"]["log_prior"]) == 8
    assert Classifier.from_dir(out).classes == CLASSES_8
