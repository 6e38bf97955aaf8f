"""Explain page: Grad-CAM for one face of a photo, for any target class, colormap and opacity.

Grad-CAM needs gradients, so this page uses the Keras model and TensorFlow (imported through
fer_core.core.tf_import, after pylibsrtp, so the live page keeps working in the same server).
Heatmaps are cached per face and class in this session; changing colormap or opacity is instant.
Faces are numbered left to right, as on the Photo page; the page opens on the photo's main face
(the largest, most confidently detected one: ``PhotoResult.main_face``), not on face 1.
"""

from __future__ import annotations

import streamlit as st

from fer_core.app.charts import probability_bar_figure
from fer_core.analysis.gradcam import COLORMAPS
from fer_core.core.imageio import ImageDecodeError
from fer_core.analysis.photo import analyze_photo, dropped_faces_notice
from fer_core.app.preview import enlarged, preview
from fer_core.core.valence import RULE as VALENCE_RULE, describe as describe_valence
from pages._analysis import digest, emotion_badge, gradcam_explanation, photo_page_start, show_error_safely
from pages._common import guard_page, plain, show_error

guard_page()  # first: the router and the token, however the page was entered

inputs, detector_name, threshold, limits, analyzer = photo_page_start(
    "explain", "Explain (Grad-CAM)", "Grad-CAM highlights the parts of a face that pushed the model towards an "
    "emotion. Pick a photo, a face and the emotion to explain (by default the predicted one).",
    multiple=False, empty="Choose a photo to explain.")
item = inputs[0]
name = plain(item.name)  # a file name is plain text, never Markdown
key = f"{digest(item.data)}:{detector_name}"
cache = st.session_state.setdefault("_explain_result", {})
if cache.get("key") != key:
    try:
        with st.spinner(f"Finding faces in {name}..."):
            result = analyze_photo(item.data, analyzer, max_pixels=limits.image_pixels,
                                   max_decode_work=limits.image_decode_work)
    except ImageDecodeError as exc:
        show_error(f"{item.name}: {exc}", "Upload a JPG, PNG, WebP or BMP photo.")
        st.stop()
    except Exception as exc:
        show_error_safely(f"Analysing {name}", exc)
        st.stop()
    cache.clear()
    cache.update(key=key, result=result)
result = cache["result"]

if not result.faces:
    st.warning(f"No face found in {name}, so there is nothing to explain. Try a photo with a larger, "
               "frontal face, or the MTCNN detector in the sidebar.")
    st.image(preview(result.image), caption=name, width="content")  # natural size, never blown up
    st.stop()
if notice := dropped_faces_notice(result):
    st.warning(notice)


def _face_name(i: int) -> str:
    p = result.faces[i]
    return f"Face {i + 1}: {p.display_label(threshold)} ({p.confidence:.0%})"


c1, c2, c3, c4 = st.columns(4)
# Keyed on the photo: a new photo gets a new picker, never the previous photo's face labels.
face_i = c1.selectbox("Face", range(len(result.faces)), index=result.main_face, format_func=_face_name,
                      key=f"explain_face_{key}", help="Faces are numbered left to right; the largest, most "
                                                      "clearly detected face is chosen first.")
pred = result.faces[face_i]
target = c2.selectbox("Explain the emotion", pred.classes, index=pred.classes.index(pred.label),
                      key=f"explain_target_{key}_{face_i}",
                      help="Defaults to the predicted emotion of this face.")
colormap = c3.selectbox("Colormap", list(COLORMAPS), key="explain_colormap")
alpha = c4.slider("Heatmap opacity", 0.0, 1.0, 0.45, 0.05, key="explain_alpha")

st.markdown(f"**Prediction for face {face_i + 1}:** "
            + emotion_badge(pred.label, pred.confidence, pred.is_uncertain(threshold))
            + f" &nbsp; explaining **{target}**", unsafe_allow_html=True)
st.caption(f"Valence: {describe_valence(pred.probs, pred.classes)}. {VALENCE_RULE}")
if result.whole_image:
    st.info("No face was detected, but the image looks like a face crop, so the whole image is explained.")

cam = gradcam_explanation(result.image, pred, pred.classes.index(target), f"{key}:{face_i}")
if cam is None:
    st.stop()
try:
    left, mid, right = st.columns([1, 1, 2])
    left.image(enlarged(cam.crop), caption=f"Face {face_i + 1}", width="content")  # sharp, never browser-scaled up
    mid.image(enlarged(cam.on_crop(colormap, alpha)), caption=f"Grad-CAM: '{target}'", width="content")
    right.image(preview(cam.on_image(result.image, colormap, alpha, outline=True)),
                caption="Heatmap over the full image", width="stretch")
except Exception as exc:
    show_error_safely("Drawing the heatmap", exc)
    st.stop()

st.subheader("Class probabilities")
st.plotly_chart(probability_bar_figure(pred.probs, pred.classes), key="explain_probs",
                config={"displayModeBar": False})
st.caption("Warm colours mark the regions whose activations raised the chosen emotion's score most. "
           "Grad-CAM shows what the model looked at, not whether it was right.")
