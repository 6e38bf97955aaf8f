"""Run the dashboard and a headless Chromium together in a loopback-only network namespace.

What ../shared/notes/webrtc-e2e.md found necessary for the live page's WebRTC stream:
- a namespace with only loopback, so ICE never offers (and tests never use) real interfaces;
- a second loopback address, 127.0.0.2, because aioice skips 127.0.0.1 when gathering;
- Chromium flags for loopback peer connections and a fake camera fed by a Y4M file;
- START retried, because streamlit-webrtc sometimes resets a fresh connection as stale.

The namespace is held open by a sleeping process; the server and the browser join it with
nsenter. Playwright drives the browser over a pipe, so the test process itself stays outside.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"

CHROMIUM_FLAGS = [
    "--allow-loopback-in-peer-connection",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


class HarnessUnavailable(RuntimeError):
    """This machine cannot run the end-to-end harness (no namespaces, tools missing); str() says why."""


def missing_tools() -> list[str]:
    return [t for t in ("unshare", "nsenter", "ip") if shutil.which(t) is None]


class LoopbackNamespace:
    """A network namespace holding only lo (127.0.0.1 and 127.0.0.2), kept alive by `sleep`."""

    def __init__(self) -> None:
        if missing := missing_tools():
            raise HarnessUnavailable(f"{', '.join(missing)} not installed (util-linux, iproute2)")
        root = os.geteuid() == 0
        unshare = ["unshare", "-n"] if root else ["unshare", "-r", "-n"]
        script = "ip link set lo up && ip addr add 127.0.0.2/8 dev lo && echo ready && exec sleep infinity"
        self.proc = subprocess.Popen([*unshare, "sh", "-c", script], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            try:
                err = self.proc.communicate(timeout=5)[1]
            except subprocess.TimeoutExpired:
                err = ""
            self.close()
            raise HarnessUnavailable(f"cannot create a loopback-only network namespace: {err.strip() or line}")
        pid = str(self.proc.pid)
        self.enter = ["nsenter", "-t", pid, "-n"] if root else \
            ["nsenter", "-t", pid, "-U", "-n", "--preserve-credentials"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class AppServer:
    """`streamlit run app.py` inside the namespace; its log goes to test-artifacts/."""

    def __init__(self, ns: LoopbackNamespace, port: int, log_path: Path, env: dict[str, str]) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "w")
        cmd = [*ns.enter, sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               "--server.address", "127.0.0.1", "--server.headless", "true",
               "--browser.gatherUsageStats", "false", "--logger.level", "info"]
        self.proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=self._log, stderr=subprocess.STDOUT, env=env)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 90.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            if "You can now view your Streamlit app" in self.log() or "URL:" in self.log():
                return
            time.sleep(0.3)
        raise TimeoutError(f"the server did not start within {timeout:.0f} s:\n{self.log()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


def chromium_wrapper(ns: LoopbackNamespace, chromium: str, directory: Path) -> Path:
    """An executable that starts Chromium inside the namespace (Playwright's pipe fds are inherited)."""
    path = directory / "chromium-in-netns"
    path.write_text("#!/bin/sh\nexec " + " ".join(ns.enter) + f" {chromium} \"$@\"\n")
    path.chmod(0o755)
    return path


@dataclass(frozen=True)
class Y4M:
    path: Path
    width: int
    height: int
    fps: int
    n_frames: int


def write_y4m(path: Path, frames: list[np.ndarray], fps: int = 30) -> Y4M:
    """RGB frames as a Y4M file (4:2:0) for --use-file-for-fake-video-capture; Chromium loops it."""
    h, w = frames[0].shape[:2]
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for rgb in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YUV_I420).tobytes())
    return Y4M(path, w, h, fps, len(frames))


def face_frames(n: int = 30, width: int = 320, height: int = 240,
                face_size: int = 100) -> tuple[list[np.ndarray], str]:
    """Frames with one face that the live page's detector finds: a FER-2013 face pasted into a
    scene when ../shared/data is there, else a drawn face. The face drifts a little, like a person."""
    from fer_core.engine.faces import DEFAULT_DETECTOR, make_detector
    from fer_core.bench.scenes import detected_scene, load_fer_faces

    detector = make_detector(DEFAULT_DETECTOR, "live")
    real = bool(load_fer_faces(1))
    frame, _ = detected_scene(detector, 1, width, height, face_size=face_size, seed=3, real=real or None)
    frames = [np.roll(frame, shift=int(width / 100 * np.sin(2 * np.pi * i / n)), axis=1) for i in range(n)]
    return frames, "FER-2013 face" if real else "drawn face"


