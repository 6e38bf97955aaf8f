"""A video upload on disk only while it is analysed, and what a saved session records about it.

Each upload gets its own temporary folder, named with the server's process id so that folders
left behind by a process that died mid-video (kill -9, out of memory) are found and removed by
the next upload. The upload is written under a safe version of its own name (so messages name
the user's file) in a subfolder of its own: the annotated output can never be the same file,
whatever the upload is called.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePath

from fer_core.core.limits import VideoLimits
from fer_core.analysis.video import Progress, VideoResult, analyze_video

TEMP_PREFIX = "fer-video-"
# A folder whose owner still runs is left alone unless it is older than any analysis can take
# (the process id may have been reused by an unrelated process).
STALE_AFTER_S = 24 * 3600
_OWNER = re.compile(rf"^{re.escape(TEMP_PREFIX)}(\d+)-")


def safe_name(name: str) -> str:
    """The upload's file name reduced to letters, digits, '.', '_' and '-': no folders, no markup."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", PurePath(str(name or "")).name)[-100:].lstrip(".")
    return cleaned or "video.mp4"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_stale_workspaces(root: str | os.PathLike | None = None, now: float | None = None) -> list[Path]:
    """Delete video temp folders whose process is gone, or that are older than STALE_AFTER_S; returns them."""
    base = Path(root if root is not None else tempfile.gettempdir())
    now = time.time() if now is None else now
    removed = []
    for d in base.glob(f"{TEMP_PREFIX}*"):
        try:
            if not d.is_dir() or d.is_symlink():
                continue
            m = _OWNER.match(d.name)
            owner = int(m.group(1)) if m else None
            old = now - d.stat().st_mtime > STALE_AFTER_S
            if owner == os.getpid() and not old:
                continue
            if not old and (owner is None or _alive(owner)):
                continue
        except OSError:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    return removed


@contextmanager
def workspace() -> Iterator[Path]:
    """A private temporary folder for one upload, removed afterwards (stale ones first)."""
    remove_stale_workspaces()
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-") as tmp:
        yield Path(tmp)


def analyze_upload(data: bytes, name: str, analyzer, *, limits: VideoLimits, sample_fps: float | None = None,
                   progress: Progress | None = None, threshold: float = 0.0,
                   smoothing: str = "none") -> tuple[VideoResult, bytes | None]:
    """Analyse uploaded video bytes; returns the result and the annotated mp4's bytes (None if no
    frame was written). Nothing is left on disk. VideoError carries a message for the user."""
    with workspace() as tmp:
        src = tmp / "upload" / safe_name(name)
        src.parent.mkdir()
        src.write_bytes(data)
        out = tmp / "annotated.mp4"
        result = analyze_video(src, analyzer, sample_fps=sample_fps, progress=progress, limits=limits,
                               annotated_out=out, threshold=threshold, smoothing=smoothing)
        return result, (out.read_bytes() if out.is_file() else None)


def session_meta(result: VideoResult, file_name: str, detector: str) -> dict:
    """What History keeps about an analysed clip besides its records (no video, no images)."""
    return {"file_name": file_name, "duration_s": result.duration_s, "fps": result.fps,
            "sample_fps": result.sample_fps, "detector": detector, "n_frames": result.n_frames}
