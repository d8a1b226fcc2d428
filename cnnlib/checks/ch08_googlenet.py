"""Chapter 08's checks: an Inception block counted by hand, the blocks' widths, the factorised 5x5 branch.

The references are computed here, from the library's GoogLeNet, so the notebook's check cells hold none.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .core import _not_implemented, check_answer


def check_params_4a(params_4a) -> bool:
    """Grade ``params_4a``: the parameters of block 4a of the "fashion-mnist" GoogLeNet, biases included."""
    from ..inspect import count_params
    from ..models import googlenet

    expected = count_params(googlenet(1, 10, variant="fashion-mnist").inception4a)
    return check_answer("params_4a", params_4a, expected,
                        "six convolutions in four branches, each with one bias per output channel")


def check_inception_channels(predicted_channels) -> bool:
    """Grade ``predicted_channels``: the output channels of the nine Inception blocks, measured on a forward pass."""
    from ..inspect import layer_shapes
    from ..models import googlenet

    trace = layer_shapes(googlenet(1, 10, variant="fashion-mnist"), (1, 1, 96, 96), print_it=False)
    expected = [shape[1] for _, kind, shape in trace if kind == "Inception"]
    check_answer("predicted_channels", predicted_channels, expected,
                 "a block outputs the sum of its four branches' widths")
    print("each block's output is the next block's input")
    return True


def _convs(module: nn.Module) -> list[nn.Conv2d]:
    return [m for m in module.modules() if isinstance(m, nn.Conv2d)]


def _conv(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """``conv`` applied with its own weights, the padding that keeps the size for an odd kernel."""
    return F.conv2d(x, conv.weight, conv.bias, padding=conv.kernel_size[0] // 2)


def _factorised_problem(cls, base, widths, x: torch.Tensor) -> str | None:
    """What is wrong with ``cls(*widths)``, or None."""
    in_channels, c1, c3r, c3, c5r, c5, pool = widths
    where = f"Inception5x5Factorised{tuple(widths)}"
    try:
        block = cls(*widths)
    except NotImplementedError:
        raise _not_implemented("Inception5x5Factorised") from None
    if not isinstance(block, base):
        return f"{where} is not an InceptionBlock: subclass InceptionBlock and replace self.branch3"
    convs = _convs(block.branch3)
    layout = [(c.in_channels, c.out_channels, tuple(c.kernel_size)) for c in convs]
    want = [(in_channels, c5r, (1, 1)), (c5r, c5r, (3, 3)), (c5r, c5, (3, 3))]
    if layout != want:
        got = ", ".join(f"{k[0]}x{k[1]} {i}->{o}" for i, o, k in layout) or "no convolution"
        return (f"{where}: branch 3 should be a 1x1 convolution to c5_reduce, a 3x3 keeping c5_reduce and a 3x3 "
                f"to c5 channels; it holds {got}")
    if any(c.groups != 1 or c.stride != (1, 1) or c.dilation != (1, 1) for c in convs):
        return f"{where}: branch 3's convolutions should have stride 1, no dilation and no groups"
    if any(c.padding != (k // 2, k // 2) for c in convs for k in [c.kernel_size[0]]):
        return f"{where}: each 3x3 convolution of branch 3 should keep the size (padding=1), as the 5x5 did"
    with torch.no_grad():
        try:
            out = block(x)
        except Exception as error:  # the learner's bug, shown with the input that triggers it
            return f"{where} raised {type(error).__name__}: {error} on an input of shape {tuple(x.shape)}"
        h = x
        for conv in convs:
            h = torch.relu(_conv(h, conv))
        expected = torch.cat([block.branch1(x), block.branch2(x), h, block.branch4(x)], dim=1)
    if tuple(out.shape) != tuple(expected.shape):
        return (f"{where} maps an input of shape {tuple(x.shape)} to {tuple(out.shape)}; InceptionBlock gives "
                f"{tuple(expected.shape)} (does each 3x3 convolution keep the size?)")
    if not torch.allclose(out, expected, atol=1e-5, rtol=1e-4):
        return (f"{where}: branch 3 should compute relu(conv3x3(relu(conv3x3(relu(conv1x1(x)))))) with padding 1 "
                "(a ReLU after each convolution), and the block should concatenate the four branches")
    from ..inspect import count_params

    old = count_params(base(*widths))
    new = old - (c5r * c5 * 25 + c5) + (c5r * c5r * 9 + c5r) + (c5r * c5 * 9 + c5)
    if count_params(block) != new:
        return f"{where} has parameters that the factorisation does not need (or lacks some): no extra layers"
    return None


def check_inception_factorised(cls, base, hidden: bool = False, seed: int = 0) -> bool:
    """Check ``cls``, an ``InceptionBlock`` (``base``) whose branch 3 is 1x1, 3x3, 3x3 with ReLUs, by running
    it against a reference computed with its own weights; ``hidden=True`` uses blocks 4e and 5b instead of 3a."""
    from ..inspect import count_params
    from ..models.googlenet import INCEPTION_CONFIG

    if cls is None or cls is Ellipsis:
        raise _not_implemented("Inception5x5Factorised")
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise AssertionError("Inception5x5Factorised should be a class that subclasses InceptionBlock")
    g = torch.Generator().manual_seed(seed)
    names = ("inception4e", "inception5b") if hidden else ("inception3a",)
    for name in names:
        widths = INCEPTION_CONFIG[name]
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        x = torch.randn(2, widths[0], 7, 9, generator=g)
        problem = _factorised_problem(cls, base, widths, x)
        if problem:
            raise AssertionError(problem)
    widths = INCEPTION_CONFIG[names[0]]
    old, new = count_params(base(*widths)), count_params(cls(*widths))
    print(f"✓ Inception5x5Factorised: runs as 1x1, 3x3, 3x3 with ReLUs; {old:,} -> {new:,} parameters "
          f"({old - new:,} fewer)")
    return True
