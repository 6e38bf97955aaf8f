"""Live page through the router: the webcam component is configured safely (send-receive, no
third-party ICE servers by default), settings reach the processor, and a stopped stream's records
are saved to History only when the switch is on (saving while it plays: tests/app/test_live_session.py).
The real stream is tested in tests/browser/."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pytest
from conftest import assert_clean, texts

from fer_core.app.charts import VALENCE_TRACE_NAME
from fer_core.app.live_session import FULL_STREAM, SMALL_STREAM, SMALL_STREAM_FROM
from fer_core.bench.scenes import DrawnFace, draw_scene
from fer_core.core.valence import RULE as VALENCE_RULE


@pytest.fixture(autouse=True)
def live_env(tiny_model, monkeypatch):
    monkeypatch.delenv("FER_ICE_SERVERS", raising=False)
    # AppTest has no real Streamlit runtime (Runtime.instance() is a mock), and streamlit-webrtc
    # asks it for the script run count; without a runtime it is meant to get None.
    import streamlit_webrtc.component as component

    monkeypatch.setattr(component, "get_this_session_info", lambda: None)


@pytest.fixture
def streamer_calls(monkeypatch) -> list[dict]:
    """Keyword arguments the page passes to webrtc_streamer (the real one still runs)."""
    import streamlit_webrtc

    calls: list[dict] = []
    real = streamlit_webrtc.webrtc_streamer

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", spy)
    return calls


def stream_frames(live, n: int = 8) -> None:
    """What the page and the video callback do while a stream plays, with a face in view."""
    live.start()
    frame = draw_scene(640, 480, [DrawnFace(320, 240, 80, "happy")])
    for _ in range(n):
        live.process(frame)
        time.sleep(0.06)  # records are taken every 0.2 s of stream time


def test_renders_with_a_safe_webrtc_setup(open_page, streamer_calls, monkeypatch):
    from streamlit_webrtc import WebRtcMode

    from fer_core.app import live_session

    monkeypatch.setattr(live_session, "live_streams", lambda now=None: 0)  # other tests' streams do not count

    at = open_page("pages/live.py")
    assert_clean(at)
    assert at.title[0].value == "Live webcam"
    kw = streamer_calls[-1]
    assert kw["mode"] == WebRtcMode.SENDRECV
    assert kw["rtc_configuration"] == {"iceServers": []}  # nobody is contacted by default
    assert kw["media_stream_constraints"] == {"video": FULL_STREAM, "audio": False}  # an idle server: the full camera
    assert "HTTPS" in kw["translations"]["media_api_not_available"]
    assert "denied" in kw["translations"]["device_access_denied"]
    assert "HTTPS or from localhost" in texts(at, "caption")
    save = at.toggle(key="live_save")
    assert save.value is True and "(no video)" in save.label
    assert [m.label for m in at.metric] == ["Frames analysed per second", "Faces", "Frames analysed",
                                            "Time per frame"]
    assert "Press START" in texts(at, "info")


def test_ice_servers_from_the_environment(open_page, streamer_calls, monkeypatch):
    servers = [{"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]
    monkeypatch.setenv("FER_ICE_SERVERS", json.dumps(servers))
    at = open_page("pages/live.py")
    assert_clean(at)
    assert streamer_calls[-1]["rtc_configuration"] == {"iceServers": servers}


def test_invalid_ice_setting_is_reported_and_none_used(open_page, streamer_calls, monkeypatch):
    monkeypatch.setenv("FER_ICE_SERVERS", "stun.example.org")
    at = open_page("pages/live.py")
    assert_clean(at)
    assert "ICE server setting is invalid" in at.error[0].value
    assert streamer_calls[-1]["rtc_configuration"] == {"iceServers": []}


def test_settings_reach_the_processor(open_page):
    at = open_page("pages/live.py")
    at.slider(key="live_detect_every").set_value(5).run()
    at.selectbox(key="live_smoothing").set_value("window").run()
    at.slider(key="live_window").set_value(12).run()
    at.toggle(key="live_mirror").set_value(False).run()
    assert_clean(at)
    s = at.session_state["_live"].processor.settings
    assert (s.detect_every, s.smoothing, s.window, s.mirror) == (5, "window", 12, False)
    assert list(at.selectbox(key="live_detector").options) == ["BlazeFace (best)", "Haar cascade (classic)"]
    assert s.detector == "blazeface"  # the default


def test_detector_choice_survives_other_settings_changes(open_page):
    at = open_page("pages/live.py")
    at.selectbox(key="live_detector").set_value("haar").run()
    assert at.session_state["_live"].processor.detector.name == "haar"
    at.slider(key="live_detect_every").set_value(4).run()
    at.toggle(key="live_mirror").set_value(False).run()
    assert_clean(at)
    processor = at.session_state["_live"].processor
    assert processor.settings.detector == "haar" and processor.detector.name == "haar"
    assert processor.settings.detect_every == 4


def test_stopped_stream_is_saved_to_history(open_page, store):
    at = open_page("pages/live.py")
    live = at.session_state["_live"]
    stream_frames(live)  # the stream was playing; this run sees it stopped
    assert live.processor.stats.n_faces == 1
    at.run()
    assert_clean(at)
    sessions = store.list_sessions()
    assert len(sessions) == 1 and sessions[0]["source"] == "live" and sessions[0]["n_records"] >= 2
    meta, records = store.load_session(sessions[0]["id"])
    assert {r["face_id"] for r in records} == {1}
    assert f"Saved as session #{sessions[0]['id']}" in texts(at, "success")
    assert len(at.get("plotly_chart")) == 1  # the finished session's chart stays on the page
    chart = json.loads(at.get("plotly_chart")[0].proto.spec)
    assert chart["data"][-1]["name"] == VALENCE_TRACE_NAME  # the live timeline has the valence line too
    assert re.search(r"Valence: (mostly (positive|neutral|negative)|mixed) \(", texts(at, "caption"))
    assert VALENCE_RULE in texts(at, "caption")  # and one line says how it is computed
    frames = {m.label: m for m in at.metric}["Frames analysed"]
    assert "at most every 0.2 s" in frames.help  # why frames and records differ
    assert re.search(r"\d+ emotion records in this session: one per face every 0.2 s, fewer than the \d+ frames",
                     texts(at, "caption"))
    at.run()  # later reruns do not save it again
    assert len(store.list_sessions()) == 1


def test_switch_off_means_nothing_is_saved(open_page, store):
    at = open_page("pages/live.py")
    at.toggle(key="live_save").set_value(False).run()
    stream_frames(at.session_state["_live"])
    at.run()
    assert_clean(at)
    assert store.list_sessions() == []
    assert "was not saved" in texts(at, "info")


def test_switch_off_while_playing_removes_the_part_saved(open_page, store):
    at = open_page("pages/live.py")
    live = at.session_state["_live"]
    stream_frames(live)
    live.poll()
    assert live.flush() and len(store.list_sessions()) == 1  # saved while it plays
    at.toggle(key="live_save").set_value(False).run()  # stopped, and the switch turned off at once
    assert_clean(at)
    assert store.list_sessions() == []
    assert "was not saved" in texts(at, "info")


def test_a_failing_frame_is_reported_on_the_page(open_page):
    at = open_page("pages/live.py")
    live = at.session_state["_live"]
    live.start()
    live.process(np.zeros((0, 0, 3), np.uint8))  # a frame the pipeline cannot handle
    at.run()
    assert_clean(at)
    assert "Frames could not be analysed" in texts(at, "error")


def test_a_tab_opened_on_a_full_server_asks_for_the_small_camera_and_keeps_it(open_page, streamer_calls,
                                                                            monkeypatch):
    """Streams already live on the server: this tab's browser is asked for 320x240 at 15 fps, and the
    page says why; the choice is made before START and not changed while the stream plays."""
    from fer_core.app import live_session

    monkeypatch.setattr(live_session, "live_streams", lambda now=None: SMALL_STREAM_FROM)
    at = open_page("pages/live.py")
    assert_clean(at)
    assert streamer_calls[-1]["media_stream_constraints"] == {"video": SMALL_STREAM, "audio": False}
    assert f"Other live streams are running on this server ({SMALL_STREAM_FROM})" in texts(at, "caption")
    at.session_state["_live"].start()  # this tab's stream plays; the other streams end meanwhile
    monkeypatch.setattr(live_session, "live_streams", lambda now=None: 0)
    at.run()
    assert streamer_calls[-1]["media_stream_constraints"]["video"] == SMALL_STREAM
    at.session_state["_live"].stop()  # STOP: the next START looks again
    at.run()
    assert streamer_calls[-1]["media_stream_constraints"]["video"] == FULL_STREAM
    slow_from, slow = live_session.CAMERA_TIERS[-1]
    monkeypatch.setattr(live_session, "live_streams", lambda now=None: slow_from)  # a full server: fewer frames
    at.run()
    assert streamer_calls[-1]["media_stream_constraints"]["video"] == slow
    assert f"{slow['frameRate']['ideal']} frames a second" in texts(at, "caption")


def test_a_busy_server_says_so_while_it_plays(open_page, monkeypatch):
    """The stream plays and the server analyses only a third of the camera's frames: the page says so."""
    import types

    import streamlit_webrtc

    playing = types.SimpleNamespace(state=types.SimpleNamespace(playing=True))
    monkeypatch.setattr(streamlit_webrtc, "webrtc_streamer", lambda *a, **kw: playing)
    at = open_page("pages/live.py")
    live = at.session_state["_live"]
    frame = draw_scene(640, 480, [DrawnFace(320, 240, 80, "happy")])
    for _ in range(12):  # what the queued-frames callback does: the newest of three frames each time
        live.process(frame, skipped=2)
        time.sleep(0.1)
    at.run()
    assert_clean(at)
    assert re.search(r"Analysing \d+ of \d+ frames a second: the server is busy", texts(at, "warning"))


def test_the_relay_the_page_installs_is_the_one_streamlit_webrtc_uses(monkeypatch):
    """The page puts its relay where streamlit-webrtc keeps its server-wide one (an attribute of the
    Streamlit runtime); this holds the library to that, so a rename cannot silently bring queues back."""
    import types

    from streamlit_webrtc import relay

    from fer_core.app.frame_relay import NewestFrameRelay

    runtime = types.SimpleNamespace(**{relay._SERVER_GLOBAL_RELAY_ATTR_NAME_: NewestFrameRelay()})
    monkeypatch.setattr(relay.Runtime, "instance", classmethod(lambda cls: runtime))
    assert relay.get_global_relay() is getattr(runtime, relay._SERVER_GLOBAL_RELAY_ATTR_NAME_)
