"""Chapter 05's checks: the first layer's parameters and output size, dropout from scratch."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from .core import check_answer, check_properties


def check_conv1_params(conv1_params: Any) -> bool:
    """Check chapter 5's exercise 1: the parameters of the paper's first convolution, counted here."""
    expected = sum(p.numel() for p in nn.Conv2d(3, 96, 11, stride=4, device="meta").parameters())
    return check_answer("conv1_params", conv1_params, expected,
                        "the weights are out x in x 11 x 11, plus one bias per kernel")


def check_first_layer_sizes(out_224: Any, out_227: Any) -> bool:
    """Check chapter 5's exercise 2: an unpadded 11x11 stride-4 convolution on 224 and 227 pixels, run here."""
    layer = nn.Conv2d(3, 1, 11, stride=4, device="meta")
    for name, size, predicted in (("out_224", 224, out_224), ("out_227", 227, out_227)):
        check_answer(name, predicted, int(layer(torch.zeros(1, 3, size, size, device="meta")).shape[-1]),
                     "floor((n - k) / s) + 1")
    return True


#: What dropout from scratch may not call: PyTorch's dropouts.
DROPOUT_FORBID = ("F.dropout", "F.dropout1d", "F.dropout2d", "F.dropout3d", "F.alpha_dropout",
                  "F.feature_alpha_dropout")


def _raises_value_error(f: Callable, p: float) -> bool:
    try:
        f(torch.ones(3), p)
    except ValueError:
        return True
    return False


def _dropout_properties(x: torch.Tensor, p: float) -> list:
    """(what should hold, test) pairs for dropout with rate ``p`` on the positive input ``x``."""
    rows = x.reshape(-1, 100)
    half = x.numel() // 2
    tolerance = 6 * (p * (1 - p) / half) ** 0.5  # six standard deviations of the zero fraction in half the input

    def zero_fractions(f):
        y = f(x.clone(), p)
        return float((y[:half] == 0).double().mean()), float((y[half:] == 0).double().mean())

    def survivors_scaled(f):
        y = f(x.clone(), p)
        return bool(torch.allclose(y[y != 0], x[y != 0] / (1 - p), rtol=1e-6, atol=0))

    def leaves_input(f):
        copy = x.clone()
        f(copy, p)
        return torch.equal(copy, x)

    return [
        ("it returns a tensor of the input's shape and dtype",
         lambda f: isinstance(y := f(x.clone(), p), torch.Tensor) and y.shape == x.shape and y.dtype == x.dtype),
        (f"about {p:.0%} of the elements are zero for p = {p}, in every part of the input",
         lambda f: all(abs(frac - p) < tolerance for frac in zero_fractions(f))),
        ("each element is dropped on its own: dropping whole rows, or the same elements each call, is not dropout",
         lambda f: abs(float((f(rows.clone(), p) == 0).double().mean(1).std()) - (p * (1 - p) / 100) ** 0.5) < 0.02
         and not torch.equal(f(x.clone(), p) == 0, f(x.clone(), p) == 0)),
        ("the survivors are divided by 1 - p", survivors_scaled),
        ("it does not change its input", leaves_input),
        ("p = 0 keeps everything", lambda f: torch.equal(f(x.clone(), 0.0), x)),
        ("p = 1 raises a ValueError", lambda f: _raises_value_error(f, 1.0)),
        ("p = -0.1 raises a ValueError", lambda f: _raises_value_error(f, -0.1)),
        ("p = 1.5 raises a ValueError", lambda f: _raises_value_error(f, 1.5)),
    ]


def check_dropout(fn: Callable, p: float = 0.3, seed: int = 0, n: int = 100_000,
                  forbid: Iterable[str] = DROPOUT_FORBID) -> bool:
    """Check chapter 5's exercise 3, ``fn(x, p)``: dropout in training mode, by its statistics on a large
    positive input drawn from ``seed`` (a zero means "dropped"); PyTorch's dropouts are refused."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, generator=g, dtype=torch.float64) + 1
    torch.manual_seed(seed)
    return check_properties("my_dropout", fn, _dropout_properties(x, p), forbid=forbid)
