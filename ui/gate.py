"""The server gate: checks that must run before Streamlit's own HTTP handlers, not in a page script.

Why here and how (Streamlit 1.67, read in its source): the upload endpoint
``PUT /_stcore/upload_file/<session id>/<file id>`` stores any file for any live session, read in
full into memory, before a page script can ask for the token; ``/_stcore/metrics`` answers anyone.
Streamlit offers middleware only to apps started through ``st.App`` (ASGI mode), while this app is
started with ``streamlit run app.py``. So the first page run of a server process (every page calls
``ui.guard.guard_page``) wraps ``Starlette.__call__`` once, which every HTTP request and
websocket of the running server passes through, and from then on:

- an upload is refused (from its headers; the body is read and thrown away, so the browser gets the
  reason rather than a reset connection) unless the access token is off or the session
  was let in from the same browser (``GRANTS``), and unless its Content-Length fits the session's
  and the server's budget (``fer_core.core.limits``: stored plus arriving bytes);
- every response and websocket handshake gives the browser an HttpOnly cookie (``BROWSER_COOKIE``)
  that grants are tied to, so a session id seen in a URL or a log opens nothing;
- ``/_stcore/metrics`` answers 404 (nothing in the app uses it; it told anyone the sessions' memory);
- a session's files are dropped when its websocket closes, and freed memory is returned to the OS.
Files uploaded in the moment before the first page run are dropped at installation.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import secrets
import threading
from collections import defaultdict

from fer_core.app.access import BROWSER_COOKIE

LOG = logging.getLogger("fer.gate")
UPLOAD_PREFIX = "/_stcore/upload_file/"
METRICS_PATH = "/_stcore/metrics"
COOKIE_MAX_AGE_S = 30 * 24 * 3600

GRANTS: dict[str, str] = {}  # session id -> browser_key of the browser that gave the token
_state = {"closed": False, "installed": False}
_reserved: dict[str, int] = defaultdict(int)  # session id -> bytes of uploads arriving now
_lock = threading.Lock()


def browser_key(cookie: str | None) -> str | None:
    """What GRANTS keeps of the browser cookie: a digest, so the secret itself is not kept twice."""
    return hashlib.sha256(cookie.encode()).hexdigest() if cookie else None


def set_closed(closed: bool) -> None:
    """Whether a token is set (the pages know; the gate refuses uploads of sessions not let in)."""
    _state["closed"] = closed


def grant(session_id: str, cookie: str | None) -> None:
    """Session ``session_id`` gave the token from the browser holding ``cookie``."""
    key = browser_key(cookie)
    if key:
        GRANTS[session_id] = key


def granted(session_id: str, cookie: str | None) -> bool:
    """Whether this session was let in from this browser (always, while no token is set)."""
    if not _state["closed"]:
        return True
    key = browser_key(cookie)
    return key is not None and GRANTS.get(session_id) == key


def _upload_bytes(mgr) -> tuple[dict[str, int], int]:
    """Bytes each session holds in Streamlit's upload store, and their total."""
    with mgr._lock:
        per = {sid: sum(len(f.data) for f in files.values()) for sid, files in mgr.file_storage.items()}
    return per, sum(per.values())


def _budget_refusal(mgr, session_id: str, size: int) -> str | None:
    """Why an upload of ``size`` bytes would not fit (None: it fits, and is now reserved)."""
    from fer_core.core.limits import load_limits

    limits = load_limits()
    per_session, per_server = limits.upload_session_mb * 2**20, limits.upload_server_mb * 2**20
    stored, total = _upload_bytes(mgr)
    with _lock:
        mine = stored.get(session_id, 0) + _reserved[session_id] + size
        everyone = total + sum(_reserved.values()) + size
        if mine > per_session:
            return f"this session's uploads would exceed {limits.upload_session_mb} MB"
        if everyone > per_server:
            return f"the server's uploads would exceed {limits.upload_server_mb} MB"
        _reserved[session_id] += size
    return None


def _release(session_id: str, size: int) -> None:
    with _lock:
        _reserved[session_id] -= size
        if _reserved[session_id] <= 0:
            del _reserved[session_id]


def _cookie(headers: list[tuple[bytes, bytes]]) -> str | None:
    from http.cookies import SimpleCookie

    for name, value in headers:
        if name == b"cookie":
            jar = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header: treat as none
                continue
            if BROWSER_COOKIE in jar:
                return jar[BROWSER_COOKIE].value
    return None


def _set_cookie_header(value: str, secure: bool) -> tuple[bytes, bytes]:
    attrs = f"{BROWSER_COOKIE}={value}; Path=/; Max-Age={COOKIE_MAX_AGE_S}; HttpOnly; SameSite=Strict"
    return b"set-cookie", (attrs + ("; Secure" if secure else "")).encode()


