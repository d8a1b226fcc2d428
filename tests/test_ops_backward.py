"""The from-scratch backward passes and transposed convolution against autograd, gradcheck and PyTorch."""

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib.ops import (
    BatchNormFunction,
    Conv2dFunction,
    Corr2dFunction,
    Pool2dFunction,
    batch_norm_backward,
    conv2d,
    conv2d_backward,
    conv_transpose2d,
    corr2d,
    corr2d_backward,
    pool2d,
    pool2d_backward,
)

D = torch.float64


def randint(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


def autograd_grads(f, *inputs, dY_seed=1):
    """Gradients of (f(*inputs) * dY).sum() by autograd, with a random dY; returns (dY, grads)."""
    inputs = [t.detach().requires_grad_() for t in inputs]
    Y = f(*inputs)
    dY = torch.randn(Y.shape, dtype=Y.dtype, generator=torch.Generator().manual_seed(dY_seed))
    return dY, torch.autograd.grad(Y, inputs, dY)


def test_corr2d_backward_equals_autograd_and_passes_gradcheck():
    g = torch.Generator().manual_seed(0)
    X, K = torch.randn(5, 6, dtype=D, generator=g), torch.randn(2, 3, dtype=D, generator=g)
    dY, (dX, dK) = autograd_grads(corr2d, X, K)
    got = corr2d_backward(dY, X, K)
    torch.testing.assert_close(got[0], dX)
    torch.testing.assert_close(got[1], dK)
    assert torch.autograd.gradcheck(Corr2dFunction.apply, (X.requires_grad_(), K.requires_grad_()))


def conv_cases(count, seed):
    g = torch.Generator().manual_seed(seed)
    for _ in range(count):
        k = (randint(g, 1, 3), randint(g, 1, 3))
        stride, padding, dilation = (randint(g, 1, 3), randint(g, 1, 2)), (randint(g, 0, 2), randint(g, 0, 1)), \
            (randint(g, 1, 2), randint(g, 1, 2))
        H = randint(g, max(1, dilation[0] * (k[0] - 1) + 1 - 2 * padding[0]), 7)
        W = randint(g, max(1, dilation[1] * (k[1] - 1) + 1 - 2 * padding[1]), 7)
        X = torch.randn(randint(g, 1, 2), randint(g, 1, 3), H, W, dtype=D, generator=g)
        weight = torch.randn(randint(g, 1, 3), X.shape[1], *k, dtype=D, generator=g)
        yield X, weight, torch.randn(weight.shape[0], dtype=D, generator=g), stride, padding, dilation


@pytest.mark.parametrize("seed", range(3))
def test_conv2d_backward_equals_autograd_on_random_settings(seed):
    for X, weight, bias, stride, padding, dilation in conv_cases(8, seed):
        dY, expected = autograd_grads(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation), X, weight, bias)
        got = conv2d_backward(dY, X, weight, stride, padding, dilation)
        for a, e, name in zip(got, expected, ("dX", "dweight", "dbias")):
            torch.testing.assert_close(a, e, msg=lambda m: f"{name} {stride} {padding} {dilation}: {m}")


