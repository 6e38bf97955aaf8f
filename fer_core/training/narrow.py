"""Start a narrower EfficientNet-B0 from a trained full-width one by keeping its strongest channels.

The only ImageNet start here fits width 1.0, and a narrower B0 from random weights is 15 points behind
at the same budget (session 10), so a width arm starts from the trained model cut down instead
("network slimming", Liu et al. 2017): in every group of channels that must stay together, keep the
ones whose batch-norm scale |gamma| is largest, and slice every kernel, bias and batch-norm vector to
them. The groups follow Keras' EfficientNet layer names:

- each stage's residual stream (``blockNx_project_bn`` of every block in stage N, added together), which
  is also the next stage's input; the stem's output feeds stage 1;
- each block's expanded channels (``expand_bn``, or the block's input when it has no expansion),
  shared by its depthwise convolution and squeeze-excitation gate;
- each squeeze-excitation's hidden units (ranked by their outgoing weights);
- the top convolution's channels, which are the head's inputs.
"""

from __future__ import annotations

import re

import numpy as np

_BLOCK = re.compile(r"^block(\d)([a-z])_(.+)$")


def _strongest(score: np.ndarray, keep: int) -> np.ndarray:
    """Indices of the ``keep`` largest scores, in their original order."""
    return np.sort(np.argsort(-score, kind="stable")[:keep])


def _gamma(layers: dict, name: str) -> np.ndarray:
    return np.abs(layers[name].get_weights()[0])


def channel_choice(source, target) -> dict[str, np.ndarray]:
    """Which of ``source``'s channels each channel group of ``target`` keeps, keyed by group name:
    ``stem``, ``stage<N>``, ``<block>expand``, ``<block>se`` and ``top``."""
    src = {layer.name: layer for layer in source.layers}
    dst = {mine.name: layer for mine, layer in zip(source.layers, target.layers, strict=True)}  # by position
    width = lambda name: dst[name].get_weights()[0].shape[-1]  # noqa: E731 (a layer's output channels)
    keep = {"stem": _strongest(_gamma(src, "stem_bn"), width("stem_bn")),
            "top": _strongest(_gamma(src, "top_bn"), width("top_bn"))}
    blocks = sorted({m.group(1) + m.group(2) for m in map(_BLOCK.match, src) if m})
    for stage in sorted({b[0] for b in blocks}):
        names = [f"block{b}_project_bn" for b in blocks if b[0] == stage]
        keep[f"stage{stage}"] = _strongest(sum(_gamma(src, n) for n in names), width(names[0]))
    for b in blocks:
        if f"block{b}_expand_bn" in src:
            keep[f"block{b}_expand"] = _strongest(_gamma(src, f"block{b}_expand_bn"), width(f"block{b}_expand_bn"))
        else:
            keep[f"block{b}_expand"] = keep[_block_input(b)]
        if f"block{b}_se_expand" in src:
            outgoing = np.abs(src[f"block{b}_se_expand"].get_weights()[0]).sum(axis=(0, 1, 3))
            keep[f"block{b}_se"] = _strongest(outgoing, width(f"block{b}_se_reduce"))
    return keep


def _block_input(block: str) -> str:
    """The channel group a block reads: the previous stage's stream for a stage's first block."""
    stage, letter = int(block[0]), block[1]
    if letter != "a":
        return f"stage{stage}"
    return "stem" if stage == 1 else f"stage{stage - 1}"


def _groups(name: str, last_stage: str) -> tuple[str | None, str | None]:
    """(input group, output group) of the layer called ``name``; None where that axis is not cut."""
    if name.startswith("stem_"):
        return None, "stem"
    if name.startswith("top_"):
        return last_stage, "top"
    m = _BLOCK.match(name)
    if not m:
        return ("top", None) if name == "emotion" else (None, None)
    block, part = m.group(1) + m.group(2), m.group(3)
    expand, stream = f"block{block}_expand", f"stage{block[0]}"
    return {"expand_conv": (_block_input(block), expand), "expand_bn": (None, expand),
            "dwconv": (None, expand), "bn": (None, expand),
            "se_reduce": (expand, f"block{block}_se"), "se_expand": (f"block{block}_se", expand),
            "project_conv": (expand, stream), "project_bn": (None, stream)}.get(part, (None, None))


def _cut(weights: list[np.ndarray], kind: str, rows: np.ndarray | None, cols: np.ndarray | None) -> list[np.ndarray]:
    """One layer's weights sliced to the kept input ``rows`` and output ``cols``."""
    if kind == "BatchNormalization":
        return [w[cols] for w in weights]
    kernel, rest = weights[0], weights[1:]
    if kind == "DepthwiseConv2D":
        return [kernel[:, :, cols, :]] + [b[cols] for b in rest]
    if rows is not None:
        kernel = kernel[rows] if kind == "Dense" else kernel[:, :, rows, :]
    if cols is not None:
        kernel = kernel[..., cols]
        rest = [b[cols] for b in rest]
    return [kernel] + rest


def narrow_into(target, source) -> int:
    """Copy ``source`` (a trained B0 at any width) into the narrower ``target`` (the same layers in the
    same order), keeping the strongest channels of every group. Returns how many layers were cut."""
    keep = channel_choice(source, target)
    last_stage = max(k for k in keep if k.startswith("stage"))
    cut = 0
    for layer, src in zip(target.layers, source.layers, strict=True):
        if not layer.weights:
            continue
        weights = src.get_weights()
        rows, cols = (keep.get(g) if g else None for g in _groups(src.name, last_stage))
        if rows is not None or cols is not None:
            weights = _cut(weights, type(layer).__name__, rows, cols)
            cut += 1
        layer.set_weights(weights)
    return cut