async def _reply(send, status: int, text: str) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": text.encode()})


async def _discard_body(receive) -> None:
    """Read a refused upload to its end, keeping nothing: closing the socket on unread bytes resets
    the connection, and the browser would see a network error instead of the reason."""
    while True:
        message = await receive()
        if message.get("type") != "http.request" or not message.get("more_body"):
            return


def _wrap(original):
    """Starlette.__call__ with the gate in front (see the module docstring)."""

    async def gated(app, scope, receive, send):
        kind = scope.get("type")
        if kind not in ("http", "websocket"):
            return await original(app, scope, receive, send)
        path = scope.get("path", "")
        headers = list(scope.get("headers") or [])
        cookie = _cookie(headers)
        new_cookie = None
        if cookie is None:  # tie this browser to a secret only it holds (the grant needs it)
            new_cookie = secrets.token_urlsafe(32)
            scope = {**scope, "headers": headers + [(b"cookie", f"{BROWSER_COOKIE}={new_cookie}".encode())]}
        secure = scope.get("scheme") in ("https", "wss")
        if kind == "http" and path.endswith(METRICS_PATH):
            return await _reply(send, 404, "Not found")
        reserved = None
        if kind == "http" and scope.get("method") == "PUT" and UPLOAD_PREFIX in path:
            session_id = path.split(UPLOAD_PREFIX, 1)[1].split("/", 1)[0]
            refusal, reserved = _check_upload(session_id, cookie, dict(headers).get(b"content-length"))
            if refusal:
                LOG.warning("upload refused: %s", refusal)  # no session id: it is half of a grant
                await _discard_body(receive)
                return await _reply(send, refusal_status(refusal), f"Upload refused: {refusal}.")

        async def send_with_cookie(message):
            if new_cookie and message.get("type") in ("http.response.start", "websocket.accept"):
                message = {**message, "headers": list(message.get("headers") or [])
                           + [_set_cookie_header(new_cookie, secure)]}
            await send(message)

        try:
            return await original(app, scope, receive, send_with_cookie)
        finally:
            if reserved:
                _release(*reserved)

    gated.__wrapped__ = original
    return gated


def refusal_status(refusal: str) -> int:
    """403 for a session not let in, 411 without a length, 413 over a budget."""
    if refusal.startswith("the access token"):
        return 403
    return 411 if refusal.startswith("no Content-Length") else 413


def _check_upload(session_id: str, cookie: str | None, length: bytes | None) -> tuple[str | None, tuple | None]:
    """Why this upload is refused (or None), and what was reserved for it."""
    from streamlit.runtime import Runtime

    if not granted(session_id, cookie):
        return "the access token was not given in this browser", None
    try:
        size = int(length or b"")
    except ValueError:
        return "no Content-Length (chunked uploads are not accepted)", None
    refusal = _budget_refusal(Runtime.instance().uploaded_file_mgr, session_id, max(0, size))
    return (refusal, None) if refusal else (None, (session_id, max(0, size)))


def _free_memory() -> None:
    """Give freed heap back to the OS (glibc keeps it otherwise: 2.2 GB stayed after a tab closed)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def forget_session(session_id: str) -> None:
    """A session's websocket closed: drop its files and its grant."""
    from streamlit.runtime import Runtime

    GRANTS.pop(session_id, None)
    if Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_session_files(session_id)
        _free_memory()


def _drop_ungranted_files(mgr) -> None:
    """Files that arrived before the gate was installed, for sessions not let in."""
    if not _state["closed"]:
        return
    for session_id in [s for s in list(mgr.file_storage) if s not in GRANTS]:
        mgr.remove_session_files(session_id)
    _free_memory()


def install() -> None:
    """Put the gate in front of this server process's HTTP handlers (once; no-op outside a server)."""
    from starlette.applications import Starlette
    from streamlit.runtime import Runtime

    with _lock:
        if _state["installed"] or not Runtime.exists():
            return
        _state["installed"] = True
    Starlette.__call__ = _wrap(Starlette.__call__)
    runtime = Runtime.instance()
    disconnect = runtime.disconnect_session

    def disconnect_and_forget(session_id, *args, **kwargs):
        disconnect(session_id, *args, **kwargs)
        if not runtime.is_active_session(session_id):
            forget_session(session_id)

    runtime.disconnect_session = disconnect_and_forget
    if hasattr(runtime.uploaded_file_mgr, "file_storage"):
        _drop_ungranted_files(runtime.uploaded_file_mgr)
