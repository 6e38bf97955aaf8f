"""Home page (the app's default page, through app.py): model summary, figures, and clear errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from conftest import assert_clean, streamlit_server, texts
from factories import write_model_side_files

from fer_core.core.labels import CLASSES
from fer_core.core.model_folder import CONFIG_NAME, SERVED_NAME
from fer_core.app.model_summary import class_notes
from ui.guard import DISCLAIMER


def test_home_with_a_model_shows_its_figures_in_plain_words(open_page, tiny_model_dir, monkeypatch):
    side = write_model_side_files(tiny_model_dir)
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page()
    assert_clean(at)
    assert not at.error
    assert DISCLAIMER in texts(at)
    assert "16x16" in texts(at)
    served = side["metrics"]["served"]
    notes = class_notes(served)
    shown = {m.label: m.value for m in at.metric}
    assert shown == {"Right answers": f"{round(served['accuracy'] * 100)} of 100",
                     "Recognised best": notes[0].label, "Missed most often": notes[-1].label}
    assert "`fer` package" in texts(at) and "61 of 100" in texts(at)  # the card's figure
    # no server folder, file names or library terms for a visitor
    for word in (str(tiny_model_dir), "model.tflite", "keras", "EfficientNet", "Macro-F1", "recall"):
        assert word not in texts(at), word


def test_home_without_metrics_says_so(open_page, tiny_model_dir, monkeypatch):
    cfg = json.loads((tiny_model_dir / CONFIG_NAME).read_text())
    (tiny_model_dir / CONFIG_NAME).write_text(json.dumps({**cfg, "placeholder": True}))
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_dir))
    at = open_page()
    assert_clean(at)
    assert not at.error and not at.metric
    assert "no evaluation figures" in texts(at)
    assert "placeholder" in texts(at)


@pytest.mark.parametrize("breakage, message", [
    ("empty", "model_config.json is missing"),
    ("missing_dir", "does not exist"),
    ("bad_json", "not valid JSON"),
    ("wrong_classes", "this app expects"),
    ("corrupt_tflite", "could not be loaded"),
    ("missing_tflite", "is missing"),
])
def test_broken_model_gives_a_clear_message_not_a_traceback(open_page, tiny_model_dir, tmp_path, monkeypatch,
                                                             breakage, message):
    d = tiny_model_dir
    if breakage == "empty":
        d = tmp_path / "empty"
        d.mkdir()
    elif breakage == "missing_dir":
        d = tmp_path / "nowhere"
    elif breakage == "bad_json":
        (d / CONFIG_NAME).write_text('{"input_size": 16, ')
    elif breakage == "wrong_classes":
        (d / CONFIG_NAME).write_text(json.dumps({"input_size": 16, "classes": ["a", "b"]}))
    elif breakage == "corrupt_tflite":
        (d / SERVED_NAME).write_bytes(b"\x00garbage" * 500)
    elif breakage == "missing_tflite":
        (d / SERVED_NAME).unlink()
    monkeypatch.setenv("FER_MODEL_DIR", str(d))
    at = open_page()
    assert_clean(at)
    assert len(at.error) == 1
    err = at.error[0].value
    assert message in err and "FER_MODEL_DIR" in err  # what is wrong, and how to fix it
    assert "Traceback" not in texts(at)
    assert DISCLAIMER in texts(at)  # the page still renders around the error
    assert [p.label for p in at.get("page_link")][:2] == ["Live webcam", "Photo"]


PAGES = ["pages/home.py", "pages/live.py", "pages/photo.py", "pages/video.py", "pages/explain.py",
         "pages/history.py", "pages/model.py"]


def test_router_lists_every_page_and_each_shows_the_notice(open_page, tiny_model_files, monkeypatch, repo_root):
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_files))
    app_src = (repo_root / "app.py").read_text()
    assert [p for p in PAGES if f'"{p}"' in app_src] == PAGES
    # the live page's streamlit-webrtc component needs a real server session (AppTest mocks the
    # runtime), so its notice is checked in the browser test below
    for page in (p for p in PAGES if p != "pages/live.py"):
        at = open_page(page)
        assert_clean(at)
        assert DISCLAIMER in at.caption[0].value, page  # the notice heads every page


def test_home_says_what_the_model_was_trained_on(open_page, tiny_model):
    """FER+ votes and CK+ posed faces from an ImageNet start, not just "trained on FER-2013"; the number of
    expressions is the loaded model's."""
    at = open_page()
    assert_clean(at)
    intro = at.markdown[0].value
    assert "FER+" in intro and "ten people" in intro and "CK+" in intro and "ImageNet" in intro
    assert "on FER-2013" not in intro and f"which of {len(CLASSES)} facial expressions" in intro


def test_icons_need_no_system_font_and_fetch_nothing(open_page, tiny_model, repo_root, monkeypatch):
    """Emoji icons are empty boxes without an emoji font, and a ':material/...' favicon is fetched from
    fonts.gstatic.com: menu icons are Material Symbols (a font Streamlit serves itself) and the favicon
    is a PNG file the app serves. (The browser test records every request of every page.)"""
    import ast

    import streamlit

    favicons: list = []
    real = streamlit.set_page_config
    monkeypatch.setattr(streamlit, "set_page_config",
                        lambda *a, **kw: (favicons.append(kw.get("page_icon")), real(*a, **kw))[1])
    assert_clean(open_page())
    assert len(favicons) == 1 and Path(favicons[0]).is_file(), favicons
    assert Path(favicons[0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    icons = [kw.value.value for path in [repo_root / "app.py", *sorted((repo_root / "pages").glob("*.py"))]
             for node in ast.walk(ast.parse(path.read_text())) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "icon" and isinstance(kw.value, ast.Constant)]
    assert len(icons) >= 7  # one per page in the menu, and the page links
    assert not [i for i in icons if not re.fullmatch(r":material/[a-z0-9_]+:", i)], icons


@pytest.fixture
def served_app(repo_root, tiny_model_files, tmp_path):
    """A fresh `streamlit run app.py` server process on a free local port."""
    env = {"FER_MODEL_DIR": str(tiny_model_files), "FER_DB_URL": f"sqlite:///{tmp_path / 'sessions.db'}"}
    with streamlit_server(repo_root, env) as (url, _):
        yield url


@pytest.mark.browser
@pytest.mark.slow
def test_deep_link_on_a_fresh_server_goes_through_the_router(served_app, chromium_path):
    """The first visit of a new server process is /model, not /: it must still get the router."""
    from conftest import skip_or_fail

    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(f"{served_app}/model")
            page.get_by_role("heading", name="Model", exact=True).wait_for(timeout=60_000)
            page.get_by_text(DISCLAIMER[:40]).first.wait_for(timeout=30_000)  # the Model page quotes it too
            nav = page.get_by_test_id("stSidebarNav").inner_text()
            for title in ("Home", "Live webcam", "Photo", "Video", "Explain (Grad-CAM)", "History", "Model"):
                assert title in nav
            assert "common" not in nav and "app" not in nav.split()  # no pages-folder menu
            for path in ("live", "history", "photo", ""):
                page.goto(f"{served_app}/{path}")
                page.get_by_text(DISCLAIMER[:40]).first.wait_for(timeout=60_000)
                assert page.get_by_test_id("stException").count() == 0, path
        finally:
            browser.close()
