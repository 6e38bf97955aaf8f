"""The server gate on a real server on loopback (raw websocket and HTTP clients, no browser):
simultaneous first visits, uploads before the token, /_stcore/metrics, the browser cookie (issue 29)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

import pytest

from conftest import streamlit_server
from ui.guard import APP_TITLE

TOKEN = "s3cret-shared-token"
PAGES = ["", "live", "photo", "video", "explain", "history", "model"]


@pytest.fixture
def locked_server(repo_root, tiny_model_files, tmp_path):
    """A fresh `streamlit run app.py` with a token set, on a free loopback port: (url, port, log file)."""
    log = tmp_path / "server.log"
    env = {"FER_MODEL_DIR": str(tiny_model_files), "FER_ACCESS_TOKEN": TOKEN,
           "FER_DB_URL": f"sqlite:///{tmp_path / 'sessions.db'}"}
    with streamlit_server(repo_root, env, log) as (url, port):
        yield url, port, log


async def visit(port: int, page: str, cookie: str | None = None) -> tuple[str, list[tuple[str, str]]]:
    """One raw websocket session's first visit to ``page``: its session id and the elements it was sent."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    headers = {"Cookie": cookie} if cookie else {}
    async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"],
                                  additional_headers=headers, max_size=None) as ws:
        msg = BackMsg()
        msg.rerun_script.query_string = ""
        msg.rerun_script.page_name = page
        await ws.send(msg.SerializeToString())
        session_id, elements = "", []
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            fm = ForwardMsg()
            fm.ParseFromString(await asyncio.wait_for(ws.recv(), 150))
            kind = fm.WhichOneof("type")
            if kind == "new_session":
                session_id = fm.new_session.initialize.session_id
            elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                el = fm.delta.new_element
                elements.append((el.WhichOneof("type"), str(getattr(el, el.WhichOneof("type")))))
            elif kind == "script_finished" and fm.script_finished != ForwardMsg.FINISHED_EARLY_FOR_RERUN:
                break
        return session_id, elements


def _prompted(elements: list[tuple[str, str]]) -> bool:
    headings = [body for kind, body in elements if kind == "heading"]
    asks = any(k == "text_input" and "Access token" in b for k, b in elements) or \
        any(k == "alert" and "reload the page" in b for k, b in elements)  # a fresh server's first, cookieless visits
    return (asks and bool(headings) and all(APP_TITLE in h for h in headings)
            and not any(k in ("file_uploader", "exception", "dataframe") for k, _ in elements))


@pytest.mark.slow
def test_simultaneous_first_visits_of_a_new_server_all_get_the_prompt(locked_server):
    """Tabs reconnecting after a restart: 16 of 24 ran a page without the prompt on main (issue 29)."""
    _, port, log = locked_server

    async def all_at_once():
        return await asyncio.gather(*(visit(port, page) for page in PAGES * 2))

    results = asyncio.run(all_at_once())
    bad = [(page, [k for k, _ in elements]) for page, (_, elements) in zip(PAGES * 2, results)
           if not _prompted(elements)]
    assert not bad, bad
    assert "ImportError" not in log.read_text(errors="replace")


def _xsrf(url: str) -> str:
    with urllib.request.urlopen(f"{url}/", timeout=10) as resp:
        for header in resp.headers.get_all("Set-Cookie") or []:
            if header.startswith("_streamlit_xsrf="):
                return header.split(";", 1)[0].split("=", 1)[1]
    return "no-xsrf-cookie-was-set"  # the gate answers before Streamlit's XSRF check either way


def _put(url: str, session_id: str, xsrf: str, size: int) -> tuple[int, str]:
    boundary = "fer29boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + b"\0" * size + f"\r\n--{boundary}--\r\n".encode()
    req = urllib.request.Request(f"{url}/_stcore/upload_file/{session_id}/f1", data=body, method="PUT", headers={
        "Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": xsrf,
        "Cookie": f"_streamlit_xsrf={xsrf}"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


@pytest.mark.slow
def test_no_upload_before_the_token_and_no_metrics(locked_server):
    """A session that has not given the token cannot park files in server memory; metrics are closed."""
    url, port, log = locked_server
    session_id, elements = asyncio.run(visit(port, "video"))
    assert session_id and _prompted(elements)
    status, text = _put(url, session_id, _xsrf(url), 1_000_000)
    assert status == 403 and "access token was not given" in text, (status, text)  # main: 204, file held
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{url}/_stcore/metrics", timeout=10)
    assert err.value.code == 404
    assert session_id not in log.read_text(errors="replace")  # session ids stay out of the log


@pytest.mark.slow
def test_every_page_sets_an_httponly_browser_cookie(locked_server):
    url, port, _ = locked_server
    asyncio.run(visit(port, ""))  # the first page run installs the gate
    with urllib.request.urlopen(f"{url}/history", timeout=10) as resp:
        cookies = [c for c in resp.headers.get_all("Set-Cookie") or [] if c.startswith("fer_browser=")]
    assert cookies and "HttpOnly" in cookies[0] and "SameSite=Strict" in cookies[0]
