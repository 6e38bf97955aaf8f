"""What the pages share: once-per-process model and database loading (and, from ui.guard, the way in
and error display, re-exported so every page imports its helpers from one place).

Streamlit reruns page scripts on every interaction; heavy objects (the classifier, the Keras
model for Grad-CAM, the session database) are built once per process with ``st.cache_resource``
and shared by every browser session and the webcam threads. Cache keys include the files'
modification times, so a newly shipped model is picked up without restarting the server.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from fer_core.core.model_folder import CONFIG_NAME
from fer_core.core.plain_text import plain  # noqa: F401  (pages import it from here)
from ui.guard import (APP_TITLE, DISCLAIMER, access_token_set, app_secrets, guard_page,  # noqa: F401
                      has_access, show_error)


def model_dir() -> Path:
    """The model directory in use (FER_MODEL_DIR, else models/)."""
    from fer_core.core.model_folder import default_model_dir

    return default_model_dir().resolve()


def _stamp(*paths: Path) -> tuple:
    """Modification times of files that exist: a cache key that changes when a model is re-shipped."""
    return tuple((p.name, p.stat().st_mtime_ns) for p in paths if p.is_file())


def _model_stamp(directory: Path) -> tuple:
    from fer_core.core.model_folder import CONFIG_NAME, KERAS_NAME, SERVED_NAME

    return _stamp(*(directory / n for n in (CONFIG_NAME, SERVED_NAME, KERAS_NAME))) + \
        _stamp(*sorted(directory.glob("*.tflite")))


@st.cache_resource(show_spinner="Loading the emotion model...", max_entries=4)
def _classifier(directory: str, stamp: tuple):
    from fer_core.engine.classifier import Classifier

    return Classifier.from_dir(directory)


MODEL_HINT = ("The app reads its model from models/ (or the folder named by FER_MODEL_DIR): "
              f"{CONFIG_NAME} plus the model file it names. Train and ship one with "
              "`python -m fer_core.training.train` and `python -m fer_core.training.ship`, or restore models/ from git.")


def load_classifier(show: bool = True):
    """The served classifier, or None after showing a clear message when the model files are bad."""
    from fer_core.core.model_folder import ModelFilesError

    d = model_dir()
    try:
        return _classifier(str(d), _model_stamp(d))
    except ModelFilesError as exc:
        if show:
            show_error(f"The emotion model could not be loaded: {exc}", MODEL_HINT)
    except Exception as exc:  # an unexpected loader failure must not take the page down
        if show:
            show_error(f"The emotion model could not be loaded ({type(exc).__name__}: {exc}).", MODEL_HINT)
    return None


@st.cache_resource(show_spinner="Loading the Keras model for Grad-CAM (first time only)...", max_entries=2)
def _keras_model(directory: str, stamp: tuple):
    from fer_core.analysis.gradcam import load_keras_model

    return load_keras_model(directory)


def load_keras_model(show: bool = True):
    """The Keras model (Grad-CAM needs gradients, which TFLite has not), or None after a message.

    Imports TensorFlow: call it only from pages that need it (through fer_core.core.tf_import, so the
    import order with aiortc stays safe).
    """
    from fer_core.core.model_folder import ModelFilesError, keras_model_path

    try:
        d = model_dir()
        return _keras_model(str(d), _stamp(keras_model_path(d)))
    except ModelFilesError as exc:
        if show:
            show_error(f"The Keras model could not be loaded: {exc}", MODEL_HINT)
    except Exception as exc:
        if show:
            show_error(f"The Keras model could not be loaded ({type(exc).__name__}: {exc}).", MODEL_HINT)
    return None


@st.cache_resource(show_spinner=False, max_entries=4)
def _store(url: str):
    from fer_core.app.storage import SessionStore

    return SessionStore(url)


def load_store(show: bool = True):
    """The session database (FER_DB_URL, else a local SQLite file), or None after a message."""
    from fer_core.app.storage import StorageError, default_db_url

    if not has_access():  # app.py asks first; this keeps sessions closed even to a page run on its own
        if show:
            show_error("Saved sessions need the access token: open the app's home page to enter it.")
        return None
    try:
        return _store(default_db_url())
    except StorageError as exc:
        if show:
            show_error(f"The session database is unavailable: {exc}",
                       "Set FER_DB_URL to a writable database (default: a SQLite file next to app.py).")
    return None

