"""Training augmentation keeps shapes, dtype and the batch order (so labels), and each group acts."""

from __future__ import annotations

import numpy as np
import pytest

from datagen import synth_face
from fer_core.training.augment import GROUPS, augment_batch, parse_groups
from fer_core.core.preprocess import preprocess_faces


@pytest.fixture()
def faces() -> np.ndarray:
    rng = np.random.default_rng(0)
    return preprocess_faces([synth_face(i % 7, rng) for i in range(16)], 48)


@pytest.mark.parametrize("groups", [GROUPS, *[(g,) for g in GROUPS]])
def test_shape_dtype_range_and_gray_channels_are_kept(faces, groups):
    out = augment_batch(faces, np.random.default_rng(1), groups)
    assert out.shape == faces.shape and out.dtype == faces.dtype
    assert out.min() >= 0 and out.max() <= 255
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 0], out[..., 2])
    assert not np.array_equal(out, faces)  # every group changes something in a batch of 16


def test_batch_order_is_kept_so_labels_still_match(faces):
    """Each output face stays closest to its own input face: augmentation never shuffles."""
    out = augment_batch(faces, np.random.default_rng(2), ("photometric", "degrade"))
    flat_in, flat_out = faces[..., 0].reshape(len(faces), -1), out[..., 0].reshape(len(out), -1)
    corr = np.corrcoef(flat_out, flat_in)[: len(out), len(out):]
    assert list(corr.argmax(1)) == list(range(len(faces)))


def test_same_seed_same_batch(faces):
    a = augment_batch(faces, np.random.default_rng(3))
    b = augment_batch(faces, np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)


def test_no_groups_is_the_identity(faces):
    np.testing.assert_array_equal(augment_batch(faces, np.random.default_rng(4), ()), faces)


def test_parse_groups():
    assert parse_groups("all") == GROUPS and parse_groups("none") == ()
    assert parse_groups("geometric, occlude") == ("geometric", "occlude")
    with pytest.raises(ValueError, match="unknown augmentation group"):
        parse_groups("geometric,sparkle")

