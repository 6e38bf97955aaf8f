"""Video page: upload a clip, watch it analysed with a progress bar, see and download the results.

The upload and the annotated video live in a temporary folder only while the clip is analysed
(fer_core.app.video_upload); afterwards the session keeps the result in memory and History keeps the
emotion scores (if the user leaves the switch on), never the video. File names are plain text.
"""

from __future__ import annotations

from pathlib import PurePath

import pandas as pd
import streamlit as st

from fer_core.app.charts import distribution_figure, timeline_figure
from fer_core.core.timeline import FACE_TABLE_COLUMNS
from fer_core.analysis.video import DEFAULT_SAMPLE_FPS, VIDEO_EXTENSIONS, VideoError
from fer_core.app.video_upload import analyze_upload, session_meta
from fer_core.engine.faces import findable_faces_text
from pages._analysis import (
    detector_select, digest, emotion_badge, load_analyzer, show_error_safely, threshold_slider, upload_limits,
)
from pages._common import guard_page, load_store, plain, show_error

guard_page()  # first: the router and the token, however the page was entered

RATES = {  # short enough for the sidebar; the help text says what the rate means
    f"{DEFAULT_SAMPLE_FPS:g} a second (best)": DEFAULT_SAMPLE_FPS,
    "5 a second (faster)": 5.0,
    "2 a second (fastest)": 2.0,
    "Every frame (slowest)": None,
}

st.title("Video")
st.write("Upload a short clip. Each face is tracked through the video; you get the annotated video, "
         "an emotion timeline per face, how much of the time each emotion was shown, and the overall "
         "emotion of the clip.")

with st.sidebar:
    st.subheader("Video settings")
    rate_name = st.selectbox("Frames to analyse", list(RATES), key="video_rate",
                             help="How many frames of each second of video the model looks at. The annotated "
                                  "video shows those frames, each for as long as it lasts in the clip.")
    detector_name = detector_select("video_detector")
    smooth = st.toggle("Smooth emotions over time", value=True, key="video_smooth",
                       help="Averages each face's probabilities over recent frames so labels do not flicker.")
    threshold = threshold_slider("video_threshold")

save = st.toggle("Save this video's emotion scores (no video, no images) to History", value=True,
                 key="video_save")
upload = st.file_uploader(f"Upload a video ({', '.join(VIDEO_EXTENSIONS)})", type=list(VIDEO_EXTENSIONS),
                          key="video_upload")
limits = upload_limits()
if limits is None:
    st.stop()
if upload is None:
    st.info(f"Choose a video to analyse. Up to {limits.video_seconds / 60:g} minutes and {limits.video_side} pixels "
            "on the long side.")
    st.stop()

data = upload.getvalue()
settings = (RATES[rate_name], detector_name, smooth)
key = f"{digest(data)}:{settings}"
state = st.session_state.setdefault("_video", {})
shown_name = plain(upload.name)  # a file name is plain text, never Markdown

if state.get("key") != key:
    analyzer = load_analyzer(detector_name, "video")
    if analyzer is None:
        st.stop()
    bar = st.progress(0.0, text=f"Analysing {shown_name}...")

    def report(fraction: float, text: str) -> None:
        bar.progress(min(1.0, max(0.0, float(fraction))), text=plain(text))

    try:
        result, video_bytes = analyze_upload(data, upload.name, analyzer, limits=limits.video(),
                                             sample_fps=RATES[rate_name], progress=report, threshold=threshold,
                                             smoothing="ema" if smooth else "none")
    except VideoError as exc:
        bar.empty()
        state.clear()
        show_error(str(exc), "Upload an mp4, mov, webm, avi or mkv clip with a video track.")
        st.stop()
    except Exception as exc:
        bar.empty()
        state.clear()
        show_error_safely(f"Analysing {shown_name}", exc)
        st.stop()
    bar.empty()
    session_id = None
    if save and result.records:
        store = load_store()
        if store is not None:
            try:
                session_id = store.save_session("video", result.records,
                                                meta=session_meta(result, upload.name, detector_name))
            except Exception as exc:
                show_error_safely("Saving the session", exc)
    state.clear()
    state.update(key=key, result=result, video=video_bytes, session_id=session_id, name=upload.name)

result, name = state["result"], state["name"]
for w in result.warnings:
    st.warning(plain(w))
if state["session_id"] is not None:
    st.success(f"Saved as session #{state['session_id']} on the History page (emotion scores only).")

summary = result.summary
stem = PurePath(name).stem or "video"
if not result.records:
    analyzer = load_analyzer(detector_name, "video")  # cached: the detector that searched the clip
    hint = findable_faces_text(analyzer.detector, result.width, result.height) if analyzer is not None else ""
    st.warning(f"No face was found in {plain(name)} ({result.n_analyzed} frames analysed). {hint} Try the MTCNN "
               "detector.")
else:
    # One definition of the clip's emotion: the label faces showed most often (the bar chart's tallest bar).
    dominant = summary.get("dominant")
    share = float(summary.get("shares", {}).get(dominant, 0.0)) if dominant else 0.0
    st.markdown("**Overall emotion of the clip:** " + emotion_badge(dominant)
                + f" &nbsp; the most frequent emotion, in {share:.0%} of the analysed emotion records",
                unsafe_allow_html=True)
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Face tracks", result.n_tracks,
              help="A track follows one face from frame to frame. Two people who appear one after the other "
                   "in the same place can share a track; someone who leaves and comes back gets a new one.")
    c2.metric("Most faces in one frame", result.most_faces_in_a_frame,
              help="How many faces were analysed together in a single frame.")
    c3.metric("Duration", f"{result.duration_s:.1f} s")
    c4.metric("Frames analysed", f"{result.n_analyzed} of {result.n_frames}",
              help="Frames the model looked at (see 'Frames to analyse' in the sidebar); the annotated video shows "
                   "them. The progress bar counts the same way.")

left, right = st.columns([3, 2])
with left:
    if state["video"]:
        st.video(state["video"], format="video/mp4")
        st.download_button("Annotated video (mp4)", state["video"], f"{stem}_annotated.mp4", "video/mp4",
                           key="video_dl_mp4", on_click="ignore")
with right:
    if result.records:
        st.download_button("Emotion scores (CSV)", result.to_csv(), f"{stem}_emotions.csv", "text/csv",
                           key="video_dl_csv", on_click="ignore")
        st.plotly_chart(distribution_figure(summary), key="video_dist", config={"displayModeBar": False})

if result.records:
    tl = result.timeline()
    faces = tl.face_ids
    face = faces[0]
    if len(faces) > 1:
        face = st.selectbox("Face", faces, format_func=lambda f: f"Face #{f}", key="video_face")
    st.plotly_chart(timeline_figure(tl, face_id=face), key="video_timeline")
    st.subheader("Each face")
    faces_table = pd.DataFrame(tl.face_table()).rename(columns=FACE_TABLE_COLUMNS)
    st.dataframe(faces_table, hide_index=True, key="video_faces", column_config={
        FACE_TABLE_COLUMNS["share"]: st.column_config.NumberColumn(format="percent"),
        FACE_TABLE_COLUMNS["mean_valence"]: st.column_config.NumberColumn(format="%+.2f"),
    })
    st.caption("Its share: of the frames a face was analysed in, how many showed its most frequent emotion. "
               "Mean valence runs from -1 (all negative) to +1 (all positive).")
    st.download_button("Per-face summary (CSV)", result.faces_to_csv(), f"{stem}_faces.csv", "text/csv",
                       key="video_dl_faces", on_click="ignore")
