"""Backward passes written out: the gradients of convolution, pooling and batch norm, and autograd forms.

Each ``*_backward`` takes the gradient of the loss with respect to the output (``dY``) and the forward
pass's inputs, and returns the gradients with respect to those inputs. ``corr2d_backward`` is the teaching
version (a loop that scatters every output gradient back over the window it came from); the others are
vectorised: ``F.unfold`` gathers the windows, ``F.fold`` scatter-adds columns back onto the image. The
``*Function`` classes wrap the course's forward ops and these backward passes as ``torch.autograd.Function``,
so a network built on them trains with ``loss.backward()``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .conv import IntPair, _check_tensor, _pair, conv2d, conv_output_size, corr2d
from .norm import _check_eps, batch_norm
from .pool import _pool_settings, pool2d, pool2d_output_size


def _check_float(**tensors: torch.Tensor) -> None:
    for name, T in tensors.items():
        if not isinstance(T, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(T).__name__}")
        if not T.is_floating_point():
            raise TypeError(f"{name} must be a floating-point tensor to carry a gradient, got {T.dtype}")


def _check_grad_shape(dY: torch.Tensor, expected: tuple[int, ...], what: str) -> None:
    if tuple(dY.shape) != tuple(expected):
        raise ValueError(f"dY has shape {tuple(dY.shape)} but the {what} output has shape {tuple(expected)}: "
                         "dY must be the gradient of the loss with respect to that output")


def corr2d_backward(dY: torch.Tensor, X: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradients ``(dX, dK)`` of ``corr2d(X, K)`` given ``dY``: each output pixel sends ``dY[i, j] * K`` back
    to its window of ``X``, and ``dY[i, j] * window`` to ``K``."""
    _check_float(dY=dY, X=X, K=K)
    _check_tensor(X, "X", 2, "(H, W)")
    _check_tensor(K, "K", 2, "(h, w)")
    h, w = K.shape
    if h == 0 or w == 0 or h > X.shape[0] or w > X.shape[1]:
        raise ValueError(f"the kernel {tuple(K.shape)} must be non-empty and fit in the input {tuple(X.shape)}")
    _check_grad_shape(dY, (X.shape[0] - h + 1, X.shape[1] - w + 1), "corr2d")
    dX, dK = torch.zeros_like(X), torch.zeros_like(K)
    for i in range(dY.shape[0]):
        for j in range(dY.shape[1]):
            dX[i:i + h, j:j + w] += dY[i, j] * K
            dK += dY[i, j] * X[i:i + h, j:j + w]
    return dX, dK


def conv2d_backward(dY: torch.Tensor, X: torch.Tensor, weight: torch.Tensor, stride: IntPair = 1,
                    padding: IntPair = 0, dilation: IntPair = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients ``(dX, dweight, dbias)`` of ``conv2d(X, weight, bias, stride, padding, dilation)`` given ``dY``.

    With im2col the forward pass is ``Y = W @ cols``, so ``dW = dY @ cols^T`` and ``dcols = W^T @ dY``;
    folding ``dcols`` back adds each window's gradient onto the pixels it was read from.
    """
    _check_float(dY=dY, X=X, weight=weight)
    _check_tensor(X, "X", 4, "(N, C, H, W)")
    _check_tensor(weight, "weight", 4, "(O, C, kh, kw)")
    N, C, H, W = X.shape
    O, C_w, kh, kw = weight.shape
    if C != C_w:
        raise ValueError(f"X has {C} channels but weight expects {C_w}: they must match")
    stride, padding, dilation = _pair(stride, "stride", 1), _pair(padding, "padding", 0), _pair(dilation, "dilation", 1)
    out_h, out_w = conv_output_size((H, W), (kh, kw), padding, stride, dilation)
    _check_grad_shape(dY, (N, O, out_h, out_w), "convolution's")
    settings = dict(dilation=dilation, padding=padding, stride=stride)
    cols = F.unfold(X, (kh, kw), **settings)  # (N, C*kh*kw, L): the window each output position read
    dY_flat = dY.reshape(N, O, out_h * out_w)  # (N, O, L)
    dweight = (dY_flat @ cols.transpose(1, 2)).sum(dim=0).reshape(weight.shape)
    dcols = weight.reshape(O, -1).T @ dY_flat  # (N, C*kh*kw, L): each window's share of the gradient
    dX = F.fold(dcols, (H, W), (kh, kw), **settings)  # scatter-add every window back onto the image
    return dX, dweight, dY.sum(dim=(0, 2, 3))


def pool2d_backward(dY: torch.Tensor, X: torch.Tensor, pool_size: IntPair, stride: IntPair | None = None,
                    padding: IntPair = 0, mode: str = "max") -> torch.Tensor:
    """Gradient ``dX`` of ``pool2d(X, pool_size, stride, padding, mode)`` given ``dY``.

    Max pooling routes each output's gradient to its window's arg-max (the first one, as PyTorch does);
    average pooling spreads it evenly over the window, padding included.
    """
    _check_float(dY=dY, X=X)
    (kh, kw), (sh, sw), (ph, pw) = _pool_settings(X, pool_size, stride, padding, mode)
    H, W = X.shape[-2:]
    out_h, out_w = pool2d_output_size((H, W), (kh, kw), (sh, sw), (ph, pw))
    _check_grad_shape(dY, (*X.shape[:-2], out_h, out_w), "pooling")
    flat = X.reshape(-1, 1, H, W)  # every channel of every image pools on its own
    grads = dY.reshape(len(flat), 1, out_h * out_w)  # (B, 1, L)
    if mode == "avg":
        dcols = grads.expand(-1, kh * kw, -1) / (kh * kw)
        dX = F.fold(dcols, (H, W), (kh, kw), padding=(ph, pw), stride=(sh, sw))
    else:
        padded = F.pad(flat, (pw, pw, ph, ph), value=-float("inf"))
        cols = F.unfold(padded, (kh, kw), stride=(sh, sw))  # (B, kh*kw, L)
        winner = cols.argmax(dim=1, keepdim=True)  # first maximum of each window
        dcols = torch.zeros_like(cols).scatter_(1, winner, grads)
        dX = F.fold(dcols, padded.shape[-2:], (kh, kw), stride=(sh, sw))[..., ph:ph + H, pw:pw + W]
    return dX.reshape(X.shape)


def batch_norm_backward(dY: torch.Tensor, X: torch.Tensor, gamma: torch.Tensor, eps: float = 1e-5
                        ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients ``(dX, dgamma, dbeta)`` of training-mode batch norm (batch statistics) given ``dY``.

    The compact formula: ``dX = gamma / (m * std) * (m * dY - sum(dY) - X_hat * sum(dY * X_hat))``, with
    ``m`` values per feature and sums over everything except the feature axis.
    """
    _check_float(dY=dY, X=X, gamma=gamma)
    if X.ndim not in (2, 4):
        raise ValueError(f"X must be 2-D (N, F) or 4-D (N, C, H, W), got shape {tuple(X.shape)}")
    C = X.shape[1]
    if tuple(gamma.shape) != (C,):
        raise ValueError(f"gamma must have shape ({C},) to match the {C} features of X, got {tuple(gamma.shape)}")
    _check_eps(eps)
    _check_grad_shape(dY, tuple(X.shape), "batch norm's")
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, C) if X.ndim == 2 else (1, C, 1, 1)
    m = X.numel() // C
    if m < 2:
        raise ValueError(f"training-mode batch norm needs more than one value per feature, got X of shape "
                         f"{tuple(X.shape)}")
    mean = X.mean(dim=dims, keepdim=True)
    inv_std = torch.rsqrt(X.var(dim=dims, correction=0, keepdim=True) + eps)
    X_hat = (X - mean) * inv_std
    dbeta = dY.sum(dim=dims)
    dgamma = (dY * X_hat).sum(dim=dims)
    dX = gamma.reshape(shape) * inv_std / m * (m * dY - dbeta.reshape(shape) - X_hat * dgamma.reshape(shape))
    return dX, dgamma, dbeta


