"""The ablation driver: one train run per arm, same settings but loss and sampling, finished arms skipped.

Training itself is covered by test_train; here the train process is replaced by a fake that writes
what fer_core.training.train writes, so the orchestration and the table are checked in milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fer_core.training import ablation
from fer_core.core.labels import CLASSES
from fer_core.core.model_folder import HISTORY_NAME, KERAS_NAME
from fer_core.training.train import ARGS_NAME


def _history(acc: float) -> list[dict]:
    """Two epochs, the second the best by macro-F1 (the run's monitor) though not by accuracy."""
    def row(epoch: int, acc: float, f1: float) -> dict:
        return {"epoch": epoch, "loss": 1.0, "accuracy": 0.5, "val_accuracy": acc, "val_macro_f1": f1,
                "val_recall": {c: acc / 2 for c in CLASSES}, "lr": 1e-3, "seconds": 45.0}

    return [row(1, acc + 0.05, acc - 0.2), row(2, acc, acc - 0.1)]


@pytest.fixture()
def fake_train(monkeypatch):
    calls: list[list[str]] = []

    def run(cmd, check):
        calls.append(cmd)
        run_dir = Path(cmd[cmd.index("--out") + 1])
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / ARGS_NAME).write_text(json.dumps({"monitor": "val_macro_f1"}))
        (run_dir / HISTORY_NAME).write_text(json.dumps(_history(0.3 + 0.1 * len(calls))))
        (run_dir / KERAS_NAME).write_bytes(b"")

    monkeypatch.setattr(ablation.subprocess, "run", run)
    return calls


def test_every_arm_trains_once_with_the_same_settings(tmp_path, fake_train, capsys):
    assert ablation.main(["--data", "D", "--out", str(tmp_path), "--limit", "500", "--init-from", "w.keras"]) == 0
    arms = [(c[c.index("--loss") + 1], c[c.index("--sampling") + 1]) for c in fake_train]
    assert arms == list(ablation.ARMS)
    common = {tuple(c[c.index("--data"):]) for c in fake_train}
    assert len(common) == 1  # only loss / sampling / out differ
    assert "w.keras" in fake_train[0] and "500" in fake_train[0]

    saved = json.loads((tmp_path / "ablation.json").read_text())
    assert [r["arm"] for r in saved["arms"]] == ["ce-uniform", "ce-weighted", "focal-uniform", "focal-weighted"]
    assert saved["arms"][3]["accuracy"] == pytest.approx(0.7)
    table = capsys.readouterr().out
    assert "| focal | yes | 0.7000 | 0.6000 | 0.350 |" in table
    assert "| cross-entropy | no | 0.4000 |" in table


def test_finished_arms_are_not_trained_again(tmp_path, fake_train):
    ablation.main(["--data", "D", "--out", str(tmp_path)])
    (tmp_path / "focal-weighted" / KERAS_NAME).unlink()  # as if interrupted in the last arm
    fake_train.clear()
    ablation.main(["--data", "D", "--out", str(tmp_path)])
    assert len(fake_train) == 1 and "focal" in fake_train[0] and "weighted" in fake_train[0]


def test_soft_labels_reach_every_arm(tmp_path, fake_train):
    ablation.main(["--data", "FERPLUS", "--out", str(tmp_path), "--soft-labels"])
    assert len(fake_train) == 4 and all("--soft-labels" in c for c in fake_train)
    ablation.main(["--data", "D", "--out", str(tmp_path / "plain")])
    assert not any("--soft-labels" in c for c in fake_train[4:])
