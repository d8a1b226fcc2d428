"""Chapter 17's self-checks: each solution passes (visible and hidden seeds); a stub fails with "not implemented
yet"; plausible mistakes and library shortcuts fail without the check printing the right answer."""

import pytest
import torch
import torch.nn.functional as F

from cnnlib import checks
from checking import fails, stub


# -- the notebook's given helper and reference solutions (copied from its cells) -------------------------------

def plain_conv2d(X, weight):
    kh, kw = weight.shape[-2:]
    windows = X.unfold(2, kh, 1).unfold(3, kw, 1)  # (N, C, H', W', kh, kw)
    return torch.einsum("nchwij,ocij->nohw", windows, weight)


def grouped_conv2d(X, weight, groups):  # one ordinary convolution with a block-diagonal weight
    O, per_group, kh, kw = weight.shape
    full = weight.new_zeros(O, per_group * groups, kh, kw)
    filters = O // groups
    for g in range(groups):
        rows = slice(g * filters, (g + 1) * filters)
        full[rows, g * per_group:(g + 1) * per_group] = weight[rows]
    return plain_conv2d(X, full)


def group_norm(X, num_groups, gamma, beta, eps=1e-5):
    N, C, H, W = X.shape
    G = X.reshape(N, num_groups, -1)
    mean, var = G.mean(dim=2, keepdim=True), G.var(dim=2, correction=0, keepdim=True)
    X_hat = ((G - mean) / torch.sqrt(var + eps)).reshape(N, C, H, W)
    return gamma.reshape(1, C, 1, 1) * X_hat + beta.reshape(1, C, 1, 1)


# -- exercise 1 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1701])
def test_grouped_conv2d_solution_passes(seed):
    assert checks.check_grouped_conv2d(grouped_conv2d, seed=seed)


def test_grouped_conv2d_mistakes_fail():
    assert "not implemented yet" in fails(checks.check_grouped_conv2d, stub)

    def split_by_groups(X, weight, groups):  # also right: one convolution per group
        return torch.cat([plain_conv2d(x, w) for x, w in zip(X.chunk(groups, 1), weight.chunk(groups, 0))], 1)

    assert checks.check_grouped_conv2d(split_by_groups)

    def ignores_groups(X, weight, groups):  # every filter sees the first C / groups channels only
        return plain_conv2d(X[:, :weight.shape[1]], weight)

    assert "smallest failing one" in fails(checks.check_grouped_conv2d, ignores_groups)

    def splits_filters_wrong(X, weight, groups):  # interleaves the filters instead of taking blocks of them
        return torch.cat([plain_conv2d(x, weight[i::groups]) for i, x in enumerate(X.chunk(groups, dim=1))], dim=1)

    assert "smallest failing one" in fails(checks.check_grouped_conv2d, splits_filters_wrong)


def test_grouped_conv2d_refuses_library_convolutions():
    assert "conv" in fails(checks.check_grouped_conv2d, lambda X, weight, groups: F.conv2d(X, weight, groups=groups))

    def by_unfold(X, weight, groups):
        cols = F.unfold(X, weight.shape[-2:])
        return cols.sum() * 0 + F.conv2d(X, weight, groups=groups)

    assert "unfold" in fails(checks.check_grouped_conv2d, by_unfold)

    def by_cnnlib(X, weight, groups):
        from cnnlib.ops import conv2d
        return conv2d(X, weight, groups=groups)

    assert "cnnlib" in fails(checks.check_grouped_conv2d, by_cnnlib)


# -- exercise 2 --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1702])
def test_group_norm_solution_passes(seed):
    assert checks.check_group_norm(group_norm, seed=seed)


def test_group_norm_mistakes_fail():
    assert "not implemented yet" in fails(checks.check_group_norm, stub)

    def unbiased(X, num_groups, gamma, beta, eps=1e-5):
        N, C, H, W = X.shape
        G = X.reshape(N, num_groups, -1)
        X_hat = ((G - G.mean(2, keepdim=True)) / torch.sqrt(G.var(2, keepdim=True) + eps)).reshape(N, C, H, W)
        return gamma.reshape(1, C, 1, 1) * X_hat + beta.reshape(1, C, 1, 1)

    assert "smallest failing one" in fails(checks.check_group_norm, unbiased)

    def over_the_batch(X, num_groups, gamma, beta, eps=1e-5):  # mixes examples, like batch norm
        N, C, H, W = X.shape
        G = X.transpose(0, 1).reshape(num_groups, -1)
        mean, var = G.mean(1, keepdim=True), G.var(1, correction=0, keepdim=True)
        X_hat = ((G - mean) / torch.sqrt(var + eps)).reshape(C, N, H, W).transpose(0, 1)
        return gamma.reshape(1, C, 1, 1) * X_hat + beta.reshape(1, C, 1, 1)

    assert "smallest failing one" in fails(checks.check_group_norm, over_the_batch)


def test_group_norm_refuses_library_norms():
    assert "group_norm" in fails(checks.check_group_norm,
                                 lambda X, g, gamma, beta, eps=1e-5: F.group_norm(X, g, gamma, beta, eps))

    def by_cnnlib(X, g, gamma, beta, eps=1e-5):
        from cnnlib.ops import group_norm as finished
        return finished(X, g, gamma, beta, eps)

    assert "cnnlib" in fails(checks.check_group_norm, by_cnnlib)


# -- exercise 3 --------------------------------------------------------------------------------------------

def test_convnext_block_params():
    answer = 96 * 49 + 96 + 2 * 96 + 96 * 384 + 384 + 384 * 96 + 96 + 96
    assert checks.check_convnext_block_params(answer)
    assert checks.check_convnext_block_params(64 * 9 + 64 + 2 * 64 + 2 * 64 * 256 + 256 + 64 + 64,
                                              channels=64, kernel_size=3)
    assert "not implemented yet" in fails(checks.check_convnext_block_params, None)
    message = fails(checks.check_convnext_block_params, answer - 96)  # forgot the layer scale
    assert "not right" in message and str(answer) not in message
