"""UI pieces the Photo, Video, Explain and Live pages share: detectors, photo sources, face results.

Kept out of the page scripts so each page stays layout only and the four pages show faces,
labels and the "uncertain" rule the same way. Heavy objects are cached once per process.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import streamlit as st

from fer_core.core.labels import COLORS_HEX, dark_ink, hex_rgb
from pages._common import load_classifier, show_error

if TYPE_CHECKING:
    from fer_core.core.limits import Limits
    from fer_core.engine.analyzer import FaceAnalyzer

IMAGE_TYPES = ["jpg", "jpeg", "png", "webp", "bmp"]
DEFAULT_THRESHOLD = 0.40
THRESHOLD_HELP = ("Faces whose top probability is below this are shown as 'uncertain' instead of an "
                  "emotion. The model is least reliable on exactly those faces.")
SOURCES = ("Upload", "Camera", "Sample photo")


@st.cache_resource(show_spinner="Loading the face detector...", max_entries=6)
def _detector(name: str, purpose: str):
    from fer_core.engine.faces import make_detector

    return make_detector(name, purpose)


def detector_select(key: str, live: bool = False, help: str | None = None) -> str:
    """The face-detector picker every analysis page shows (live: TensorFlow-free detectors only)."""
    from fer_core.engine import faces

    names = faces.TF_FREE_DETECTORS if live else faces.DETECTORS
    return st.selectbox("Face detector", names, format_func=lambda n: faces.REGISTRY[n].label,
                        key=key, help=help or faces.DETECTOR_HELP)


def upload_limits():
    """The configured upload limits (fer_core.core.limits), or None after a message naming the bad variable."""
    from fer_core.core.limits import LimitsConfigError, load_limits

    try:
        return load_limits()
    except LimitsConfigError as exc:
        show_error(f"The server's upload limits are misconfigured: {exc}",
                   "Fix or unset that environment variable and restart the app (see the README's Configuration).")
        return None


def load_analyzer(detector_name: str, purpose: str = "photo"):
    """A FaceAnalyzer over the cached classifier and detector (tuned for 'photo' or 'video'), analysing
    at most the configured number of faces per image, or None after a clear message."""
    from fer_core.engine.analyzer import make_analyzer
    from fer_core.engine.faces import DetectorUnavailableError

    limits = upload_limits()
    if limits is None:
        return None
    classifier = load_classifier()
    if classifier is None:
        return None
    try:
        detector = _detector(detector_name, purpose)
    except (DetectorUnavailableError, ValueError) as exc:
        show_error(f"The face detector '{detector_name}' is not available: {exc}",
                   "Choose the Haar cascade detector instead.")
        return None
    except Exception as exc:  # e.g. MTCNN failing to build its networks
        show_error(f"The face detector '{detector_name}' could not be loaded ({type(exc).__name__}: {exc}).",
                   "Choose the Haar cascade detector instead.")
        return None
    return make_analyzer(classifier, detector, max_faces=limits.faces_per_image)


class PhotoPageStart(NamedTuple):
    inputs: list[PhotoInput]
    detector_name: str
    threshold: float
    limits: Limits
    analyzer: FaceAnalyzer


def photo_page_start(key: str, title: str, intro: str, multiple: bool, empty: str) -> PhotoPageStart:
    """How the Photo and Explain pages open: title, the sidebar's detector and threshold, the chosen
    photos, the upload limits and the analyzer; the page stops, after saying why, when one is missing."""
    st.title(title)
    st.write(intro)
    with st.sidebar:
        st.subheader(f"{key.capitalize()} settings")
        detector_name = detector_select(f"{key}_detector")
        threshold = threshold_slider(f"{key}_threshold")
    inputs = photo_inputs(key, multiple=multiple)
    if not inputs:
        st.info(empty)
        st.stop()
    limits = upload_limits()
    analyzer = load_analyzer(detector_name) if limits is not None else None
    if analyzer is None:
        st.stop()
    return PhotoPageStart(inputs, detector_name, threshold, limits, analyzer)


def digest(data: bytes) -> str:
    """Short content hash: results are cached per upload in the session, not per file name."""
    return hashlib.sha1(data).hexdigest()[:16]


@dataclass(frozen=True)
class PhotoInput:
    name: str
    data: bytes


def photo_inputs(key: str, multiple: bool = True) -> list[PhotoInput]:
    """Upload, camera or the built-in sample; returns the chosen image files (nothing is stored)."""
    source = st.radio("Photo source", SOURCES, horizontal=True, key=f"{key}_source",
                      help="The sample photo shows two real people in public-domain portraits.")
    if source == "Upload":
        files = st.file_uploader(
            "Upload photos (JPG, PNG, WebP or BMP)" if multiple else "Upload a photo (JPG, PNG, WebP or BMP)",
            type=IMAGE_TYPES, accept_multiple_files=multiple, key=f"{key}_upload",
        )
        if not files:
            return []
        files = files if isinstance(files, list) else [files]
        return [PhotoInput(f.name, f.getvalue()) for f in files]
    if source == "Camera":
        shot = st.camera_input("Take a photo", key=f"{key}_camera",
                               help="Your browser asks for camera permission; the photo is not stored.")
        return [PhotoInput("camera.jpg", shot.getvalue())] if shot is not None else []
    from fer_core.app.samples import SAMPLE_CAPTION, sample_photo_png

    st.caption(SAMPLE_CAPTION)
    return [PhotoInput("sample.png", sample_photo_png())]


def threshold_slider(key: str) -> float:
    return st.slider("Show 'uncertain' below confidence", 0.0, 0.9, DEFAULT_THRESHOLD, 0.05,
                     key=key, help=THRESHOLD_HELP)


def emotion_badge(label: str, confidence: float | None = None, uncertain: bool = False) -> str:
    """HTML badge: the emotion colour (colour-blind-safe palette) always with its text label."""
    colour = "#DDDDDD" if uncertain else COLORS_HEX.get(label, "#999999")
    ink = "#000" if dark_ink(hex_rgb(colour)) else "#fff"
    text = f"uncertain (best guess: {label})" if uncertain else label
    if confidence is not None:
        text += f" {confidence:.0%}"
    return (f'<span style="background:{colour};color:{ink};padding:2px 8px;border-radius:8px;'
            f'font-weight:600">{html.escape(text)}</span>')


def show_face_label(index: int, pred, threshold: float) -> None:
    """'Face N: <badge>' for one prediction."""
    st.markdown(f"**Face {index + 1}:** " + emotion_badge(pred.label, pred.confidence, pred.is_uncertain(threshold)),
                unsafe_allow_html=True)


def show_error_safely(what: str, exc: BaseException) -> None:
    """An unexpected failure as a message (with its type), never a traceback."""
    show_error(f"{what} failed ({type(exc).__name__}: {exc}).",
               "Try another file; if it keeps happening, report it with this message.")


def gradcam_explanation(image: np.ndarray, pred, class_index: int, cache_key: str):
    """fer_core.analysis.gradcam's Explanation (crop and heatmap) of one face for one class, kept in this
    session so redrawing it with another colormap or opacity is instant; None after a message when
    the Keras model is unavailable. Imports TensorFlow (via fer_core.core.tf_import)."""
    from pages._common import load_keras_model, model_dir

    cache = st.session_state.setdefault("_gradcam_cache", {})
    key = f"{cache_key}:{class_index}"
    if key in cache:
        return cache[key]
    model = load_keras_model()
    if model is None:
        return None
    from fer_core.analysis.gradcam import configured_layer, crop_margin, explain_face

    with st.spinner("Computing Grad-CAM (the first one loads TensorFlow and takes a few seconds)..."):
        try:
            explanation = explain_face(model, image, pred.box, class_index, configured_layer(model_dir()),
                                       crop_margin(pred))
        except Exception as exc:
            show_error_safely("Grad-CAM", exc)
            return None
    if len(cache) > 32:  # bounded: heatmaps are small, but sessions can be long
        cache.pop(next(iter(cache)))
    cache[key] = explanation
    return explanation
