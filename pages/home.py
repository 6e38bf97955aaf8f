"""Home: what the app does, how to use each page, the loaded model and its headline figures."""

import streamlit as st

from fer_core.app import model_summary as ms
from fer_core.core.labels import CLASSES, COLORS_HEX
from fer_core.core.model_folder import ModelFilesError, load_metrics, load_model_config, load_reference_figures
from pages._common import APP_TITLE, MODEL_HINT, guard_page, load_classifier, model_dir, show_error

guard_page()  # first: the router and the token, however the page was entered

directory = model_dir()
config_error: ModelFilesError | None = None
try:
    config = load_model_config(directory)
except ModelFilesError as exc:
    config, config_error = None, exc
classes = tuple(config["classes"]) if config else CLASSES  # the loaded model's expressions

st.title(APP_TITLE)
st.markdown(
    "This dashboard finds faces in a webcam stream, a photo or a video clip and estimates which of "
    f"{len(classes)} facial expressions each face shows, with a confidence for every one: "
    + ", ".join(f"<span style='color:{COLORS_HEX[c]}'>&#9632;</span> **{c}**" for c in classes)
    + ". The model was trained by this project on FER+, the faces of the public FER-2013 collection each "
    "labelled by ten people, and on posed expressions of the CK+ collection, starting from a network that "
    "had first learnt to recognise everyday objects (ImageNet); everything runs on this server and nothing "
    "is sent to third parties.",
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
    ("pages/model.py", "Model", "How good the model is, which expressions it gets wrong, what it must not be "
     "used for, and the full model card."),
]
for path, label, text in GUIDE:
    left, right = st.columns([1, 4], vertical_alignment="center")
    left.page_link(path, label=label)
    right.markdown(text)

st.subheader("How good is the model?")
if config_error is not None:
    show_error(f"No usable model: {config_error}", MODEL_HINT)

classifier = load_classifier() if config is not None else None
if classifier is not None:
    st.markdown(
        f"The model looks at each face as a small {classifier.input_size}x{classifier.input_size} grey picture "
        f"and gives a probability for each of the {len(classifier.classes)} expressions."
    )
    if config.get("placeholder"):
        st.warning("This is a placeholder model with untrained weights, shipped so the app runs until the trained "
                   "model lands: its predictions are meaningless.")
    try:
        metrics = load_metrics(directory)
    except ModelFilesError as exc:
        metrics = None
        st.warning(f"The evaluation figures could not be read: {exc}")
    try:
        reference = load_reference_figures(directory)
    except ModelFilesError:
        reference = {}
    sets = ms.evaluation_sets(metrics, reference)
    if not sets:
        st.info("This model has no evaluation figures yet (no metrics.json): it may be a placeholder until "
                "the trained model is shipped, so treat its predictions with care.")
    else:
        first = sets[0]
        st.markdown(ms.how_good(first))
        notes = ms.class_notes(first.main)
        cols = st.columns(3)
        cols[0].metric("Right answers", f"{ms.out_of_100(first.main['accuracy'])} of 100")
        if notes:
            cols[1].metric("Recognised best", notes[0].label)
            cols[2].metric("Missed most often", notes[-1].label)
        st.page_link("pages/model.py", label="Where it fails, and what it must not be used for", icon=":material/bar_chart:")
