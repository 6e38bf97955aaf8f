"""Home: what the app does, how to use each page, the loaded model and its headline figures."""

import streamlit as st

from fer_core.labels import CLASSES, COLORS_HEX
from fer_core.model_report import headline, served_report, split_name
from fer_core.model_store import ModelFilesError, load_metrics, load_model_config
from pages._common import APP_TITLE, MODEL_HINT, load_classifier, model_dir, show_error

st.title(APP_TITLE)
st.markdown(
    "This dashboard finds faces in a webcam stream, a photo or a video clip and estimates which of seven "
    "facial expressions each face shows, with a confidence for every one: "
    + ", ".join(f"<span style='color:{COLORS_HEX[c]}'>&#9632;</span> **{c}**" for c in CLASSES)
    + ". The classifier is our own EfficientNet-B0, trained on FER-2013; everything runs on this "
    "server's CPU and nothing is sent to third parties.",
    unsafe_allow_html=True,
)

st.subheader("How to use it")
GUIDE = [
    ("pages/live.py", "Live webcam", "Press **Start**, allow the camera: boxes, labels and an emotion-over-time "
     "chart update as you go. When you stop, the emotion scores are saved to History if the switch is on."),
    ("pages/photo.py", "Photo", "Upload photos (jpg, png, webp, bmp), take one with the camera or try the sample: "
     "annotated image, per-face probabilities, downloads."),
    ("pages/video.py", "Video", "Upload a clip: it is analysed with a progress bar; you get the annotated video, "
     "a timeline per face, the emotion distribution and downloads. The result is saved to History."),
    ("pages/explain.py", "Explain (Grad-CAM)", "See which parts of a face drove a prediction, for any class."),
    ("pages/history.py", "History", "Open, compare, export or delete saved live and video sessions."),
    ("pages/model.py", "Model", "How good the model is: accuracy, per-class figures, confusion matrix, "
     "training curves, data and the model card."),
]
for path, label, text in GUIDE:
    left, right = st.columns([1, 4], vertical_alignment="center")
    left.page_link(path, label=label)
    right.markdown(text)

st.subheader("The loaded model")
directory = model_dir()
try:
    config = load_model_config(directory)
except ModelFilesError as exc:
    config = None
    show_error(f"No usable model: {exc}", MODEL_HINT)

classifier = load_classifier() if config is not None else None
if classifier is not None:
    st.markdown(
        f"Serving **{classifier.path.name}** from `{directory}`: {config.get('backbone', 'EfficientNet-B0')}, "
        f"{classifier.input_size}x{classifier.input_size} grayscale face input, {len(classifier.classes)} classes."
    )
    if config.get("placeholder"):
        st.warning("This is a placeholder model with untrained weights, shipped so the app runs until the trained "
                   "model lands: its predictions are meaningless.")
    try:
        metrics = load_metrics(directory)
    except ModelFilesError as exc:
        metrics = None
        st.warning(f"The evaluation figures could not be read: {exc}")
    found = served_report(metrics)
    if found is None:
        st.info("This model has no evaluation figures yet (no metrics.json): it may be a placeholder until "
                "the trained model is shipped, so treat its predictions with care.")
    else:
        h = headline(found[1])
        cols = st.columns(4)
        cols[0].metric("Accuracy", f"{h['accuracy']:.1%}")
        cols[1].metric("Macro-F1", f"{h['macro_f1']:.3f}")
        if h["worst_class"]:
            cols[2].metric(f"Lowest recall ({h['worst_class']})", f"{h['worst_recall']:.0%}")
        cols[3].metric("Test images", f"{h['n']:,}")
        st.caption(f"The {found[0]} model on {split_name(metrics)}, which is also where the model was selected: "
                   "these are validation figures. Details on the Model page.")
        st.page_link("pages/model.py", label="All figures and the model card", icon=":material/analytics:")
