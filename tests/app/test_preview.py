"""Images shown by the pages: narrow enough for Streamlit, never 0 px on a side."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.app.preview import CROP_SIDE, MAX_WIDTH, enlarged, preview


@pytest.mark.parametrize("h,w,expected", [
    (8, 16_384, (1, MAX_WIDTH)), (3, 100_000, (1, MAX_WIDTH)), (16_384, 8, (16_384, 8)),
    (7000, 7000, (MAX_WIDTH, MAX_WIDTH)), (480, 640, (480, 640)),
])
def test_shapes(h, w, expected):
    out = preview(np.full((h, w, 3), 100, np.uint8))
    assert out.shape == (*expected, 3) and out.dtype == np.uint8 and int(out[0, 0, 0]) == 100


@pytest.mark.parametrize("h,w,expected", [
    (120, 120, (CROP_SIDE, CROP_SIDE)), (48, 96, (CROP_SIDE // 2, CROP_SIDE)), (1, 3, (107, CROP_SIDE)),
    (CROP_SIDE, 40, (CROP_SIDE, 40)), (500, 500, (500, 500)),
])
def test_small_crops_are_enlarged_to_the_crop_side(h, w, expected):
    out = enlarged(np.full((h, w, 3), 100, np.uint8))
    assert out.shape == (*expected, 3) and out.dtype == np.uint8 and int(out[h // 2 * out.shape[0] // h, 0, 0]) == 100


def test_enlarging_keeps_an_edge_sharper_than_the_browsers_bilinear_smoothing():
    """A 120 px crop at column width looked blurred: Lanczos keeps a step steeper than linear scaling."""
    import cv2

    step = np.zeros((120, 120, 3), np.uint8)
    step[:, 60:] = 255
    ours = enlarged(step)[0, :, 0].astype(float)
    linear = cv2.resize(step, ours.shape[:1] * 2, interpolation=cv2.INTER_LINEAR)[0, :, 0].astype(float)
    assert np.abs(np.diff(ours)).max() > np.abs(np.diff(linear)).max()


def test_narrow_images_are_not_copied():
    img = np.zeros((50, 60, 3), np.uint8)
    assert preview(img) is img


def test_streamlit_shows_the_preview_of_a_wide_strip():
    """st.image(16384 x 8) raised 'height and width must be > 0' inside Streamlit."""
    from streamlit.testing.v1 import AppTest

    def app():
        import numpy as np
        import streamlit as st

        from fer_core.app.preview import preview

        st.image(preview(np.full((8, 16_384, 3), 128, np.uint8)), caption="strip", width="content")

    at = AppTest.from_function(app).run()
    assert not at.exception and at.image[0].captions == ["strip"]
