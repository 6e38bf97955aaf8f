"""What the router (app.py) and every page share: the way in (router, server gate, access token),
the app's title and notice, and how an error is shown.

Every page calls ``guard_page`` first, however Streamlit ran it; app.py runs each page inside
``routed()`` so the page knows it came through the router.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import streamlit as st

from fer_core.core.plain_text import plain


_ROUTED = threading.local()  # set while app.py runs a page: the page then came through the router


@contextlib.contextmanager
def routed():
    """app.py runs the chosen page inside this, so the page knows it came through the router."""
    _ROUTED.on = True
    try:
        yield
    finally:
        _ROUTED.on = False


def _leave_pages_mode() -> None:
    """Send a page run that did not come through app.py's router back through it.

    Why a patch and not a supported API (Streamlit 1.67, read in its source):
    - Once per server process, when its first session starts, Streamlit sets
      ``PagesManager.uses_pages_directory`` to whether a folder named ``pages/`` sits next to the
      entrypoint (streamlit/runtime/pages_manager.py). Only ``st.navigation`` clears it, and only
      when app.py has run in some session.
    - While it is set, the script runner does not run app.py: it lists ``pages/*.py`` and runs the
      page the URL names on its own (``_mpa_v1`` in streamlit/runtime/scriptrunner/script_runner.py).
      Sessions that start together on a new server all do so, before any of them clears the flag:
      16 of 24 simultaneous first visits ran a page with no token prompt (issue 29).
    - The supported ways out do not fit: Streamlit's guidance is to name the folder something else
      (app_pages/), but the design names pages/; no config option turns the mode off.
    So every page calls ``guard_page`` first, and a page run that did not come through app.py (in
    whatever session, however late) clears the flag (what st.navigation does) and reruns: the same
    page, since page ids come from the URL path. A page that is itself the main script (AppTest,
    ``streamlit run pages/x.py``) has no router to go to, and just asks for the token.
    """
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if ctx is None or getattr(_ROUTED, "on", False):
        return
    main = Path(ctx.pages_manager.main_script_path).resolve()
    if main != ROUTER:
        return
    try:
        from streamlit.runtime.pages_manager import PagesManager

        PagesManager.uses_pages_directory = False
    except ImportError:  # a Streamlit without the old mode
        pass
    st.rerun()


ROUTER = (Path(__file__).resolve().parent.parent / "app.py").resolve()


def guard_page() -> None:
    """The first call of every page: through the router, the server gate in place, the token asked.

    Pages call it themselves rather than rely on app.py, since Streamlit can run a page without
    app.py (``_leave_pages_mode``); app.py's own ``require_access`` makes the prompt appear before
    the page's sidebar.
    """
    _install_gate()
    _leave_pages_mode()
    require_access()


def _install_gate() -> None:
    """The server-side half of access control (ui/gate.py), installed once per server process."""
    from fer_core.app.access import AccessConfigError, configured_token
    from ui import gate as _gate

    try:
        _gate.set_closed(configured_token(secrets=app_secrets()) is not None)
    except AccessConfigError:
        _gate.set_closed(True)
    _gate.install()


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


WRONG_TOKEN_DELAY_S = 1.0  # slows one session's guessing down; the throttle bounds everyone's


@st.cache_resource(show_spinner=False)
def _throttle():
    """One record of failed token attempts for the whole server process (every session shares it)."""
    from fer_core.app.access import Throttle

    return Throttle()


def _client_address() -> str:
    """The client's address for counting wrong tokens (loopback shows as "local")."""
    try:
        address = st.context.ip_address
    except Exception:
        return "unknown"
    return address if isinstance(address, str) and address else "local"


def _browser_secret() -> str | None:
    """The HttpOnly cookie the server gate gave this browser (ui/gate.py).

    None when a real browser connection has none (the first visits of a fresh server, before the gate
    was installed: a reload gets one). AppTest has no browser at all, so there every run counts as
    one browser.
    """
    from fer_core.app.access import BROWSER_COOKIE

    try:
        cookie = st.context.cookies.get(BROWSER_COOKIE)
        has_client = bool(st.context.headers.get("host"))
    except Exception:
        cookie, has_client = None, False
    if isinstance(cookie, str) and cookie:
        return cookie
    return None if has_client is True else "no browser (AppTest)"


def _session_id() -> str | None:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else None


def has_access() -> bool:
    """Whether this browser session may see the app: no token configured, or it gave the right one
    from the browser it is connected from now. A token setting that cannot be used lets nobody in."""
    from fer_core.app.access import AccessConfigError, browser_binding, configured_token

    try:
        token = configured_token(secrets=app_secrets())
    except AccessConfigError:
        return False
    if token is None:
        return True
    binding = browser_binding(token, _browser_secret())
    return binding is not None and st.session_state.get("_access") == binding


def access_token_set() -> bool:
    """Whether the app is shared behind an access token (an unusable token setting counts as set):
    then it serves other people, who need not see the server's paths."""
    from fer_core.app.access import AccessConfigError, configured_token

    try:
        return configured_token(secrets=app_secrets()) is not None
    except AccessConfigError:
        return True


def require_access() -> None:
    """Stop the page behind a token prompt until this browser session gives the shared token.

    Every page calls it (guard_page), and load_store checks has_access again, so sessions are never
    shown, exported or deleted without it. Off (returns at once) when no token is set. Wrong tokens
    are counted per client address and for the server (fer_core.app.access.Throttle) and logged.
    """
    from fer_core.app.access import AccessConfigError, browser_binding, configured_token, token_matches
    from ui import gate as _gate

    try:
        token = configured_token(secrets=app_secrets())
    except AccessConfigError as exc:
        show_error(f"The access token setting cannot be used, so the app stays closed: {exc}")
        st.stop()
    if token is None:
        return
    if has_access():
        _gate.grant(_session_id() or "", _browser_secret())  # again after a reconnect dropped it
        return
    st.title(APP_TITLE)
    secret = _browser_secret()
    if secret is None:
        st.warning("This server has just started: reload the page (F5) to enter the access token.")
        st.stop()
    st.write("This dashboard is shared with an access token. Enter the token you were given.")
    with st.form("access_form"):
        given = st.text_input("Access token", type="password", key="_access_given")
        submitted = st.form_submit_button("Open the dashboard")
    if submitted:
        address, throttle = _client_address(), _throttle()
        wait = throttle.wait_s(address)
        if wait > 0:
            show_error(f"Too many wrong access tokens: try again in {wait:.0f} seconds.")
            st.stop()
        if token_matches(given, token):
            throttle.succeeded(address)
            st.session_state["_access"] = browser_binding(token, secret)
            sid = _session_id()
            if sid:
                _gate.grant(sid, secret)
            st.rerun()
        time.sleep(WRONG_TOKEN_DELAY_S)
        wait = throttle.failed(address)
        show_error("That access token is not right." + (f" Wait {wait:.0f} seconds before the next try."
                                                        if wait > 0 else ""))
    st.stop()
