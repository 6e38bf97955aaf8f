"""Shared fixtures: repository paths, the shared datasets, browser availability, a private database.

pylibsrtp is imported first, before anything can import TensorFlow: TensorFlow followed by
pylibsrtp (aiortc, streamlit-webrtc) segfaults the whole test process
(../shared/notes/tensorflow-aiortc-import-order.md).
"""

from __future__ import annotations

import importlib.util

if importlib.util.find_spec("pylibsrtp") is not None:
    import pylibsrtp  # noqa: F401  (must precede any TensorFlow import)

import os
import shutil
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FER_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
NO_DATA_REASON = f"datasets not found at {SHARED_DATA} (see ../shared/data/README.md; set FER_SHARED_DATA to move it)"
REQUIRE_BROWSER = os.environ.get("FER_REQUIRE_BROWSER", "") not in ("", "0", "false", "no")

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


@pytest.fixture(scope="session")
def fer2013_dir(shared_data: Path) -> Path:
    p = shared_data / "fer2013"
    if not p.is_dir():
        pytest.skip(f"FER-2013 not found at {p}")
    return p


@pytest.fixture(scope="session")
def ferplus_dir(shared_data: Path) -> Path:
    p = shared_data / "ferplus"
    if not p.is_dir():
        pytest.skip(f"FER+ not found at {p}")
    return p


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Path of a Chromium binary for browser tests (Debian's package: apt-get install chromium)."""
    for cand in (os.environ.get("FER_CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium"),
                 shutil.which("chromium-browser")):
        if cand and os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    skip_or_fail("Chromium not installed (apt-get install -y chromium); browser tests need it")
    raise AssertionError("unreachable")


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite session database for one test."""
    return f"sqlite:///{tmp_path / 'sessions.db'}"
