"""Dataset loaders on generated fixtures for every layout, malformed ones included.

Generated images draw a bar whose height encodes the class (tests/datagen.py), so a test can
check from the pixels that each image arrived under the right label.
"""

from __future__ import annotations

import numpy as np
import pytest

from datagen import (bar_class, fer2013_csv_rows, synth_face, votes_for, write_class_folders, write_csv,
                     write_fer2013_folders, write_ferplus, write_image)
from fer_core.training.data import DatasetError, detect_format, ferplus_votes_to_label, load_dataset
from fer_core.core.labels import CLASSES, FERPLUS_VOTE_ORDER


def assert_labels_match_pixels(ds) -> None:
    assert [bar_class(im) for im in ds.images] == ds.labels.tolist()


# ------------------------------------------------------------------ FER-2013 folders
@pytest.fixture
def fer_folders(tmp_path):
    return write_fer2013_folders(tmp_path / "fer2013", n_train=3, n_public=2, n_private=1)


def test_fer2013_folders_splits_by_prefix(fer_folders):
    assert detect_format(fer_folders) == "fer2013-folders"
    sizes = {s: len(load_dataset(fer_folders, split=s)) for s in ("train", "public_test", "private_test", "all")}
    assert sizes == {"train": 21, "public_test": 14, "private_test": 7, "all": 42}
    valid = load_dataset(fer_folders, split="valid")
    assert valid.names == load_dataset(fer_folders, split="public_test").names
    assert all(n.split("/")[-1].startswith("PublicTest_") for n in valid.names)


def test_fer2013_folders_labels_and_counts(fer_folders):
    ds = load_dataset(fer_folders, split="train")
    assert ds.fmt == "fer2013-folders" and ds.skipped == 0
    assert ds.class_counts() == {c: 3 for c in CLASSES}
    assert all(im.dtype == np.uint8 and im.ndim == 2 for im in ds.images)
    assert_labels_match_pixels(ds)


def test_fer2013_parent_folder_is_accepted(fer_folders):
    ds = load_dataset(fer_folders.parent, split="public_test")
    assert len(ds) == 14


def test_fer2013_unprefixed_files_take_their_folder_split(tmp_path):
    root = tmp_path / "fer"
    rng = np.random.default_rng(0)
    write_image(root / "train" / "happy" / "a.png", synth_face(3, rng))
    write_image(root / "test" / "sad" / "b.png", synth_face(5, rng))
    assert load_dataset(root, split="train").labels.tolist() == [3]
    assert load_dataset(root, split="public_test").labels.tolist() == [5]
    with pytest.raises(DatasetError, match="No usable images for split 'private_test'"):
        load_dataset(root, split="private_test")


def test_fer2013_unknown_class_folder_and_unreadable_file_are_counted(fer_folders):
    rng = np.random.default_rng(1)
    write_image(fer_folders / "test" / "contempt" / "PublicTest_999001.jpg", synth_face(0, rng))
    write_image(fer_folders / "test" / "contempt" / "PublicTest_999002.jpg", synth_face(0, rng))
    (fer_folders / "test" / "angry" / "PublicTest_999003.jpg").write_bytes(b"\xff\xd8 truncated jpeg")
    (fer_folders / "test" / "angry" / "PublicTest_999004.jpg").write_bytes(b"")
    (fer_folders / "test" / "angry" / "notes.txt").write_text("not an image, ignored")
    ds = load_dataset(fer_folders, split="public_test")
    assert len(ds) == 14
    assert ds.skipped == 4
    assert ds.skipped_reasons == {"class 'contempt' not one of ours": 2, "unreadable image": 2}


# ------------------------------------------------------------------ fer2013.csv
def test_csv_maps_its_own_emotion_order_to_ours(tmp_path):
    path = write_csv(tmp_path / "fer2013.csv", fer2013_csv_rows(n_per_split=2))
    assert detect_format(path) == "fer2013-csv"
    assert detect_format(tmp_path) == "fer2013-csv"
    ds = load_dataset(path, split="train")
    assert len(ds) == 14 and ds.class_counts() == {c: 2 for c in CLASSES}
    assert all(im.shape == (48, 48) for im in ds.images)
    assert_labels_match_pixels(ds)  # CSV code 4 (sad) must land on our 'sad', etc.
    assert len(load_dataset(tmp_path, split="public_test")) == 14
    assert len(load_dataset(tmp_path, split="private_test")) == 14
    assert len(load_dataset(tmp_path, split="all")) == 42


