"""The notebooks' reference solutions of the from-scratch exercises pass their checks, guard on, with the
seeds of the visible and of the hidden checks (copied from the solution cells; kept in step by hand)."""

import math

import pytest
import torch
import torch.nn.functional as F

from cnnlib import checks
from cnnlib.ops import pool2d


def pair(v):
    return [v, v] if isinstance(v, int) else list(v)


# -- the notebooks' reference solutions (copied from their solution cells) -----------------------------------

def my_corr2d(X, K):
    h, w = K.shape
    out_h, out_w = X.shape[0] - h + 1, X.shape[1] - w + 1
    Y = X.new_zeros(out_h, out_w)
    for a in range(h):
        for b in range(w):
            Y += K[a, b] * X[a:a + out_h, b:b + out_w]
    return Y


def corr2d_multi_in_out(X, K):
    return torch.stack([sum(my_corr2d(x, k) for x, k in zip(X, kernels)) for kernels in K])


def conv1x1(X, W):
    return torch.einsum("oc,nchw->nohw", W, X)


def output_size(n, k, padding=0, stride=1, dilation=1):
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def my_conv2d(X, weight, bias=None, stride=1, padding=0, dilation=1):
    (s_h, s_w), (p_h, p_w), (d_h, d_w) = pair(stride), pair(padding), pair(dilation)
    k_h, k_w = weight.shape[-2:]
    X = F.pad(X, (p_w, p_w, p_h, p_h))
    out_h = (X.shape[-2] - d_h * (k_h - 1) - 1) // s_h + 1
    out_w = (X.shape[-1] - d_w * (k_w - 1) - 1) // s_w + 1
    Y = X.new_zeros(X.shape[0], weight.shape[0], out_h, out_w)
    for a in range(k_h):
        for b in range(k_w):
            rows = slice(a * d_h, a * d_h + (out_h - 1) * s_h + 1, s_h)
            cols = slice(b * d_w, b * d_w + (out_w - 1) * s_w + 1, s_w)
            Y += torch.einsum("nchw,oc->nohw", X[:, :, rows, cols], weight[:, :, a, b])
    if bias is not None:
        Y += bias[None, :, None, None]
    return Y


def my_pool2d(X, pool_size, stride=None, padding=0, mode="max"):
    (p_h, p_w), (s_h, s_w), (pad_h, pad_w) = pair(pool_size), pair(stride or pool_size), pair(padding)
    X = F.pad(X, (pad_w, pad_w, pad_h, pad_h), value=float("-inf") if mode == "max" else 0.0)
    out_h = (X.shape[-2] - p_h) // s_h + 1
    out_w = (X.shape[-1] - p_w) // s_w + 1
    Y = X.new_zeros(*X.shape[:-2], out_h, out_w)
    for i in range(out_h):
        for j in range(out_w):
            window = X[..., i * s_h:i * s_h + p_h, j * s_w:j * s_w + p_w]
            Y[..., i, j] = window.amax(dim=(-2, -1)) if mode == "max" else window.mean(dim=(-2, -1))
    return Y


def global_avg_pool(X):
    return pool2d(X, tuple(X.shape[-2:]), mode="avg").flatten(1)


def my_dropout(x, p):
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep / (1 - p)


def receptive_field_pairs(layers):
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field


def conv1x1_layer(x, weight, bias):
    if weight.shape[2:] != (1, 1):
        raise ValueError(f"expected a 1x1 kernel, got {tuple(weight.shape[2:])}")
    return torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x) + bias[None, :, None, None]


def my_batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)
    if training:
        m = X.numel() // X.shape[1]
        mean, var = X.mean(dim=dims), X.var(dim=dims, correction=0)
        new_mean = (1 - momentum) * moving_mean + momentum * mean.detach()
        new_var = (1 - momentum) * moving_var + momentum * var.detach() * m / (m - 1)
    else:
        mean, var = moving_mean, moving_var
        new_mean, new_var = moving_mean, moving_var
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * X_hat + beta.reshape(shape), new_mean, new_var


def receptive_field_size(layers):
    r, j = 1, 1
    for kernel, stride, dilation in layers:
        r += (kernel - 1) * dilation * j
        j *= stride
    return r


def stack_vs_single(channels, kernel):
    layers = (kernel - 1) // 2
    return kernel * kernel * channels * channels, layers * 9 * channels * channels, layers


