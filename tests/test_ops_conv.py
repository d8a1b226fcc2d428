"""cnnlib.ops.conv: the loop versions and the im2col conv2d agree with F.conv2d; bad input raises clearly."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib.ops import conv2d, conv_output_size, corr2d, corr2d_multi_in, corr2d_multi_in_out


def test_corr2d_small_example_by_hand():
    X = torch.arange(9.0).reshape(3, 3)
    K = torch.arange(4.0).reshape(2, 2)
    assert torch.equal(corr2d(X, K), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))


def test_corr2d_is_cross_correlation_not_convolution():
    X = torch.tensor([[1.0, 2.0, 3.0]])
    K = torch.tensor([[1.0, -1.0]])
    assert torch.equal(corr2d(X, K), torch.tensor([[-1.0, -1.0]]))  # a convolution would give +1


@pytest.mark.parametrize("H, W, h, w", [(5, 7, 2, 3), (4, 4, 4, 4), (3, 6, 1, 1), (6, 2, 3, 1)])
def test_corr2d_matches_torch(H, W, h, w):
    g = torch.Generator().manual_seed(H * 100 + W)
    X, K = torch.randn(H, W, generator=g), torch.randn(h, w, generator=g)
    torch.testing.assert_close(corr2d(X, K), F.conv2d(X[None, None], K[None, None])[0, 0])


def test_corr2d_errors():
    with pytest.raises(ValueError, match="2 dimensions"):
        corr2d(torch.zeros(1, 3, 3), torch.zeros(2, 2))
    with pytest.raises(ValueError, match="2 dimensions"):
        corr2d(torch.zeros(3, 3), torch.zeros(2))
    with pytest.raises(ValueError, match="larger than the input"):
        corr2d(torch.zeros(3, 3), torch.zeros(2, 4))
    with pytest.raises(TypeError, match="torch.Tensor"):
        corr2d([[1.0]], torch.zeros(1, 1))


def test_multi_channel_versions_match_torch():
    g = torch.Generator().manual_seed(0)
    X, K = torch.randn(3, 6, 5, generator=g), torch.randn(4, 3, 2, 3, generator=g)
    torch.testing.assert_close(corr2d_multi_in(X, K[0]), F.conv2d(X[None], K[:1])[0, 0])
    torch.testing.assert_close(corr2d_multi_in_out(X, K), F.conv2d(X[None], K)[0])


def test_multi_channel_errors_name_both_counts():
    with pytest.raises(ValueError, match="3 channels but K has 2"):
        corr2d_multi_in(torch.zeros(3, 4, 4), torch.zeros(2, 2, 2))
    with pytest.raises(ValueError, match="3 channels but K has 2"):
        corr2d_multi_in_out(torch.zeros(3, 4, 4), torch.zeros(5, 2, 2, 2))
    with pytest.raises(ValueError, match=r"\(O, C, h, w\)"):
        corr2d_multi_in_out(torch.zeros(3, 4, 4), torch.zeros(3, 2, 2))


@pytest.mark.parametrize("stride, padding, dilation", [
    (1, 0, 1), (2, 1, 1), (1, 2, 2), ((2, 1), (0, 1), (1, 2)), ((3, 2), (2, 0), (2, 1)), ([1, 2], [1, 1], 1),
])
@pytest.mark.parametrize("bias", [False, True])
def test_conv2d_matches_torch(stride, padding, dilation, bias):
    g = torch.Generator().manual_seed(1)
    X, W = torch.randn(2, 3, 9, 8, generator=g), torch.randn(4, 3, 3, 2, generator=g)
    b = torch.randn(4, generator=g) if bias else None
    expected = F.conv2d(X, W, b, stride=tuple(stride) if isinstance(stride, list) else stride,
                        padding=tuple(padding) if isinstance(padding, list) else padding, dilation=dilation)
    torch.testing.assert_close(conv2d(X, W, b, stride, padding, dilation), expected, atol=1e-5, rtol=1e-5)


def test_conv2d_gradients_flow():
    X = torch.randn(1, 2, 5, 5, requires_grad=True)
    W = torch.randn(3, 2, 3, 3, requires_grad=True)
    conv2d(X, W, padding=1).sum().backward()
    X2, W2 = X.detach().requires_grad_(), W.detach().requires_grad_()
    F.conv2d(X2, W2, padding=1).sum().backward()
    torch.testing.assert_close(W.grad, W2.grad)
    torch.testing.assert_close(X.grad, X2.grad)


def test_conv2d_errors():
    X, W = torch.zeros(1, 3, 5, 5), torch.zeros(2, 3, 3, 3)
    with pytest.raises(ValueError, match="4 dimensions"):
        conv2d(torch.zeros(3, 5, 5), W)
    with pytest.raises(ValueError, match="4 dimensions"):
        conv2d(X, torch.zeros(3, 3, 3))
    with pytest.raises(ValueError, match="3 channels but weight expects 2"):
        conv2d(X, torch.zeros(2, 2, 3, 3))
    with pytest.raises(ValueError, match="bias has 3 values"):
        conv2d(X, W, torch.zeros(3))
    with pytest.raises(ValueError, match="spans 5 pixels"):
        conv2d(torch.zeros(1, 3, 4, 4), W, dilation=2)
    with pytest.raises(ValueError, match="stride must be at least 1"):
        conv2d(X, W, stride=0)
    with pytest.raises(ValueError, match="padding must be an int or a pair"):
        conv2d(X, W, padding=(1, 1, 1))


def test_conv_output_size_against_nn_conv2d():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        k, s, p, d = (int(torch.randint(lo, hi, (1,), generator=g)) for lo, hi in ((1, 6), (1, 4), (0, 3), (1, 3)))
        n = int(torch.randint(max(1, d * (k - 1) + 1 - 2 * p), 20, (1,), generator=g))
        layer = nn.Conv2d(1, 1, k, stride=s, padding=p, dilation=d)
        assert conv_output_size(n, k, p, s, d) == layer(torch.zeros(1, 1, n, n)).shape[-1]


def test_conv_output_size_kinds_and_examples():
    assert conv_output_size(28, 5, padding=2) == 28
    assert conv_output_size(224, 11, padding=2, stride=4) == 55
    assert conv_output_size(8, 3, stride=2) == 3  # floor(5 / 2) + 1
    assert conv_output_size((6, 8), (3, 4)) == (4, 5)
    assert conv_output_size(8, (3, 1), stride=(1, 2)) == (6, 4)
    assert isinstance(conv_output_size(5, 3), int)
    assert cnnlib.conv_output_size is conv_output_size


def test_conv_output_size_errors():
    with pytest.raises(ValueError, match="output would be empty"):
        conv_output_size(2, 3)
    with pytest.raises(ValueError, match="output would be empty"):
        conv_output_size(5, 3, dilation=3)
    with pytest.raises(ValueError, match="stride must be at least 1"):
        conv_output_size(5, 3, stride=0)
    with pytest.raises(ValueError, match="padding must be at least 0"):
        conv_output_size(5, 3, padding=-1)
    with pytest.raises(ValueError, match="size must be an int"):
        conv_output_size(5.0, 3)
    with pytest.raises(ValueError, match="kernel must be an int"):
        conv_output_size(5, True)


def test_corr2d_on_integers_does_not_overflow():
    X = torch.full((3, 3), 200, dtype=torch.uint8)
    K = torch.tensor([[1, 1], [1, 1]], dtype=torch.uint8)
    Y = corr2d(X, K)
    assert Y.dtype == torch.int64 and Y.tolist() == [[800, 800], [800, 800]]  # uint8 would wrap to 32
    assert torch.equal(corr2d(X.bool(), K.bool()), torch.full((2, 2), 4))
    torch.testing.assert_close(corr2d(X.float(), K.float()), Y.float())
    Xs = torch.full((2, 3, 3), 200, dtype=torch.uint8)
    assert corr2d_multi_in(Xs, Xs[:, :2, :2]).tolist() == [[320_000] * 2] * 2  # 2 channels x 4 taps x 200 x 200


def test_empty_kernels_and_channels_are_refused():
    with pytest.raises(ValueError, match="empty"):
        corr2d(torch.ones(3, 3), torch.ones(0, 0))
    with pytest.raises(ValueError, match="empty"):
        corr2d(torch.ones(3, 3), torch.ones(2, 0))
    with pytest.raises(ValueError, match="no channels"):
        corr2d_multi_in(torch.ones(0, 3, 3), torch.ones(0, 2, 2))
    with pytest.raises(ValueError, match="no output channels"):
        corr2d_multi_in_out(torch.ones(1, 3, 3), torch.ones(0, 1, 2, 2))