REQUIRE_BROWSER = os.environ.get("FER_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")


def skip_or_fail(reason: str) -> None:
    """Skip with the reason; with FER_REQUIRE_BROWSER=1 (CI) a missing piece fails instead."""
    import pytest

    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (FER_REQUIRE_BROWSER=1 requires the browser tests to run)", pytrace=False)
    pytest.skip(reason)


# ----------------------------------------------------------------------------- page helpers
WEBRTC_IFRAME = 'iframe[title="streamlit_webrtc.component.webrtc_streamer"]'

# The camera's first rows carry a marker (white block left, black block right; see mark_camera_frame):
# the page mirrors what it analyses, so a frame showing black left and white right came back annotated,
# while camera frames sent back before the first analysed one show the marker as sent. The probe notes
# (in the component's frame, one clock) each START press and the first annotated frame it displays.
MARKER = 24  # px, the side of each block in the camera's picture
_FIRST_FRAME_PROBE_JS = """() => {
  if (window.__firstFrame) return;
  const t = window.__firstFrame = {starts: [], first: null, video: null};
  document.addEventListener('click', e => {
    const b = e.target.closest('button');
    if (b && /START/i.test(b.innerText)) t.starts.push(performance.now());
  }, true);
  const c = document.createElement('canvas');
  c.width = 32; c.height = 24;
  const g = c.getContext('2d', {willReadFrequently: true});
  const watch = v => {
    const step = () => {
      if (t.first !== null) return;
      if (t.video === null) t.video = performance.now();
      g.drawImage(v, 0, 0, 32, 24);
      const d = g.getImageData(0, 0, 32, 2).data;
      const left = d[(32 + 1) * 4], right = d[(32 + 30) * 4];
      if (left < 60 && right > 190) t.first = performance.now(); else v.requestVideoFrameCallback(step);
    };
    v.requestVideoFrameCallback(step);
  };
  setInterval(() => document.querySelectorAll('video').forEach(v => {
    if (!v.__watched) { v.__watched = true; watch(v); }
  }), 50);
}"""


def mark_camera_frame(rgb: np.ndarray) -> np.ndarray:
    """The camera frame with the marker the first-frame probe reads: white block top left, black top right."""
    out = rgb.copy()
    out[:MARKER, :MARKER] = 255
    out[:MARKER, -MARKER:] = 0
    return out


def watch_first_annotated_frame(page) -> None:
    """Start the probe in the live component's frame, before START is pressed."""
    page.frame_locator(WEBRTC_IFRAME).locator("body").evaluate(_FIRST_FRAME_PROBE_JS)


def first_frames_s(page) -> dict[str, float | None]:
    """Seconds from the START press that played to the first frame of video shown (the connection is
    made) and to the first annotated one (None: not yet)."""
    t = page.frame_locator(WEBRTC_IFRAME).locator("body").evaluate("() => window.__firstFrame") or {}
    out: dict[str, float | None] = {"first_video_frame_s": None, "first_annotated_frame_s": None}
    starts = [s for s in t.get("starts", []) if t.get("first") is not None and s <= t["first"]]
    if starts:
        start = max(starts)
        out["first_annotated_frame_s"] = round((t["first"] - start) / 1000.0, 3)
        if t.get("video") is not None and t["video"] >= start:
            out["first_video_frame_s"] = round((t["video"] - start) / 1000.0, 3)
    return out


_METRICS_JS = """() => Object.fromEntries([...document.querySelectorAll('[data-testid="stMetric"]')].map(m => [
    (m.querySelector('[data-testid="stMetricLabel"]') || m).innerText.trim(),
    (m.querySelector('[data-testid="stMetricValue"]') || m).innerText.trim()]))"""

