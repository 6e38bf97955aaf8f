"""The model folder: its layout (every file name, spelled once here), where it is, how its config
is written and read, and how its side files (metrics, history, class counts) are read.

The app, the engine and the toolchain all find the model through here, so a missing or
corrupt file surfaces as one clear ``ModelFilesError`` instead of a traceback.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fer_core import REPO_ROOT
from fer_core.core.environ import env_text
from fer_core.core.labels import CLASS_LISTS, CLASSES
from fer_core.core.preprocess import PREPROCESSING_DOC, PREPROCESSING_NAME

# The model folder's layout (models/, or FER_MODEL_DIR).
KERAS_NAME = "model.keras"  # the Keras model: Grad-CAM, evaluation, export
SERVED_NAME = "model.tflite"  # the TFLite model the app serves (the config's default served_model)
CONFIG_NAME = "model_config.json"  # arch, input_size, classes, preprocessing, gradcam_layer, served_model
METRICS_NAME = "metrics.json"
HISTORY_NAME = "history.json"
CLASS_COUNTS_NAME = "class_counts.json"
CARD_NAME = "MODEL_CARD.md"
REFERENCE_NAME = "reference_figures.json"  # the `fer` package's figures on the same evaluation sets
TRAINING_LOG_NAME = "TRAINING_LOG.md"
ARCH_COMPARISON_NAME = "arch_comparison.json"  # fer_core.training.arch_compare: the architectures side by side
PRUNING_NAME = "pruning.json"  # fer_core.training.prune: the model at several sparsities
REQUIRED_KEYS = ("input_size", "classes")


class ModelFilesError(RuntimeError):
    """The model directory or one of its files is missing or unreadable; str() is user-facing."""


def default_model_dir() -> Path:
    """FER_MODEL_DIR when set (tests, deployments), else the repository's models/."""
    folder = env_text("FER_MODEL_DIR")
    return Path(folder) if folder else REPO_ROOT / "models"


def _dir(model_dir: str | os.PathLike | None) -> Path:
    return Path(model_dir) if model_dir is not None else default_model_dir()


