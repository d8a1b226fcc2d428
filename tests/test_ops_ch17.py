"""Chapter 17's from-scratch ops: grouped conv2d, group norm and LayerNorm over channels, checked against torch."""

import pytest
import torch
import torch.nn.functional as F

from cnnlib.ops import conv2d, group_norm, layer_norm2d


@pytest.mark.parametrize("C, O, groups", [(4, 6, 2), (8, 8, 8), (6, 12, 3), (3, 5, 1)])
@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1)])
def test_grouped_conv2d_matches_torch(C, O, groups, stride, padding):
    torch.manual_seed(0)
    X, W, b = torch.randn(2, C, 7, 6), torch.randn(O, C // groups, 3, 3), torch.randn(O)
    expected = F.conv2d(X, W, b, stride=stride, padding=padding, groups=groups)
    torch.testing.assert_close(conv2d(X, W, b, stride, padding, groups=groups), expected, atol=1e-5, rtol=1e-5)


def test_grouped_conv2d_keeps_groups_apart():
    X = torch.zeros(1, 4, 3, 3)
    X[:, 2:] = 1.0  # only the second group's channels are nonzero
    out = conv2d(X, torch.ones(4, 2, 1, 1), groups=2)
    assert torch.equal(out[:, :2], torch.zeros(1, 2, 3, 3)) and torch.equal(out[:, 2:], 2 * torch.ones(1, 2, 3, 3))


def test_grouped_conv2d_errors():
    X = torch.zeros(1, 6, 4, 4)
    with pytest.raises(ValueError, match="must divide"):
        conv2d(X, torch.zeros(4, 2, 3, 3), groups=4)
    with pytest.raises(ValueError, match=r"weight must be \(O, C / groups"):
        conv2d(X, torch.zeros(6, 6, 3, 3), groups=3)
    with pytest.raises(ValueError, match="positive int"):
        conv2d(X, torch.zeros(6, 6, 3, 3), groups=0)


@pytest.mark.parametrize("groups", [1, 2, 6])
def test_group_norm_matches_torch(groups):
    torch.manual_seed(1)
    X, gamma, beta = 3 * torch.randn(3, 6, 4, 5) + 2, torch.randn(6), torch.randn(6)
    torch.testing.assert_close(group_norm(X, groups, gamma, beta), F.group_norm(X, groups, gamma, beta),
                               atol=1e-5, rtol=1e-5)


def test_group_norm_does_not_mix_examples():
    torch.manual_seed(2)
    X, gamma, beta = torch.randn(4, 4, 3, 3), torch.ones(4), torch.zeros(4)
    torch.testing.assert_close(group_norm(X, 2, gamma, beta)[:1], group_norm(X[:1], 2, gamma, beta))


def test_layer_norm2d_matches_torch():
    torch.manual_seed(3)
    X, gamma, beta = 2 * torch.randn(2, 5, 3, 4) - 1, torch.randn(5), torch.randn(5)
    expected = F.layer_norm(X.permute(0, 2, 3, 1), (5,), gamma, beta, 1e-6).permute(0, 3, 1, 2)
    torch.testing.assert_close(layer_norm2d(X, gamma, beta), expected, atol=1e-5, rtol=1e-5)


def test_norm_errors():
    X = torch.zeros(2, 6, 3, 3)
    with pytest.raises(ValueError, match="divides the 6 channels"):
        group_norm(X, 4, torch.ones(6), torch.zeros(6))
    with pytest.raises(ValueError, match="gamma must have shape"):
        group_norm(X, 2, torch.ones(5), torch.zeros(6))
    with pytest.raises(ValueError, match="4-D"):
        layer_norm2d(torch.zeros(6, 3), torch.ones(6), torch.zeros(6))
    with pytest.raises(ValueError, match="eps"):
        layer_norm2d(X, torch.ones(6), torch.zeros(6), eps=0)
