"""Chapter 10's checks: a downsampling block counted by hand, the stage shapes, ResNet-10, zero-init residual.

The references are computed here from the library's ResNet, so the notebook's check cells hold none.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .core import _not_implemented, check_answer


def check_basic_block_params(params_by_hand) -> bool:
    """Grade ``params_by_hand``: the parameters of ``BasicBlock(64, 128, stride=2)``, projection included."""
    from ..inspect import count_params
    from ..models import BasicBlock

    block = BasicBlock(64, 128, stride=2)
    check_answer("params_by_hand", params_by_hand, count_params(block),
                 "did you count the projection and all three batch norms?")
    print(f"the projection adds only {count_params(block.shortcut):,} parameters")
    return True


def check_resnet_stage_shapes(predicted) -> bool:
    """Grade ``predicted``: the output shapes of the stem and four stages of ResNet-18 on a 1x64x64 image."""
    from ..inspect import layer_shapes
    from ..models import resnet18

    stages = ["stem", "layer1", "layer2", "layer3", "layer4"]
    trace = layer_shapes(resnet18(in_channels=1, num_classes=10), (1, 1, 64, 64), print_it=False)
    check_answer("predicted", predicted, [tuple(shape) for name, _, shape in trace if name in stages],
                 f"one shape (batch, channels, height, width) for each of {stages}")
    print("the stem divides by 4, each later stage by 2")
    return True


def _weighted_layers(model: nn.Module) -> int:
    """Convolutions and linear layers on the main path (projection shortcuts not counted)."""
    shortcuts = {id(m) for name, module in model.named_modules() if name.endswith("shortcut")
                 for m in module.modules()}
    return sum(isinstance(m, (nn.Conv2d, nn.Linear)) and id(m) not in shortcuts for m in model.modules())


def check_resnet10_config(resnet10_config) -> bool:
    """Grade ``resnet10_config``: one basic block per stage with ResNet-18's widths, stem and batch norm; the
    network it builds must have 10 weighted layers and map (2, 1, 96, 96) to (2, 10) scores."""
    from ..inspect import count_params
    from ..models import ResNetConfig, resnet, resnet18

    name = "resnet10_config"
    if resnet10_config is None or resnet10_config is Ellipsis:
        raise _not_implemented(name)
    if not isinstance(resnet10_config, ResNetConfig):
        raise AssertionError(f"{name} should be a ResNetConfig, got {type(resnet10_config).__name__}")
    reference = ResNetConfig()  # ResNet-18's widths, stem, residual and batch norm
    if resnet10_config.block != "basic":
        raise AssertionError(f"{name} is not right yet: it should use basic blocks, not {resnet10_config.block!r}")
    if tuple(resnet10_config.layers) != (1, 1, 1, 1):
        raise AssertionError(f"{name} is not right yet: it should have one block in each of the four stages")
    for field in ("widths", "stem", "residual", "batch_norm"):
        if getattr(resnet10_config, field) != getattr(reference, field):
            raise AssertionError(f"{name} is not right yet: keep ResNet-18's {field} (leave it at its default)")
    net = resnet(resnet10_config, in_channels=1, num_classes=10)
    if _weighted_layers(net) != 10:
        raise AssertionError(f"{name} is not right yet: its network has {_weighted_layers(net)} weighted layers on "
                             "the main path, a ResNet-10 has 10 (one block of two convolutions per stage)")
    with torch.no_grad():
        shape = tuple(net.eval()(torch.zeros(2, 1, 96, 96)).shape)
    if shape != (2, 10):
        raise AssertionError(f"{name}: the network maps a (2, 1, 96, 96) batch to {shape}, expected (2, 10)")
    ratio = count_params(net) / count_params(resnet18(in_channels=1, num_classes=10))
    print(f"✓ {name} is right. ResNet-10 has {count_params(net):,} parameters, {ratio:.0%} of ResNet-18's: "
          "the last stage's 512-channel convolutions hold most of them")
    return True


def check_zero_init_residual(fn: Callable, hidden: bool = False, seed: int = 0) -> bool:
    """Check ``fn(model)``: the last batch norm's scale of every basic block becomes 0 and nothing else changes,
    so each block with an identity shortcut computes relu(x). ``hidden=True`` checks a ResNet-34 too."""
    from ..models import BasicBlock, ResNetConfig, resnet, resnet18

    name = getattr(fn, "__name__", "zero_init_residual")
    if fn is None or fn is Ellipsis:
        raise _not_implemented(name)
    g = torch.Generator().manual_seed(seed)
    builds = [("resnet18(in_channels=1, num_classes=10)", lambda: resnet18(in_channels=1, num_classes=10))]
    if hidden:
        builds.append(("a ResNet-34", lambda: resnet(ResNetConfig(block="basic", layers=(3, 4, 6, 3)))))
    for label, build in builds:
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        net = build().eval()
        last = {id(m.bn2) for m in net.modules() if isinstance(m, BasicBlock)}
        for module in net.modules():  # random scales and shifts, so that no value is 0 or 1 by chance
            if isinstance(module, nn.BatchNorm2d):
                nn.init.uniform_(module.weight, 0.5, 1.5)
                if id(module) not in last:  # the last shift stays 0, as at initialisation: then F(x) = 0
                    nn.init.uniform_(module.bias, -0.5, 0.5)
        before = {k: v.clone() for k, v in net.state_dict().items()}
        try:
            fn(net)
        except NotImplementedError:
            raise _not_implemented(name) from None
        except Exception as error:
            raise AssertionError(f"{name}({label}) raised {type(error).__name__}: {error}") from error
        zeroed = {f"{n}.bn2.weight" for n, m in net.named_modules() if isinstance(m, BasicBlock)}
        after = net.state_dict()
        for key, value in before.items():
            if key in zeroed and not bool((after[key] == 0).all()):
                raise AssertionError(f"{name} is not right yet: on {label}, {key} (the scale of a block's last "
                                     "batch norm) is not all zeros")
            if key not in zeroed and not torch.equal(after[key], value):
                raise AssertionError(f"{name} is not right yet: on {label} it changed {key}; only the scale "
                                     "(weight) of each block's last batch norm should become 0")
        block = next(m for m in net.modules() if isinstance(m, BasicBlock) and m.shortcut is not None
                     and not any(True for _ in m.shortcut.parameters()))
        x = torch.randn(2, block.conv1.in_channels, 6, 5, generator=g)
        with torch.no_grad():
            if not torch.allclose(block(x), torch.relu(x)):
                raise AssertionError(f"{name}: on {label}, a block with an identity shortcut does not compute relu(x)")
    print(f"✓ {name}: every block's last batch norm starts at 0 and nothing else changes; a block with an "
          "identity shortcut computes relu(x)")
    return True
