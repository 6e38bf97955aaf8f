"""The server gate on a real server on loopback (raw websocket and HTTP clients, no browser):
simultaneous first visits, uploads before the token, the upload budgets, /_stcore/metrics, the
browser cookie (issue 29)."""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request

import pytest

from conftest import streamlit_server

from fer_core.bench.uploads import app_server, open_session, put_upload, xsrf_token
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


@pytest.mark.slow
def test_no_upload_before_the_token_and_no_metrics(locked_server):
    """A session that has not given the token cannot park files in server memory; metrics are closed."""
    url, port, log = locked_server
    session_id, elements = asyncio.run(visit(port, "video"))
    assert session_id and _prompted(elements)
    status, text = put_upload(url, session_id, xsrf_token(url), 1_000_000)
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


@pytest.mark.slow
def test_upload_budgets_per_session_and_per_server_on_a_real_server(repo_root, tiny_model_files, tmp_path):
    """Uploads past a session's or the server's budget are refused before their bodies are held, and
    a closed session's files no longer count (nine 100 MiB files took 1 GB on main and kept it)."""
    env = {"FER_MODEL_DIR": str(tiny_model_files), "FER_DB_URL": f"sqlite:///{tmp_path / 'sessions.db'}",
           "FER_MAX_UPLOAD_SESSION_MB": "2", "FER_MAX_UPLOAD_SERVER_MB": "3"}
    mb = 2**20

    async def scenario(url: str, port: int) -> list[tuple[int, str]]:
        xsrf = xsrf_token(url)
        put = lambda sid, size, fid: asyncio.to_thread(put_upload, url, sid, xsrf, size, fid)  # noqa: E731
        out = []
        async with open_session(port) as b:
            async with open_session(port) as a:
                out += [await put(a, int(1.5 * mb), "a1"), await put(a, mb, "a2")]  # a: 2.5 MB > 2 MB
                out += [await put(b, mb, "b1"), await put(b, int(0.75 * mb), "b2")]  # everyone: 3.25 > 3 MB
            await asyncio.sleep(1.0)  # a's tab closed: its 1.5 MB are let go
            out.append(await put(b, int(0.75 * mb), "b3"))
        return out

    with app_server(env, repo=repo_root) as (url, port, _):
        (a1, a2, b1, b2, b3) = asyncio.run(scenario(url, port))
    assert a1[0] == 204 and b1[0] == 204 and b3[0] == 204, (a1, b1, b3)
    assert a2 == (413, "Upload refused: this session's uploads would exceed 2 MB."), a2
    assert b2 == (413, "Upload refused: the server's uploads would exceed 3 MB."), b2