def test_csv_malformed_rows_are_skipped_and_counted(tmp_path):
    rows = fer2013_csv_rows(n_per_split=1)[:7]
    rows += [
        {"emotion": "3", "pixels": " ".join(["10"] * 2303), "Usage": "Training"},   # not a square
        {"emotion": "9", "pixels": " ".join(["10"] * 2304), "Usage": "Training"},   # no such emotion
        {"emotion": "x", "pixels": " ".join(["10"] * 2304), "Usage": "Training"},
        {"emotion": "2", "pixels": "1 2 three 4", "Usage": "Training"},
        {"emotion": "2", "pixels": "", "Usage": "Training"},
    ]
    ds = load_dataset(write_csv(tmp_path / "f.csv", rows), split="train")
    assert len(ds) == 7
    assert ds.skipped == 5 and ds.skipped_reasons == {"malformed row": 5}


def test_csv_missing_columns_is_a_clear_error(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [{"label": "1", "pixels": "1 2 3 4"}], fieldnames=("label", "pixels"))
    with pytest.raises(DatasetError, match="expected emotion,pixels,Usage"):
        load_dataset(path)


def test_csv_without_usage_is_all_training(tmp_path):
    rows = fer2013_csv_rows(n_per_split=1)[:7]
    path = write_csv(tmp_path / "f.csv", rows, fieldnames=("emotion", "pixels"))
    assert len(load_dataset(path, split="train")) == 7
    with pytest.raises(DatasetError):
        load_dataset(path, split="public_test")


# ------------------------------------------------------------------ FER+
def test_ferplus_votes_to_label_rules():
    idx, soft, why = ferplus_votes_to_label(votes_for("happiness"))
    assert CLASSES[idx] == "happy" and why is None
    assert soft.sum() == pytest.approx(1.0) and soft[CLASSES.index("happy")] == pytest.approx(0.7)
    # contempt votes are dropped and the rest renormalised over our seven classes
    v = [0] * 10
    v[FERPLUS_VOTE_ORDER.index("anger")] = 6
    v[FERPLUS_VOTE_ORDER.index("contempt")] = 2
    v[FERPLUS_VOTE_ORDER.index("sadness")] = 2
    idx, soft, _ = ferplus_votes_to_label(np.array(v))
    assert CLASSES[idx] == "angry"
    assert soft[CLASSES.index("angry")] == pytest.approx(0.75) and soft[CLASSES.index("sad")] == pytest.approx(0.25)
    tie = [0] * 10
    tie[0] = tie[1] = 5
    for votes, reason in ((tie, "tied majority"), (votes_for("contempt"), "majority contempt"),
                          (votes_for("NF"), "majority NF"), (votes_for("unknown"), "majority unknown"),
                          ([0] * 10, "no votes")):
        assert ferplus_votes_to_label(np.array(votes)) == (None, None, reason)


def test_ferplus_folder_loads_majority_and_soft_labels(tmp_path):
    ours = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
            "anger": "angry", "disgust": "disgust", "fear": "fear"}
    entries = [(f"fer{i:07d}.png", votes_for(v), CLASSES.index(c)) for i, (v, c) in enumerate(ours.items())]
    tie = [0] * 10
    tie[1] = tie[2] = 4
    entries += [("fer0000100.png", tie, 3), ("fer0000101.png", votes_for("contempt"), 0),
                ("fer0000102.png", votes_for("NF"), 0), ("fer0000103.png", votes_for("unknown"), 0),
                ("fer0000104.png", votes_for("fear"), None)]  # listed but image missing
    root = write_ferplus(tmp_path / "ferplus", "FER2013Train", entries, header=True)
    write_ferplus(root, "FER2013Valid", entries[:3], seed=1)
    assert detect_format(root) == "ferplus"
    ds = load_dataset(root, split="train")
    assert len(ds) == 7 and ds.class_counts() == {c: 1 for c in CLASSES}
    assert_labels_match_pixels(ds)
    assert ds.soft_labels.shape == (7, 7)
    np.testing.assert_allclose(ds.soft_labels.sum(axis=1), 1.0, rtol=1e-6)
    assert ds.soft_labels.argmax(axis=1).tolist() == ds.labels.tolist()
    assert ds.skipped_reasons == {"tied majority": 1, "majority contempt": 1, "majority NF": 1,
                                  "majority unknown": 1, "missing or unreadable image": 1}
    assert len(load_dataset(root, split="valid")) == 3
    assert load_dataset(root, split="public_test").names == load_dataset(root, split="valid").names


