"""LeNet-5 (LeCun et al., 1998) as chapters 04 and 09 train it on 28x28 Fashion-MNIST.

``lenet("classic")`` is the textbook form: sigmoid activations and average pooling. ``lenet("modern")``
keeps the layout with ReLU and max pooling. ``batch_norm=True`` puts a batch-norm layer after every
convolution and hidden dense layer, before the activation (chapter 09's BN-LeNet). The chapters write the
same networks out layer by layer; these builders are their finished versions, for benchmarks and reuse.
"""

from __future__ import annotations

from torch import nn

VARIANTS = ("classic", "modern")


def lenet(variant: str = "classic", batch_norm: bool = False, in_channels: int = 1,
          num_classes: int = 10) -> nn.Sequential:
    """LeNet-5 for 28x28 inputs: conv 5x5 (6, padded) - pool - conv 5x5 (16) - pool - dense 120 - 84 - classes.

    61,706 parameters for one input channel and 10 classes; batch norm adds 452 (a scale and a shift for each
    of its 6 + 16 + 120 + 84 features).
    """
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
    act = nn.Sigmoid if variant == "classic" else nn.ReLU
    pool = nn.AvgPool2d if variant == "classic" else nn.MaxPool2d

    def norm(features: int, conv: bool) -> list[nn.Module]:
        return [(nn.BatchNorm2d if conv else nn.BatchNorm1d)(features)] if batch_norm else []

    return nn.Sequential(
        nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), *norm(6, True), act(),
        pool(kernel_size=2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), *norm(16, True), act(),
        pool(kernel_size=2, stride=2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), *norm(120, False), act(),
        nn.Linear(120, 84), *norm(84, False), act(),
        nn.Linear(84, num_classes),
    )
