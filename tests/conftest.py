"""Shared fixtures: repository paths, the shared datasets, browser availability, a private database.

pylibsrtp is imported first, before anything can import TensorFlow: TensorFlow followed by
pylibsrtp (aiortc, streamlit-webrtc) segfaults the whole test process
(../shared/notes/tensorflow-aiortc-import-order.md).
"""

from __future__ import annotations

import contextlib
import importlib.util

if importlib.util.find_spec("pylibsrtp") is not None:
    import pylibsrtp  # noqa: F401  (must precede any TensorFlow import)

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
# Where the public datasets come from and where the data tests look for them (users have no ../shared).
FER2013_SOURCE = ("FER-2013 from Kaggle (https://www.kaggle.com/datasets/msambare/fer2013), unzipped so that "
                  f"{SHARED_DATA / 'fer2013'} holds train/ and test/")
FERPLUS_SOURCE = ("FER+ from Microsoft's FERPlus repository (https://github.com/microsoft/FERPlus): its "
                  "FER2013Train/, FER2013Valid/ and FER2013Test/ folders (label.csv plus the images its "
                  f"generate_training_data.py writes from fer2013.csv) in {SHARED_DATA / 'ferplus'}")
NO_DATA_REASON = (f"the public datasets are not at {SHARED_DATA}. To run these tests, put {FER2013_SOURCE}, "
                  f"and {FERPLUS_SOURCE}; or set FER_SHARED_DATA to the folder holding fer2013/ and ferplus/")
REQUIRE_BROWSER = os.environ.get("FER_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")

# Tests see the full message of an unexpected exception (users get only its type: .streamlit/config.toml).
os.environ.setdefault("STREAMLIT_CLIENT_SHOW_ERROR_DETAILS", "full")

# No test may write to the user's session database: unless a test database is named
# (FER_TEST_DB_URL, e.g. a PostgreSQL URL in CI), every test and every server a test starts
# uses a throw-away SQLite file.
_TEST_DB_DIR = tempfile.mkdtemp(prefix="fer-test-db-")
os.environ["FER_DB_URL"] = os.environ.get("FER_TEST_DB_URL") or f"sqlite:///{_TEST_DB_DIR}/sessions.db"


def pytest_sessionfinish(session, exitstatus) -> None:
    shutil.rmtree(_TEST_DB_DIR, ignore_errors=True)


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked ``data`` skip, with the reason, when ../shared/data is absent."""
    if SHARED_DATA.is_dir():
        return
    skip = pytest.mark.skip(reason=NO_DATA_REASON)
    for item in items:
        if "data" in item.keywords:
            item.add_marker(skip)


def skip_or_fail(reason: str) -> None:
    """Skip with ``reason``; under FER_REQUIRE_BROWSER=1 (CI) a missing browser is a failure."""
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} (FER_REQUIRE_BROWSER=1 requires it)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data, or a clean skip naming where it was looked for."""
    if not SHARED_DATA.is_dir():
        pytest.skip(NO_DATA_REASON)
    return SHARED_DATA


def _dataset_dir(shared_data: Path, name: str, where_to_get: str) -> Path:
    """One dataset under ../shared/data, or a clean skip saying where to get it."""
    p = shared_data / name
    if not p.is_dir():
        pytest.skip(f"{name} not found at {p}: get {where_to_get}")
    return p


@pytest.fixture(scope="session")
def fer2013_dir(shared_data: Path) -> Path:
    return _dataset_dir(shared_data, "fer2013", FER2013_SOURCE)


@pytest.fixture(scope="session")
def ferplus_dir(shared_data: Path) -> Path:
    return _dataset_dir(shared_data, "ferplus", FERPLUS_SOURCE)


@pytest.fixture(scope="session")
def ckplus_dir(shared_data: Path) -> Path:
    return _dataset_dir(shared_data, "ckplus48", "CK+ face crops as ../shared/data/README.md describes")


@pytest.fixture(scope="session")
def realphotos_dir(shared_data: Path) -> Path:
    return _dataset_dir(shared_data, "realphotos_dev", "the photos ../shared/data/README.md describes")


