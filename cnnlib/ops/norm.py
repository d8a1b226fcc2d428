"""Batch normalisation from scratch: a function for the arithmetic and a module that keeps the state.

Both follow PyTorch's conventions exactly, so they can be checked against ``nn.BatchNorm1d/2d`` and
swapped with them through ``state_dict``:

- in training, normalise with the mean and the *biased* variance of the batch;
- update the running statistics as ``(1 - momentum) * running + momentum * batch``, using the
  *unbiased* variance of the batch;
- in evaluation, normalise with the running statistics.

Chapter 17 adds the norms that do not look at the batch: ``group_norm`` (Wu and He, 2018) normalises each
example over groups of channels, ``layer_norm2d`` each pixel over its channels (ConvNeXt's LayerNorm).
Both give the same results in training and evaluation, at any batch size.
"""

from __future__ import annotations

import math

import torch
from torch import nn


def _check_momentum(momentum: float) -> None:
    if not isinstance(momentum, (int, float)) or isinstance(momentum, bool) or not 0 <= momentum <= 1:
        raise ValueError(f"momentum must be a number in [0, 1], got {momentum!r}")


def _check_eps(eps: float) -> None:
    if not isinstance(eps, (int, float)) or isinstance(eps, bool) or not 0 < eps < math.inf:
        raise ValueError(f"eps must be a positive, finite number (it keeps the division by the standard "
                         f"deviation away from zero), got {eps!r}")


def batch_norm(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, moving_mean: torch.Tensor,
               moving_var: torch.Tensor, eps: float = 1e-5, momentum: float = 0.1, training: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Normalise ``X`` per feature, then scale by ``gamma`` and shift by ``beta``.

    ``X`` is (N, F) or (N, C, H, W); the other tensors have shape (C,). Returns ``(Y, new_mean, new_var)``:
    the updated running statistics in training, the given ones unchanged in evaluation.
    """
    if X.ndim not in (2, 4):
        raise ValueError(f"X must be 2-D (N, F) or 4-D (N, C, H, W), got shape {tuple(X.shape)}")
    num_features = X.shape[1]
    for name, tensor in (("gamma", gamma), ("beta", beta), ("moving_mean", moving_mean),
                         ("moving_var", moving_var)):
        if tuple(tensor.shape) != (num_features,):
            raise ValueError(f"{name} must have shape ({num_features},) to match the {num_features} "
                             f"features of X {tuple(X.shape)}, got {tuple(tensor.shape)}")
    _check_eps(eps)
    _check_momentum(momentum)

    dims = (0,) if X.ndim == 2 else (0, 2, 3)  # average over everything except the feature axis
    shape = (1, num_features) if X.ndim == 2 else (1, num_features, 1, 1)
    if training:
        count = X.numel() // num_features  # values per feature in this batch
        if count < 2:
            raise ValueError(f"training needs more than one value per feature, got X of shape {tuple(X.shape)}")
        mean = X.mean(dim=dims)
        var = X.var(dim=dims, correction=0)  # biased: divide by count
        unbiased_var = var.detach() * count / (count - 1)
        new_mean = (1 - momentum) * moving_mean + momentum * mean.detach()
        new_var = (1 - momentum) * moving_var + momentum * unbiased_var
    else:
        mean, var = moving_mean, moving_var
        new_mean, new_var = moving_mean, moving_var
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    Y = gamma.reshape(shape) * X_hat + beta.reshape(shape)
    return Y, new_mean, new_var


class BatchNorm(nn.Module):
    """Batch normalisation for (N, F) or (N, C, H, W) input; a stand-in for ``nn.BatchNorm1d/2d``.

    Learned ``weight`` (gamma) and ``bias`` (beta); running statistics kept as buffers, so they move with
    ``.to(device)`` and are saved in ``state_dict`` under the same names as PyTorch's.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        if not isinstance(num_features, int) or isinstance(num_features, bool) or num_features < 1:
            raise ValueError(f"num_features must be a positive int, got {num_features!r}")
        _check_eps(eps)
        _check_momentum(momentum)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = nn.Parameter(torch.ones(num_features))
        self.bias = nn.Parameter(torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        if X.ndim in (2, 4) and X.shape[1] != self.num_features:
            raise ValueError(f"BatchNorm({self.num_features}) got input of shape {tuple(X.shape)} "
                             f"with {X.shape[1]} features (dimension 1)")
        Y, new_mean, new_var = batch_norm(X, self.weight, self.bias, self.running_mean, self.running_var,
                                          self.eps, self.momentum, training=self.training)
        if self.training:
            with torch.no_grad():
                self.running_mean.copy_(new_mean)
                self.running_var.copy_(new_var)
                self.num_batches_tracked += 1
        return Y

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


def _check_affine(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor) -> None:
    if not isinstance(X, torch.Tensor) or X.ndim != 4:
        raise ValueError(f"X must be a 4-D tensor (N, C, H, W), got {getattr(X, 'shape', type(X).__name__)}")
    C = X.shape[1]
    for name, tensor in (("gamma", gamma), ("beta", beta)):
        if tuple(tensor.shape) != (C,):
            raise ValueError(f"{name} must have shape ({C},) to match the {C} channels of X, got {tuple(tensor.shape)}")


def group_norm(X: torch.Tensor, num_groups: int, gamma: torch.Tensor, beta: torch.Tensor,
               eps: float = 1e-5) -> torch.Tensor:
    """Normalise each example over groups of C / num_groups channels (and all pixels), then scale and shift per
    channel. ``num_groups=1`` normalises over (C, H, W); ``num_groups=C`` is instance norm. Same as ``F.group_norm``."""
    _check_affine(X, gamma, beta)
    _check_eps(eps)
    N, C, H, W = X.shape
    if not isinstance(num_groups, int) or isinstance(num_groups, bool) or num_groups < 1 or C % num_groups:
        raise ValueError(f"num_groups must be a positive int that divides the {C} channels, got {num_groups!r}")
    G = X.reshape(N, num_groups, -1)  # each row: one example's group, all its channels and pixels
    mean = G.mean(dim=2, keepdim=True)
    var = G.var(dim=2, correction=0, keepdim=True)
    X_hat = ((G - mean) / torch.sqrt(var + eps)).reshape(N, C, H, W)
    return gamma.reshape(1, C, 1, 1) * X_hat + beta.reshape(1, C, 1, 1)


def layer_norm2d(X: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Normalise each pixel of each example over its C channels, then scale and shift per channel: ConvNeXt's
    LayerNorm, the same as ``F.layer_norm`` on the channels-last tensor."""
    _check_affine(X, gamma, beta)
    _check_eps(eps)
    C = X.shape[1]
    mean = X.mean(dim=1, keepdim=True)
    var = X.var(dim=1, correction=0, keepdim=True)
    return gamma.reshape(1, C, 1, 1) * (X - mean) / torch.sqrt(var + eps) + beta.reshape(1, C, 1, 1)
