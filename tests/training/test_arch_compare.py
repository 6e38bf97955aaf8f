"""The architecture comparison end to end on generated FER+, CK+ and FER-2013 folders, two small
arms at 32x32: every column of the table is filled from the runs, and a finished arm is reused."""

from __future__ import annotations

import json

import pytest

from datagen import votes_for, write_ckplus, write_fer2013_folders, write_ferplus
from fer_core.core.labels import CLASSES, FERPLUS_VOTE_ORDER

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

_VOTE_NAME = {"angry": "anger", "happy": "happiness", "sad": "sadness"}


def _ferplus(root):
    def entries(n, offset):
        return [(f"fer{offset + i:07d}.png", votes_for(_VOTE_NAME.get(c, c), 8), CLASSES.index(c))
                for i, c in enumerate(list(CLASSES) * n)]

    assert all(_VOTE_NAME.get(c, c) in FERPLUS_VOTE_ORDER for c in CLASSES)
    write_ferplus(root, "FER2013Train", entries(3, 0))
    return write_ferplus(root, "FER2013Valid", entries(1, 1000), seed=1)


def test_comparison_fills_every_column_and_reuses_finished_arms(tmp_path):
    from fer_core.training.arch_compare import main

    ferplus = _ferplus(tmp_path / "ferplus")
    ckplus = write_ckplus(tmp_path / "ckplus48", {1: {"anger": 2, "happy": 2}, 5: {"sadness": 1, "happy": 1}})
    fer2013 = write_fer2013_folders(tmp_path / "fer2013", n_train=1, n_public=1, n_private=0)
    out, table_path = tmp_path / "runs", tmp_path / "arch_comparison.json"
    argv = ["--out", str(out), "--json", str(table_path), "--archs", "cnn,mobilenetv3_ca", "--epochs", "1",
            "--limit", "14", "--ferplus", str(ferplus), "--ckplus", str(ckplus), "--fer2013", str(fer2013),
            "--representative", "8", "--input-size", "32"]
    assert main(argv) == 0
    table = json.loads(table_path.read_text())
    assert [row["arch"] for row in table["rows"]] == ["mobilenetv3_ca", "cnn"]  # network.ARCHS order
    for row in table["rows"]:
        assert None not in row.values(), row
        assert row["params"] > 10_000 and row["mflops_per_face"] > 0.1
        assert 0 <= row["ferplus_valid_accuracy"] <= 1 and 0 <= row["ckplus_valid_accuracy"] <= 1
        assert row["served_ms_p50"] > 0 and row["int8_ms_p50"] > 0 and 0 <= row["int8_agreement"] <= 1
        assert row["epochs"] == 1 and row["train_faces"] == 14 + 2 * 4  # CK+ train subject 1, twice
    assert table["budget"]["epochs"] == 1 and table["budget"]["steps_per_arm"] >= 0 and table["hardware"]
    cnn_flops = table["rows"][1]["mflops_per_face"]
    model_file = out / "cnn" / "model.keras"
    stamp = model_file.stat().st_mtime_ns
    assert main([*argv[:5], "cnn", *argv[6:]]) == 0  # the finished arm is measured again, not retrained
    assert model_file.stat().st_mtime_ns == stamp
    again = json.loads(table_path.read_text())
    assert [row["arch"] for row in again["rows"]] == ["mobilenetv3_ca", "cnn"]
    assert again["rows"][1]["mflops_per_face"] == cnn_flops
