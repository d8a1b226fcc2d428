"""Chapter 06's checks: a VGG-16 block, the VGG-19 configuration, shapes at 100 pixels, VGG-16's layers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .core import _not_implemented, _unset, check_answer, check_shapes


def check_block4_params(block4_params: Any) -> bool:
    """Check chapter 6's exercise 1: the parameters of VGGBlock(3, 256, 512), counted here."""
    from ..models import VGGBlock

    expected = sum(p.numel() for p in VGGBlock(3, 256, 512).to("meta").parameters())
    return check_answer("block4_params", block4_params, expected,
                        "the first convolution has 256 inputs, the others 512; one bias per output channel")


def _blocks(features: nn.Module) -> list[tuple[int, int]]:
    """(number of convolutions, output channels) of each block of a VGG feature stack, read off its layers."""
    blocks, convs, channels = [], 0, 0
    for layer in features.modules():
        if isinstance(layer, nn.Conv2d):
            convs, channels = convs + 1, layer.out_channels
        elif isinstance(layer, nn.MaxPool2d):
            blocks.append((convs, channels))
            convs = 0
    return blocks


def check_vgg19_config(vgg19_config: Any) -> bool:
    """Check chapter 6's exercise 2: ``vgg(vgg19_config)`` must have the layers and parameters of
    torchvision's VGG-19, built here without weights."""
    import torchvision

    from ..models import vgg
    from ..models.vgg import CONFIGS

    name = "vgg19_config"
    if _unset(vgg19_config):
        raise _not_implemented(name)
    if vgg19_config is CONFIGS["vgg19"]:
        raise AssertionError(f"{name} is CONFIGS['vgg19'], the answer copied from cnnlib: write the list yourself.")
    if not isinstance(vgg19_config, (list, tuple)) or not all(
            isinstance(b, (list, tuple)) and len(b) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                 for v in b) for b in vgg19_config):
        raise AssertionError(f"{name} should be a list of (num_convs, out_channels) pairs of ints.")
    if len(vgg19_config) != 5:
        raise AssertionError(f"{name} has {len(vgg19_config)} blocks: VGG-19 has five.")
    with torch.device("meta"):
        ours, theirs = vgg([tuple(b) for b in vgg19_config]), torchvision.models.vgg19(weights=None)
    wrong = [i + 1 for i, (a, b) in enumerate(zip(_blocks(ours.features), _blocks(theirs.features))) if a != b]
    if wrong:
        raise AssertionError(f"{name} is not right yet: block{'s' if len(wrong) > 1 else ''} "
                             f"{', '.join(map(str, wrong))} (counting from 1) differ from VGG-19's.")
    if sum(p.numel() for p in ours.parameters()) != sum(p.numel() for p in theirs.parameters()):
        raise AssertionError(f"{name} is not right yet: the model has another parameter count than VGG-19.")
    print(f"✓ {name}: the model has VGG-19's 16 convolutions and {sum(p.numel() for p in ours.parameters()):,} "
          "parameters")
    return True


def check_vgg_shapes(features_shape: Any, pooled_shape: Any) -> bool:
    """Check chapter 6's exercise 3: the shapes after ``features`` and ``avgpool`` of the narrow VGG-11 on a
    1x100x100 image, run here."""
    from ..models import vgg

    net = vgg("vgg11-narrow", in_channels=1, num_classes=10).eval()
    check_shapes("features_shape", None if _unset(features_shape) else [features_shape],
                 [((1, 1, 100, 100), net.features)], "each of the five max-pools halves and rounds down")
    with torch.no_grad():
        features = tuple(net.features(torch.zeros(1, 1, 100, 100)).shape)
    return check_shapes("pooled_shape", None if _unset(pooled_shape) else [pooled_shape],
                        [(features, net.avgpool)], "what does adaptive pooling always output?")


def check_vgg16_layers(vgg16_layers: Any) -> bool:
    """Check chapter 6's exercise 4: the (kernel, stride) of every convolution and max-pool of VGG-16, in order,
    read here off torchvision's VGG-16."""
    import torchvision

    with torch.device("meta"):
        features = torchvision.models.vgg16(weights=None).features
    pair = lambda v: v[0] if isinstance(v, tuple) else v  # noqa: E731
    expected = [(pair(m.kernel_size), pair(m.stride)) for m in features if isinstance(m, (nn.Conv2d, nn.MaxPool2d))]
    return check_answer("vgg16_layers", vgg16_layers, expected,
                        "each block has its 3x3 stride-1 convolutions, then one 2x2 stride-2 max-pool")
