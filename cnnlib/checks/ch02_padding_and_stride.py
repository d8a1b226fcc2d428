"""Chapter 02's checks: conv2d with stride, padding and dilation; the output-size formula."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check
from .guard import NO_LIBRARY_CONV


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
                           forbid: Iterable[str] = ("cnnlib.conv_output_size", "cnnlib.ops")) -> bool:
    """Check ``fn(size, kernel, padding=0, stride=1, dilation=1)``, the output size of a convolution.

    With ``pairs=False`` only int arguments are used; with ``pairs=True`` (height, width) tuples too.
    """
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
