"""Photo page: upload photos (or take one, or use the sample), see every face's emotion, download.

Results are kept in this browser session only (keyed by file content) so that clicking a button
does not re-analyse; nothing is written to disk.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from fer_core.charts import probability_bar_figure
from fer_core.imageio import ImageDecodeError, encode_png
from fer_core.labels import CLASSES
from fer_core.photo import analyze_photo
from fer_core.valence import describe as describe_valence
from pages._analysis import (
    detector_select, digest, gradcam_explanation, load_analyzer, photo_inputs, show_error_safely,
    show_face_label, threshold_slider,
)
from pages._common import plain, show_error

st.title("Photo")
st.write("Upload one or more photos, take one with your camera, or try the sample photo. Every face "
         "found gets an emotion, a probability chart and, on request, a Grad-CAM explanation.")

with st.sidebar:
    st.subheader("Photo settings")
    detector_name = detector_select("photo_detector")
    threshold = threshold_slider("photo_threshold")

inputs = photo_inputs("photo", multiple=True)
analyzer = load_analyzer(detector_name) if inputs else None
if not inputs:
    st.info("Choose a photo to analyse.")
    st.stop()
if analyzer is None:
    st.stop()

results: dict = st.session_state.setdefault("_photo_results", {})

for n, item in enumerate(inputs):
    key = f"{digest(item.data)}:{detector_name}"
    st.divider()
    st.subheader(plain(item.name))
    if key not in results:
        try:
            with st.spinner(f"Analysing {plain(item.name)}..."):
                results[key] = analyze_photo(item.data, analyzer)
        except ImageDecodeError as exc:
            show_error(f"{item.name}: {exc}", "Upload a JPG, PNG, WebP or BMP photo.")
            continue
        except Exception as exc:
            show_error_safely(f"Analysing {item.name}", exc)
            continue
        while len(results) > 12:  # keep the session's memory bounded
            results.pop(next(iter(results)))
    result = results[key]
    annotated = result.annotated(threshold)
    if not result.faces:
        st.warning(f"No face found in {plain(item.name)}. Faces need to be roughly frontal, well lit and at "
                   "least about 40 pixels wide; try another photo or the MTCNN detector in the sidebar.")
        st.image(result.image, caption=plain(item.name), width="content")  # natural size, never blown up
        continue
    if result.whole_image:
        st.info("No face was detected, but the image looks like a face crop (small and square), so the "
                "whole image was classified as one face.")
    left, right = st.columns([3, 2])
    with left:
        st.image(annotated, caption=f"{item.name}: {len(result.faces)} face(s)", width="stretch")
        stem = PurePath(item.name).stem or "photo"
        d1, d2, d3 = st.columns(3)
        d1.download_button("Annotated PNG", encode_png(annotated), f"{stem}_annotated.png", "image/png",
                           key=f"png_{key}_{n}", on_click="ignore")
        d2.download_button("Results JSON", result.to_json(threshold), f"{stem}_emotions.json", "application/json",
                           key=f"json_{key}_{n}", on_click="ignore")
        d3.download_button("Results CSV", result.to_csv(threshold), f"{stem}_emotions.csv", "text/csv",
                           key=f"csv_{key}_{n}", on_click="ignore")
    with right:
        for i, pred in enumerate(result.faces):
            show_face_label(i, pred, threshold)
            st.caption(f"Valence: {describe_valence(pred.probs, pred.classes)}")
            st.plotly_chart(probability_bar_figure(pred.probs, height=210),
                            key=f"bars_{key}_{n}_{i}", config={"displayModeBar": False})
            if st.toggle("Explain with Grad-CAM", key=f"cam_{key}_{n}_{i}",
                         help="Highlights the regions that drove this prediction. Loads TensorFlow the "
                              "first time (a few seconds)."):
                cam = gradcam_explanation(result.image, pred, CLASSES.index(pred.label), f"{key}:{i}")
                if cam is not None:
                    try:
                        st.image(cam.on_crop(), width=220,
                                 caption=f"Grad-CAM for '{pred.label}' (red: most influential)")
                    except Exception as exc:
                        show_error_safely("Drawing the Grad-CAM overlay", exc)
st.caption("Open the Explain page to choose the target class, colormap and opacity of the heatmap.")
