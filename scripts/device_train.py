"""Train several runs side by side on a lent GPU machine, from what scripts/device_pack.py packed.

    python3 scripts/device_train.py --out $OUT --minutes 7.5

The GPU machine has JAX and PyTorch but no TensorFlow, so `fer_core.training.train` runs there on Keras'
JAX backend (PyTorch if JAX fails a smoke test), unchanged. Every run trains on FER+ vote
shares and selects on FER+ valid, as on the CPU here. One process per run, all at once: one small
EfficientNet-B0 leaves most of the GPU idle. Runs still going at the deadline are stopped; each
run's best weights come back as float32 arrays (get_weights order) with all logs in one archive.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np

PACK = Path(".devpack")
WORK = Path("/tmp/fer")
COMMON = ["--soft-labels", "--batch-size", "128", "--workers", "3"]
RUNS = {  # name: (start weights, extra fer_core.training.train arguments)
    "scratch": (None, ["--lr", "2e-3"]),
    "lite0": ("lite0_init", ["--lr", "2e-3"]),
    "lite0_lr1e-3": ("lite0_init", ["--lr", "1e-3"]),
    "continue": ("continue_init", ["--lr", "3e-4", "--warmup-epochs", "0.5"]),
}


def unpack_faces() -> Path:
    import cv2

    root = WORK / "ferplus"
    for folder in ("FER2013Train", "FER2013Valid"):
        d = root / folder
        d.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(PACK / f"{folder}.label.csv", d / "label.csv")
        z = np.load(PACK / f"{folder}.npz")
        blob, offsets = z["blob"], z["offsets"]
        for i, name in enumerate(z["names"]):
            img = cv2.imdecode(blob[offsets[i]:offsets[i + 1]], cv2.IMREAD_GRAYSCALE)
            cv2.imwrite(str(d / str(name)), img)
    return root


def backend_that_works() -> str:
    probe = "import keras, numpy as np; print(keras.ops.sum(keras.ops.ones((2, 2))))"
    for name in ("jax", "torch"):
        r = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "KERAS_BACKEND": name},
                           capture_output=True, text=True, timeout=120)
        print(f"backend {name}: {'ok' if r.returncode == 0 else r.stderr[-800:]}", flush=True)
        if r.returncode == 0:
            return name
    raise SystemExit("no Keras backend works here")


def build_start(name: str) -> Path:
    """A .keras model holding the packed start weights (float16 in transit)."""
    from fer_core.training.network import build_model

    model = build_model()
    z = np.load(PACK / f"{name}.npz")
    model.set_weights([z[f"arr_{i}"].astype(w.dtype) for i, w in enumerate(model.get_weights())])
    path = WORK / f"{name}.keras"
    model.save(path)
    return path


def export_best(run: Path, out: Path) -> None:
    from fer_core.training.network import build_model
    from fer_core.training.train import BEST_WEIGHTS_NAME

    best = run / BEST_WEIGHTS_NAME
    if best.exists():
        model = build_model()
        model.load_weights(best)
        np.savez_compressed(out / f"{run.name}.npz", *model.get_weights())


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--minutes", type=float, default=7.5, help="training wall-clock budget")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--limit", type=int, default=0, help="train images per run (a smoke test)")
    args = ap.parse_args()
    t0 = time.time()
    out = Path(args.out)
    backend = backend_that_works()
    os.environ["KERAS_BACKEND"] = backend
    child_env = {**os.environ, "PYTHONUNBUFFERED": "1", "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    os.environ["JAX_PLATFORMS"] = "cpu"  # this process only builds start models
    data = unpack_faces()
    starts = {name: build_start(name) for name in {s for s, _ in RUNS.values() if s}}
    print(f"unpacked and built starts in {time.time() - t0:.0f}s", flush=True)
    procs = {}
    for name, (start, extra) in RUNS.items():
        cmd = [sys.executable, "-m", "fer_core.training.train", "--data", str(data), "--out", str(WORK / "runs" / name),
               "--epochs", str(args.epochs), "--limit", str(args.limit), *COMMON, *extra]
        if start:
            cmd += ["--init-from", str(starts[start])]
        log = open(WORK / f"{name}.log", "w")
        procs[name] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=child_env), log)
    deadline = t0 + args.minutes * 60
    while time.time() < deadline and any(p.poll() is None for p, _ in procs.values()):
        time.sleep(5)
    for name, (p, log) in procs.items():
        if p.poll() is None:
            p.kill()
            print(f"{name}: stopped at the deadline", flush=True)
        p.wait()
        log.close()
        print(f"--- {name} (exit {p.returncode})\n" + (WORK / f"{name}.log").read_text()[-2500:], flush=True)
        export_best(WORK / "runs" / name, out)
    from fer_core.core.model_folder import CONFIG_NAME, HISTORY_NAME
    from fer_core.training.train import ARGS_NAME

    with tarfile.open(out / "logs.tar.gz", "w:gz") as tar:
        for name in RUNS:
            tar.add(WORK / f"{name}.log", arcname=f"{name}.log")
            for f in (HISTORY_NAME, ARGS_NAME, CONFIG_NAME):
                if (WORK / "runs" / name / f).exists():
                    tar.add(WORK / "runs" / name / f, arcname=f"{name}/{f}")
    print(f"done in {time.time() - t0:.0f}s with backend {backend}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
