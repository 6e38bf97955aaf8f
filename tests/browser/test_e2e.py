"""End to end in a real headless Chromium against `streamlit run app.py`.

One server for the module, in a loopback-only network namespace (harness.py says why). The
first test opens the pages in both orders in that one server process: Explain (Grad-CAM, which
imports TensorFlow) first, then a live stream from a fake camera, then Explain again; TensorFlow
and aiortc's pylibsrtp in the wrong order would kill the server. Screenshots of every page go
to test-artifacts/screenshots/.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from harness import (
    ARTIFACTS, CHROMIUM_FLAGS, AppServer, HarnessUnavailable, LoopbackNamespace, charts, chromium_wrapper,
    face_frames, metric_number, metrics, screenshot, skip_or_fail, stop_stream, stream_until, wait_idle,
    wait_until, write_y4m,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The namespace is private to this server, so any port is free in it.
PORT = 8501


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    """The fake camera's Y4M, a short clip with a face, and the built-in sample photo."""
    from fer_core.samples import sample_photo_png
    from fer_core.video import write_test_clip

    d = tmp_path_factory.mktemp("e2e-media")
    # A small, 15 fps camera: the server decodes, analyses and re-encodes every frame, and the
    # suite shares 2 cores with whatever else runs.
    frames, _kind = face_frames(30)
    write_y4m(d / "camera.y4m", frames, fps=15)
    write_test_clip(d / "clip.mp4", frames[::3] * 2, fps=10)  # 2 s at 10 fps
    (d / "sample.png").write_bytes(sample_photo_png())
    return {"camera": d / "camera.y4m", "clip": d / "clip.mp4", "photo": d / "sample.png"}


