"""Photo upload budget: file count and total pixels decided from headers; the session keeps few results."""

from __future__ import annotations

import io
import time

import numpy as np
from PIL import Image

from fer_core.core.limits import Limits
from fer_core.app.photo_upload import SessionResults, plan_upload


def _jpeg(w: int, h: int) -> bytes:
    buf = io.BytesIO()
    Image.new("L", (w, h), 128).save(buf, "JPEG")
    return buf.getvalue()


def test_fourteen_large_flat_jpegs_are_planned_from_headers_only():
    """Fourteen flat 7000 x 7000 JPEGs (0.2 MB each) in one upload peaked at 4.4 GB."""
    big = _jpeg(7000, 7000)
    assert len(big) < 1_000_000
    t = time.perf_counter()
    plan = plan_upload([big] * 14, Limits())
    assert time.perf_counter() - t < 1.0  # nothing decoded
    assert plan.analyse == [0, 1]  # 2 x 49 MP fit in 100 MP
    assert set(plan.skipped) == set(range(2, 14))
    assert "100 megapixels in total (7000x7000 here)" in plan.skipped[2]
    assert "at most 10 photos" in plan.skipped[10] and "at most 10 photos" in plan.skipped[13]


def test_small_uploads_are_analysed_whole_and_bad_files_left_to_the_decoder():
    files = [_jpeg(64, 64), b"not an image", _jpeg(80, 60)]
    plan = plan_upload(files, Limits())
    assert plan.analyse == [0, 1, 2] and plan.skipped == {}


def test_limits_are_configurable():
    plan = plan_upload([_jpeg(100, 100)] * 4, Limits(upload_files=3, upload_pixels=25_000))
    assert plan.analyse == [0, 1] and set(plan.skipped) == {2, 3}
    assert "exceed 0.025 megapixels in total" in plan.skipped[2]
    assert "at most 3 photos" in plan.skipped[3]


class _Result:
    def __init__(self, side: int) -> None:
        self.image = np.zeros((side, side, 3), np.uint8)


def test_session_results_are_bounded_by_count_and_pixels():
    kept = SessionResults(max_items=3, max_pixels=29_000)
    for k in "abcd":
        kept.put(k, _Result(10))
    assert len(kept) == 3 and "a" not in kept and "d" in kept
    kept.put("big", _Result(170))  # 28,900 px: only one small one (100 px) fits beside it
    assert "big" in kept and "d" in kept and kept.pixels == 29_000 and len(kept) == 2
    kept.put("huge", _Result(400))  # over the budget alone: kept, as the newest, by itself
    assert len(kept) == 1 and "huge" in kept
