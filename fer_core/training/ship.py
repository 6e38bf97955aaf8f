"""Ship a finished training run into models/: export, measure, evaluate, copy the final files.

    python -m fer_core.training.ship --run runs/main --data ../shared/data/fer2013 --out models

Exports the run's model.keras to every TFLite variant (fer_core.training.export; scratch files go to
<run>/export, never to models/), serves the smallest variant that agrees with Keras, evaluates
the Keras and the served model (also mirror-averaged, as photos and videos use it) on
PublicTest with fer_core.training.evaluate (and on FER+ valid with ``--ferplus``: the first-line figures,
ten annotators per face; on CK+ valid subjects with ``--ckplus``; the whole photo pipeline on
``--realphotos``), scores it by the selection rule (fer_core.training.selection), with ``--calibrate``
chooses the served outputs' logit adjustment and temperature on those validation splits
(fer_core.core.calibration), and writes to --out only
the final files: model.keras (no optimizer), model.tflite (the served variant),
model_config.json, history.json, class_counts.json and metrics.json. MODEL_CARD.md is written by
hand; when --out has one, its generated tables are rewritten (fer_core.training.model_card).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from fer_core.training.export import MAX_LATENCY_MS, VARIANTS, export_all, parse_variants
from fer_core.core.model_folder import (CARD_NAME, CLASS_COUNTS_NAME, CONFIG_NAME, HISTORY_NAME, KERAS_NAME,
                                  METRICS_NAME, SERVED_NAME, load_model_config, write_model_config)

SIZE_LIMIT_MB = 50


class ShipError(RuntimeError):
    """The run directory lacks what shipping needs; str() says what."""


def _run_files(run: Path) -> dict:
    if not run.is_dir():
        raise ShipError(f"Run directory {run} does not exist.")
    missing = [n for n in (KERAS_NAME, CONFIG_NAME) if not (run / n).is_file()]
    if missing:
        raise ShipError(f"Run directory {run} lacks {', '.join(missing)}: has training finished "
                        f"(python -m fer_core.training.train writes them at the end)?")
    return load_model_config(run)


def ship(run_dir: str, data_path: str, out_dir: str = "models", fmt: str = "auto",
         variants: tuple[str, ...] = VARIANTS, n_representative: int = 300,
         max_latency_ms: float | None = MAX_LATENCY_MS, log=print, ferplus: str | None = None,
         ckplus: str | None = None, realphotos: str | None = None, calibrate: bool = False) -> dict:
    """Do the whole shipping; returns the metrics.json content: the evaluate reports on the
    data's validation split, plus a section of the same three per extra validation set
    (``ferplus_valid``, ``ckplus_valid``), ``realphotos_dev`` (fer_core.training.photo_eval), ``selection``
    and, with ``calibrate``, ``calibration``."""
    from fer_core.core.calibration import Calibration
    from fer_core.engine.classifier import Classifier
    from fer_core.training.evaluate import evaluate
    from fer_core.training.model_card import refresh_card
    from fer_core.training.network import DEFAULT_ARCH, gradcam_layer_for
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    run, out = Path(run_dir), Path(out_dir)
    base_cfg = _run_files(run)
    t0 = time.time()
    exp = export_all(run / KERAS_NAME, data_path, run / "export", fmt, variants, n_representative,
                     max_latency_ms=max_latency_ms, log=log)
    out.mkdir(parents=True, exist_ok=True)
    # Re-save uncompiled: guarantees no optimizer state whatever the run saved.
    keras.models.load_model(run / KERAS_NAME, compile=False).save(out / KERAS_NAME)
    shutil.copyfile(exp.served_path, out / SERVED_NAME)
    base_cfg.pop("placeholder", None)
    served_cfg = write_model_config(out, {
        **base_cfg, "gradcam_layer": base_cfg["gradcam_layer"] or gradcam_layer_for(base_cfg["input_size"], base_cfg.get("arch", DEFAULT_ARCH)),
        "served_model": SERVED_NAME, "keras_model": KERAS_NAME, "served_variant": exp.chosen.variant})
    for name in (HISTORY_NAME, CLASS_COUNTS_NAME):
        if (run / name).is_file():
            shutil.copyfile(run / name, out / name)
        else:
            log(f"warning: {run / name} missing; not shipped")
    split = exp.split
    sets = {"public_test": (data_path, fmt, split)}
    if ferplus:
        sets["ferplus_valid"] = (ferplus, "ferplus", "valid")
    if ckplus:
        sets["ckplus_valid"] = (ckplus, "ckplus", "valid")
    calibration, calibration_section = Calibration(), None
    if calibrate:
        calibration, calibration_section = _choose_calibration(out, sets, served_cfg["classes"], log)
        write_model_config(out, {**served_cfg, "calibration": calibration.to_dict()})
    classifiers = {name: Classifier.from_path(out / name, classes=served_cfg["classes"], calibration=calibration)
                   for name in (KERAS_NAME, SERVED_NAME)}

    def three_reports(data: str, data_fmt: str, data_split: str) -> dict:
        """Keras, served, and served mirror-averaged (as the photo and video pages run it)."""
        reports = {}
        for key, name, mirror in (("keras", KERAS_NAME, False), ("served", SERVED_NAME, False),
                                  ("served_mirror", SERVED_NAME, True)):
            log(f"evaluating {name}{' mirror-averaged' if mirror else ''} on {data} {data_split} ...")
            reports[key] = evaluate(out / name, data, data_fmt, data_split, classifier=classifiers[name], mirror=mirror)
            log(f"  accuracy {reports[key]['accuracy']:.4f}  macro-F1 {reports[key]['macro_f1']:.4f}")
        return reports

    reports = three_reports(data_path, fmt, split)
    metrics = {**reports, "served_model": SERVED_NAME,
               "served_variant": exp.chosen.variant, "variants": exp.to_dict()["variants"], "split": split}
    for name, (path, set_fmt, set_split) in list(sets.items())[1:]:
        metrics[name] = three_reports(path, set_fmt, set_split)
    if realphotos:
        metrics["realphotos_dev"] = _photo_pipeline(out, realphotos, log)
    metrics["selection"] = _selection(metrics)
    if calibration_section:
        metrics["calibration"] = calibration_section
    (out / METRICS_NAME).write_text(json.dumps(metrics, indent=1))
    if (out / CARD_NAME).is_file():
        for name in refresh_card(out):
            log(f"warning: {out / CARD_NAME} has no markers for its {name} table; not written")
    total = sum(p.stat().st_size for p in out.iterdir() if p.is_file()) / 1e6
    log(f"shipped to {out} in {time.time() - t0:.0f}s: served {exp.chosen.variant}, models/ total {total:.1f} MB")
    if total > SIZE_LIMIT_MB:
        log(f"warning: {out} holds {total:.1f} MB, over the {SIZE_LIMIT_MB} MB budget")
    return metrics


def _choose_calibration(out: Path, sets: dict, classes: list[str], log) -> tuple:
    """Logit adjustment and temperature for the served model, chosen on the validation splits
    (mirror-averaged outputs, as photos and videos are judged), with the training log-prior."""
    from fer_core.core.calibration import log_prior
    from fer_core.training.calibrate import choose_calibration
    from fer_core.engine.classifier import Classifier
    from fer_core.training.data import load_dataset
    from fer_core.training.evaluate import predict_dataset

    raw = Classifier.from_path(out / SERVED_NAME, classes=classes)
    probs, labels = {}, {}
    for name, (path, set_fmt, set_split) in sets.items():
        ds = load_dataset(path, set_fmt, set_split, tuple(classes))
        probs[name], labels[name] = predict_dataset(raw, ds.images, mirror=True), ds.labels
    counts = json.loads((out / CLASS_COUNTS_NAME).read_text()) if (out / CLASS_COUNTS_NAME).is_file() else {}
    fit_on = "ferplus_valid" if "ferplus_valid" in sets else "public_test"
    calibration, rows = choose_calibration(probs, labels, log_prior(counts, classes), classes, fit_on=fit_on)
    for row in rows:
        log(f"calibration: tau {row['tau']:.2f} -> selection {row['selection']}")
    log(f"calibration: tau {calibration.tau}, temperature {calibration.temperature} (fitted on {fit_on})")
    return calibration, {"chosen": calibration.to_dict(), "fit_on": fit_on, "outputs": "served, mirror-averaged",
                         "tried": rows}


def _photo_pipeline(out: Path, photos: str, log) -> dict:
    """The whole Photo-page pipeline on labelled one-face photos, with the shipped folder's model."""
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.classifier import Classifier
    from fer_core.training.photo_eval import evaluate_photos

    log(f"photo pipeline on {photos} ...")
    report = evaluate_photos(photos, make_analyzer(Classifier.from_dir(out)))
    log(f"  {report['no_face']} of {report['photos']} photos without a face, accuracy {report['accuracy']:.4f}")
    return report


