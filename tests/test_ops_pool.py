"""pool2d against PyTorch's pooling on random shapes, and its error messages."""

import pytest
import torch
import torch.nn.functional as F

from cnnlib.ops import pool2d, pool2d_output_size

REFERENCE = {"max": F.max_pool2d, "avg": F.avg_pool2d}


def random_cases(count: int, seed: int):
    """Random (shape, pool_size, stride, padding) settings that PyTorch accepts."""
    g = torch.Generator().manual_seed(seed)

    def randint(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=g))

    for _ in range(count):
        kh, kw = randint(1, 4), randint(1, 4)
        pool_size = kh if randint(0, 1) else (kh, kw)
        kh, kw = (pool_size, pool_size) if isinstance(pool_size, int) else pool_size
        stride = [None, randint(1, 3), (randint(1, 3), randint(1, 3))][randint(0, 2)]
        padding = (randint(0, kh // 2), randint(0, kw // 2))
        H, W = randint(max(1, kh - 2 * padding[0]), 9), randint(max(1, kw - 2 * padding[1]), 9)
        leading = [(), (randint(1, 3),), (randint(1, 3), randint(1, 4))][randint(0, 2)]
        yield (*leading, H, W), pool_size, stride, padding


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("seed", range(4))
def test_matches_torch_on_random_shapes(mode, seed):
    for shape, pool_size, stride, padding in random_cases(10, seed):
        X = torch.randn(shape, generator=torch.Generator().manual_seed(seed))
        expected = REFERENCE[mode](X if X.ndim >= 3 else X.unsqueeze(0), pool_size, stride, padding)
        got = pool2d(X, pool_size, stride, padding, mode)
        assert got.shape == expected.shape[-got.ndim:], (shape, pool_size, stride, padding)
        torch.testing.assert_close(got, expected.reshape(got.shape), msg=lambda m: f"{shape} {pool_size} "
                                   f"{stride} {padding}: {m}")


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_multi_channel_batch_with_stride_and_padding(mode):
    X = torch.randn(4, 3, 11, 8)
    expected = REFERENCE[mode](X, (3, 2), stride=(2, 1), padding=(1, 1))
    torch.testing.assert_close(pool2d(X, (3, 2), stride=(2, 1), padding=(1, 1), mode=mode), expected)
    # each channel is pooled on its own: pooling channel 1 alone gives channel 1 of the result
    torch.testing.assert_close(pool2d(X[:, 1], (3, 2), (2, 1), (1, 1), mode), expected[:, 1])


def test_small_worked_example():
    X = torch.arange(16.0).reshape(4, 4)
    assert pool2d(X, 2).tolist() == [[5.0, 7.0], [13.0, 15.0]]
    assert pool2d(X, 2, mode="avg").tolist() == [[2.5, 4.5], [10.5, 12.5]]
    assert pool2d(X, 3, stride=1).tolist() == [[10.0, 11.0], [14.0, 15.0]]


def test_padding_never_wins_a_max_and_counts_in_a_mean():
    X = -torch.ones(1, 2, 2)
    assert pool2d(X, 2, stride=1, padding=1).eq(-1).all()  # -inf padding: the max is a real value
    avg = pool2d(X, 2, stride=1, padding=1, mode="avg")
    assert avg[0, 0, 0].item() == pytest.approx(-0.25)  # one real value and three zeros, divided by 4


def test_integer_input_max_pool():
    X = torch.tensor([[-5, -7], [-6, -8]])
    assert pool2d(X, 2, padding=1, stride=1).tolist() == [[-5, -5, -7], [-5, -5, -7], [-6, -6, -8]]


def test_gradient_flows_like_torch():
    X = torch.randn(2, 3, 6, 6, requires_grad=True)
    X_ref = X.detach().clone().requires_grad_()
    pool2d(X, 2, mode="avg").sum().backward()
    F.avg_pool2d(X_ref, 2).sum().backward()
    torch.testing.assert_close(X.grad, X_ref.grad)


def test_output_size_formula():
    assert pool2d_output_size((28, 28), (2, 2), (2, 2), (0, 0)) == (14, 14)
    assert pool2d_output_size((7, 9), (3, 3), (2, 2), (1, 1)) == (4, 5)


@pytest.mark.parametrize("kwargs, message", [
    (dict(pool_size=2, mode="min"), "mode must be one of"),
    (dict(pool_size=0), "pool_size must be at least 1"),
    (dict(pool_size=(2, 2, 2)), "pair of ints"),
    (dict(pool_size=2.0), "pair of ints"),
    (dict(pool_size=2, stride=0), "stride must be at least 1"),
    (dict(pool_size=2, padding=-1), "padding must be at least 0"),
    (dict(pool_size=2, padding=2), "more than half the pool window"),
    (dict(pool_size=(3, 2), padding=(1, 2)), "more than half the pool window"),
    (dict(pool_size=6), "larger than the padded input"),
    (dict(pool_size=(2, 6), padding=(0, 0)), "larger than the padded input"),
])
def test_bad_arguments_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pool2d(torch.zeros(3, 5, 5), **kwargs)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        pool2d(torch.zeros(5), 2)
    with pytest.raises(TypeError, match="torch.Tensor"):
        pool2d([[1.0, 2.0], [3.0, 4.0]], 2)
    with pytest.raises(TypeError, match="floating-point"):
        pool2d(torch.zeros(4, 4, dtype=torch.long), 2, mode="avg")
    # PyTorch agrees that these settings are invalid
    with pytest.raises(RuntimeError):
        F.max_pool2d(torch.zeros(1, 5, 5), 2, padding=2)
    with pytest.raises(RuntimeError):
        F.max_pool2d(torch.zeros(1, 5, 5), 6)
