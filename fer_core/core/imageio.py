"""Decode uploaded image bytes safely into an RGB uint8 array.

Uploads are untrusted: only the formats the pages announce are opened (Pillow would also open
ICO, TIFF, JPEG 2000, ...), the size and shape are checked from the header before any pixel is
decoded (decompression bombs, 3 x 100,000 strips), progressive JPEGs with an absurd number of scans
are refused (each scan re-decodes the image: thousands take minutes), decoding work (pixels x
scans) is capped so one photo costs about a second at most, EXIF orientation is applied so faces
are upright, and every mode (gray, RGBA, palette, 16-bit, CMYK, ...) ends as 3-channel RGB.
"""

from __future__ import annotations

import io
import warnings
from contextlib import contextmanager

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fer_core.core.limits import Limits

DEFAULT_MAX_PIXELS = Limits.image_pixels
DEFAULT_MAX_DECODE_WORK = Limits.image_decode_work  # pixels x scans: about a second of decoding on one core
MAX_SIDE = 16_384  # browsers and Streamlit's JPEG re-encoding (65,535 px at most) stay well inside
MIN_SIDE = 8
MAX_JPEG_SCANS = 64  # a progressive JPEG has about 10; each scan costs a pass over the image
FORMATS = ("JPEG", "PNG", "WEBP", "BMP")  # what the upload widgets accept (jpg, jpeg, png, webp, bmp)


class ImageDecodeError(ValueError):
    """The bytes are not a usable image; str() is a message for the user."""


def _to_rgb(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I"):  # 16/32-bit gray: 16-bit range -> 8 bits, wider ranges rescaled
        a = np.asarray(im, dtype=np.float64)
        hi = float(a.max()) if a.size else 0.0
        if hi > 65535:
            lo = float(a.min())
            a = (a - lo) / max(hi - lo, 1.0) * 255.0
        elif hi > 255 or mode.startswith("I;16"):
            a = a / 257.0
        g = np.clip(a, 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im, dtype=np.float64)
        hi = float(np.nanmax(a)) if a.size else 1.0
        a = a * 255.0 if hi <= 1.0 else a
        g = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
        return np.repeat(g[:, :, None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(bg, rgba).convert("RGB"))
    return np.asarray(im.convert("RGB"))


def _scans(data: bytes) -> int:
    """Scans of a JPEG (0xFFDA markers; the entropy-coded data stuffs every 0xFF, so none hides there)."""
    return max(1, data.count(b"\xff\xda"))


def _open_checked(data: bytes, max_pixels: int, max_decode_work: int) -> Image.Image:
    """Open (header only) and refuse what is too large or too costly to decode."""
    if not data:
        raise ImageDecodeError("The file is empty.")
    im = Image.open(io.BytesIO(data), formats=FORMATS)
    w, h = im.size
    if w <= 0 or h <= 0:
        raise ImageDecodeError("The image has no pixels.")
    if w * h > max_pixels:
        raise ImageDecodeError(
            f"The image is too large: {w}x{h} = {w * h / 1e6:.0f} megapixels; "
            f"the limit is {max_pixels / 1e6:.0f} megapixels. Please upload a smaller image."
        )
    if max(w, h) > MAX_SIDE or min(w, h) < MIN_SIDE:
        raise ImageDecodeError(f"The image is {w}x{h} pixels; each side must be between {MIN_SIDE} "
                               f"and {MAX_SIDE:,} pixels.")
    if im.format == "JPEG":
        scans = _scans(data)
        if scans > MAX_JPEG_SCANS:
            raise ImageDecodeError(f"This JPEG is stored in more than {MAX_JPEG_SCANS} passes (scans), "
                                   "which would take minutes to decode. Please save it again as a normal JPEG.")
        if w * h * scans > max_decode_work:
            raise ImageDecodeError(f"This {w}x{h} JPEG is stored in {scans} passes (scans): decoding it would "
                                   f"take {w * h * scans / 1e6:,.0f} million pixel-passes, over the limit of "
                                   f"{max_decode_work / 1e6:,.0f} million. Please save it again as a normal "
                                   "(baseline) JPEG or upload a smaller image.")
    return im


@contextmanager
def _reading():
    """Pillow's failures as ImageDecodeError with a message for the user."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            yield
    except ImageDecodeError:
        raise
    except UnidentifiedImageError:
        raise ImageDecodeError("This file is not an image format we can read (use JPEG, PNG, WebP or BMP).") from None
    except Image.DecompressionBombError:
        raise ImageDecodeError("The image is too large to open safely.") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, MemoryError) as exc:
        raise ImageDecodeError(f"The image file is damaged or truncated and could not be decoded ({exc}).") from None


def image_size(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
               max_decode_work: int = DEFAULT_MAX_DECODE_WORK) -> tuple[int, int]:
    """(width, height) from the header alone, after the same checks as decode_image (nothing decoded)."""
    with _reading():
        return _open_checked(bytes(data or b""), max_pixels, max_decode_work).size


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                 max_decode_work: int = DEFAULT_MAX_DECODE_WORK) -> np.ndarray:
    """Image file bytes -> HxWx3 RGB uint8; raises ImageDecodeError with a readable reason."""
    with _reading():
        im = _open_checked(bytes(data or b""), max_pixels, max_decode_work)
        if getattr(im, "n_frames", 1) > 1:
            im.seek(0)  # animated WebP/PNG: first frame
        im.load()
        im = ImageOps.exif_transpose(im) or im
        rgb = _to_rgb(im)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.size == 0:
        raise ImageDecodeError("The image could not be converted to RGB.")
    return np.ascontiguousarray(rgb, dtype=np.uint8)


def encode_png(rgb: np.ndarray) -> bytes:
    """RGB array -> PNG bytes (for downloads)."""
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, format="PNG", optimize=False)
    return buf.getvalue()