@pytest.fixture(scope="module")
def app(chromium_path, tmp_path_factory, request):
    """(server, browser) in one loopback-only namespace; the server log is kept as an artefact."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("the Python playwright package is not installed (pip install playwright)")
    try:
        ns = LoopbackNamespace()
    except HarnessUnavailable as exc:
        skip_or_fail(str(exc))
    media = request.getfixturevalue("media")  # only once the harness can run
    tmp = tmp_path_factory.mktemp("e2e")
    env = {**os.environ, "FER_DB_URL": f"sqlite:///{tmp / 'sessions.db'}", "PYTHONUNBUFFERED": "1"}
    for var in ("HF_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CLOUDFLARE_TURN_KEY_ID",
                "CLOUDFLARE_TURN_KEY_API_TOKEN", "FER_ICE_SERVERS"):
        env.pop(var, None)  # nothing may send the server to third-party ICE services
    server = AppServer(ns, PORT, ARTIFACTS / "browser" / "server.log", env)
    try:
        server.wait_ready()
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(chromium_wrapper(ns, chromium_path, tmp)), headless=True,
                args=[*CHROMIUM_FLAGS, f"--use-file-for-fake-video-capture={media['camera']}"], timeout=60_000)
            try:
                yield server, browser
            finally:
                browser.close()
    finally:
        server.stop()
        ns.close()


def open_page(app, path: str):
    server, browser = app
    page = browser.new_page(viewport={"width": 1280, "height": 1800})
    page.set_default_timeout(60_000)
    page.goto(f"{server.url}/{path}")
    wait_idle(page)
    return page


def assert_server_alive(app) -> None:
    server, browser = app
    assert server.alive, f"the server died:\n{server.log()[-3000:]}"
    assert "Traceback" not in server.log(), server.log()[-3000:]
    page = browser.new_page()
    try:
        assert page.goto(f"{server.url}/_stcore/health").status == 200
    finally:
        page.close()


class Phases:
    """Prints how long each step took (shown with -s, and in a failing test's captured output)."""

    def __init__(self) -> None:
        self.t = time.monotonic()

    def __call__(self, what: str) -> None:
        now = time.monotonic()
        print(f"[e2e] {what}: {now - self.t:.1f} s", flush=True)
        self.t = now


def explain_sample(app, name: str | None = None) -> None:
    page = open_page(app, "explain")
    page.get_by_text("Sample photo", exact=True).click()
    page.get_by_text("Heatmap over the full image").wait_for(timeout=180_000)
    wait_idle(page)
    images = page.locator('[data-testid="stImage"] img')
    assert images.count() >= 3  # face, heatmap on the face, heatmap on the full image
    assert any("Class probabilities" in t for t in page.locator("h3").all_inner_texts())
    assert wait_until(lambda: [c["points"] for c in charts(page)] == [7], 30), charts(page)  # the 7 classes
    if name:
        screenshot(page, name)
    page.close()


@pytest.mark.timeout(600)
def test_pages_in_both_orders_live_stream_and_history(app):
    phase = Phases()
    # 1. Explain first: Grad-CAM imports TensorFlow in the server before the live page is used.
    explain_sample(app, "explain")
    assert_server_alive(app)
    phase("Explain with Grad-CAM (first use of TensorFlow)")

    # 2. Live after TensorFlow: the fake camera's frames reach the server and are analysed.
    page = open_page(app, "live")
    seen = {"faces": 0.0, "fps": 0.0}  # maxima: a stale reset may end a stream between two polls

    def analysed_with_faces_and_chart() -> bool:
        seen["faces"] = max(seen["faces"], metric_number(page, "Faces"))
        seen["fps"] = max(seen["fps"], metric_number(page, "Frames analysed per second"))
        return (metric_number(page, "Frames analysed") >= 30 and seen["faces"] >= 1 and seen["fps"] > 0
                and any("Emotion over time" in c["title"] and c["points"] >= 5 for c in charts(page)))

    starts = stream_until(page, analysed_with_faces_and_chart, timeout=240)
    phase(f"live stream until 30 frames, a face and the chart ({starts} START press(es))")
    screenshot(page, "live", settle=False)  # a playing page reruns its chart every second
    stop_stream(page)
    saved = page.get_by_text(re.compile(r"Saved as session #\d+"))
    saved.wait_for(timeout=120_000)  # the server finishes the stream first; slow on a busy machine
    session_id = int(re.search(r"#(\d+)", saved.inner_text()).group(1))
    page.close()
    phase("STOP until the session was saved")

    # 3. The stopped stream is a session on the History page.
    page = open_page(app, "history")
    page.get_by_text(f"Session #{session_id}: live").wait_for(timeout=60_000)
    screenshot(page, "history")
    page.close()
    phase("History lists the session")

    # 4. Explain again after the live stream: the other order, same server.
    explain_sample(app)
    assert_server_alive(app)
    phase("Explain again after the live stream")


def test_photo_upload_shows_faces_and_charts(app, media):
    page = open_page(app, "photo")
    page.locator('input[type="file"]').first.set_input_files(str(media["photo"]))
    page.get_by_text("Face 3:").wait_for(timeout=120_000)
    wait_idle(page)
    assert page.get_by_text("2 face(s)").count() >= 1
    assert wait_until(lambda: [c["points"] for c in charts(page)] == [7, 7, 7], 30), charts(page)  # one per face
    for label in ("Annotated PNG", "Results JSON", "Results CSV"):
        assert page.get_by_role("button", name=label).count() == 1
    screenshot(page, "photo")
    page.close()
    assert_server_alive(app)


def test_video_upload_shows_player_timeline_and_distribution(app, media):
    page = open_page(app, "video")
    page.locator('input[type="file"]').first.set_input_files(str(media["clip"]))
    page.get_by_text("Overall emotion of the clip:", exact=True).wait_for(timeout=180_000)
    wait_idle(page)
    assert metric_number(page, "Faces") >= 1, metrics(page)
    assert page.locator("video").count() == 1
    assert wait_until(lambda: sorted(c["title"].split(" (")[0] for c in charts(page))
                      == ["Emotion over time", "Share of time per emotion"], 30), charts(page)
    assert page.get_by_text(re.compile(r"Saved as session #\d+")).count() == 1
    screenshot(page, "video")
    page.close()
    assert_server_alive(app)


@pytest.mark.parametrize("path, name, heading", [("", "home", None), ("model", "model", "Model")])
def test_other_pages_render(app, path, name, heading):
    page = open_page(app, path)
    assert page.locator('[data-testid="stException"]').count() == 0
    if heading:
        assert heading in page.locator("h1").first.inner_text()
    screenshot(page, name)
    page.close()
    assert_server_alive(app)
