"""Chapter 02's checks: conv2d with stride, padding and dilation; the output-size formula; the settings."""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, _unset, check
from .guard import NO_LIBRARY_CONV, NO_LIBRARY_POOL


def _random_conv_setting(g: torch.Generator) -> tuple[tuple[int, int], ...]:
    """Kernel, stride, padding, dilation and an input size they fit, per axis."""
    axes = []
    for _ in range(2):
        k, s, p, d = _randint(g, 1, 4), _randint(g, 1, 3), _randint(g, 0, 2), _randint(g, 1, 2)
        span = d * (k - 1) + 1
        n = _randint(g, max(1, span - 2 * p), span + 6)
        axes.append((k, s, p, d, n))
    return tuple(zip(*axes))


def check_conv2d(fn: Callable, n_random: int = 12, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, weight, bias=None, stride=1, padding=0, dilation=1)`` against ``F.conv2d``."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((_ramp(1, 1, 3, 3), _ramp(1, 1, 2, 2))),
             Case((_ramp(1, 2, 4, 4), _ramp(3, 2, 3, 3) / 10, torch.tensor([1.0, 0.0, -1.0])), {"padding": 1}),
             Case((_ramp(1, 1, 5, 5), torch.ones(1, 1, 3, 3)), {"stride": 2}),
             Case((_ramp(1, 1, 5, 6), _ramp(1, 1, 2, 2)), {"dilation": 2}),
             Case((_ramp(2, 1, 5, 4), _ramp(1, 1, 3, 2)), {"stride": (2, 1), "padding": (0, 1), "dilation": (1, 2)})]
    for i in range(n_random):
        (k_h, k_w), stride, padding, dilation, (H, W) = _random_conv_setting(g)
        N, C, O = _randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 1, 3)
        X, weight = torch.randn(N, C, H, W, generator=g), torch.randn(O, C, k_h, k_w, generator=g)
        bias = torch.randn(O, generator=g) if i % 2 else None
        as_int = all(v[0] == v[1] for v in (stride, padding, dilation)) and i % 3 == 0
        settings = {"stride": stride, "padding": padding, "dilation": dilation}
        cases.append(Case((X, weight, bias), {k: v[0] for k, v in settings.items()} if as_int else settings))

    def reference(X, weight, bias=None, stride=1, padding=0, dilation=1):
        bias = None if bias is None else bias.double()
        return F.conv2d(X.double(), weight.double(), bias, stride, padding, dilation)

    return check(fn, reference, cases, forbid=forbid)