def _read_json(path: Path, what: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFilesError(f"The {what} file {path} is missing.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFilesError(f"The {what} file {path} is unreadable or not valid JSON ({exc}).") from None


def write_model_config(model_dir: str | os.PathLike, config: dict) -> dict:
    """Write the folder's config (CONFIG_NAME): ``config`` with this code's classes and preprocessing
    filled in, so what training, export and tests write is what load_model_config accepts."""
    cfg = {"classes": list(CLASSES), "preprocessing": PREPROCESSING_NAME, "preprocessing_doc": PREPROCESSING_DOC,
           **config}
    (Path(model_dir) / CONFIG_NAME).write_text(json.dumps(cfg, indent=1))
    return cfg


def load_model_config(model_dir: str | os.PathLike | None = None) -> dict:
    """The config (CONFIG_NAME) with defaults filled in, validated enough that loaders can trust it."""
    d = _dir(model_dir)
    if not d.is_dir():
        raise ModelFilesError(
            f"Model directory {d} does not exist. Set FER_MODEL_DIR or ship a model in models/ "
            "(python -m fer_core.training.ship)."
        )
    cfg = _read_json(d / CONFIG_NAME, "model config")
    if not isinstance(cfg, dict):
        raise ModelFilesError(f"The model config {d / CONFIG_NAME} must be a JSON object.")
    if missing := [k for k in REQUIRED_KEYS if k not in cfg]:
        raise ModelFilesError(f"The model config {d / CONFIG_NAME} lacks {', '.join(missing)}.")
    try:
        cfg["input_size"] = int(cfg["input_size"])
    except (TypeError, ValueError):
        raise ModelFilesError(f"The model config {d / CONFIG_NAME} has a non-integer input_size.") from None
    if cfg["input_size"] < 8:
        raise ModelFilesError(f"The model config {d / CONFIG_NAME} has an implausible input_size {cfg['input_size']}.")
    known = [list(c) for c in CLASS_LISTS]
    if not isinstance(cfg["classes"], list) or cfg["classes"] not in known:
        raise ModelFilesError(
            f"The model config {d / CONFIG_NAME} lists classes {cfg['classes']}; this app expects "
            + " or ".join(str(c) for c in known) + "."
        )
    cfg.setdefault("preprocessing", PREPROCESSING_NAME)
    if cfg["preprocessing"] != PREPROCESSING_NAME:  # faces would reach the model unlike in training
        raise ModelFilesError(f"The model config {d / CONFIG_NAME} names preprocessing {cfg['preprocessing']!r}; "
                              f"this app prepares faces as {PREPROCESSING_NAME!r}.")
    cfg.setdefault("gradcam_layer", None)
    cfg.setdefault("served_model", SERVED_NAME)
    cfg.setdefault("keras_model", KERAS_NAME)
    return cfg


def _named_model_file(model_dir: str | os.PathLike | None, key: str, what: str) -> Path:
    d = _dir(model_dir)
    p = d / load_model_config(d)[key]
    if not p.is_file():
        raise ModelFilesError(f"The {what} {p} named in {d / CONFIG_NAME} is missing.")
    return p


def served_model_path(model_dir: str | os.PathLike | None = None) -> Path:
    """Path of the model file the app serves (TFLite normally), checked to exist."""
    return _named_model_file(model_dir, "served_model", "served model")


def keras_model_path(model_dir: str | os.PathLike | None = None) -> Path:
    """Path of the Keras model (Grad-CAM, evaluation), checked to exist."""
    return _named_model_file(model_dir, "keras_model", "Keras model")


def _optional_json(model_dir, name: str, what: str):
    p = _dir(model_dir) / name
    if not p.is_file():
        return None
    return _read_json(p, what)


def load_metrics(model_dir: str | os.PathLike | None = None) -> dict | None:
    """metrics.json ({"keras": ..., "served": ...} evaluate JSON), or None before a model is shipped."""
    return _optional_json(model_dir, METRICS_NAME, "metrics")


def load_history(model_dir: str | os.PathLike | None = None) -> list[dict] | None:
    """Per-epoch training history (list of dicts), or None when absent."""
    return _optional_json(model_dir, HISTORY_NAME, "training history")


def load_class_counts(model_dir: str | os.PathLike | None = None) -> dict[str, int] | None:
    """Training-set class counts, or None when absent."""
    return _optional_json(model_dir, CLASS_COUNTS_NAME, "class counts")


def load_reference_figures(model_dir: str | os.PathLike | None = None) -> dict[str, dict[str, float]]:
    """The `fer` package's figures per evaluation set ({"FER+ valid": {"accuracy": ..., "macro_f1": ...}}),
    quoted by the model card and the pages beside the model's own; {} when the folder has none."""
    data = _optional_json(model_dir, REFERENCE_NAME, "reference figures")
    if data is None:
        return {}
    figures = data.get("figures") if isinstance(data, dict) else None
    if not isinstance(figures, dict) or not all(
            isinstance(v, dict) and all(isinstance(x, (int, float)) for x in v.values()) for v in figures.values()):
        raise ModelFilesError(f"The reference figures file {_dir(model_dir) / REFERENCE_NAME} should hold "
                              '{"figures": {"<evaluation set>": {"accuracy": <number>, ...}}}.')
    return {str(k): {m: float(x) for m, x in v.items()} for k, v in figures.items()}


def load_arch_comparison(model_dir: str | os.PathLike | None = None) -> dict | None:
    """The architecture comparison table (fer_core.training.arch_compare), or None when absent."""
    return _optional_json(model_dir, ARCH_COMPARISON_NAME, "architecture comparison")


def load_pruning(model_dir: str | os.PathLike | None = None) -> dict | None:
    """The pruning table (fer_core.training.prune), or None when absent."""
    return _optional_json(model_dir, PRUNING_NAME, "pruning")