def test_conv2d_function_passes_gradcheck():
    for X, weight, bias, stride, padding, dilation in conv_cases(4, seed=7):
        inputs = (X.requires_grad_(), weight.requires_grad_(), bias.requires_grad_(), stride, padding, dilation)
        assert torch.autograd.gradcheck(Conv2dFunction.apply, inputs)
    X, weight, _, *settings = next(conv_cases(1, seed=8))
    Y = Conv2dFunction.apply(X.requires_grad_(), weight.requires_grad_(), None, *settings)
    Y.sum().backward()  # no bias: its gradient is not asked for
    assert X.grad.shape == X.shape and weight.grad.shape == weight.shape


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("seed", range(3))
def test_pool2d_backward_equals_autograd(mode, seed):
    g = torch.Generator().manual_seed(seed)
    torch_pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[mode]
    for i in range(8):
        k = (randint(g, 1, 3), randint(g, 1, 3))
        stride = [None, (randint(g, 1, 3), randint(g, 1, 3))][i % 2]
        padding = (randint(g, 0, k[0] // 2), randint(g, 0, k[1] // 2))
        X = torch.randn(randint(g, 1, 2), randint(g, 1, 3), randint(g, k[0], 7), randint(g, k[1], 7), dtype=D,
                        generator=g)
        dY, (expected,) = autograd_grads(lambda x: torch_pool(x, k, stride, padding), X)
        torch.testing.assert_close(pool2d_backward(dY, X, k, stride, padding, mode), expected)


def test_max_pool_backward_routes_to_the_first_arg_max_like_torch():
    X = torch.tensor([[1.0, 5.0, 0.0, 3.0], [5.0, 2.0, 3.0, 3.0]], dtype=D)  # ties in both windows
    dY = torch.tensor([[10.0, 20.0]], dtype=D)
    dX = pool2d_backward(dY, X, 2)
    assert dX.tolist() == [[0.0, 10.0, 0.0, 20.0], [0.0, 0.0, 0.0, 0.0]]
    Xr = X.clone().requires_grad_()
    F.max_pool2d(Xr[None], 2)[0].backward(dY)
    assert torch.equal(dX, Xr.grad)


@pytest.mark.parametrize("mode", ["max", "avg"])
def test_pool2d_function_passes_gradcheck(mode):
    X = torch.randn(2, 3, 5, 6, dtype=D, generator=torch.Generator().manual_seed(3)).requires_grad_()
    assert torch.autograd.gradcheck(Pool2dFunction.apply, (X, (2, 3), (1, 2), (1, 1), mode))
    assert torch.autograd.gradcheck(Pool2dFunction.apply, (X, 2, None, 0, mode))


@pytest.mark.parametrize("shape", [(6, 4), (3, 2, 4, 5)])
def test_batch_norm_backward_equals_autograd_and_passes_gradcheck(shape):
    g = torch.Generator().manual_seed(4)
    X = torch.randn(shape, dtype=D, generator=g) * 3 + 1
    gamma, beta = torch.randn(shape[1], dtype=D, generator=g), torch.randn(shape[1], dtype=D, generator=g)
    dims = (0,) if len(shape) == 2 else (0, 2, 3)
    dY, expected = autograd_grads(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True, eps=1e-5),
                                  X, gamma, beta)
    for got, want in zip(batch_norm_backward(dY, X, gamma), expected):
        torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(BatchNormFunction.apply, (X.requires_grad_(), gamma.requires_grad_(),
                                                               beta.requires_grad_(), 1e-5))
    # the gradient of batch norm's output with respect to X sums to zero per feature (the mean is removed)
    torch.testing.assert_close(batch_norm_backward(dY, X, gamma)[0].sum(dim=dims), torch.zeros(shape[1], dtype=D))


def test_a_network_on_the_course_ops_trains_like_the_torch_one():
    """Same weights, same batch: the gradients through the Function forms equal those of nn layers."""
    torch.manual_seed(0)
    conv, bn = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
    head = nn.Linear(4 * 3 * 3, 3)
    X, y = torch.randn(8, 1, 6, 6), torch.randint(0, 3, (8,))

    def ours(X):
        h = Conv2dFunction.apply(X, conv.weight, conv.bias, 1, 1, 1)
        h = BatchNormFunction.apply(h, bn.weight, bn.bias, bn.eps).relu()
        return head(Pool2dFunction.apply(h, 2, None, 0, "max").flatten(1))

    def theirs(X):
        return head(F.max_pool2d(F.relu(bn(conv(X))), 2).flatten(1))

    params = [conv.weight, conv.bias, bn.weight, bn.bias, head.weight, head.bias]
    grads = [torch.autograd.grad(F.cross_entropy(f(X), y), params) for f in (ours, theirs)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    optimizer = torch.optim.SGD(params, lr=0.1)
    losses = []
    for _ in range(20):
        loss = F.cross_entropy(ours(X), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def transpose_cases(count, seed):
    g = torch.Generator().manual_seed(seed)
    made = 0
    while made < count:
        groups = randint(g, 1, 3)
        C, O_g = groups * randint(g, 1, 2), randint(g, 1, 3)
        k, s = (randint(g, 1, 4), randint(g, 1, 4)), (randint(g, 1, 3), randint(g, 1, 3))
        d, p = (randint(g, 1, 3), randint(g, 1, 2)), (randint(g, 0, 3), randint(g, 0, 3))
        op = (randint(g, 0, max(s[0], d[0]) - 1), randint(g, 0, max(s[1], d[1]) - 1))
        X = torch.randn(randint(g, 1, 2), C, randint(g, 1, 6), randint(g, 1, 6), dtype=D, generator=g)
        weight = torch.randn(C, O_g, *k, dtype=D, generator=g)
        bias = torch.randn(O_g * groups, dtype=D, generator=g) if randint(g, 0, 1) else None
        args = (X, weight, bias, s, p, op, groups, d)
        try:
            expected = F.conv_transpose2d(*args)
        except RuntimeError:  # padding crops everything: torch refuses, and so must we
            with pytest.raises(ValueError, match="crops away"):
                conv_transpose2d(*args)
            continue
        made += 1
        yield args, expected


@pytest.mark.parametrize("seed", range(4))
def test_conv_transpose2d_equals_torch_on_random_settings(seed):
    for args, expected in transpose_cases(50, seed):
        torch.testing.assert_close(conv_transpose2d(*args), expected, msg=lambda m: f"{args[3:]}: {m}")


def test_conv_transpose2d_worked_example_and_float32():
    X = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
    K = torch.tensor([[[[1.0, 10.0], [100.0, 1000.0]]]])
    # stride 2: the four patches sit side by side; stride 1: they overlap and add up
    assert conv_transpose2d(X, K, stride=2)[0, 0].tolist() == [[1, 10, 2, 20], [100, 1000, 200, 2000],
                                                               [3, 30, 4, 40], [300, 3000, 400, 4000]]
    assert conv_transpose2d(X, K)[0, 0].tolist() == [[1, 12, 20], [103, 1234, 2040], [300, 3400, 4000]]
    X32, W32 = torch.randn(2, 3, 5, 5), torch.randn(3, 4, 3, 3)
    torch.testing.assert_close(conv_transpose2d(X32, W32, stride=2, padding=1, output_padding=1),
                               F.conv_transpose2d(X32, W32, stride=2, padding=1, output_padding=1))


def test_conv_input_gradient_is_a_transposed_convolution_of_the_output_gradient():
    for X, weight, _, stride, padding, dilation in conv_cases(20, seed=11):
        dY = torch.randn(conv2d(X, weight, None, stride, padding, dilation).shape, dtype=D)
        dX = conv2d_backward(dY, X, weight, stride, padding, dilation)[0]
        # the rows (columns) the forward pass's stride skipped at the end come back as output padding
        output_padding = tuple((n + 2 * p - d * (k - 1) - 1) % s for n, p, d, k, s in
                               zip(X.shape[2:], padding, dilation, weight.shape[2:], stride))
        torch.testing.assert_close(conv_transpose2d(dY, weight, None, stride, padding, output_padding, 1, dilation),
                                   dX)


def test_conv_transpose2d_passes_gradcheck():
    X = torch.randn(1, 2, 3, 4, dtype=D).requires_grad_()
    weight = torch.randn(2, 3, 2, 3, dtype=D).requires_grad_()
    assert torch.autograd.gradcheck(lambda x, w: conv_transpose2d(x, w, stride=2, padding=1, output_padding=1),
                                    (X, weight))


@pytest.mark.parametrize("call, error, match", [
    (lambda: conv_transpose2d(torch.ones(1, 2, 3), torch.ones(2, 1, 2, 2)), ValueError, "X must have 4"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(3, 1, 2, 2)), ValueError, "2 channels"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 2, 2), stride=2, output_padding=2),
     ValueError, "output_padding"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 1, 1), torch.ones(2, 1, 1, 1), padding=1), ValueError, "crops away"),
    (lambda: conv_transpose2d(torch.ones(1, 3, 3, 3), torch.ones(3, 1, 2, 2), groups=2), ValueError, "divide"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 2, 2), torch.ones(3)), ValueError, "bias"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3, dtype=torch.long), torch.ones(2, 1, 2, 2)), TypeError,
     "floating"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 2, 2, dtype=D)), TypeError, "same dtype"),
    (lambda: conv_transpose2d(torch.ones(1, 2, 3, 3), torch.ones(2, 1, 2, 2), groups=0), ValueError, "groups"),
    (lambda: conv2d_backward(torch.ones(1, 1, 3, 3), torch.ones(1, 1, 3, 3), torch.ones(1, 1, 2, 2)), ValueError,
     r"dY has shape \(1, 1, 3, 3\) but the convolution's output has shape \(1, 1, 2, 2\)"),
    (lambda: conv2d_backward(torch.ones(1, 1, 2, 2), torch.ones(1, 1, 3, 3, dtype=torch.long),
                             torch.ones(1, 1, 2, 2)), TypeError, "X must be a floating-point"),
    (lambda: pool2d_backward(torch.ones(2, 2), torch.ones(4, 4), 2, mode="min"), ValueError, "mode"),
    (lambda: pool2d_backward(torch.ones(3, 3), torch.ones(4, 4), 2), ValueError, "pooling output"),
    (lambda: corr2d_backward(torch.ones(2, 2), torch.ones(3, 3), torch.ones(4, 4)), ValueError, "fit in the input"),
    (lambda: batch_norm_backward(torch.ones(1, 3), torch.ones(1, 3), torch.ones(3)), ValueError, "more than one"),
    (lambda: batch_norm_backward(torch.ones(4, 3), torch.ones(4, 3), torch.ones(2)), ValueError, "gamma"),
    (lambda: batch_norm_backward(torch.ones(4, 3), torch.ones(4, 3), torch.ones(3), eps=0), ValueError, "eps"),
])
def test_bad_input_names_the_problem(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_pool2d_function_matches_pool2d_forward():
    X = torch.randn(2, 3, 6, 6)
    torch.testing.assert_close(Pool2dFunction.apply(X, 2, None, 0, "avg"), pool2d(X, 2, mode="avg"))