def _ref_conv_output_size(size, kernel, padding=0, stride=1, dilation=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    out = F.conv2d(torch.zeros(1, 1, *pair(size)), torch.zeros(1, 1, *pair(kernel)), stride=pair(stride),
                   padding=pair(padding), dilation=pair(dilation)).shape[-2:]
    all_ints = all(isinstance(v, int) for v in (size, kernel, padding, stride, dilation))
    return int(out[0]) if all_ints else (int(out[0]), int(out[1]))


def check_conv_output_size(fn: Callable, pairs: bool = True, n_random: int = 30, seed: int = 0,
                           forbid: Iterable[str] | None = None) -> bool:
    """Check ``fn(size, kernel, padding=0, stride=1, dilation=1)``, the output size of a convolution.

    With ``pairs=False`` only int arguments are used; with ``pairs=True`` (height, width) tuples too.
    ``forbid`` defaults to ``NO_LIBRARY_SIZE``: running a convolution or pooling layer (on zeros, on the
    meta device, or through cnnlib) would give the size without the formula.
    """
    forbid = NO_LIBRARY_SIZE if forbid is None else forbid
    g = torch.Generator().manual_seed(seed)
    cases = [Case((5, 3)), Case((5, 3), {"padding": 1}), Case((7, 3), {"stride": 2}), Case((8, 3), {"stride": 2}),
             Case((6, 3), {"padding": 1, "stride": 2}), Case((9, 3), {"dilation": 2}), Case((28, 5), {"padding": 2}),
             Case((224, 11), {"padding": 2, "stride": 4}), Case((1, 1))]
    if pairs:
        cases += [Case(((6, 8), (3, 4))), Case(((6, 8), (3, 3)), {"padding": (0, 1), "stride": (3, 4)})]
    for i in range(n_random):
        (k_h, k_w), stride, padding, dilation, (H, W) = _random_conv_setting(g)
        if pairs and i % 2:
            cases.append(Case(((H, W), (k_h, k_w)), {"padding": padding, "stride": stride, "dilation": dilation}))
        else:
            cases.append(Case((H, k_h), {"padding": padding[0], "stride": stride[0], "dilation": dilation[0]}))
    return check(fn, _ref_conv_output_size, cases, forbid=forbid)


#: What computing an output size may not call: every convolution and pooling kernel, and cnnlib's helpers
#: that run them (a layer on zeros, or on the meta device, would compute the size for you).
NO_LIBRARY_SIZE = tuple(dict.fromkeys(NO_LIBRARY_CONV + NO_LIBRARY_POOL + (
    "F.conv3d", "F.conv_transpose1d", "F.conv_transpose3d", "F.max_pool1d", "F.avg_pool1d", "F.max_pool3d",
    "F.avg_pool3d", "cnnlib.conv_output_size", "cnnlib.inspect")))


def _out(n: int, k: int, p: int = 0, s: int = 1, d: int = 1) -> int:
    return (n + 2 * p - d * (k - 1) - 1) // s + 1


def _int_answer(name: str, value: Any) -> int:
    if _unset(value):
        raise AssertionError(f"{name} is not implemented yet: set it to your answer (it is still None), run its "
                             "cell, then run this check again.")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise AssertionError(f"{name} should be an int, got {type(value).__name__} {value!r}.")
    return int(value)


def check_conv_settings(padding_keep_28: Any, padding_halve_32: Any, dilation_span_7: Any,
                        padding_keep_dilated: Any) -> bool:
    """Check chapter 2's exercise 2: four ints, each tested by what the layer it sets up does to a size."""
    p = _int_answer("padding_keep_28", padding_keep_28)
    if p < 0 or _out(28, 5, p) != 28:
        raise AssertionError(f"padding_keep_28 is not right: with padding {p} a 5x5 kernel at stride 1 does not keep "
                             "a 28x28 input at 28x28.")
    p = _int_answer("padding_halve_32", padding_halve_32)
    if p < 0 or _out(32, 3, p, 2) != 16:
        raise AssertionError(f"padding_halve_32 is not right: with padding {p} a 3x3 kernel at stride 2 does not turn "
                             "32x32 into 16x16.")
    if p > 0 and _out(32, 3, p - 1, 2) == 16:
        raise AssertionError(f"padding_halve_32 is not the smallest: padding {p - 1} also turns 32x32 into 16x16.")
    d = _int_answer("dilation_span_7", dilation_span_7)
    if d < 1 or d * (3 - 1) + 1 != 7:
        raise AssertionError(f"dilation_span_7 is not right: with dilation {d} a 3x3 kernel does not span 7 pixels.")
    p = _int_answer("padding_keep_dilated", padding_keep_dilated)
    if p < 0 or any(_out(n, 3, p, 1, d) != n for n in (7, 20, 33)):
        raise AssertionError(f"padding_keep_dilated is not right: with padding {p} and dilation {d} a 3x3 kernel at "
                             "stride 1 does not keep the size of its input.")
    print("✓ padding_keep_28, padding_halve_32, dilation_span_7, padding_keep_dilated are right")
    return True


def check_same_padding_split(pad_before: Any, pad_after: Any, seed: int = 0, n_random: int = 4) -> bool:
    """Check chapter 2's exercise 3(b): F.pad by (pad_before, pad_after) then an unpadded convolution equals
    ``padding="same"`` for a 4x4 kernel, on random inputs and weights drawn from ``seed``."""
    before, after = _int_answer("pad_before", pad_before), _int_answer("pad_after", pad_after)
    if before + after != 3 or min(before, after) < 0:
        raise AssertionError(f"(pad_before, pad_after) = ({before}, {after}) is not right: a 4x4 kernel needs "
                             "4 - 1 = 3 padding pixels in all along each axis.")
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        X = torch.randn(_randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 4, 9), _randint(g, 4, 9), generator=g)
        W = torch.randn(_randint(g, 1, 3), X.shape[1], 4, 4, generator=g)
        with warnings.catch_warnings():  # PyTorch warns that an even kernel needs a padded copy: known here
            warnings.simplefilter("ignore", UserWarning)
            same = F.conv2d(X.double(), W.double(), padding="same")
        ours = F.conv2d(F.pad(X.double(), (before, after, before, after)), W.double())
        if not torch.allclose(ours, same, atol=1e-9):
            raise AssertionError(f"(pad_before, pad_after) = ({before}, {after}) is not right: F.pad this way, then an "
                                 f"unpadded convolution, differs from padding='same' on a {tuple(X.shape)} input.")
    print(f"✓ (pad_before, pad_after): F.pad then an unpadded convolution equals padding='same' on {n_random} "
          "random inputs")
    return True