def _selection(metrics: dict) -> dict:
    """The selection rule's score of the served model (fer_core.training.selection) from the sections."""
    from fer_core.training.selection import describe, selection_score

    figures = {"public_test": metrics.get("served")}
    figures.update((name, metrics[name]["served"]) for name in ("ferplus_valid", "ckplus_valid") if name in metrics)
    return {"rule": describe(), "model": "served", "score": selection_score(figures)}


def main(argv=None) -> int:
    from fer_core.training.data import FORMATS, DatasetError
    from fer_core.core.model_folder import ModelFilesError

    ap = argparse.ArgumentParser(prog="python -m fer_core.training.ship", description=__doc__.split("\n")[0])
    ap.add_argument("--run", required=True, help="training run directory (python -m fer_core.training.train --out)")
    ap.add_argument("--data", required=True, help="the dataset the run was trained on")
    ap.add_argument("--format", default="auto", choices=FORMATS)
    ap.add_argument("--out", default="models")
    ap.add_argument("--ferplus", default=None,
                    help="FER+ data: also evaluate on FER+ valid (the first-line figures) into metrics.json")
    ap.add_argument("--ckplus", default=None, help="CK+ data: also evaluate on its valid subjects")
    ap.add_argument("--realphotos", default=None,
                    help="<class>/ photos with one face each: the whole photo pipeline (e.g. realphotos_dev)")
    ap.add_argument("--calibrate", action="store_true",
                    help="choose the logit adjustment and temperature on the validation splits")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--representative", type=int, default=300, help="training faces for int8 calibration")
    ap.add_argument("--max-latency-ms", type=float, default=MAX_LATENCY_MS,
                    help="p50 budget per face at batch 1, 2 threads (<= 0: no latency criterion)")
    args = ap.parse_args(argv)
    try:
        ship(args.run, args.data, args.out, args.format, parse_variants(args.variants), args.representative,
             args.max_latency_ms if args.max_latency_ms > 0 else None, ferplus=args.ferplus, ckplus=args.ckplus,
             realphotos=args.realphotos, calibrate=args.calibrate)
    except (ShipError, DatasetError, ModelFilesError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
