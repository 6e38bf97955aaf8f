"""Safe image decoding: orientation, every common mode to RGB uint8, size cap, bad bytes."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from fer_core.core.imageio import ImageDecodeError, decode_image, encode_png


def _save(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gradient(w=60, h=40) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float32)[None, :].repeat(h, 0)
    return np.dstack([x, np.full_like(x, 100), 255 - x]).astype(np.uint8)


def test_exif_orientation_is_applied():
    im = Image.fromarray(_gradient(60, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    data = _save(im, "JPEG", exif=exif.tobytes(), quality=95)
    out = decode_image(data)
    assert out.shape == (60, 40, 3) and out.dtype == np.uint8
    # the gradient's dark (left) end is now at the top
    assert out[2, :, 0].mean() < out[-3, :, 0].mean()


@pytest.mark.parametrize("mode", ["L", "1", "P", "RGBA", "LA", "CMYK", "RGB"])
def test_modes_become_rgb(mode):
    im = Image.fromarray(_gradient()).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode_image(_save(im, fmt))
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert out.std() > 5  # not blank


def test_transparent_pixels_become_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:10, :, :] = (255, 0, 0, 255)  # top half opaque red, bottom half transparent
    out = decode_image(_save(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert tuple(out[2, 2]) == (255, 0, 0) and tuple(out[15, 15]) == (255, 255, 255)


def test_sixteen_bit_gray_keeps_its_range():
    a = np.linspace(0, 65535, 50 * 30).reshape(30, 50).astype(np.uint16)
    out = decode_image(_save(Image.fromarray(a), "PNG"))
    assert out.shape == (30, 50, 3)
    assert out.min() <= 1 and out.max() >= 254


def test_animated_webp_gives_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="WEBP", save_all=True, append_images=frames[1:], lossless=True)
    out = decode_image(buf.getvalue())
    assert out.shape == (16, 16, 3) and out[0, 0, 0] > 200 and out[0, 0, 2] < 50


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "ICO", "PPM"])
def test_formats_the_pages_do_not_announce_are_refused_unopened(fmt):
    """Pillow opens many more formats (a 169-megapixel ICO was decoded before the pixel check)."""
    with pytest.raises(ImageDecodeError, match="not an image format we can read"):
        decode_image(_save(Image.fromarray(_gradient(32, 32)), fmt))


@pytest.mark.parametrize("size", [(3, 100_000), (100_000, 3), (20_000, 20), (4, 4), (1, 1)])
def test_extreme_shapes_get_a_clear_message(size):
    """A 3 x 100,000 strip broke Streamlit's image display and MTCNN; 1 x 1 was taken for a face."""
    data = _save(Image.new("L", size), "PNG")
    with pytest.raises(ImageDecodeError, match="each side must be between"):
        decode_image(data)


def test_progressive_jpeg_with_thousands_of_scans_is_refused_before_decoding():
    import time

    rng = np.random.default_rng(1)
    data = _save(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG", progressive=True)
    assert decode_image(data).shape == (64, 64, 3)  # an ordinary progressive JPEG (about 10 scans) is fine
    last_scan = data.rindex(b"\xff\xda")
    crafted = data[:last_scan] + data[last_scan:-2] * 3000 + data[-2:]  # the last scan repeated
    t = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="passes \\(scans\\)"):
        decode_image(crafted)
    assert time.perf_counter() - t < 2.0


def test_pixel_cap():
    small = _save(Image.fromarray(_gradient(100, 100)), "PNG")
    with pytest.raises(ImageDecodeError, match="megapixels"):
        decode_image(small, max_pixels=5000)
    # a 100-megapixel bilevel PNG is a few kB: refused from the header, before decoding
    bomb = _save(Image.new("1", (10_000, 10_000)), "PNG")
    assert len(bomb) < 200_000
    with pytest.raises(ImageDecodeError, match="too large"):
        decode_image(bomb)


@pytest.mark.parametrize("data,match", [
    (b"", "empty"),
    (b"hello, this is a text file\n" * 20, "not an image"),
    (bytes(range(256)) * 8, "not an image"),
])
def test_bad_bytes(data, match):
    with pytest.raises(ImageDecodeError, match=match):
        decode_image(data)


def test_truncated_jpeg():
    rng = np.random.default_rng(0)
    data = _save(Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8)), "JPEG", quality=90)
    with pytest.raises(ImageDecodeError, match="damaged or truncated"):
        decode_image(data[: len(data) // 2])


def test_error_message_is_user_facing():
    try:
        decode_image(b"not an image at all")
    except ImageDecodeError as exc:
        assert "Traceback" not in str(exc) and "JPEG" in str(exc)
    assert isinstance(ImageDecodeError("x"), ValueError)


def test_png_round_trip():
    img = _gradient(33, 21)
    np.testing.assert_array_equal(decode_image(encode_png(img)), img)


def _many_scans(w: int, h: int, scans: int) -> bytes:
    """A flat progressive JPEG whose last scan is repeated until it has ``scans`` scans (a few kB)."""
    data = _save(Image.new("L", (w, h), 128), "JPEG", progressive=True)
    last = data.rindex(b"\xff\xda")
    extra = scans - data.count(b"\xff\xda")
    return data[:last] + data[last:-2] * (extra + 1) + data[-2:]


def test_decode_work_is_capped_from_the_header():
    """A 7000 x 7000 progressive JPEG with 60 scans (under the 64-scan cap) took about 4 s to decode;
    pixels x scans is now bounded before any pixel is decoded."""
    import time

    from fer_core.core.imageio import DEFAULT_MAX_DECODE_WORK, image_size

    crafted = _many_scans(7000, 7000, 60)
    assert len(crafted) < 1_000_000 and 7000 * 7000 * 60 > DEFAULT_MAX_DECODE_WORK
    t = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="pixel-passes, over the limit"):
        decode_image(crafted)
    with pytest.raises(ImageDecodeError, match="pixel-passes"):
        image_size(crafted)
    assert time.perf_counter() - t < 1.0
    ordinary = _many_scans(200, 100, 10)
    assert decode_image(ordinary).shape == (100, 200, 3)
    with pytest.raises(ImageDecodeError, match="pixel-passes"):
        decode_image(ordinary, max_decode_work=200 * 100 * 9)


def test_image_size_reads_the_header_only():
    from fer_core.core.imageio import image_size

    assert image_size(_save(Image.fromarray(_gradient(60, 40)), "PNG")) == (60, 40)
    with pytest.raises(ImageDecodeError, match="too large"):
        image_size(_save(Image.new("1", (10_000, 10_000)), "PNG"))
    with pytest.raises(ImageDecodeError, match="not an image"):
        image_size(b"GIF89a" + bytes(100))
