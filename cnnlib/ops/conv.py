"""Two-dimensional cross-correlation ("convolution" in deep learning), from loops to im2col.

``corr2d`` and its multi-channel versions are the teaching versions of chapter 1: explicit loops over
the output positions. ``conv2d`` is the vectorised version: it unfolds every window into a column
(im2col) and turns the whole layer into one matrix product, with the same results as ``F.conv2d``.
With ``groups=g`` (chapter 17) it splits the channels into g groups, convolves each group with its own
filters and concatenates the results: a grouped convolution, ``g = channels`` being a depthwise one.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IntPair = int | tuple[int, int]


def _check_tensor(X: object, name: str, ndim: int, layout: str) -> None:
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(X).__name__}")
    if X.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions {layout}, got shape {tuple(X.shape)}")


def _pair(value: IntPair, name: str, minimum: int) -> tuple[int, int]:
    """``value`` as a (height, width) pair of ints, each at least ``minimum``."""
    pair = (value, value) if isinstance(value, int) else tuple(value) if isinstance(value, (tuple, list)) else ()
    if len(pair) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in pair):
        raise ValueError(f"{name} must be an int or a pair of ints (height, width), got {value!r}")
    if min(pair) < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
    return pair


def _result_dtype(X: torch.Tensor, K: torch.Tensor) -> torch.dtype:
    """Floats keep their type; integers and booleans are summed as int64, so uint8 images cannot overflow."""
    dtype = torch.result_type(X, K)
    return dtype if dtype.is_floating_point or dtype.is_complex else torch.int64


def corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Valid 2-D cross-correlation of an (H, W) input with an (h, w) kernel: an (H-h+1, W-w+1) output.

    Integer inputs give an int64 result (a uint8 product would wrap around at 256).
    """
    _check_tensor(X, "X", 2, "(H, W)")
    _check_tensor(K, "K", 2, "(h, w)")
    h, w = K.shape
    if h == 0 or w == 0:
        raise ValueError(f"the kernel {tuple(K.shape)} is empty: it needs at least one row and one column")
    if h > X.shape[0] or w > X.shape[1]:
        raise ValueError(f"the kernel {tuple(K.shape)} is larger than the input {tuple(X.shape)}")
    dtype = _result_dtype(X, K)
    X, K = X.to(dtype), K.to(dtype)
    Y = torch.zeros(X.shape[0] - h + 1, X.shape[1] - w + 1, dtype=dtype, device=X.device)
    for i in range(Y.shape[0]):
        for j in range(Y.shape[1]):
            Y[i, j] = (X[i:i + h, j:j + w] * K).sum()
    return Y