class Conv2dFunction(torch.autograd.Function):
    """``conv2d`` with ``conv2d_backward`` as its gradient: ``Conv2dFunction.apply(X, weight, bias, stride,
    padding, dilation)``."""

    @staticmethod
    def forward(ctx, X, weight, bias=None, stride=1, padding=0, dilation=1):
        ctx.save_for_backward(X, weight)
        ctx.settings, ctx.has_bias = (stride, padding, dilation), bias is not None
        return conv2d(X, weight, bias, stride, padding, dilation)

    @staticmethod
    def backward(ctx, dY):
        X, weight = ctx.saved_tensors
        dX, dweight, dbias = conv2d_backward(dY, X, weight, *ctx.settings)
        return dX, dweight, dbias if ctx.has_bias else None, None, None, None


class Corr2dFunction(torch.autograd.Function):
    """``corr2d`` with ``corr2d_backward`` as its gradient: ``Corr2dFunction.apply(X, K)``."""

    @staticmethod
    def forward(ctx, X, K):
        ctx.save_for_backward(X, K)
        return corr2d(X, K)

    @staticmethod
    def backward(ctx, dY):
        return corr2d_backward(dY, *ctx.saved_tensors)


class Pool2dFunction(torch.autograd.Function):
    """``pool2d`` with ``pool2d_backward`` as its gradient: ``Pool2dFunction.apply(X, pool_size, stride,
    padding, mode)``."""

    @staticmethod
    def forward(ctx, X, pool_size, stride=None, padding=0, mode="max"):
        ctx.save_for_backward(X)
        ctx.settings = (pool_size, stride, padding, mode)
        return pool2d(X, pool_size, stride, padding, mode)

    @staticmethod
    def backward(ctx, dY):
        (X,) = ctx.saved_tensors
        return pool2d_backward(dY, X, *ctx.settings), None, None, None, None


class BatchNormFunction(torch.autograd.Function):
    """Training-mode ``batch_norm`` (batch statistics) with ``batch_norm_backward`` as its gradient:
    ``BatchNormFunction.apply(X, gamma, beta, eps)``."""

    @staticmethod
    def forward(ctx, X, gamma, beta, eps=1e-5):
        ctx.save_for_backward(X, gamma)
        ctx.eps = eps
        C = X.shape[1] if X.ndim in (2, 4) else 1
        stats = torch.zeros(C, dtype=X.dtype, device=X.device)  # running statistics: unused here
        return batch_norm(X, gamma, beta, stats, stats + 1, eps, training=True)[0]

    @staticmethod
    def backward(ctx, dY):
        X, gamma = ctx.saved_tensors
        return *batch_norm_backward(dY, X, gamma, ctx.eps), None
