"""A narrower B0 started from a trained one: the strongest channels of each group survive, whole."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.timeout(300)

X = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)


@pytest.fixture(scope="module")
def trained():
    """A full-width B0 with distinct batch-norm scales, so which channels are strongest is known."""
    from fer_core.training.network import build_model

    model = build_model(32, 7)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.1, 2.0, gamma.shape).astype(np.float32), beta, mean, var])
    return model


def test_narrowing_to_the_same_width_changes_nothing(trained):
    from fer_core.training.narrow import narrow_into
    from fer_core.training.network import build_model

    same = build_model(32, 7)
    narrow_into(same, trained)
    np.testing.assert_array_equal(same.predict(X, verbose=0), trained.predict(X, verbose=0))


def test_half_width_keeps_the_largest_scales_and_slices_every_layer_to_them(trained):
    from fer_core.training.narrow import channel_choice, narrow_into
    from fer_core.training.network import build_model

    half = build_model(32, 7, width=0.5)
    assert half.count_params() < trained.count_params() / 3
    narrow_into(half, trained)
    src = {layer.name: layer for layer in trained.layers}
    dst = {mine.name: layer for mine, layer in zip(trained.layers, half.layers, strict=True)}
    keep = channel_choice(trained, half)

    stem_gamma = src["stem_bn"].get_weights()[0]
    kept = keep["stem"]
    assert len(kept) == dst["stem_bn"].get_weights()[0].shape[0] < len(stem_gamma)
    assert np.abs(stem_gamma[kept]).min() >= np.abs(np.delete(stem_gamma, kept)).max()
    np.testing.assert_array_equal(dst["stem_conv"].get_weights()[0], src["stem_conv"].get_weights()[0][..., kept])
    # A stage-1 block reads the stem's kept channels depthwise; stage 2's first block expands them.
    np.testing.assert_array_equal(dst["block1a_dwconv"].get_weights()[0],
                                  src["block1a_dwconv"].get_weights()[0][:, :, kept, :])
    s1, e2 = keep["stage1"], keep["block2a_expand"]
    np.testing.assert_array_equal(dst["block2a_expand_conv"].get_weights()[0],
                                  src["block2a_expand_conv"].get_weights()[0][:, :, s1][..., e2])
    # Blocks added into one stream share its channels; the head reads the top's kept channels.
    assert len(keep["stage2"]) == dst["block2b_project_bn"].get_weights()[0].shape[0]
    np.testing.assert_array_equal(dst["block2b_project_conv"].get_weights()[0],
                                  src["block2b_project_conv"].get_weights()[0][:, :, keep["block2b_expand"]][..., keep["stage2"]])
    np.testing.assert_array_equal(dst["emotion"].get_weights()[0], src["emotion"].get_weights()[0][keep["top"]])
    assert half.predict(X, verbose=0).shape == (4, 7)


def test_train_init_from_narrows_a_wider_model_and_width_needs_b0_without_pretrained_weights(trained):
    from fer_core.training.network import build_model
    from fer_core.training.train import init_from

    half = build_model(32, 7, width=0.5)
    init_from(half, trained)
    assert np.array_equal(half.layers[-1].get_weights()[1], trained.layers[-1].get_weights()[1])
    with pytest.raises(ValueError, match="width"):
        build_model(32, 7, arch="cnn", width=0.5)
    with pytest.raises(ValueError, match="width"):
        build_model(32, 7, weights="lite0", width=0.5)
