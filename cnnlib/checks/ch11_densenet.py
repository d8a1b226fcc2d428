"""Chapter 11's checks: the channels of a dense block and a transition, a dense layer counted by hand,
DenseNet-121's width. The references are measured here on the library's models."""

from __future__ import annotations

import torch

from .core import check_answer


def check_dense_block_channels(block_out, after_transition) -> bool:
    """Grade ``block_out`` and ``after_transition``: the channels leaving a 6-layer dense block with growth
    rate 12 on 24 channels, then a transition with compression 0.5; both measured on a forward pass."""
    from ..models import DenseBlock, Transition

    with torch.no_grad():
        out = DenseBlock(6, 24, 12)(torch.zeros(1, 24, 8, 8))
        halved = Transition(out.shape[1], out.shape[1] // 2)(out)
    check_answer("block_out", block_out, int(out.shape[1]), "each layer adds the growth rate to the channels it receives")
    check_answer("after_transition", after_transition, int(halved.shape[1]), "compression 0.5 halves the channels")
    return True


def check_dense_layer_params(layer_params) -> bool:
    """Grade ``layer_params``: the parameters of layer 3 of the first dense block of the Fashion-MNIST DenseNet."""
    from ..inspect import count_params
    from ..models import densenet

    expected = count_params(densenet("densenet-fashion-mnist", 1, 10).dense1.layers[3])
    check_answer("layer_params", layer_params, expected,
                 "a scale and a shift per input channel, and a 3x3 convolution without bias to 32 channels")
    print("the last layer of a block is its most expensive one")
    return True


def check_densenet121_width(final_channels) -> bool:
    """Grade ``final_channels``: the channels that reach DenseNet-121's classifier, read off the library's
    model and torchvision's."""
    import torchvision

    from ..models import densenet121

    expected = densenet121().head[-1].in_features
    check_answer("final_channels", final_channels, expected,
                 "add 32 channels per layer, halve after each of the first three blocks")
    theirs = torchvision.models.densenet121(weights=None).classifier.in_features
    print("torchvision's DenseNet-121 agrees" if theirs == expected else f"torchvision's DenseNet-121 has {theirs}")
    return True