def test_ferplus_test_layout_is_read_as_the_test_split(tmp_path):
    """Users who download FER+ have FER2013Test/label.csv beside Train and Valid."""
    root = write_ferplus(tmp_path / "ferplus", "FER2013Train", [("fer0000001.png", votes_for("fear"), 2)])
    write_ferplus(root, "FER2013Valid", [("fer0000002.png", votes_for("anger"), 0)], seed=1)
    write_ferplus(root, "FER2013Test", [("fer0000003.png", votes_for("happiness"), 3),
                                        ("fer0000004.png", votes_for("surprise"), 6),
                                        ("fer0000005.png", votes_for("NF"), 0)], seed=2, header=True)
    test = load_dataset(root, split="test")
    assert test.names == ["FER2013Test/fer0000003.png", "FER2013Test/fer0000004.png"]
    assert test.labels.tolist() == [3, 6] and test.skipped_reasons == {"majority NF": 1}
    assert load_dataset(root, split="private_test").names == test.names
    assert len(load_dataset(root, split="all")) == 4
    with pytest.raises(DatasetError, match="No usable images for split 'test'"):
        load_dataset(write_ferplus(tmp_path / "no_test", "FER2013Train", [("a.png", votes_for("fear"), 2)]),
                     split="test")


def test_fer2013_test_split_means_private_test(fer_folders):
    assert load_dataset(fer_folders, split="test").names == load_dataset(fer_folders, split="private_test").names


def test_ferplus_short_or_bad_rows_are_counted(tmp_path):
    root = write_ferplus(tmp_path / "fp", "FER2013Train", [("a.png", votes_for("fear"), 2)])
    with open(root / "FER2013Train" / "label.csv", "a") as fh:
        fh.write("b.png,(0,0,48,48),1,2,3\n")
        fh.write("c.png,(0,0,48,48),x,0,0,0,0,0,0,0,0,0\n")
    ds = load_dataset(root, split="train")
    assert len(ds) == 1 and ds.skipped_reasons == {"malformed row": 2}


# ------------------------------------------------------------------ class-per-folder
def test_class_folders_with_aliases_ck_style(tmp_path):
    root = write_class_folders(tmp_path / "ck", {"anger": 2, "contempt": 3, "disgusted": 1, "fearful": 1,
                                                 "happiness": 2, "sadness": 1, "surprised": 1, "03_neutral": 1})
    (root / "happiness" / "broken.png").write_bytes(b"\x89PNG not really")
    assert detect_format(root) == "folders"
    ds = load_dataset(root)
    assert ds.fmt == "folders"
    assert ds.class_counts() == {"angry": 2, "disgust": 1, "fear": 1, "happy": 2, "neutral": 1, "sad": 1,
                                 "surprise": 1}
    assert ds.skipped == 4 and ds.skipped_reasons == {"class 'contempt' not one of ours": 3, "unreadable image": 1}
    assert all(im.dtype == np.uint8 and im.ndim == 2 for im in ds.images)


def test_colour_and_16bit_images_load_as_gray(tmp_path):
    import cv2

    rng = np.random.default_rng(0)
    g = synth_face(4, rng)
    (tmp_path / "d" / "neutral").mkdir(parents=True)
    cv2.imwrite(str(tmp_path / "d" / "neutral" / "c.png"), cv2.cvtColor(g, cv2.COLOR_GRAY2BGR))
    cv2.imwrite(str(tmp_path / "d" / "neutral" / "w.png"), g.astype(np.uint16) * 257)
    ds = load_dataset(tmp_path / "d")
    assert len(ds) == 2 and all(im.ndim == 2 and im.dtype == np.uint8 for im in ds.images)
    assert [bar_class(im) for im in ds.images] == [4, 4]


# ------------------------------------------------------------------ malformed inputs
@pytest.mark.parametrize("make", [
    lambda p: p.mkdir(),                                                          # empty dir
    lambda p: (p / "cats").mkdir(parents=True),                                   # unknown class folders
    lambda p: (p.mkdir(), (p / "readme.md").write_text("hi")),                    # just files
])
def test_unrecognised_layouts_name_what_was_expected(tmp_path, make):
    path = tmp_path / "ds"
    make(path)
    with pytest.raises(DatasetError, match="Expected one of") as exc:
        load_dataset(path)
    assert "fer2013.csv" in str(exc.value) and "class-per-folder" in str(exc.value)


