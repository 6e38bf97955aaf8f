"""A model folder whose config lists eight classes (contempt too) works on every path: the served
classifier, photos and videos, records and their CSV, valence (contempt is negative), the charts,
History's storage beside seven-class sessions, and the Photo, History and Model pages. The tiny
generated model's predictions mean nothing; that the eighth class reaches every view is checked."""

from __future__ import annotations

import csv
import io

import numpy as np
import pytest
from conftest import assert_clean, build_tiny_model
from factories import CrowdDetector, make_records

from fer_core.core.labels import CLASSES, CLASSES_8, CONTEMPT, COLORS_HEX

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model8(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("eight") / "model", classes=CLASSES_8)


@pytest.fixture
def served8(model8, monkeypatch):
    monkeypatch.setenv("FER_MODEL_DIR", str(model8))
    return model8


def _analyzer(model_dir, faces: int, side: int):
    from fer_core.engine.analyzer import FaceAnalyzer
    from fer_core.engine.classifier import Classifier

    return FaceAnalyzer(Classifier.from_dir(model_dir), CrowdDetector(faces, side))


def _scene(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (120, 160, 3), np.uint8)


def test_contempt_counts_as_negative_and_has_its_own_colour():
    from fer_core.core.valence import net_valence, valence_label

    p = np.zeros(len(CLASSES_8))
    p[CLASSES_8.index(CONTEMPT)] = 1.0
    assert net_valence(p, CLASSES_8) == -1.0 and valence_label(p, CLASSES_8) == "negative"
    assert COLORS_HEX[CONTEMPT] not in {COLORS_HEX[c] for c in CLASSES}


def test_photo_path_gives_eight_probabilities_and_csv_columns(model8):
    from fer_core.analysis.photo import analyze_image
    from fer_core.app.charts import probability_bar_figure
    from fer_core.core.valence import describe

    res = analyze_image(_scene(), _analyzer(model8, faces=2, side=48))
    assert res.classes == CLASSES_8 and len(res.faces) == 2
    for face in res.faces:
        assert face.probs.shape == (8,) and face.label in CLASSES_8
        assert list(probability_bar_figure(face.probs, face.classes).data[0].y) == list(CLASSES_8)  # horizontal bars
        assert describe(face.probs, face.classes).count("%") == 3
    rows = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert CONTEMPT in rows[0] and abs(sum(float(rows[0][c]) for c in CLASSES_8) - 1) < 1e-3
    assert set(res.to_dict()["faces"][0]["probs"]) == set(CLASSES_8)


def test_video_path_records_charts_and_history_storage(model8, tmp_path):
    from fer_core.analysis.video import analyze_video
    from fer_core.app.charts import distribution_figure, shares_figure, timeline_figure
    from fer_core.app.storage import SessionStore
    from fer_core.bench.scenes import write_test_clip
    from fer_core.core.records import RECORD_COLUMNS, dominant_emotion, records_to_csv
    from fer_core.core.timeline import Timeline

    clip = write_test_clip(tmp_path / "clip.mp4", [_scene(i) for i in range(6)], fps=10)
    res = analyze_video(clip, _analyzer(model8, faces=1, side=64))
    records = res.records
    assert len(records) == 6 and all(CONTEMPT in r for r in records)
    assert records_to_csv(records).splitlines()[0].split(",") == [*RECORD_COLUMNS, CONTEMPT]
    tl = Timeline.from_records(records)
    assert tl.classes == CLASSES_8 and set(tl.summary()["shares"]) == set(CLASSES_8)
    names = {trace.name for trace in timeline_figure(tl).data}
    assert CONTEMPT in names
    assert CONTEMPT in list(distribution_figure(tl).data[0].x)

    seven = make_records(["happy"] * 3)
    contemptuous = make_records([CONTEMPT] * 4, classes=CLASSES_8)
    both = shares_figure({"eight": contemptuous, "seven": seven})
    assert [list(trace.x) for trace in both.data if trace.x is not None and trace.x[0] is not None] == \
        [list(CLASSES_8)] * 2

    store = SessionStore(f"sqlite:///{tmp_path / 'sessions.db'}")
    sid8, sid7 = store.save_session("video", contemptuous), store.save_session("live", seven)
    info, back = store.load_session(sid8)
    assert info["dominant_emotion"] == CONTEMPT == dominant_emotion(back)
    assert [r[CONTEMPT] for r in back] == pytest.approx([r[CONTEMPT] for r in contemptuous], abs=1e-6)
    _, back7 = store.load_session(sid7)
    assert CONTEMPT not in back7[0] and records_to_csv(back7).splitlines()[0].split(",") == list(RECORD_COLUMNS)
    store.append_records(sid8, make_records([CONTEMPT], classes=CLASSES_8))
    assert store.load_session(sid8)[0]["n_records"] == 5


def test_a_session_table_made_before_contempt_gets_the_column(tmp_path):
    import sqlalchemy as sa

    from fer_core.app.storage import SessionStore

    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = SessionStore(url)
    sid = store.save_session("live", make_records(["sad"] * 2))
    with store.engine.begin() as conn:  # as an older app version left it
        conn.exec_driver_sql(f"ALTER TABLE fer_records DROP COLUMN {CONTEMPT}")
    store.engine.dispose()
    reopened = SessionStore(url)
    assert CONTEMPT in {c["name"] for c in sa.inspect(reopened.engine).get_columns("fer_records")}
    assert CONTEMPT not in reopened.load_session(sid)[1][0]
    assert reopened.load_session(reopened.save_session("video", make_records(["happy"], classes=CLASSES_8)))[1][0][
        CONTEMPT] >= 0


def test_photo_history_and_model_pages_serve_an_eight_class_folder(open_page, served8, store, downloads):
    at = open_page("pages/photo.py")
    at.radio(key="photo_source").set_value("Sample photo").run()
    assert_clean(at)
    rows = list(csv.DictReader(io.StringIO(downloads["sample_emotions.csv"].decode())))
    assert rows and all(abs(sum(float(r[c]) for c in CLASSES_8) - 1.0) < 1e-3 for r in rows)

    store.save_session("video", make_records([CONTEMPT] * 3 + ["sad"], classes=CLASSES_8))
    at = open_page("pages/history.py")
    assert_clean(at)
    assert at.dataframe[0].value["dominant emotion"].tolist() == [CONTEMPT]

    assert_clean(open_page("pages/model.py"))
    home = open_page()
    assert_clean(home)
    assert "which of 8 facial expressions" in home.markdown[0].value and f"**{CONTEMPT}**" in home.markdown[0].value
