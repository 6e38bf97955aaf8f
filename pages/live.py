"""Live webcam page: the camera stream goes to the server, comes back annotated, and an
emotion-over-time chart fills while it plays.

Layout only: the stream's logic (settings, start, stop, saving to History every few seconds while
it plays) is fer_core.app.live_session's ``LiveSession``, one per browser tab. The queued-frames
callback runs on a streamlit-webrtc worker thread and only calls ``LiveSession.on_frames`` (the newest
frame analysed, the rest dropped; never TensorFlow); a fragment polls the session once a second while
the stream plays.
"""

from __future__ import annotations

import streamlit as st
from streamlit_webrtc import WebRtcMode, relay, webrtc, webrtc_streamer

from fer_core.app.charts import timeline_figure
from fer_core.core.labels import classes_in
from fer_core.core.results import is_uncertain
from fer_core.analysis.live import FPS_WINDOW_S, LiveSettings, busy_note
from fer_core.app.frame_relay import NewestFrameRelay
from fer_core.app.live_session import (FLUSH_EVERY_S, FULL_STREAM, LiveSession, camera_constraints, describe_camera,
                                       live_streams)
from fer_core.app import annotated_encoder, frame_relay, rtp_frames
from fer_core.app.rtc_config import IceConfigError, rtc_configuration
from fer_core.core.timeline import Timeline
from fer_core.engine.tracker import SMOOTHING_METHODS
from fer_core.core.valence import RULE as VALENCE_RULE, describe as describe_valence
from pages._analysis import detector_select, emotion_badge, threshold_slider
from pages._common import app_secrets, guard_page, load_classifier, load_store, show_error

guard_page()  # first: the router and the token, however the page was entered

CHART_WINDOW_S = 120.0
SMOOTHING_LABELS = {"ema": "Moving average (EMA)", "window": "Sliding window", "none": "Off"}
CAMERA_HELP = (
    "Browsers give the camera only to pages opened over HTTPS or from localhost "
    "(http://localhost:8501). On a remote server, serve the app over HTTPS and, behind NAT, "
    "name STUN/TURN servers in FER_ICE_SERVERS (see the README)."
)
TRANSLATIONS = {
    "device_access_denied": "Camera access was denied. Allow the camera for this site (the camera icon "
                            "in the address bar), then press START again.",
    "device_not_available": "No camera was found, or another program is using it. Connect a camera or "
                            "close the other program, then press START again.",
    "media_api_not_available": "This page cannot use the camera: " + CAMERA_HELP,
}

st.title("Live webcam")
st.write("Press **START** and allow the camera. Each face gets a box, an emotion and a confidence; "
         "the chart below shows how emotions change while the stream plays.")

classifier = load_classifier()
if classifier is None:
    st.stop()

with st.sidebar:
    st.subheader("Live settings")
    detector_name = detector_select("live_detector", live=True,
                                    help="Only detectors that need no TensorFlow can run next to the stream.")
    detect_every = st.slider("Detect faces every N frames", 1, 10, 3, key="live_detect_every",
                             help="Faces are tracked in between; higher is faster, lower follows quick moves.")
    smoothing = st.selectbox("Smoothing", SMOOTHING_METHODS, format_func=lambda m: SMOOTHING_LABELS.get(m, m),
                             key="live_smoothing", help="Averages each face's emotions over time so labels "
                                                        "do not flicker.")
    alpha, window = LiveSettings.alpha, LiveSettings.window
    if smoothing == "ema":
        alpha = st.slider("Responsiveness (EMA weight of the newest frame)", 0.05, 1.0, alpha, 0.05,
                          key="live_alpha", help="Lower is smoother, higher reacts faster.")
    elif smoothing == "window":
        window = st.slider("Window (frames)", 2, 30, window, key="live_window")
    threshold = threshold_slider("live_threshold")
    show_bars = st.toggle("Probability bars on the video", value=False, key="live_bars")

mirror = st.toggle("Mirror the video (selfie view)", value=True, key="live_mirror")
save = st.toggle("Save this session's emotion scores (no video) to History", value=True, key="live_save",
                 help="Only per-face emotion probabilities and box positions over time are stored; "
                      "no frames or images.")

live: LiveSession | None = st.session_state.get("_live")
try:
    settings = LiveSettings(detector=detector_name, detect_every=int(detect_every), smoothing=smoothing,
                            alpha=float(alpha), window=int(window), mirror=bool(mirror),
                            threshold=float(threshold), show_bars=bool(show_bars))
    if live is None or live.processor.classifier is not classifier:
        live = LiveSession.create(classifier, settings)
        st.session_state["_live"] = live
    else:
        live.apply(settings)
except (ValueError, RuntimeError) as exc:
    show_error(f"The live pipeline cannot use these settings: {exc}")
    if live is None:
        st.stop()
live.set_store(load_store() if save else None)


