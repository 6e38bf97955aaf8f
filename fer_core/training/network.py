"""The emotion classifiers: one builder per architecture the seed papers propose, all Keras layers.

- ``efficientnet_b0`` (the shipped one): keras.applications.EfficientNetB0 built flat, dropout + softmax.
- ``mobilenetv3_ca``: MobileNetV3-Small's bottleneck table with coordinate attention (Hou et al.
  2021) in place of squeeze-excitation, as the "Emotion Sense" paper describes.
- ``resemotenet``: ResEmoteNet's layout (three conv-BN-ReLU-pool stages, squeeze-excitation, three
  residual blocks, four dense layers) at a quarter of its widths: at full width it has ~80M
  parameters, a 320 MB file the 50 MB model folder cannot hold.
- ``cnn``: a plain VGG-style baseline like the seed papers' basic CNN.

Every model takes (S, S, 3) float32 faces in 0..255 and rescales inside, so preprocessing, export
and serving are the same for all. Each names the blocks Grad-CAM may use (``gradcam_layer_for``).
"""

from __future__ import annotations

import os

from fer_core.analysis.gradcam import MIN_MAP_SIZE
from fer_core.core.labels import CLASSES

DEFAULT_INPUT_SIZE = 64
ARCHS: tuple[str, ...] = ("efficientnet_b0", "mobilenetv3_ca", "resemotenet", "cnn")
DEFAULT_ARCH = "efficientnet_b0"
RESEMOTENET_WIDTH = 0.25

