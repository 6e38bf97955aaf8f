"""Images shown by the pages: narrow enough for Streamlit, never 0 px on a side."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.app.preview import MAX_WIDTH, preview


@pytest.mark.parametrize("h,w,expected", [
    (8, 16_384, (1, MAX_WIDTH)), (3, 100_000, (1, MAX_WIDTH)), (16_384, 8, (16_384, 8)),
    (7000, 7000, (MAX_WIDTH, MAX_WIDTH)), (480, 640, (480, 640)),
])
def test_shapes(h, w, expected):
    out = preview(np.full((h, w, 3), 100, np.uint8))
    assert out.shape == (*expected, 3) and out.dtype == np.uint8 and int(out[0, 0, 0]) == 100


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
