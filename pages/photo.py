"""Photo page: upload photos (or take one, or use the sample), see every face's emotion, download.

An upload's file count and total pixels are budgeted from the headers before anything is decoded
(fer_core.app.photo_upload). Results are kept in this browser session only (keyed by file content,
bounded by count and pixels) so that clicking a button does not re-analyse; nothing is written to
disk. File names are shown as plain text. Faces are numbered left to right (then top to bottom);
each box carries its number, as do the list beside it and the JSON/CSV downloads.
"""

from __future__ import annotations

from pathlib import PurePath

import streamlit as st

from fer_core.app.charts import probability_bar_figure
from fer_core.core.imageio import ImageDecodeError, encode_png
from fer_core.analysis.photo import analyze_photo, dropped_faces_notice
from fer_core.app.photo_upload import SessionResults, plan_upload
from fer_core.app.preview import preview
from fer_core.engine.faces import findable_faces_text
from fer_core.core.valence import RULE as VALENCE_RULE, describe as describe_valence
from pages._analysis import digest, gradcam_explanation, photo_page_start, show_error_safely, show_face_label
from pages._common import guard_page, plain, show_error

guard_page()  # first: the router and the token, however the page was entered

inputs, detector_name, threshold, limits, analyzer = photo_page_start(
    "photo", "Photo", "Upload one or more photos, take one with your camera, or try the sample photo. Every face "
    "found gets an emotion, a probability chart and, on request, a Grad-CAM explanation.",
    multiple=True, empty="Choose a photo to analyse.")

results = st.session_state.get("_photo_results")
if not isinstance(results, SessionResults) or (results.max_items, results.max_pixels) != (
        limits.upload_files, limits.upload_pixels):
    results = st.session_state["_photo_results"] = SessionResults(limits.upload_files, limits.upload_pixels)
plan = plan_upload([item.data for item in inputs], limits)

for n, item in enumerate(inputs):
    key = f"{digest(item.data)}:{detector_name}"
    name = plain(item.name)
    st.divider()
    st.subheader(name)
    if n in plan.skipped:
        st.warning(plan.skipped[n])
        continue
    if key not in results:
        try:
            with st.spinner(f"Analysing {name}..."):
                results.put(key, analyze_photo(item.data, analyzer, max_pixels=limits.image_pixels,
                                               max_decode_work=limits.image_decode_work))
        except ImageDecodeError as exc:
            show_error(f"{item.name}: {exc}", "Upload a JPG, PNG, WebP or BMP photo.")
            continue
        except Exception as exc:
            show_error_safely(f"Analysing {name}", exc)
            continue
    result = results[key]
    annotated = result.annotated(threshold)
    if notice := dropped_faces_notice(result):
        st.warning(notice)
    if not result.faces:
        h, w = result.image.shape[:2]
        st.warning(f"No face found in {name}. {findable_faces_text(analyzer.detector, w, h)} Try another photo or "
                   "the MTCNN detector in the sidebar.")
        st.image(preview(result.image), caption=name, width="content")  # natural size, never blown up
        continue
    if result.whole_image:
        st.info("No face was detected, but the image looks like a face crop (small and square), so the "
                "whole image was classified as one face.")
    left, right = st.columns([3, 2])
    with left:
        st.image(preview(annotated), caption=f"{name}: {len(result.faces)} face(s), numbered left to right",
                 width="stretch")
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
            st.plotly_chart(probability_bar_figure(pred.probs, pred.classes, height=210),
                            key=f"bars_{key}_{n}_{i}", config={"displayModeBar": False})
            if st.toggle("Explain with Grad-CAM", key=f"cam_{key}_{n}_{i}",
                         help="Highlights the regions that drove this prediction. Loads TensorFlow the "
                              "first time (a few seconds)."):
                cam = gradcam_explanation(result.image, pred, pred.classes.index(pred.label), f"{key}:{i}")
                if cam is not None:
                    try:
                        st.image(cam.on_crop(), width=220,
                                 caption=f"Grad-CAM for '{pred.label}' (red: most influential)")
                    except Exception as exc:
                        show_error_safely("Drawing the Grad-CAM overlay", exc)
st.caption(VALENCE_RULE)
st.caption("Open the Explain page to choose the target class, colormap and opacity of the heatmap.")
