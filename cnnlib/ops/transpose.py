"""Transposed convolution from scratch: every input pixel paints a kernel-sized patch onto a larger output.

Input pixel ``(i, j)`` adds ``X[:, c, i, j] * weight[c]`` to the output window that starts at
``(i * stride, j * stride)`` (spread by ``dilation``); overlapping patches add up. ``padding`` then crops
that many rows and columns from each border and ``output_padding`` keeps extra rows at the bottom and
columns at the right. It is the gradient of ``conv2d`` with respect to its input, run forwards.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .conv import IntPair, _check_tensor, _pair


def conv_transpose2d(X: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None = None, stride: IntPair = 1,
                     padding: IntPair = 0, output_padding: IntPair = 0, groups: int = 1,
                     dilation: IntPair = 1) -> torch.Tensor:
    """Transposed convolution of an (N, C, H, W) batch with (C, O // groups, kh, kw) weights, as ``F.conv_transpose2d``.

    The patches of all input pixels are computed in one product (one column per pixel) and
    ``F.fold`` scatter-adds them onto the output canvas, which is then cropped by ``padding``.
    """
    _check_tensor(X, "X", 4, "(N, C, H, W)")
    _check_tensor(weight, "weight", 4, "(C, O // groups, kh, kw)")
    for name, T in (("X", X), ("weight", weight)):
        if not T.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor, got {T.dtype}: convert it with {name}.float()")
    if X.dtype != weight.dtype:
        raise TypeError(f"X is {X.dtype} but weight is {weight.dtype}: give them the same dtype")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"groups must be a positive int, got {groups!r}")
    N, C, H, W = X.shape
    C_w, O_g, kh, kw = weight.shape
    if C != C_w:
        raise ValueError(f"X has {C} channels but weight has {C_w} input channels (its first dimension): "
                         "they must match")
    if C == 0 or O_g == 0 or kh == 0 or kw == 0:
        raise ValueError(f"X {tuple(X.shape)} and weight {tuple(weight.shape)} must have no empty dimension")
    if C % groups:
        raise ValueError(f"groups={groups} must divide the {C} input channels")
    O = O_g * groups
    if bias is not None:
        _check_tensor(bias, "bias", 1, "(O,)")
        if bias.shape[0] != O:
            raise ValueError(f"bias has {bias.shape[0]} values but the output has {O} channels")
    (sh, sw), (ph, pw) = _pair(stride, "stride", 1), _pair(padding, "padding", 0)
    (dh, dw), (oph, opw) = _pair(dilation, "dilation", 1), _pair(output_padding, "output_padding", 0)
    if not (oph < sh or oph < dh) or not (opw < sw or opw < dw):
        raise ValueError(f"output_padding {(oph, opw)} must be smaller than the stride {(sh, sw)} or the "
                         f"dilation {(dh, dw)} along each axis: a larger one would only add zeros")
    canvas = ((H - 1) * sh + dh * (kh - 1) + 1, (W - 1) * sw + dw * (kw - 1) + 1)  # every patch, uncropped
    out_h, out_w = canvas[0] - 2 * ph + oph, canvas[1] - 2 * pw + opw
    if out_h < 1 or out_w < 1:
        raise ValueError(f"padding {(ph, pw)} crops away the whole output: the patches cover only {canvas} pixels")
    # patches[n, g, (o, a, b), i*W + j] = sum over the group's channels c of X[n, c, i, j] * weight[c, o, a, b]
    Xg = X.reshape(N, groups, C // groups, H * W)
    Wg = weight.reshape(groups, C // groups, O_g * kh * kw)
    patches = torch.einsum("ngcl,gck->ngkl", Xg, Wg).reshape(N, O * kh * kw, H * W)
    Y = F.fold(patches, canvas, (kh, kw), dilation=(dh, dw), stride=(sh, sw))  # scatter-add, pixel by pixel
    Y = F.pad(Y, (0, opw, 0, oph))[..., ph:ph + out_h, pw:pw + out_w]
    if bias is not None:
        Y = Y + bias.reshape(1, O, 1, 1)
    return Y
