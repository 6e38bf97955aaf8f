"""One photo upload's budget: how many files and how many pixels it may bring, decided from the
headers before anything is decoded, and how many full-size results a browser session keeps.

The upload widget's size limit is per file and the file count is unlimited: fourteen flat
7000 x 7000 JPEGs (0.2 MB each) peaked at 4.4 GB. Files past the budget get a reason instead
of an analysis.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

from fer_core.core.imageio import ImageDecodeError, image_size
from fer_core.core.limits import Limits


@dataclass
class UploadPlan:
    """Which files of an upload are analysed; ``skipped`` maps a file's index to the reason it is not."""

    analyse: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


def plan_upload(files: Sequence[bytes], limits: Limits) -> UploadPlan:
    """Files in upload order while the file count and the total pixels (from headers) stay in budget.
    Unreadable files are planned for analysis, so that decoding reports their own error."""
    plan, total = UploadPlan(), 0
    for i, data in enumerate(files):
        if i >= limits.upload_files:
            plan.skipped[i] = (f"Not analysed: an upload may hold at most {limits.upload_files} photos. "
                               "Upload the rest separately.")
            continue
        try:
            w, h = image_size(data, limits.image_pixels, limits.image_decode_work)
        except ImageDecodeError:
            plan.analyse.append(i)
            continue
        if total + w * h > limits.upload_pixels:
            plan.skipped[i] = (f"Not analysed: with the photos before it this upload would exceed "
                               f"{limits.upload_pixels / 1e6:.3g} megapixels in total ({w}x{h} here). "
                               "Upload it separately or as a smaller image.")
            continue
        total += w * h
        plan.analyse.append(i)
    return plan


class SessionResults:
    """Analysed photos kept for one browser session (so buttons do not re-analyse), bounded by count
    and by total pixels: the oldest results go first."""

    def __init__(self, max_items: int, max_pixels: int) -> None:
        self.max_items, self.max_pixels = max_items, max_pixels
        self._items: OrderedDict[str, object] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __getitem__(self, key: str):
        return self._items[key]

    def __len__(self) -> int:
        return len(self._items)

    @staticmethod
    def _pixels(result) -> int:
        return int(result.image.shape[0]) * int(result.image.shape[1])

    @property
    def pixels(self) -> int:
        return sum(self._pixels(r) for r in self._items.values())

    def put(self, key: str, result) -> None:
        """Keep ``result``, dropping the oldest until both bounds hold (the newest always stays)."""
        self._items[key] = result
        self._items.move_to_end(key)
        while len(self._items) > 1 and (len(self._items) > self.max_items or self.pixels > self.max_pixels):
            self._items.popitem(last=False)
