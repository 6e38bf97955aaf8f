"""model_summary: the Model page's plain-language summary, read from metrics.json and the `fer` figures."""

from __future__ import annotations

import numpy as np
from factories import REFERENCE_FIGURES, fake_report

from fer_core.app import model_summary as ms
from fer_core.core.labels import CLASSES


def test_evaluation_set_names_from_format_and_split():
    assert ms.evaluation_set({"format": "ferplus", "split": "public_test"}) == "FER+ valid"
    assert ms.evaluation_set({"format": "ferplus", "split": "valid"}) == "FER+ valid"
    assert ms.evaluation_set({"format": "fer2013-folders", "split": "public_test"}) == "FER-2013 PublicTest"
    assert ms.evaluation_set({"format": "fer2013-csv", "split": "valid"}) == "FER-2013 PublicTest"
    assert ms.evaluation_set({}, "public_test") == "FER-2013 PublicTest"
    assert ms.evaluation_set({}, "valid") == "FER+ valid"
    assert ms.evaluation_set({}, "my_split") == "my_split" and ms.evaluation_set({}) == "FER-2013 PublicTest"
    assert ms.evaluation_set({"format": "folders", "split": "all"}) == "all images"


def test_sets_put_fer_plus_first_and_prefer_the_served_model():
    keras = {**fake_report(0), "format": "fer2013-folders", "split": "public_test", "backend": "keras"}
    served = {**fake_report(1), "format": "fer2013-folders", "split": "public_test", "backend": "tflite"}
    mirror = {**served, "mirror": True, "accuracy": 0.9}
    fp = {**fake_report(2), "format": "ferplus", "split": "public_test", "backend": "tflite"}
    metrics = {"keras": keras, "served": served, "served_mirror": mirror, "split": "public_test",
               "ferplus_valid": {"served": fp}, "variants": []}
    sets = ms.evaluation_sets(metrics, REFERENCE_FIGURES)
    assert [s.name for s in sets] == ["FER+ valid", "FER-2013 PublicTest"]
    assert sets[0].main == fp and sets[0].reference == {"accuracy": 0.6456, "macro_f1": 0.5622}
    assert sets[1].served == served and sets[1].mirror == mirror
    assert [k for k, _ in ms.reports(metrics)] == ["keras", "served", "served_mirror", "ferplus_valid/served"]
    assert ms.reports(served) == [("served", served)]  # a bare evaluate JSON
    only_keras = ms.evaluation_sets({"keras": keras})
    assert [s.main for s in only_keras] == [keras]
    assert ms.evaluation_sets(None) == [] and ms.evaluation_sets({"split": "x"}) == []


def test_class_notes_from_the_confusion_matrix():
    cm = np.eye(len(CLASSES), dtype=int) * 10
    cm[CLASSES.index("fear"), CLASSES.index("fear")] = 4
    cm[CLASSES.index("fear"), CLASSES.index("sad")] = 5
    cm[CLASSES.index("fear"), CLASSES.index("angry")] = 1
    notes = ms.class_notes({"classes": list(CLASSES), "confusion_matrix": cm.tolist()})
    assert notes[-1].label == "fear" and notes[-1].verdict == "poorly"
    assert notes[-1].sentence() == ("**fear**: right for 40 of 100 faces that show it; the most common mistake "
                                    "is *sad* (50 of 100).")
    assert notes[0].verdict == "well" and notes[0].confused_with is None
    assert notes[0].sentence() == f"**{notes[0].label}**: right for 100 of 100 faces that show it."
    assert ms.class_notes({"confusion_matrix": [[1]]}) == []


def test_kinds_of_faces_table_has_every_set_and_the_photo_pipeline():
    report = {"n": 200, "accuracy": 0.855, "format": "ckplus", "split": "valid", "mirror": True,
              "classes": list(CLASSES), "per_class": {}, "confusion_matrix": []}
    metrics = {"ckplus_valid": {"served_mirror": report},
               "realphotos_dev": {"photos": 600, "accuracy": 0.9, "accuracy_of_all_photos": 0.86},
               "selection": {"rule": "r", "score": 0.7}}
    sets = ms.evaluation_sets(metrics, {"CK+ valid subjects": {"accuracy": 0.688}})
    assert [s.name for s in sets] == ["CK+ valid subjects"]  # the photo section is not a classification report
    rows = ms.kinds_of_faces(sets, metrics)
    assert rows[0]["right, of 100"] == 86 and rows[0]["`fer` package, of 100"] == 69 and rows[0]["how many"] == 200
    assert rows[1]["faces"] == ms.PHOTOS_PLAIN_NAME and rows[1]["right, of 100"] == 86
    assert rows[1]["`fer` package, of 100"] is None


def test_how_good_never_states_the_same_number_twice():
    served = {"n": 3370, "accuracy": 0.8481}
    same = ms.how_good(ms.SetFigures("FER+ valid", served=served, mirror={"n": 3370, "accuracy": 0.8519}))
    assert "85 of every 100 faces" in same and "85 of 100" not in same
    assert "(the same on the Photo and Video pages, which also look at each face mirrored)" in same
    other = ms.how_good(ms.SetFigures("FER+ valid", served=served, mirror={"n": 3370, "accuracy": 0.87}))
    assert "(87 of 100 on the Photo and Video pages" in other


def test_variants_are_said_to_be_measured_on_the_top_level_set():
    metrics = {"keras": {**fake_report(0), "format": "fer2013-folders", "split": "public_test", "n": 3589},
               "split": "public_test", "variants": [{"variant": "fp16"}]}
    assert ms.variants_measured_on(metrics) == "FER-2013 PublicTest (3,589 faces)"
    assert ms.variants_measured_on({"variants": []}) is None and ms.variants_measured_on(None) is None
