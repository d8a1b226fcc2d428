"""Two-dimensional max and average pooling, written out as loops over the output positions.

The teaching version of ``F.max_pool2d`` and ``F.avg_pool2d``: it slides a window over the last two
dimensions and takes the maximum or the mean of each window. Leading dimensions (channels, batch) are
handled all at once, so every channel is pooled on its own, as in PyTorch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .conv import _pair, conv_output_size

MODES = ("max", "avg")


def pool2d_output_size(size: tuple[int, int], pool_size: tuple[int, int], stride: tuple[int, int],
                       padding: tuple[int, int]) -> tuple[int, int]:
    """Output (height, width) of pooling: ``(n + 2p - k) // s + 1`` along each axis, as for a convolution."""
    return conv_output_size(tuple(size), tuple(pool_size), tuple(padding), tuple(stride))


def pool2d(X: torch.Tensor, pool_size: int | tuple[int, int], stride: int | tuple[int, int] | None = None,
           padding: int | tuple[int, int] = 0, mode: str = "max") -> torch.Tensor:
    """Max or average pooling over the last two dimensions of ``X`` (shape ``(..., H, W)``).

    ``stride`` defaults to ``pool_size``, as in PyTorch. ``"max"`` pads with -inf (padding never wins);
    ``"avg"`` pads with zeros and counts them in the mean (PyTorch's ``count_include_pad=True``).
    """
    (kh, kw), (sh, sw), (ph, pw) = _pool_settings(X, pool_size, stride, padding, mode)
    H, W = X.shape[-2:]
    fill = 0.0 if mode == "avg" else (-float("inf") if X.is_floating_point() else torch.iinfo(X.dtype).min)
    X = F.pad(X, (pw, pw, ph, ph), value=fill)
    out_h, out_w = pool2d_output_size((H, W), (kh, kw), (sh, sw), (ph, pw))
    Y = X.new_empty(*X.shape[:-2], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = X[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
            Y[..., i, j] = window.amax(dim=(-2, -1)) if mode == "max" else window.mean(dim=(-2, -1))
    return Y


def _pool_settings(X: torch.Tensor, pool_size: int | tuple[int, int], stride: int | tuple[int, int] | None,
                   padding: int | tuple[int, int], mode: str) -> tuple[tuple[int, int], ...]:
    """Check pooling's arguments; return the (height, width) pairs of window, stride and padding."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    if X.ndim < 2:
        raise ValueError(f"X must have at least 2 dimensions (..., H, W), got shape {tuple(X.shape)}")
    if X.dtype == torch.bool or X.is_complex():
        raise TypeError(f"X must hold real numbers, got {X.dtype}: convert it, e.g. with X.float()")
    kh, kw = _pair(pool_size, "pool_size", 1)
    sh, sw = _pair(stride if stride is not None else pool_size, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    if ph > kh // 2 or pw > kw // 2:
        raise ValueError(f"padding {(ph, pw)} is more than half the pool window {(kh, kw)}: "
                         "a window could then hold only padding")
    H, W = X.shape[-2:]
    if H + 2 * ph < kh or W + 2 * pw < kw:
        raise ValueError(f"the pool window {(kh, kw)} is larger than the padded input "
                         f"{(H + 2 * ph, W + 2 * pw)} (input {(H, W)}, padding {(ph, pw)})")
    if mode == "avg" and not X.is_floating_point():
        raise TypeError(f"average pooling needs a floating-point tensor, got {X.dtype}")
    return (kh, kw), (sh, sw), (ph, pw)
