"""History page: list, open, compare, export CSV, delete one / all with confirmation, bad database."""

from __future__ import annotations

import csv
import io
import json
import time

import pytest
import sqlalchemy as sa
from conftest import HOSTILE_NAME, assert_plain_text_on_page, locked_sqlite, rendered_markdown, texts
from factories import make_records

from fer_core.core.records import RECORD_COLUMNS
from fer_core.app.storage import sessions_table


@pytest.fixture
def two_sessions(store) -> tuple[int, int]:
    a = store.save_session("live", make_records(["happy"] * 8 + ["sad"] * 4, faces=2, seed=1))
    b = store.save_session("video", make_records(["angry"] * 6 + ["neutral"] * 2, seed=2),
                          meta={"duration_s": 42, "file_name": "clip.mp4"})
    return a, b


def charts(at) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def test_empty_history_explains_how_sessions_appear(open_page, store):
    at = open_page("pages/history.py")
    assert not at.exception
    assert "No saved sessions yet" in at.info[0].value
    assert not at.dataframe


def test_lists_and_opens_the_newest_session(open_page, two_sessions, downloads):
    a, b = two_sessions
    at = open_page("pages/history.py")
    assert not at.exception, [e.value for e in at.exception]
    table = at.dataframe[0].value
    assert table["id"].tolist() == [b, a]
    assert table["source"].tolist() == ["video", "live"]
    assert table["dominant emotion"].tolist() == ["angry", "happy"]
    assert table["duration"].tolist() == ["0:42", "0:01"]
    assert at.selectbox(key="history_open").value == b
    assert at.subheader[0].value == f"Session #{b}: video (clip.mp4)"
    shown = {m.label: m.value for m in at.metric}
    assert shown["Dominant emotion"] == "angry" and shown["Emotion records"] == "8"
    assert table["emotion records"].tolist() == [8, 24]  # one word for them everywhere on the page
    assert "ace-frame" not in "\n".join([texts(at), *table.columns, *map(str, shown)])
    figs = charts(at)
    assert figs, "the opened session has a timeline chart"
    assert {t["name"] for t in figs[0]["data"]} >= {"angry", "neutral"}
    # the CSV export holds exactly the stored records
    rows = list(csv.DictReader(io.StringIO(downloads[f"fer_session_{b}.csv"].decode())))
    assert list(rows[0]) == list(RECORD_COLUMNS) and len(rows) == 8
    assert [r["label"] for r in rows] == ["angry"] * 6 + ["neutral"] * 2


def test_open_a_multi_face_session_and_pick_a_face(open_page, two_sessions):
    a, _ = two_sessions
    at = open_page("pages/history.py")
    at.selectbox(key="history_open").set_value(a).run()
    assert not at.exception
    assert at.selectbox(key="open_face").options == ["face 0", "face 1"]
    at.selectbox(key="open_face").set_value(1).run()
    assert not at.exception
    assert "face 1" in charts(at)[0]["layout"]["title"]["text"]


def test_compare_two_sessions(open_page, two_sessions):
    a, b = two_sessions
    at = open_page("pages/history.py")
    n_before = len(charts(at))
    at.selectbox(key="history_compare").set_value(a).run()
    assert not at.exception
    figs = charts(at)
    assert len(figs) > n_before
    bars = [f for f in figs if f["data"] and f["data"][0]["type"] == "bar" and f["layout"].get("barmode") == "group"]
    assert bars, "a grouped bar chart compares the two sessions"
    by_name = {t["name"]: dict(zip(t["x"], t["y"])) for t in bars[0]["data"] if t.get("showlegend") is False}
    assert by_name[f"#{b} video"]["angry"] == pytest.approx(0.75)
    assert by_name[f"#{a} live"]["happy"] == pytest.approx(8 / 12)
    # the two timelines: one full-width chart, both sessions on one time axis, each with its valence panel
    timelines = [f for f in figs[n_before:] if f["data"] and f["data"][0]["type"] == "scatter"]
    assert len(timelines) == 1
    assert len({t.get("yaxis", "y") for t in timelines[0]["data"]}) == 4
    assert [ann["text"][:3] for ann in timelines[0]["layout"]["annotations"]] == [f"#{b} ", f"#{a} "]


def test_delete_one_needs_confirmation(open_page, two_sessions, store):
    a, b = two_sessions
    at = open_page("pages/history.py")
    at.button(key="history_delete_one").click().run()
    assert f"Delete session #{b}?" in at.warning[0].value
    assert len(store.list_sessions()) == 2  # nothing deleted before confirming
    at.button(key="history_cancel").click().run()
    assert not at.warning and len(store.list_sessions()) == 2
    at.button(key="history_delete_one").click().run()
    at.button(key="history_confirm").click().run()
    assert not at.exception
    assert [s["id"] for s in store.list_sessions()] == [a]
    assert f"Deleted session #{b}." in at.success[0].value
    assert at.dataframe[0].value["id"].tolist() == [a]


def test_the_pickers_follow_a_delete(open_page, store):
    """Deleting the open session: the 'Open a session' box is told to show the session the page now shows
    (a browser would otherwise keep showing the deleted one), and the compare box is cleared."""
    a, b, c = (store.save_session("live", make_records(["happy"] * 3, seed=i)) for i in range(3))
    at = open_page("pages/history.py")
    at.selectbox(key="history_open").set_value(b).run()
    at.selectbox(key="history_compare").set_value(a).run()
    at.button(key="history_delete_one").click().run()
    at.button(key="history_confirm").click().run()
    assert not at.exception, [e.value for e in at.exception]
    picker = at.selectbox(key="history_open")
    assert picker.value == c and at.subheader[0].value.startswith(f"Session #{c}:")
    assert picker.proto.set_value and picker.proto.raw_value == picker.options[0]
    assert picker.options[0].startswith(f"#{c} ") and not [o for o in picker.options if o.startswith(f"#{b} ")]
    assert at.selectbox(key="history_compare").value is None


