"""The plain-language summary the Model and Home pages open with, built from the side files.

Everything here is read at run time from metrics.json (the evaluate JSON reports) and the `fer`
package's figures (reference_figures.json, fer_core.core.model_folder), so a newly shipped model
brings its own figures: nothing is hard-coded but the wording and the thresholds for "well" and
"poorly". No Streamlit, no TensorFlow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from fer_core.core.labels import CLASSES

# Evaluation sets in the order the summary shows them: the ten-annotator FER+ labels first
# (cleaner: one person's label on FER-2013 agrees with the ten-person majority only ~65% of the time).
SET_ORDER: tuple[str, ...] = ("FER+ valid", "CK+ valid subjects", "FER-2013 PublicTest")
PLAIN_SET_NAMES = {
    "FER+ valid": "web photos that ten people each labelled (FER+)",
    "CK+ valid subjects": "posed expressions of people filmed in a lab, people it never saw in training (CK+)",
    "FER-2013 PublicTest": "web photos that one person each labelled (FER-2013)",
}
PHOTOS_SECTION = "realphotos_dev"  # metrics.json's whole-photo-pipeline figures (fer_core.training.photo_eval)
PHOTOS_PLAIN_NAME = "ordinary news photos, neutral or happy, through the whole Photo page (finding the face too)"
# metrics.json sections that are not classification reports.
_NOT_REPORTS = (PHOTOS_SECTION, "selection", "calibration")
_FERPLUS_SPLITS = {"public_test": "FER+ valid", "valid": "FER+ valid", "private_test": "FER+ test",
                   "train": "FER+ train", "all": "FER+ (all images)"}
_FER2013_SPLITS = {"public_test": "FER-2013 PublicTest", "valid": "FER-2013 PublicTest",
                   "private_test": "FER-2013 PrivateTest", "train": "FER-2013 training split",
                   "all": "FER-2013 (all images)"}

# Share of a class's faces the model names correctly (recall): at or above WELL it recognises
# the class well, below POORLY it misses it often.
WELL, POORLY = 0.75, 0.60


def evaluation_set(report: Mapping, default_split: str | None = None) -> str:
    """Readable name of the faces a report was measured on, from its dataset format and split."""
    fmt = str(report.get("format") or "")
    split = str(report.get("split") or default_split or "public_test")
    if fmt == "ferplus":
        return _FERPLUS_SPLITS.get(split, f"FER+ {split}")
    if fmt == "ckplus":
        return "CK+ valid subjects" if split in ("valid", "public_test") else f"CK+ {split}"
    if fmt.startswith("fer2013") or not fmt:
        return _FER2013_SPLITS.get(split, split) if fmt or split != "valid" else "FER+ valid"
    return {"all": "all images", "train": "the training split"}.get(split, split)


def reports(metrics: Mapping) -> list[tuple[str, dict]]:
    """(key, report) for every evaluation report in metrics.json, one nesting level deep too."""
    if "accuracy" in metrics:
        return [("served", dict(metrics))]
    out = []
    for key, value in metrics.items():
        if not isinstance(value, Mapping) or key in _NOT_REPORTS:
            continue
        if "accuracy" in value:
            out.append((str(key), dict(value)))
        else:
            out += [(f"{key}/{k}", dict(v)) for k, v in value.items() if isinstance(v, Mapping) and "accuracy" in v]
    return out


@dataclass
class SetFigures:
    """One evaluation set: the served model as the live page runs it, mirror-averaged as the
    photo and video pages run it, and the `fer` package's figures on the same faces."""

    name: str
    served: dict | None = None
    mirror: dict | None = None
    reference: dict | None = None

    @property
    def main(self) -> dict | None:
        return self.served or self.mirror


def _kind(key: str, report: Mapping) -> str:
    if report.get("mirror") or key.endswith("mirror"):
        return "mirror"
    if report.get("backend") == "tflite" or "served" in key or "tflite" in key:
        return "served"
    return "keras"


def evaluation_sets(metrics: Mapping | None, reference: Mapping[str, dict] | None = None) -> list[SetFigures]:
    """Per evaluation set, the reports to quote, FER+ valid first, then FER-2013 PublicTest, then others.

    The served (TFLite) report is preferred; a Keras report stands in when no served one exists.
    """
    if not isinstance(metrics, Mapping):
        return []
    default_split = metrics.get("split") if isinstance(metrics.get("split"), str) else None
    found: dict[str, dict[str, dict]] = {}
    for key, rep in reports(metrics):
        kinds = found.setdefault(evaluation_set(rep, default_split), {})
        kinds.setdefault(_kind(key, rep), rep)
    sets = [SetFigures(name, kinds.get("served") or kinds.get("keras"), kinds.get("mirror"),
                       (reference or {}).get(name)) for name, kinds in found.items()]
    rank = {name: i for i, name in enumerate(SET_ORDER)}
    return sorted(sets, key=lambda s: rank.get(s.name, len(rank)))


