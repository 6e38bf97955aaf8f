"""Ablation: cross-entropy vs focal loss, each with and without class-weighted sampling.

    python -m fer_core.training.ablation --data ../shared/data/fer2013 --out runs/ablation \
        --init-from runs/next/model.keras --epochs 1 --limit 12800

Runs ``fer_core.training.train`` once per arm (same data, seed, schedule and starting weights; only the
loss and the sampling change), each in its own process so no Keras state leaks between arms, then
writes ``ablation.json`` and prints the markdown table the model card shows, each arm at its best
epoch (the one its ``best.weights.h5`` holds). An arm whose run directory already holds its final
model is not trained again, and an interrupted arm resumes (``--resume``), so an interrupted
ablation goes on where it stopped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from fer_core.core.model_folder import HISTORY_NAME, KERAS_NAME
from fer_core.training.train import ARGS_NAME, best_epoch

ARMS = (("ce", "uniform"), ("ce", "weighted"), ("focal", "uniform"), ("focal", "weighted"))
# Disgust is FER-2013's minority class (1.5%); surprise is the next smallest, fear the hardest.
MINORITY = ("disgust", "fear", "surprise")


def arm_name(loss: str, sampling: str) -> str:
    return f"{loss}-{sampling}"


def arm_row(loss: str, sampling: str, history: Sequence[Mapping], monitor: str) -> dict:
    """One table row from a finished run's history: its best epoch by the run's own monitor."""
    best = best_epoch(list(history), monitor)
    return {
        "arm": arm_name(loss, sampling), "loss": loss, "sampling": sampling,
        "epochs": history[-1]["epoch"], "minutes": round(sum(r.get("seconds", 0.0) for r in history) / 60, 1),
        "accuracy": best["val_accuracy"], "macro_f1": best["val_macro_f1"],
        "recall": {c: best["val_recall"][c] for c in MINORITY},
    }


def table_md(rows: Sequence[Mapping]) -> str:
    head = ["loss", "weighted sampling", "accuracy", "macro-F1", *(f"{c} recall" for c in MINORITY), "minutes"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = ["focal" if r["loss"] == "focal" else "cross-entropy", "yes" if r["sampling"] == "weighted" else "no",
                 f"{r['accuracy']:.4f}", f"{r['macro_f1']:.4f}", *(f"{r['recall'][c]:.3f}" for c in MINORITY),
                 f"{r['minutes']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_arm(loss: str, sampling: str, out: Path, train_args: Sequence[str]) -> dict:
    run_dir = out / arm_name(loss, sampling)
    if not (run_dir / KERAS_NAME).exists():
        cmd = [sys.executable, "-u", "-m", "fer_core.training.train", "--out", str(run_dir), "--loss", loss,
               "--sampling", sampling, "--resume", *train_args]
        print("$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)
    monitor = json.loads((run_dir / ARGS_NAME).read_text())["monitor"]
    return arm_row(loss, sampling, json.loads((run_dir / HISTORY_NAME).read_text()), monitor)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m fer_core.training.ablation", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="training images per arm (0 = all)")
    ap.add_argument("--init-from", default=None, help="common starting weights for every arm")
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--warmup-epochs", type=float, default=0.1)
    ap.add_argument("--soft-labels", action="store_true",
                    help="FER+ data: every arm trains on the annotators' vote distributions (focal loss on soft targets)")
    args = ap.parse_args(argv)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train_args = ["--data", args.data, "--epochs", str(args.epochs), "--limit", str(args.limit),
                  "--lr", str(args.lr), "--warmup-epochs", str(args.warmup_epochs), "--patience", "1000"]
    if args.init_from:
        train_args += ["--init-from", args.init_from]
    if args.soft_labels:
        train_args += ["--soft-labels"]
    rows = [run_arm(loss, sampling, out, train_args) for loss, sampling in ARMS]
    (out / "ablation.json").write_text(json.dumps({"settings": vars(args), "arms": rows}, indent=1))
    print(table_md(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