# Grad-CAM candidates per architecture, deepest first: (layer name, stride of its map).
_GRADCAM_BLOCKS: dict[str, tuple[tuple[str, int], ...]] = {
    "efficientnet_b0": (("top_activation", 32), ("block5c_add", 16), ("block3b_add", 8), ("block2b_add", 4)),
    "mobilenetv3_ca": (("bneck11_out", 32), ("bneck8_out", 16), ("bneck3_out", 8), ("bneck1_out", 4)),
    "resemotenet": (("res3_out", 64), ("res2_out", 32), ("res1_out", 16), ("se_out", 8), ("stage3_relu", 4)),
    "cnn": (("block4_relu2", 8), ("block3_relu2", 4), ("block2_relu2", 2)),
}
_GRADCAM_FALLBACK = {"efficientnet_b0": "block1a_project_bn", "mobilenetv3_ca": "stem_act",
                     "resemotenet": "stage1_relu", "cnn": "block1_relu2"}


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights were asked for but could not be obtained."""


def check_arch(arch: str) -> str:
    if arch not in ARCHS:
        raise ValueError(f"Unknown architecture {arch!r}; choose from {', '.join(ARCHS)}.")
    return arch


def gradcam_layer_for(input_size: int, arch: str = DEFAULT_ARCH) -> str:
    """Deepest block of ``arch`` whose map is at least MIN_MAP_SIZE on a side at this input size
    (Grad-CAM's rule, fer_core.analysis.gradcam)."""
    for name, stride in _GRADCAM_BLOCKS[check_arch(arch)]:
        if -(-input_size // stride) >= MIN_MAP_SIZE:
            return name
    return _GRADCAM_FALLBACK[arch]


def build_model(input_size: int = DEFAULT_INPUT_SIZE, num_classes: int = len(CLASSES),
                dropout: float = 0.3, weights: str | None = None, arch: str = DEFAULT_ARCH, width: float = 1.0):
    """The ``arch`` classifier for ``input_size`` faces and ``num_classes`` classes.

    ``width`` (EfficientNet-B0 only) multiplies B0's channel counts as EfficientNet's own width
    coefficient does (rounded to multiples of 8); the pretrained starts fit width 1.0 only.

    ``weights`` (EfficientNet-B0 only; the other architectures start from random weights): None
    (random init, the default), "lite0" or a Lite0 ``.pth`` file (ImageNet weights of
    EfficientNet-Lite0 in B0's shared layers, see ``fer_core.training.imagenet_init``), a path to an
    EfficientNet-B0 no-top weights file, or "imagenet" (a download, unreachable here).
    """
    from fer_core.core.tf_import import keras as _keras

    keras = _keras()
    check_arch(arch)
    if arch != "efficientnet_b0" and weights not in (None, "none"):
        raise WeightsUnavailableError(f"No pretrained weights exist here for {arch}; train it from random init.")
    if width != 1.0 and (arch != "efficientnet_b0" or weights not in (None, "none")):
        raise ValueError("Only EfficientNet-B0 has a width, and only width 1.0 has pretrained weights; "
                         "start a narrower one from random weights or --init-from a trained model.")
    inputs = keras.Input((input_size, input_size, 3), name="face")
    if arch == "efficientnet_b0":
        features = _efficientnet_b0(keras, inputs, weights) if width == 1.0 else _efficientnet(keras, inputs, width)
    else:
        x = keras.layers.Rescaling(1.0 / 255.0, name="rescale")(inputs)
        features = {"mobilenetv3_ca": _mobilenetv3_ca, "resemotenet": _resemotenet, "cnn": _cnn}[arch](keras, x)
    x = keras.layers.Dropout(dropout, name="head_dropout")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="emotion")(x)
    return keras.Model(inputs, outputs, name=f"fer_{arch}")


def _efficientnet_b0(keras, inputs, weights):
    """B0 built flat (one functional graph) so Grad-CAM can reach any block by name."""
    lite0 = weights == "lite0" or str(weights).endswith(".pth")
    use_file = weights not in (None, "none", "imagenet") and not lite0
    if use_file and not os.path.isfile(str(weights)):
        raise WeightsUnavailableError(f"Weights file {weights} not found.")
    try:
        backbone = keras.applications.EfficientNetB0(
            include_top=False, weights="imagenet" if weights == "imagenet" else None,
            input_tensor=inputs, pooling="avg",
        )
    except Exception as exc:  # network errors surface as many exception types
        raise WeightsUnavailableError(
            "Could not download ImageNet weights (this machine may have no internet access). "
            "Train from random initialisation (the default) or pass --weights PATH to a local "
            f"EfficientNetB0 no-top weights file. Cause: {exc}"
        ) from exc
    if use_file:
        backbone.load_weights(str(weights), skip_mismatch=True)
    if lite0:
        from fer_core.training.imagenet_init import Lite0Unavailable, init_from_lite0

        try:
            init_from_lite0(backbone, None if weights == "lite0" else weights)
        except (Lite0Unavailable, OSError) as exc:
            raise WeightsUnavailableError(str(exc)) from exc
    return backbone.output


def _efficientnet(keras, inputs, width: float):
    """B0's blocks at ``width`` times its channels, built flat like ``_efficientnet_b0``, same layer names.
    Keras exposes only the B0-B7 presets publicly; their common builder takes the width coefficient."""
    from keras.src.applications.efficientnet import EfficientNet

    backbone = EfficientNet(width, 1.0, 224, include_top=False, weights=None, input_tensor=inputs, pooling="avg",
                            name=f"efficientnet_w{width:g}")
    return backbone.output


def _conv_bn(keras, x, filters: int, kernel: int, stride: int, act: str | None, name: str, depthwise: bool = False):
    """Convolution (depthwise when ``depthwise``) without bias, batch norm, then ``act``."""
    L = keras.layers
    if depthwise:
        x = L.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_dw")(x)
    else:
        x = L.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    return L.Activation(act, name=f"{name}_act")(x) if act else x


def coordinate_attention(keras, x, name: str, reduction: int = 32):
    """Coordinate attention (Hou, Zhou and Feng, CVPR 2021): pool along each spatial axis
    separately, so the channel weights keep where along the height and the width a feature is.

    Built from stock layers only (pooling, permute, crop, 1x1 convolutions, broadcast multiply),
    so the model saves, loads and converts to TFLite without custom objects."""
    L = keras.layers
    h, w, c = (int(d) for d in x.shape[1:])
    mid = max(8, c // reduction)
    along_h = L.AveragePooling2D((1, w), name=f"{name}_pool_h")(x)  # (h, 1, c)
    along_w = L.Permute((2, 1, 3), name=f"{name}_perm_w")(L.AveragePooling2D((h, 1), name=f"{name}_pool_w")(x))
    y = L.Concatenate(axis=1, name=f"{name}_cat")([along_h, along_w])  # (h + w, 1, c)
    y = _conv_bn(keras, y, mid, 1, 1, "hard_silu", f"{name}_mix")
    y_h = L.Cropping2D(((0, w), (0, 0)), name=f"{name}_h")(y)
    a_h = L.Conv2D(c, 1, activation="sigmoid", name=f"{name}_att_h")(y_h)  # (h, 1, c)
    y_w = L.Permute((2, 1, 3), name=f"{name}_perm_back")(L.Cropping2D(((h, 0), (0, 0)), name=f"{name}_w")(y))
    a_w = L.Conv2D(c, 1, activation="sigmoid", name=f"{name}_att_w")(y_w)  # (1, w, c)
    return L.Multiply(name=f"{name}_out")([x, a_h, a_w])


# MobileNetV3-Small (Howard et al. 2019, table 2): kernel, expansion, out, attention, activation, stride.
_MOBILENETV3_SMALL = (
    (3, 16, 16, True, "relu", 2), (3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1),
    (5, 96, 40, True, "hard_silu", 2), (5, 240, 40, True, "hard_silu", 1), (5, 240, 40, True, "hard_silu", 1),
    (5, 120, 48, True, "hard_silu", 1), (5, 144, 48, True, "hard_silu", 1), (5, 288, 96, True, "hard_silu", 2),
    (5, 576, 96, True, "hard_silu", 1), (5, 576, 96, True, "hard_silu", 1),
)


def _mobilenetv3_ca(keras, x):
    """MobileNetV3-Small with coordinate attention where the original has squeeze-excitation."""
    L = keras.layers
    x = _conv_bn(keras, x, 16, 3, 2, "hard_silu", "stem")
    for i, (k, exp, out, attend, act, stride) in enumerate(_MOBILENETV3_SMALL, start=1):
        name = f"bneck{i}"
        y = x if exp == int(x.shape[-1]) else _conv_bn(keras, x, exp, 1, 1, act, f"{name}_expand")
        y = _conv_bn(keras, y, exp, k, stride, act, f"{name}_depthwise", depthwise=True)
        if attend:
            y = coordinate_attention(keras, y, f"{name}_ca")
        y = _conv_bn(keras, y, out, 1, 1, None, f"{name}_project")
        if stride == 1 and int(x.shape[-1]) == out:
            x = L.Add(name=f"{name}_out")([x, y])
        else:
            x = L.Activation("linear", name=f"{name}_out")(y)
    x = _conv_bn(keras, x, 576, 1, 1, "hard_silu", "last")
    x = L.GlobalAveragePooling2D(name="pool")(x)
    x = L.Dense(1024, name="head_dense")(x)
    return L.Activation("hard_silu", name="head_act")(x)


def _se_block(keras, x, name: str, reduction: int = 16):
    """Squeeze-excitation: channel weights from the globally pooled map."""
    L = keras.layers
    c = int(x.shape[-1])
    s = L.GlobalAveragePooling2D(keepdims=True, name=f"{name}_squeeze")(x)
    s = L.Conv2D(max(1, c // reduction), 1, activation="relu", name=f"{name}_reduce")(s)
    s = L.Conv2D(c, 1, activation="sigmoid", name=f"{name}_expand")(s)
    return L.Multiply(name=f"{name}_out")([x, s])


def _residual_block(keras, x, filters: int, stride: int, name: str):
    """Two 3x3 conv-BN layers plus the input (a strided 1x1 conv-BN when its shape changes)."""
    L = keras.layers
    y = _conv_bn(keras, x, filters, 3, stride, "relu", f"{name}_a")
    y = _conv_bn(keras, y, filters, 3, 1, None, f"{name}_b")
    same = stride == 1 and int(x.shape[-1]) == filters
    skip = x if same else _conv_bn(keras, x, filters, 1, stride, None, f"{name}_skip")
    return L.Activation("relu", name=f"{name}_out")(L.Add(name=f"{name}_add")([y, skip]))


def _resemotenet(keras, x, width: float = RESEMOTENET_WIDTH):
    """ResEmoteNet (Roy et al. 2024): conv stages 64-128-256, SE, residual blocks 512-1024-2048
    (stride 2 each), dense 1024-512-256 with dropout 0.5, all widths times ``width``."""
    L = keras.layers
    ch = lambda n: max(8, int(n * width))  # noqa: E731
    for i, filters in enumerate((64, 128, 256), start=1):
        x = L.Conv2D(ch(filters), 3, padding="same", name=f"stage{i}_conv")(x)
        x = L.BatchNormalization(name=f"stage{i}_bn")(x)
        x = L.Activation("relu", name=f"stage{i}_relu")(x)
        x = L.MaxPooling2D(2, name=f"stage{i}_pool")(x)
        if i < 3:
            x = L.Dropout(0.2, name=f"stage{i}_dropout")(x)
    x = _se_block(keras, x, "se")
    for i, filters in enumerate((512, 1024, 2048), start=1):
        x = _residual_block(keras, x, ch(filters), 2, f"res{i}")
    x = L.GlobalAveragePooling2D(name="pool")(x)
    for i, units in enumerate((1024, 512, 256), start=1):
        x = L.Dense(ch(units), activation="relu", name=f"fc{i}")(x)
        if i < 3:
            x = L.Dropout(0.5, name=f"fc{i}_dropout")(x)
    return x


def _cnn(keras, x):
    """Four VGG blocks (two 3x3 conv-BN-ReLU, max-pool, dropout) of 16-32-64-128 filters, then a
    256-unit dense layer: the seed papers' basic CNN, at about B0's cost per face at 64x64."""
    L = keras.layers
    for i, filters in enumerate((16, 32, 64, 128), start=1):
        for j in (1, 2):
            x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{i}_conv{j}")(x)
            x = L.BatchNormalization(name=f"block{i}_bn{j}")(x)
            x = L.Activation("relu", name=f"block{i}_relu{j}")(x)
        x = L.MaxPooling2D(2, name=f"block{i}_pool")(x)
        x = L.Dropout(0.25, name=f"block{i}_dropout")(x)
    x = L.Flatten(name="flatten")(x)
    return L.Dense(256, activation="relu", name="fc")(x)
