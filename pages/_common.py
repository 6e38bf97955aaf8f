"""What every page shares: the notice, once-per-process model and database loading, error display.

Streamlit reruns page scripts on every interaction; heavy objects (the classifier, the Keras
model for Grad-CAM, the session database) are built once per process with ``st.cache_resource``
and shared by every browser session and the webcam threads. Cache keys include the files'
modification times, so a newly shipped model is picked up without restarting the server.
"""

from __future__ import annotations

import time
from pathlib import Path

import streamlit as st

from fer_core.model_store import CONFIG_NAME
from fer_core.plain_text import plain  # noqa: F401  (pages import it from here)


def _use_the_router() -> None:
    """Send a fresh server's first visit through app.py's router.

    Why a patch and not a supported API (Streamlit 1.67, read in its source):
    - Once per server process, when its first session starts, Streamlit sets
      ``PagesManager.uses_pages_directory`` to whether a folder named ``pages/`` sits next to the
      entrypoint (streamlit/runtime/pages_manager.py). Only ``st.navigation`` clears it, and only
      when app.py has run in some session (docs: calling st.navigation in any session makes the app
      ignore the pages/ directory across all sessions).
    - While it is set, the script runner does not run app.py: it lists ``pages/*.py`` and runs the
      page the URL names on its own (``_mpa_v1`` in streamlit/runtime/scriptrunner/script_runner.py).
      A first visit to /explain would run pages/explain.py without the router: no import order
      (streamlit_webrtc before TensorFlow), no notice, a menu of file names.
    - The supported ways out do not fit: Streamlit's guidance is to name the folder something else
      (app_pages/), but the design names pages/; moving the scripts into a subfolder (st.Page paths
      or callables Streamlit does not auto-discover) leaves the flag set, since it only asks whether
      pages/ exists, so a deep link then finds no page and gets Streamlit's "Page not found" dialog
      before app.py takes over; no config option turns the mode off (client.showSidebarNavigation
      only hides the menu).
    So every page imports this module, and the first page that runs in the old mode clears the flag
    (what st.navigation does) and reruns through app.py: the same page, since page ids come from the
    URL path. tests/test_app_home.py::test_deep_link_on_a_fresh_server_goes_through_the_router checks
    it on a real server; with a Streamlit that drops the flag this does nothing.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:  # a Streamlit without the old mode
        return
    if getattr(PagesManager, "uses_pages_directory", False) and get_script_run_ctx() is not None:
        PagesManager.uses_pages_directory = False
        st.rerun()


_use_the_router()

DISCLAIMER = (
    "Emotion estimates from faces are unreliable for individuals and are not for diagnosis, "
    "hiring or surveillance decisions (see the model card on the Model page)."
)
APP_TITLE = "Facial emotion recognition"


def show_disclaimer() -> None:
    """The short notice every page carries (app.py shows it above each page)."""
    st.caption(f":warning: {DISCLAIMER}")


def show_error(message: str, hint: str | None = None) -> None:
    """A user-facing error: the message (plain text: it often quotes a file name or an exception)
    and what to do about it (Markdown: ours), never a traceback."""
    st.error(plain(message) if not hint else f"{plain(message)}\n\n{hint}", icon=":material/error:")


def app_secrets() -> dict | None:
    """The contents of .streamlit/secrets.toml, or None when there is none (the normal case)."""
    try:
        return dict(st.secrets) if len(st.secrets) else None
    except Exception:  # no secrets file, or one Streamlit cannot read
        return None


WRONG_TOKEN_DELAY_S = 1.0  # slows guessing down


def has_access() -> bool:
    """Whether this browser session may see the app: no token configured, or it gave the right one.
    A token setting that cannot be used (e.g. too short) lets nobody in."""
    from fer_core.access import AccessConfigError, configured_token, fingerprint

    try:
        token = configured_token(secrets=app_secrets())
    except AccessConfigError:
        return False
    return token is None or st.session_state.get("_access") == fingerprint(token)


def access_token_set() -> bool:
    """Whether the app is shared behind an access token (an unusable token setting counts as set):
    then it serves other people, who need not see the server's paths."""
    from fer_core.access import AccessConfigError, configured_token

    try:
        return configured_token(secrets=app_secrets()) is not None
    except AccessConfigError:
        return True


def require_access() -> None:
    """Stop the page behind a token prompt until this browser session gives the shared token.

    app.py calls it before running any page, and load_store checks has_access again, so sessions
    are never shown, exported or deleted without it. Off (returns at once) when no token is set.
    """
    from fer_core.access import AccessConfigError, configured_token, fingerprint, token_matches

    try:
        token = configured_token(secrets=app_secrets())
    except AccessConfigError as exc:
        show_error(f"The access token setting cannot be used, so the app stays closed: {exc}")
        st.stop()
    if token is None or st.session_state.get("_access") == fingerprint(token):
        return
    st.title(APP_TITLE)
    st.write("This dashboard is shared with an access token. Enter the token you were given.")
    with st.form("access_form"):
        given = st.text_input("Access token", type="password", key="_access_given")
        submitted = st.form_submit_button("Open the dashboard")
    if submitted:
        if token_matches(given, token):
            st.session_state["_access"] = fingerprint(token)
            st.rerun()
        time.sleep(WRONG_TOKEN_DELAY_S)
        show_error("That access token is not right.")
    st.stop()


def model_dir() -> Path:
    """The model directory in use (FER_MODEL_DIR, else models/)."""
    from fer_core.model_store import default_model_dir

    return default_model_dir().resolve()


def _stamp(*paths: Path) -> tuple:
    """Modification times of files that exist: a cache key that changes when a model is re-shipped."""
    return tuple((p.name, p.stat().st_mtime_ns) for p in paths if p.is_file())


def _model_stamp(directory: Path) -> tuple:
    from fer_core.model_store import CONFIG_NAME, KERAS_NAME, SERVED_NAME

    return _stamp(*(directory / n for n in (CONFIG_NAME, SERVED_NAME, KERAS_NAME))) + \
        _stamp(*sorted(directory.glob("*.tflite")))


@st.cache_resource(show_spinner="Loading the emotion model...", max_entries=4)
def _classifier(directory: str, stamp: tuple):
    from fer_core.classifier import Classifier

    return Classifier.from_dir(directory)


MODEL_HINT = ("The app reads its model from models/ (or the folder named by FER_MODEL_DIR): "
              f"{CONFIG_NAME} plus the model file it names. Train and ship one with "
              "`python -m fer_core.train` and `python -m fer_core.ship`, or restore models/ from git.")


def load_classifier(show: bool = True):
    """The served classifier, or None after showing a clear message when the model files are bad."""
    from fer_core.model_store import ModelFilesError

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
    from fer_core.gradcam import load_keras_model

    return load_keras_model(directory)


def load_keras_model(show: bool = True):
    """The Keras model (Grad-CAM needs gradients, which TFLite has not), or None after a message.

    Imports TensorFlow: call it only from pages that need it (through fer_core.tf_import, so the
    import order with aiortc stays safe).
    """
    from fer_core.model_store import ModelFilesError, keras_model_path

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
    from fer_core.storage import SessionStore

    return SessionStore(url)


def load_store(show: bool = True):
    """The session database (FER_DB_URL, else a local SQLite file), or None after a message."""
    from fer_core.storage import StorageError, default_db_url

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