def test_delete_all_needs_confirmation(open_page, two_sessions, store):
    at = open_page("pages/history.py")
    at.button(key="history_delete_all").click().run()
    assert "Delete all saved sessions?" in at.warning[0].value
    at.button(key="history_confirm").click().run()
    assert not at.exception
    assert store.list_sessions() == []
    assert "Deleted 2 sessions." in at.success[0].value
    assert "No saved sessions yet" in at.info[0].value


def test_one_session_reads_right(open_page, store):
    """No 'Delete all 1 sessions': with one session only its own delete button is offered."""
    only = store.save_session("live", make_records(["happy"] * 4))
    at = open_page("pages/history.py")
    assert not at.exception
    labels = [b.label for b in at.button]
    assert f"Delete session #{only}" in labels and not [x for x in labels if "Delete all" in x]
    at.button(key="history_delete_one").click().run()
    at.button(key="history_confirm").click().run()
    assert f"Deleted session #{only}." in at.success[0].value


def test_session_deleted_elsewhere_is_reported(open_page, two_sessions, store):
    a, b = two_sessions
    at = open_page("pages/history.py")
    store.delete_session(b)  # another app instance deletes the open session
    at.selectbox(key="history_compare").set_value(a).run()
    assert not at.exception
    # the list refreshes and the page keeps working on what is left
    assert at.dataframe[0].value["id"].tolist() == [a]


def test_unusable_database_shows_a_message(open_page, tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("FER_DB_URL", f"sqlite:///{blocker}/sub/sessions.db")
    at = open_page("pages/history.py")
    assert not at.exception
    assert "session database is unavailable" in at.error[0].value and "FER_DB_URL" in at.error[0].value


def test_a_hostile_file_name_is_shown_as_plain_text(open_page, store):
    """A video named like Markdown must not become a link or a remote image for later visitors."""
    a = store.save_session("video", make_records(["happy"] * 3), meta={"file_name": HOSTILE_NAME + ".mp4"})
    b = store.save_session(HOSTILE_NAME, make_records(["sad"] * 3))  # a source from another app version
    at = open_page("pages/history.py")
    assert not at.exception, [e.value for e in at.exception]
    assert_plain_text_on_page(at, HOSTILE_NAME)
    at.selectbox(key="history_open").set_value(a).run()
    assert_plain_text_on_page(at, f"Session #{a}: video ({HOSTILE_NAME}.mp4)")
    at.selectbox(key="history_compare").set_value(b).run()
    assert not at.exception
    assert_plain_text_on_page(at, f"#{b} ({HOSTILE_NAME}, ")


@pytest.mark.parametrize("stored", ["{not json", "[1, 2]", '"text"', '{"file_name": {"nested": [1]}}'])
def test_a_session_with_damaged_metadata_still_opens(open_page, two_sessions, store, stored):
    """One row whose meta was damaged outside the app never breaks the page."""
    a, b = two_sessions
    with store.engine.begin() as conn:
        conn.execute(sa.update(sessions_table).where(sessions_table.c.id == b).values(meta_json=stored))
    at = open_page("pages/history.py")
    assert not at.exception, [e.value for e in at.exception]
    assert at.dataframe[0].value["id"].tolist() == [b, a]
    assert rendered_markdown(at.subheader[0].value)[0].startswith(f"Session #{b}: video")
    assert {m.label: m.value for m in at.metric}["Dominant emotion"] == "angry"
    at.selectbox(key="history_compare").set_value(a).run()
    assert not at.exception and at.get("plotly_chart")


def test_a_locked_database_fails_fast_and_the_page_recovers(open_page, two_sessions, store, db_url):
    """Another program holding the database locked: a clear message in seconds, then the page works again."""
    store.engine.dispose()
    with locked_sqlite(db_url.removeprefix("sqlite:///")):
        start = time.monotonic()
        at = open_page("pages/history.py")
        assert time.monotonic() - start < 20
        assert not at.exception, [e.value for e in at.exception]
        assert "another program is holding it locked" in rendered_markdown(at.error[0].value)[0]
        assert not at.dataframe
    retry = [b for b in at.button if b.label == "Try again"]
    assert retry
    retry[0].click().run()
    assert not at.exception and not at.error
    assert at.dataframe[0].value["id"].tolist() == list(reversed(two_sessions))


def test_a_relative_database_setting_shows_where_sessions_go(open_page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FER_DB_URL", "sqlite:///here/sessions.db")
    at = open_page("pages/history.py")
    assert not at.exception
    where = tmp_path / "here" / "sessions.db"
    assert where.is_file()
    assert f"Sessions are kept in {where}." in [rendered_markdown(c.value)[0] for c in at.caption]


def test_a_shared_server_does_not_show_its_database_path(open_page, two_sessions, store, monkeypatch):
    """Behind an access token the app serves other people: no server path on the page (the README says where)."""
    monkeypatch.setenv("FER_ACCESS_TOKEN", "a-long-enough-shared-token-1234")
    at = open_page("pages/history.py")
    at.text_input(key="_access_given").input("a-long-enough-shared-token-1234")
    next(b for b in at.button if b.label == "Open the dashboard").click().run()
    assert not at.exception and at.title[0].value == "History"
    assert store.location not in texts(at, "caption", "markdown") and "Sessions are kept in" not in texts(at)
