"""Who can reach the app: loopback by default (.streamlit/config.toml), and the optional shared
token (FER_ACCESS_TOKEN or secrets.toml) that app.py asks for before any page shows sessions."""

from __future__ import annotations

import socket
import tomllib

import pytest
from factories import make_records

from fer_core.app.storage import SessionStore
from ui.guard import APP_TITLE

TOKEN = "s3cret-shared-token"
PAGES = ["pages/home.py", "pages/live.py", "pages/photo.py", "pages/video.py", "pages/explain.py",
         "pages/history.py", "pages/model.py"]


@pytest.fixture
def one_session(db_url, monkeypatch) -> int:
    monkeypatch.setenv("FER_DB_URL", db_url)
    return SessionStore(db_url).save_session("video", make_records(["happy"] * 3), meta={"file_name": "private.mp4"})


@pytest.fixture
def locked(monkeypatch):
    monkeypatch.setenv("FER_ACCESS_TOKEN", TOKEN)
    monkeypatch.setattr("ui.guard.WRONG_TOKEN_DELAY_S", 0.0)


def texts(at) -> str:
    return "\n".join(str(e.value) for kind in ("title", "subheader", "markdown", "caption", "info", "warning",
                                              "error", "success") for e in at.get(kind))


def assert_closed(at) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert [t.value for t in at.title] == [APP_TITLE]  # the prompt, not the page
    assert at.text_input(key="_access_given").label == "Access token"
    assert not at.dataframe and not at.get("plotly_chart") and not at.get("download_button")
    assert "private.mp4" not in texts(at)
    assert not [b for b in at.button if "Delete" in str(b.label)]


def enter(at, token: str):
    at.text_input(key="_access_given").input(token)
    next(b for b in at.button if b.label == "Open the dashboard").click()
    return at.run()


def test_the_server_listens_on_loopback_by_default(repo_root):
    config = tomllib.loads((repo_root / ".streamlit" / "config.toml").read_text())
    address = config["server"]["address"]
    resolved = {info[4][0] for info in socket.getaddrinfo(address, 8501, proto=socket.IPPROTO_TCP)}
    assert resolved and resolved <= {"127.0.0.1", "::1"}, resolved


@pytest.mark.parametrize("page", PAGES)
def test_every_page_waits_for_the_token(open_page, one_session, locked, page):
    assert_closed(open_page(page))


def test_history_opens_with_the_right_token_only(open_page, one_session, locked):
    at = open_page("pages/history.py")
    at = enter(at, "not-the-token")
    assert_closed(at)
    assert "not right" in at.error[0].value
    at = enter(at, TOKEN)
    assert not at.exception and not at.error
    assert at.title[0].value == "History" and at.dataframe[0].value["id"].tolist() == [one_session]
    at.switch_page("pages/model.py").run()  # the browser session stays let in on other pages
    assert not at.exception and at.title[0].value != APP_TITLE and not at.get("text_input")


def test_token_from_secrets_toml(one_session, db_url, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from conftest import REPO_ROOT

    monkeypatch.delenv("FER_ACCESS_TOKEN", raising=False)
    at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=120)
    at.secrets["access_token"] = TOKEN
    at.switch_page("pages/history.py")
    assert_closed(at.run())
    at = enter(at, TOKEN)
    assert at.dataframe[0].value["id"].tolist() == [one_session]


def test_an_unusable_token_setting_keeps_the_app_closed(open_page, one_session, monkeypatch):
    monkeypatch.setenv("FER_ACCESS_TOKEN", "x7Q")
    at = open_page("pages/history.py")
    assert not at.exception
    assert "cannot be used, so the app stays closed" in at.error[0].value and "x7Q" not in at.error[0].value
    assert not at.dataframe and not at.get("text_input")


@pytest.mark.parametrize("page", [p for p in PAGES if p != "pages/model.py"])
def test_a_page_run_without_the_router_asks_for_the_token_itself(one_session, locked, page):
    """Streamlit's old pages mode runs a page without app.py (ui/guard.py): the page asks itself."""
    from streamlit.testing.v1 import AppTest

    from conftest import REPO_ROOT

    at = AppTest.from_file(str(REPO_ROOT / page), default_timeout=60).run()
    assert_closed(at)
    assert not at.get("file_uploader")


def test_a_session_id_without_the_browser_cookie_opens_nothing(open_page, one_session, locked, monkeypatch):
    """Another client presenting a let-in tab's session id reconnects to its session but not its browser."""
    browser = {"secret": "cookie-of-the-signed-in-browser"}
    monkeypatch.setattr("ui.guard._browser_secret", lambda: browser["secret"])
    at = enter(open_page("pages/history.py"), TOKEN)
    assert at.dataframe[0].value["id"].tolist() == [one_session]
    browser["secret"] = "someone-elses-cookie"
    at.run()
    assert_closed(at)


def test_wrong_tokens_from_one_address_are_throttled(open_page, one_session, locked, monkeypatch):
    from fer_core.app.access import Throttle
    from ui.guard import _throttle

    monkeypatch.setattr("fer_core.app.access.Throttle", lambda: Throttle(free=1, base_s=30.0))
    _throttle.clear()  # one per server process: start this test with a fresh one
    request_cleanup = _throttle.clear
    at = enter(open_page("pages/history.py"), "wrong-token-1")
    at = enter(at, "wrong-token-2")
    assert "Wait 30 seconds" in at.error[0].value
    at = enter(at, TOKEN)  # even the right token waits its turn
    assert "Too many wrong access tokens" in at.error[0].value
    assert_closed(at)
    request_cleanup()