def corr2d_multi_in(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Cross-correlate a (C, H, W) input with a (C, h, w) kernel, channel by channel, and sum the results."""
    _check_tensor(X, "X", 3, "(C, H, W)")
    _check_tensor(K, "K", 3, "(C, h, w)")
    if X.shape[0] != K.shape[0]:
        raise ValueError(f"X has {X.shape[0]} channels but K has {K.shape[0]}: they must match")
    if X.shape[0] == 0:
        raise ValueError(f"X {tuple(X.shape)} has no channels: there is nothing to cross-correlate")
    return sum(corr2d(x, k) for x, k in zip(X, K))


def corr2d_multi_in_out(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Cross-correlate a (C, H, W) input with an (O, C, h, w) kernel: one (H', W') map per output channel."""
    _check_tensor(X, "X", 3, "(C, H, W)")
    _check_tensor(K, "K", 4, "(O, C, h, w)")
    if K.shape[0] == 0:
        raise ValueError(f"K {tuple(K.shape)} has no output channels")
    return torch.stack([corr2d_multi_in(X, k) for k in K])


def conv_output_size(size: IntPair, kernel: IntPair, padding: IntPair = 0, stride: IntPair = 1,
                     dilation: IntPair = 1) -> int | tuple[int, int]:
    """Output size of a convolution: ``floor((n + 2p - d(k-1) - 1) / s) + 1``, for an int or an (h, w) pair.

    Returns an int when every argument is an int, else a (height, width) tuple.
    """
    sizes = _pair(size, "size", 1)
    kernels, paddings = _pair(kernel, "kernel", 1), _pair(padding, "padding", 0)
    strides, dilations = _pair(stride, "stride", 1), _pair(dilation, "dilation", 1)
    out = []
    for n, k, p, s, d in zip(sizes, kernels, paddings, strides, dilations):
        span = d * (k - 1) + 1
        if n + 2 * p < span:
            raise ValueError(f"the kernel spans {span} pixels (kernel {k}, dilation {d}) but the padded input "
                             f"has only {n + 2 * p} (size {n}, padding {p}): the output would be empty")
        out.append((n + 2 * p - span) // s + 1)
    all_ints = all(isinstance(v, int) for v in (size, kernel, padding, stride, dilation))
    return out[0] if all_ints else tuple(out)


def conv2d(X: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1,
           padding: IntPair = 0, dilation: IntPair = 1, groups: int = 1) -> torch.Tensor:
    """2-D convolution of an (N, C, H, W) batch with (O, C / groups, kh, kw) weights via im2col and matrix products.

    Same results as ``F.conv2d``. With ``groups=g`` the input channels and the filters are split into g
    groups, each filter sees only its group's C / g channels, and the g outputs are concatenated.
    ``X`` and ``weight`` must be floats of one dtype: ``F.unfold`` has no integer version (``corr2d`` takes integers).
    """
    _check_tensor(X, "X", 4, "(N, C, H, W)")
    _check_tensor(weight, "weight", 4, "(O, C, kh, kw)")
    for name, T in (("X", X), ("weight", weight)):
        if not T.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {T.dtype}: convert it with {name}.float()")
    if X.dtype != weight.dtype:
        raise TypeError(f"X is {X.dtype} but weight is {weight.dtype}: give them the same dtype")
    N, C, H, W = X.shape
    O, C_w, kh, kw = weight.shape
    if not isinstance(groups, int) or isinstance(groups, bool) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    if groups > 1:
        if C % groups or O % groups:
            raise ValueError(f"groups={groups} must divide the {C} input channels and the {O} output channels")
        if C_w != C // groups:
            raise ValueError(f"with groups={groups}, each filter sees {C // groups} of X's {C} channels, "
                             f"but weight has {C_w} per filter: weight must be (O, C / groups, kh, kw)")
        biases = bias.chunk(groups) if bias is not None else [None] * groups
        # one ordinary convolution per group: its slice of the channels with its slice of the filters
        return torch.cat([conv2d(x, w, b, stride, padding, dilation)
                          for x, w, b in zip(X.chunk(groups, dim=1), weight.chunk(groups, dim=0), biases)], dim=1)
    if C != C_w:
        raise ValueError(f"X has {C} channels but weight expects {C_w}: they must match")
    if C == 0:
        raise ValueError(f"X {tuple(X.shape)} has no channels: there is nothing to convolve")
    if bias is not None:
        _check_tensor(bias, "bias", 1, "(O,)")
        if bias.shape[0] != O:
            raise ValueError(f"bias has {bias.shape[0]} values but weight has {O} output channels")
    stride, padding, dilation = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out_h, out_w = conv_output_size((H, W), (kh, kw), padding, stride, dilation)
    # cols: (N, C*kh*kw, L): one column per output position, holding the window it sees.
    cols = F.unfold(X, (kh, kw), dilation=dilation, padding=padding, stride=stride)
    Y = weight.reshape(O, -1) @ cols  # (O, C*kh*kw) @ (N, C*kh*kw, L) -> (N, O, L)
    if bias is not None:
        Y = Y + bias.reshape(1, O, 1)
    return Y.reshape(N, O, out_h, out_w)