@dataclass
class ClassNote:
    """How one expression fares: share of its faces named correctly and what it is taken for most."""

    label: str
    found: float
    confused_with: str | None
    confused_share: float
    faces: int

    @property
    def verdict(self) -> str:
        if self.found >= WELL:
            return "well"
        return "fairly well" if self.found >= POORLY else "poorly"

    def sentence(self) -> str:
        text = f"**{self.label}**: right for {out_of_100(self.found)} of 100 faces that show it"
        if self.confused_with and self.confused_share > 0:
            text += f"; the most common mistake is *{self.confused_with}* ({out_of_100(self.confused_share)} of 100)"
        return text + "."


def class_notes(report: Mapping) -> list[ClassNote]:
    """One note per class from the confusion matrix, best recognised first."""
    classes = list(report.get("classes") or CLASSES)
    cm = np.asarray(report.get("confusion_matrix"), dtype=float)
    if cm.shape != (len(classes), len(classes)):
        return []
    notes = []
    for i, c in enumerate(classes):
        total = cm[i].sum()
        if total <= 0:
            continue
        off = cm[i].copy()
        off[i] = 0
        j = int(np.argmax(off))
        notes.append(ClassNote(c, float(cm[i, i] / total), classes[j] if off[j] > 0 else None,
                               float(off[j] / total), int(total)))
    return sorted(notes, key=lambda n: -n.found)


def out_of_100(share: float) -> int:
    """A share as 'about N out of 100', the way the summary states accuracy."""
    return int(round(100 * float(share)))


def how_good(s: SetFigures) -> str:
    """One sentence for an evaluation set: right answers of 100, with mirrored faces, and the `fer` package."""
    main = s.main or {}
    text = (f"On {int(main.get('n', 0)):,} {PLAIN_SET_NAMES.get(s.name, s.name)}, the model gave the same "
            f"answer as the people for **{out_of_100(main.get('accuracy', 0.0))} of every 100 faces**")
    if s.mirror is not None and s.served is not None:
        mirrored = out_of_100(s.mirror.get("accuracy", 0.0))
        same = mirrored == out_of_100(main.get("accuracy", 0.0))  # never the same number twice
        text += (f" ({'the same' if same else f'{mirrored} of 100'} on the Photo and Video pages, which also "
                 "look at each face mirrored)")
    if s.reference and "accuracy" in s.reference:
        text += (f". The `fer` package, a free tool many people use for the same job, gets "
                 f"{out_of_100(s.reference['accuracy'])} of 100 on the same photos")
    return text + "."


def variants_measured_on(metrics: Mapping | None) -> str | None:
    """The faces the TFLite variants' accuracy was measured on, e.g. 'FER-2013 PublicTest (3,589 faces)':
    the export measures every variant on the validation set of metrics.json's top-level reports
    (fer_core.training.ship), so their set names the variants' set too."""
    top = (metrics.get("keras") or metrics.get("served")) if isinstance(metrics, Mapping) else None
    if not isinstance(top, Mapping):
        return None
    default_split = metrics.get("split") if isinstance(metrics.get("split"), str) else None
    return f"{evaluation_set(top, default_split)} ({int(top.get('n', 0) or 0):,} faces)"


def kinds_of_faces(sets: list[SetFigures], metrics: Mapping | None) -> list[dict]:
    """The plain table "on which kinds of faces is it right how often": one row per evaluation set
    (mirror-averaged, as the Photo and Video pages run) and one for the whole photo pipeline, with
    the `fer` package's figure where the card has one."""
    rows = []
    for s in sets:
        rep = s.mirror or s.main or {}
        rows.append({"faces": PLAIN_SET_NAMES.get(s.name, s.name), "how many": int(rep.get("n", 0)),
                     "right, of 100": out_of_100(rep.get("accuracy", 0.0)),
                     "`fer` package, of 100": out_of_100(s.reference["accuracy"])
                     if s.reference and "accuracy" in s.reference else None})
    photos = (metrics or {}).get(PHOTOS_SECTION) if isinstance(metrics, Mapping) else None
    if isinstance(photos, Mapping) and "accuracy_of_all_photos" in photos:
        rows.append({"faces": PHOTOS_PLAIN_NAME, "how many": int(photos.get("photos", 0)),
                     "right, of 100": out_of_100(photos["accuracy_of_all_photos"]), "`fer` package, of 100": None})
    return rows