_CHARTS_JS = """() => [...document.querySelectorAll('.js-plotly-plot')].map(el => ({
    title: ((el.layout && el.layout.title && (typeof el.layout.title === 'object' ? el.layout.title.text
                                                                                : el.layout.title)) || '')
           .replace(/<[^>]*>/g, ''),
    traces: (el.data || []).length,
    points: Math.max(0, ...(el.calcdata || []).map(c => c.length))}))"""


def metrics(page) -> dict[str, str]:
    """Streamlit metrics on the page, label -> shown value."""
    return page.evaluate(_METRICS_JS)


def metric_number(page, label: str) -> float:
    text = metrics(page).get(label, "")
    num = "".join(ch for ch in text.split("/")[0] if ch.isdigit() or ch == ".")
    return float(num) if num else 0.0


def charts(page) -> list[dict]:
    """Plotly charts drawn in the page: title, number of traces, most points plotted in one trace.

    Charts below the fold may be drawn only once scrolled to, so each is scrolled into view first.
    """
    boxes = page.locator('[data-testid="stPlotlyChart"]')
    for i in range(boxes.count()):
        try:
            boxes.nth(i).scroll_into_view_if_needed(timeout=5_000)
        except Exception:  # re-rendered while scrolling: the next poll sees it
            pass
    return page.evaluate(_CHARTS_JS)


def wait_until(predicate, timeout: float, interval: float = 0.5) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


_IDLE_JS = """() => !!document.querySelector('[data-testid="stAppViewContainer"]')
    && !document.querySelector('[data-testid="stStatusWidget"]')
    && !document.querySelector('[data-testid="stSkeleton"]')"""


def wait_idle(page, timeout: float = 120.0) -> None:
    """Until the script run has finished and the page is drawn (no 'Running...', no skeletons),
    seen twice half a second apart: a rerun can start right after the first one ends."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        page.wait_for_function(_IDLE_JS, timeout=max(1.0, end - time.monotonic()) * 1000)
        time.sleep(0.5)
        if page.evaluate(_IDLE_JS):
            return
    raise TimeoutError(f"the page was still running after {timeout:.0f} s")


def stream_until(page, condition, timeout: float = 90.0, max_starts: int = 5, per_start: float = 45.0) -> int:
    """Keep the live stream playing until ``condition()`` holds; returns how often START was pressed.

    streamlit-webrtc sometimes resets a just-made connection as stale (about 1 run in 4 on these
    machines, ../shared/notes/webrtc-e2e.md): START reappears, sometimes after frames already
    flowed. Whenever the stream is not playing, press STOP (if shown) and START again.
    """
    frame = page.frame_locator(WEBRTC_IFRAME)
    start = frame.get_by_role("button", name="START")
    stop = frame.get_by_role("button", name="STOP")
    starts = 0
    end = time.monotonic() + timeout
    last_start = -1e9
    while time.monotonic() < end:
        if condition():
            return starts
        idle = start.is_visible() and not stop.is_visible()
        stalled = time.monotonic() - last_start > per_start and metrics(page).get("Frames analysed per second", "-") == "-"
        if idle or (stalled and starts):
            if starts >= max_starts:
                break
            if stop.is_visible():
                stop.click()
                start.wait_for(timeout=15_000)
            start.click(timeout=30_000)
            starts += 1
            last_start = time.monotonic()
        time.sleep(0.5)
    raise AssertionError(f"live stream condition not met after {starts} START presses: {metrics(page)}")


def stop_stream(page) -> None:
    """Press STOP; a stream that streamlit-webrtc already reset as stale (START showing) is stopped too."""
    frame = page.frame_locator(WEBRTC_IFRAME)
    stop = frame.get_by_role("button", name="STOP")
    start = frame.get_by_role("button", name="START")
    from playwright.sync_api import TimeoutError as ClickTimeout

    end = time.monotonic() + 60
    while time.monotonic() < end:
        if stop.is_visible():
            try:
                stop.click(timeout=15_000)
                return
            except ClickTimeout:  # seen once on a CPU-starved machine: the click never landed; press again
                continue
        if start.is_visible():
            return
        time.sleep(0.3)
    raise AssertionError("neither STOP nor START is shown on the live page")


def screenshot(page, name: str, settle: bool = True) -> Path:
    """A full-page screenshot, from the top, into test-artifacts/screenshots/<name>.png."""
    if settle:
        wait_idle(page)
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { if (e.scrollTop) e.scrollTop = 0; })")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