def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    initial = max_lr / div_factor
    peak_step = float(pct_start * total_steps) - 1

    def cosine(a, b, t):
        return b + (a - b) / 2 * (1 + math.cos(math.pi * t))

    if step <= peak_step:
        return cosine(initial, max_lr, step / peak_step)
    return cosine(max_lr, initial / final_div_factor, (step - peak_step) / (total_steps - 1 - peak_step))


def my_random_crop(X, padding):
    N, _, H, W = X.shape
    padded = F.pad(X, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (N, 1, 1), device=X.device)
    dx = torch.randint(0, 2 * padding + 1, (N, 1, 1), device=X.device)
    rows = dy + torch.arange(H, device=X.device).view(1, H, 1)
    cols = dx + torch.arange(W, device=X.device).view(1, 1, W)
    n = torch.arange(N, device=X.device).view(N, 1, 1)
    return padded[n, :, rows, cols].permute(0, 3, 1, 2)


def grad_cam_map(activations, gradients):
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return F.relu((weights * activations).sum(dim=1))


def occlusion_drop(model, x, target, top, left, patch, baseline=0.0):
    occluded = x.clone()
    occluded[:, :, top:top + patch, left:left + patch] = baseline
    with torch.no_grad():
        return model(x).softmax(dim=1)[:, target] - model(occluded).softmax(dim=1)[:, target]


# (check, solution, keyword arguments): the notebooks' visible checks, then their hidden ones.
SOLUTIONS = [
    (checks.check_corr2d, my_corr2d, {}), (checks.check_corr2d, my_corr2d, {"n_random": 20, "seed": 101}),
    (checks.check_corr2d_multi_in_out, corr2d_multi_in_out, {}),
    (checks.check_corr2d_multi_in_out, corr2d_multi_in_out, {"n_random": 15, "seed": 102}),
    (checks.check_conv1x1, conv1x1, {}), (checks.check_conv1x1, conv1x1, {"seed": 41, "n_random": 12}),
    (checks.check_conv_output_size, output_size, {"pairs": False}),
    (checks.check_conv_output_size, output_size, {"pairs": False, "n_random": 40, "seed": 201}),
    (checks.check_conv2d, my_conv2d, {}), (checks.check_conv2d, my_conv2d, {"n_random": 20, "seed": 202}),
    (checks.check_pool2d, my_pool2d, {}), (checks.check_pool2d, my_pool2d, {"n_random": 20, "seed": 301}),
    (checks.check_global_avg_pool, global_avg_pool, {}),
    (checks.check_global_avg_pool, global_avg_pool, {"seed": 302, "n_random": 10}),
    (checks.check_dropout, my_dropout, {}), (checks.check_dropout, my_dropout, {"p": 0.5, "seed": 501, "n": 50_000}),
    (checks.check_receptive_field, receptive_field_pairs, {"dilation": False}),
    (checks.check_receptive_field, receptive_field_pairs, {"n_random": 30, "seed": 502, "dilation": False}),
    (checks.check_conv1x1_layer, conv1x1_layer, {}), (checks.check_conv1x1_layer, conv1x1_layer, {"seed": 701, "n_random": 10}),
    (checks.check_batch_norm, my_batch_norm, {}), (checks.check_batch_norm, my_batch_norm, {"n_random": 12, "seed": 901}),
    (checks.check_receptive_field, receptive_field_size, {}),
    (checks.check_receptive_field, receptive_field_size, {"n_random": 30, "seed": 1201}),
    (checks.check_stack_vs_single, stack_vs_single, {}), (checks.check_stack_vs_single, stack_vs_single, {"seed": 1202}),
    (checks.check_one_cycle_lr, one_cycle_lr, {}), (checks.check_one_cycle_lr, one_cycle_lr, {"n_random": 10, "seed": 1501}),
    (checks.check_random_crop, my_random_crop, {}), (checks.check_random_crop, my_random_crop, {"seed": 1502}),
    (checks.check_grad_cam_map, grad_cam_map, {}), (checks.check_grad_cam_map, grad_cam_map, {"n_random": 12, "seed": 1601}),
    (checks.check_occlusion_drop, occlusion_drop, {}),
    (checks.check_occlusion_drop, occlusion_drop, {"n_random": 8, "seed": 1602}),
]


@pytest.mark.parametrize("check, solution, kwargs", SOLUTIONS,
                         ids=[f"{s[0].__name__}-{s[2].get('seed', 'visible')}" for s in SOLUTIONS])
def test_the_reference_solutions_pass(check, solution, kwargs):
    assert check(solution, **kwargs) is True