def use_newest_frame_relay() -> None:
    """Make streamlit-webrtc's server-wide relay one that never queues frames for the encoder
    (fer_core.app.frame_relay); it keeps the relay on the Streamlit runtime under this name."""
    from streamlit.runtime import Runtime

    runtime, name = Runtime.instance(), relay._SERVER_GLOBAL_RELAY_ATTR_NAME_
    if not isinstance(getattr(runtime, name, None), NewestFrameRelay):
        setattr(runtime, name, NewestFrameRelay())


use_newest_frame_relay()
frame_relay.install(webrtc)
rtp_frames.install()
annotated_encoder.install()
try:
    rtc = rtc_configuration(secrets=app_secrets())
except IceConfigError as exc:
    show_error(f"The ICE server setting is invalid, so none is used: {exc}")
    rtc = {"iceServers": []}

# The camera asked for is chosen when a stream is not playing and kept while it plays (changing it
# mid-stream would restart it): a server already busy with other streams gets a smaller one.
if not live.active or "_live_streams_at_start" not in st.session_state:
    st.session_state["_live_streams_at_start"] = live_streams()
others = st.session_state["_live_streams_at_start"]
camera = camera_constraints(others)
if camera != FULL_STREAM:
    st.caption(f"Other live streams are running on this server ({others}), so your camera is asked for a smaller "
               f"picture ({describe_camera(camera)}): every stream stays current.")
ctx = webrtc_streamer(
    key="live-emotions",
    mode=WebRtcMode.SENDRECV,
    rtc_configuration=rtc,
    media_stream_constraints={"video": camera, "audio": False},
    queued_video_frames_callback=live.on_frames,  # worker thread: never touches st.*
    async_processing=True,
    translations=TRANSLATIONS,
)
st.caption(CAMERA_HELP)
playing = bool(ctx.state.playing)

if playing and not live.active:
    live.start()
if not playing and live.active:
    live.stop()

outcome = live.outcome
if not playing and outcome:
    if outcome.error:
        show_error(f"This session could not be saved completely: {outcome.error}")
    if outcome.session_id is not None:
        st.success(f"Saved as session #{outcome.session_id} on the History page ({outcome.n_records} emotion "
                   "records, no video).")
    elif not outcome.saving and not outcome.error:
        st.info("This session was not saved (the History switch is off).")
    elif not outcome.n_records:
        st.info("No face was seen during this session, so there was nothing to save.")


@st.fragment(run_every=1.0 if playing else None)
def live_panel() -> None:
    """Polls the session (fed by the video thread; it saves every few seconds) and redraws stats and the chart."""
    if ctx.state.playing:
        live.poll()
    records = live.records
    stats = live.processor.stats
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Frames analysed per second", f"{stats.fps:.1f}" if ctx.state.playing else "-",
              help=f"Frames the server analysed in the last {FPS_WINDOW_S:.0f} seconds, divided by "
                   f"{FPS_WINDOW_S:.0f}. The camera may send more; the server skips frames it cannot keep up with.")
    c2.metric("Faces", stats.n_faces if ctx.state.playing else 0)
    every = live.processor.settings.record_interval_s
    c3.metric("Frames analysed", stats.frames,
              help=f"Frames the server analysed in this session. An emotion record is kept for each face at most "
                   f"every {every:g} s, so a session has fewer records than frames.")
    c4.metric("Time per frame", f"{stats.process_ms:.0f} ms" if stats.frames else "-")
    note = busy_note(stats)
    if ctx.state.playing and note:
        st.warning(note)
    if live.frame_error:
        show_error(f"Frames could not be analysed: {live.frame_error}")
    if ctx.state.playing and live.save_error:
        show_error(f"Saving to History failed; it is tried again every {FLUSH_EVERY_S:.0f} s: {live.save_error}")
    if not records:
        st.info("The emotion chart fills once the stream plays and a face is in view."
                if ctx.state.playing else "Press START to begin.")
        return
    last = records[-1]
    confidence = float(last["confidence"])
    st.markdown("**Latest:** " + emotion_badge(last["label"], confidence, is_uncertain(confidence, threshold)),
                unsafe_allow_html=True)
    classes = classes_in(last)
    st.caption(f"Valence: {describe_valence([float(last.get(c, 0.0)) for c in classes], classes)}")
    t_end = float(last["t"])
    recent = [r for r in records if float(r["t"]) >= t_end - CHART_WINDOW_S]
    tl = Timeline.from_records(recent)
    title = f"Emotion over time (last {CHART_WINDOW_S:.0f} s)" if ctx.state.playing else "Emotion over time"
    st.plotly_chart(timeline_figure(tl, title=title), key="live_chart",
                    config={"displayModeBar": False})
    st.caption(f"{len(records)} emotion records in this session: one per face every {every:g} s, fewer than the "
               f"{stats.frames} frames analysed ({len(tl.face_ids)} face(s) in the chart).")
    st.caption(VALENCE_RULE)


live_panel()