def test_known_class_folders_without_usable_images(tmp_path):
    (tmp_path / "ds" / "happy").mkdir(parents=True)
    (tmp_path / "ds" / "happy" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(DatasetError, match="No usable images"):
        load_dataset(tmp_path / "ds")


def test_missing_path_non_csv_file_bad_format_and_split(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "x.txt").write_text("x")
    with pytest.raises(DatasetError, match="not a .csv"):
        load_dataset(tmp_path / "x.txt")
    with pytest.raises(DatasetError, match="Unknown format"):
        load_dataset(tmp_path, fmt="imagenet")
    with pytest.raises(DatasetError, match="Unknown split"):
        load_dataset(tmp_path, split="holdout")


def test_explicit_format_on_wrong_layout_is_a_dataset_error(tmp_path):
    root = write_class_folders(tmp_path / "f", {"happy": 1})
    with pytest.raises(DatasetError):
        load_dataset(root, fmt="fer2013-csv")
    with pytest.raises(DatasetError):
        load_dataset(root, fmt="ferplus")


# ------------------------------------------------------------------ the real data
@pytest.mark.data
def test_real_fer2013_publictest_matches_readme(fer2013_dir):
    ds = load_dataset(fer2013_dir, split="public_test")
    assert ds.fmt == "fer2013-folders" and ds.skipped == 0
    assert ds.class_counts() == {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607,
                                 "sad": 653, "surprise": 415}
    assert all(im.shape == (48, 48) for im in ds.images[:50])


# --- CK+ (posed faces, split by person) -------------------------------------------------------

def test_ckplus_split_is_by_subject_number():
    from fer_core.training.data import ckplus_split, ckplus_subject

    assert ckplus_subject("S010_004_00000017.png") == 10
    assert [ckplus_split(f"S{n:03d}_001_00000001.png") for n in (5, 10, 11, 14, 125)] == \
        ["valid", "valid", "train", "train", "valid"]
    with pytest.raises(DatasetError):
        ckplus_split("Training_123.jpg")


def test_ckplus_layout_is_detected_and_split_by_person(tmp_path):
    from datagen import write_ckplus
    from fer_core.training.data import detect_format

    root = write_ckplus(tmp_path / "ckplus48", {
        5: {"anger": 3, "contempt": 3}, 10: {"sadness": 3}, 11: {"anger": 3, "happy": 3}, 12: {"disgust": 2}})
    assert detect_format(root) == "ckplus"
    train, valid = load_dataset(root, split="train"), load_dataset(root, split="valid")
    assert {n.split("/")[-1][:4] for n in train.names} == {"S011", "S012"}
    assert {n.split("/")[-1][:4] for n in valid.names} == {"S005", "S010"}
    # the download's folder names map to ours; contempt is not one of our seven classes
    assert valid.class_counts()["angry"] == 3 and valid.class_counts()["sad"] == 3
    assert valid.skipped == 3 and "class 'contempt' not one of ours" in valid.skipped_reasons
    assert train.class_counts() == {**{c: 0 for c in CLASSES}, "angry": 3, "happy": 3, "disgust": 2}
    assert len(load_dataset(root, split="all")) == len(train) + len(valid)
    with pytest.raises(DatasetError, match="by person"):
        load_dataset(root, split="private_test")


def test_plain_class_folders_are_not_taken_for_ckplus(tmp_path):
    from datagen import write_class_folders
    from fer_core.training.data import detect_format

    assert detect_format(write_class_folders(tmp_path / "mine", {"anger": 2, "happy": 2})) == "folders"


def test_eight_classes_keep_contempt_votes_and_folders(tmp_path):
    from datagen import write_ckplus
    from fer_core.core.labels import CLASSES_8

    idx, soft, _ = ferplus_votes_to_label(np.array(votes_for("contempt")), CLASSES_8)
    assert CLASSES_8[idx] == "contempt" and soft.shape == (8,)
    assert soft[CLASSES_8.index("contempt")] == pytest.approx(0.7) and soft[CLASSES_8.index("neutral")] == pytest.approx(0.3)
    root = write_ckplus(tmp_path / "ckplus48", {5: {"contempt": 2, "anger": 1}, 6: {"happy": 1}})
    seven, eight = load_dataset(root, "ckplus", "valid"), load_dataset(root, "ckplus", "valid", CLASSES_8)
    assert seven.class_counts() == {**{c: 0 for c in CLASSES}, "angry": 1} and seven.skipped == 2
    assert eight.class_counts() == {**{c: 0 for c in CLASSES_8}, "angry": 1, "contempt": 2} and eight.skipped == 0
    assert eight.classes == CLASSES_8 and sorted(eight.labels.tolist()) == [0, 7, 7]