@contextlib.contextmanager
def streamlit_server(repo_root: Path, env: dict[str, str], log: Path | None = None):
    """A fresh `streamlit run app.py` on a free loopback port, healthy before it is yielded: (url, port)."""
    from fer_core.bench.uploads import app_server

    with app_server(env, log, repo=repo_root) as (url, port, _):
        yield url, port


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of a Chromium binary for browser tests (Debian's package: apt-get install chromium)."""
    for cand in (os.environ.get("FER_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    skip_or_fail("Chromium not installed (apt-get install -y chromium); browser tests need it")
    raise AssertionError("unreachable")


_HOLD_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN EXCLUSIVE")
conn.execute("CREATE TABLE IF NOT EXISTS _lock_probe (x)")  # takes the exclusive lock now
print("locked", flush=True)
sys.stdin.read()  # hold it until the test closes our stdin
"""


@contextlib.contextmanager
def locked_sqlite(path: Path):
    """Another process holding the SQLite file ``path`` exclusively locked (no reads, no writes)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "locked", proc.stderr.read()
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


# A file name that Markdown would show as a link and a remote image, plus HTML, Streamlit colour,
# LaTeX and a bare address that GitHub-flavoured Markdown links by itself.
HOSTILE_NAME = "[click me](https://evil.example/x)![](http://host/x.png)<b>b</b> :red[c] $d$ www.evil.example"
_MARKDOWN_KINDS = ("title", "header", "subheader", "markdown", "caption", "info", "warning", "error", "success",
                   "toast", "exception")


def rendered_markdown(source: str, keep_joiners: bool = False) -> tuple[str, list[str]]:
    """The text a reader sees and the active elements (links, images, HTML) of one Markdown source."""
    from markdown_it import MarkdownIt

    text, active = [], []
    for block in MarkdownIt("commonmark").parse(source):
        for tok in block.children or []:
            if tok.type in ("link_open", "image", "html_inline") or tok.type == "html_block":
                active.append(f"{tok.type} {tok.attrs or tok.content}")
            elif tok.type in ("text", "code_inline"):
                text.append(tok.content)
            elif tok.type in ("softbreak", "hardbreak"):
                text.append(" ")
        if block.type == "html_block":
            active.append(f"html_block {block.content}")
    # GitHub-flavoured Markdown also links bare addresses and e-mail addresses; an escaped ':', '.' or '@' stops it
    active += [f"bare address in {source!r}" for _ in re.finditer(r"[A-Za-z]://|www\.|\w@\w", source, re.I)]
    # Streamlit's own Markdown: ":red[text]" colours, "$x$" is LaTeX, unless the ':' or '$' is escaped
    active += [f"Streamlit markup {m.group()!r}" for m in
               re.finditer(r"(?<!\\):[a-z]+\[|(?<!\\)\$[^$]+(?<!\\)\$", source)]
    # fer_core.core.plain_text.plain puts an invisible WORD JOINER inside what Streamlit would rewrite: not seen
    return ("".join(text) if keep_joiners else "".join(text).replace("\u2060", "")), active


def assert_plain_text_on_page(at, text: str) -> None:
    """``text`` appears on the page as itself, and no element of the page renders a link, an image or HTML."""
    shown = []
    for kind in _MARKDOWN_KINDS:
        for el in at.get(kind):
            body = el.value if isinstance(el.value, str) else str(getattr(el, "message", "") or "")
            rendered, active = rendered_markdown(body)
            assert not active, f"{kind} renders {active}"
            shown.append(rendered)
    for img in at.image:  # image captions are Markdown too
        for caption in getattr(img, "captions", None) or []:
            rendered, active = rendered_markdown(caption)
            assert not active, f"image caption renders {active}"
            shown.append(rendered)
    assert any(text in s for s in shown), f"{text!r} is not shown as plain text in {shown}"


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite session database for one test."""
    return f"sqlite:///{tmp_path / 'sessions.db'}"


def build_tiny_model(directory: Path, input_size: int = 16, classes: tuple[str, ...] | None = None) -> Path:
    """A small real model in the shipped layout (model.keras, model.tflite, model_config.json).

    Random weights, so its predictions mean nothing; it lets app and engine tests load a real
    model in seconds without depending on whatever models/ holds.
    """
    from fer_core.core.labels import CLASSES
    from fer_core.core.model_folder import KERAS_NAME, SERVED_NAME, write_model_config
    from fer_core.core.tf_import import keras as _keras, tensorflow as _tf

    keras, tf = _keras(), _tf()
    classes = tuple(classes or CLASSES)
    directory.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(0)
    inp = keras.Input((input_size, input_size, 3), name="face")
    x = keras.layers.Rescaling(1 / 255.0)(inp)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(len(classes), activation="softmax", name="emotion")(x)
    model = keras.Model(inp, out, name="tiny_fer")
    model.save(directory / KERAS_NAME)
    (directory / SERVED_NAME).write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    write_model_config(directory, {"backbone": "tiny test CNN", "input_size": input_size, "classes": list(classes),
                                   "gradcam_layer": "conv", "served_model": SERVED_NAME, "keras_model": KERAS_NAME})
    return directory


@pytest.fixture(scope="session")
def tiny_model_files(tmp_path_factory) -> Path:
    """Read-only tiny model folder, built once per test session (~15 s: imports TensorFlow)."""
    return build_tiny_model(tmp_path_factory.mktemp("tiny_model"))


@pytest.fixture
def tiny_model_dir(tiny_model_files: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny model folder that a test may add files to or break."""
    d = tmp_path / "model"
    shutil.copytree(tiny_model_files, d)
    return d


@pytest.fixture(autouse=True)
def _apptest_uses_the_router(monkeypatch):
    """AppTest runs the app the way a served app runs after its first visit: through app.py.

    AppTest resets Streamlit's pages-directory flag before every run, so with our pages/ folder
    each AppTest run would start in Streamlit's old mode and run a page without app.py (no
    router, no notice). A served app leaves that mode on its first visit for good
    (ui/guard.py); this does the same for AppTest. Tested for real in
    test_app_home.py::test_deep_link_on_a_fresh_server_goes_through_the_router.
    """
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:
        return
    original = PagesManager.__init__

    def init(self, *args, **kwargs):
        original(self, *args, **kwargs)
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", init)


@pytest.fixture
def open_page():
    """Run the app through its router (app.py) on one page, as a browser visit would, with AppTest."""
    from streamlit.testing.v1 import AppTest

    def _open(page: str | None = None, timeout: float = 120):
        at = AppTest.from_file(str(REPO_ROOT / "app.py"), default_timeout=timeout)
        if page:
            at.switch_page(page)
        return at.run()

    return _open


# --------------------------------------------------------------- page tests (AppTest)
PAGE_TEXT_KINDS = ("markdown", "caption", "info", "warning", "error", "success")


def assert_clean(at) -> None:
    """The page ran to its end without an exception (the message names it)."""
    assert not at.exception, [e.value for e in at.exception]


def texts(at, *kinds: str) -> str:
    """The text of a page's elements of these kinds (default: every kind pages write prose with)."""
    return "\n".join(str(e.value) for k in (kinds or PAGE_TEXT_KINDS) for e in at.get(k))


@pytest.fixture
def image_widths(monkeypatch) -> list:
    """The width every st.image call of the page asks for ("content" is Streamlit's default)."""
    import streamlit
    from streamlit.delta_generator import DeltaGenerator

    seen: list = []
    original = DeltaGenerator.image

    def spy(self, image, *args, **kwargs):
        seen.append(kwargs.get("width", "content"))
        return original(self, image, *args, **kwargs)

    monkeypatch.setattr(DeltaGenerator, "image", spy)
    monkeypatch.setattr(streamlit, "image", lambda *a, **k: spy(streamlit._main, *a, **k))
    return seen


@pytest.fixture
def tiny_model(tiny_model_files: Path, monkeypatch) -> Path:
    """The app serves the tiny model (FER_MODEL_DIR), whatever models/ holds."""
    monkeypatch.setenv("FER_MODEL_DIR", str(tiny_model_files))
    return tiny_model_files


@pytest.fixture
def store(db_url: str, monkeypatch):
    """A fresh session database, the one the app under test uses too (FER_DB_URL)."""
    from fer_core.app.storage import SessionStore

    monkeypatch.setenv("FER_DB_URL", db_url)
    return SessionStore(db_url)


@pytest.fixture
def downloads(monkeypatch) -> dict[str, bytes]:
    """What a page hands to download buttons and media elements, by file name (else MIME type):
    AppTest keeps media in a private in-memory store, so this reads them on the way in."""
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    seen: dict[str, bytes] = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        seen[filename or mimetype] = path_or_data if isinstance(path_or_data, bytes) else path_or_data.encode()
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    return seen


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """The process's temp folder, private to the test: whatever an upload leaves there is seen."""
    d = tmp_path / "system-tmp"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    return d
