"""Upload limits: one place for every bound on what an upload may cost, each overridable by env.

Uploads are untrusted and one server is shared by every visitor, so each limit caps memory or CPU
that a single upload could otherwise take (see the README's Configuration table). Read from the
environment on every call, so a test or an operator can change one without code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

from fer_core.core.environ import env_text


class LimitsConfigError(ValueError):
    """An FER_MAX_* variable is not a positive number; str() names the variable for the operator."""


@dataclass(frozen=True)
class VideoLimits:
    """Per-clip bounds as the video engine takes them (``Limits.video()`` gives the configured ones)."""

    max_duration_s: float = 600.0
    max_side: int = 4096  # long side of every decoded frame
    max_frames: int | None = None
    max_bytes: int | None = None
    max_decode_work: int | None = None  # decoded pixels summed over frames


@dataclass(frozen=True)
class Limits:
    """Every upload limit; the defaults fit a 2-core server with a few GB of memory."""

    image_pixels: int = 50_000_000  # one photo (width x height)
    image_decode_work: int = 1_000_000_000  # one photo: pixels x JPEG scans (about 1 s of decoding)
    upload_files: int = 10  # photos in one upload
    upload_pixels: int = 100_000_000  # all photos of one upload together
    faces_per_image: int = 32  # faces analysed per photo or video frame (the largest are kept)
    video_seconds: float = VideoLimits.max_duration_s
    video_side: int = VideoLimits.max_side  # long side of every decoded video frame
    video_frames: int = 36_000  # 10 minutes at 60 fps
    video_decode_work: int = 37_324_800_000  # decoded pixels x frames: 10 minutes of 1080p at 30 fps
    upload_session_mb: int = 250  # upload bytes one browser session holds (stored and arriving) at once
    upload_server_mb: int = 500  # the same for every session together (RSS is about this plus ~0.5 GB)

    def video(self) -> VideoLimits:
        """The same limits as the video engine takes them."""
        return VideoLimits(max_duration_s=self.video_seconds, max_side=self.video_side,
                           max_frames=self.video_frames, max_decode_work=self.video_decode_work)


# The environment variable of each limit (README: Configuration).
ENV_VARS: dict[str, str] = {
    "image_pixels": "FER_MAX_IMAGE_PIXELS",
    "image_decode_work": "FER_MAX_IMAGE_DECODE_WORK",
    "upload_files": "FER_MAX_UPLOAD_FILES",
    "upload_pixels": "FER_MAX_UPLOAD_PIXELS",
    "faces_per_image": "FER_MAX_FACES",
    "video_seconds": "FER_MAX_VIDEO_SECONDS",
    "video_side": "FER_MAX_VIDEO_SIDE",
    "video_frames": "FER_MAX_VIDEO_FRAMES",
    "video_decode_work": "FER_MAX_VIDEO_DECODE_WORK",
    "upload_session_mb": "FER_MAX_UPLOAD_SESSION_MB",
    "upload_server_mb": "FER_MAX_UPLOAD_SERVER_MB",
}


def _parse(name: str, text: str, kind: type) -> int | float:
    try:
        value = float(text.replace("_", "").strip())
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise LimitsConfigError(f"{name} must be a positive number, not {text!r}.")
    return int(value) if kind is int else value


def load_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """Limits with any FER_MAX_* variable of ``environ`` (default: os.environ) applied."""
    defaults = Limits()
    values = {}
    for f in fields(Limits):
        text = env_text(ENV_VARS[f.name], environ)
        kind = type(getattr(defaults, f.name))
        values[f.name] = _parse(ENV_VARS[f.name], text, kind) if text else getattr(defaults, f.name)
    return Limits(**values)
