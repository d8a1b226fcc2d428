"""Chapter 18's self-checks: the solutions pass (hidden seeds too); stubs say "not implemented yet"; plausible
mistakes and library shortcuts fail."""

import pytest
import torch
import torch.nn.functional as F

from cnnlib import checks
from checking import fails, stub


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


# The notebook's solutions.
def pool2d_backward(dY, X, pool_size, stride=None, mode="max"):
    (kh, kw), (sh, sw) = pair(pool_size), pair(stride if stride is not None else pool_size)
    dX = torch.zeros_like(X)
    for i in range(dY.shape[-2]):
        for j in range(dY.shape[-1]):
            window = X[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
            if mode == "max":
                flat = window.reshape(*window.shape[:-2], -1)
                share = torch.zeros_like(flat).scatter_(-1, flat.argmax(dim=-1, keepdim=True), 1.0)
                share = share.reshape(window.shape)
            else:
                share = torch.full_like(window, 1 / (kh * kw))
            dX[..., i * sh:i * sh + kh, j * sw:j * sw + kw] += share * dY[..., i, j, None, None]
    return dX


def conv_transpose2d(X, weight, stride=1, padding=0):
    (sh, sw), (ph, pw) = pair(stride), pair(padding)
    N, C, H, W = X.shape
    _, O, kh, kw = weight.shape
    Y = torch.zeros(N, O, (H - 1) * sh + kh, (W - 1) * sw + kw, dtype=X.dtype)
    for i in range(H):
        for j in range(W):
            Y[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += torch.einsum("nc,cokl->nokl", X[:, :, i, j], weight)
    return Y[:, :, ph:Y.shape[2] - ph, pw:Y.shape[3] - pw]


def iou_per_class(pred, target, num_classes):
    ious = torch.empty(num_classes, dtype=torch.float64)
    for c in range(num_classes):
        both = ((pred == c) & (target == c)).sum()
        either = ((pred == c) | (target == c)).sum()
        ious[c] = both / either if either > 0 else float("nan")
    return ious


SOLVED = [(checks.check_pool2d_backward, pool2d_backward), (checks.check_conv_transpose2d, conv_transpose2d),
          (checks.check_iou_per_class, iou_per_class)]


HIDDEN = ((12, 1801), (12, 1802), (10, 1803))  # the notebook's hidden tests: (n_random, seed)


@pytest.mark.parametrize("check, solution, hidden", [(*pair, h) for pair, h in zip(SOLVED, HIDDEN)])
@pytest.mark.parametrize("seed", [0, 1, "hidden"])
def test_the_solutions_pass(check, solution, hidden, seed):
    """On the visible cases, another seed, and the notebook's hidden tests (more random cases, its seed)."""
    assert check(solution, seed=seed) if seed != "hidden" else check(solution, n_random=hidden[0], seed=hidden[1])


@pytest.mark.parametrize("check", [c for c, _ in SOLVED])
def test_stubs_are_not_implemented_yet(check):
    assert "not implemented yet" in fails(check, stub)
    assert "not implemented yet" in fails(check, None)


def test_pool_backward_mistakes_fail():
    def every_tie(dY, X, pool_size, stride=None, mode="max"):  # sends the gradient to every maximum
        (kh, kw), (sh, sw) = pair(pool_size), pair(stride if stride is not None else pool_size)
        dX = torch.zeros_like(X)
        for i in range(dY.shape[-2]):
            for j in range(dY.shape[-1]):
                window = X[..., i * sh:i * sh + kh, j * sw:j * sw + kw]
                share = (window == window.amax(dim=(-2, -1), keepdim=True)).float() if mode == "max" else \
                    torch.full_like(window, 1 / (kh * kw))
                dX[..., i * sh:i * sh + kh, j * sw:j * sw + kw] += share * dY[..., i, j, None, None]
        return dX

    assert "wrong on case" in fails(checks.check_pool2d_backward, every_tie)

    def overwrites(dY, X, pool_size, stride=None, mode="max"):  # = instead of +=: overlapping windows lose
        (kh, kw), (sh, sw) = pair(pool_size), pair(stride if stride is not None else pool_size)
        dX = torch.zeros_like(X)
        for i in range(dY.shape[-2]):
            for j in range(dY.shape[-1]):
                dX[..., i * sh:i * sh + kh, j * sw:j * sw + kw] = dY[..., i, j, None, None] / (kh * kw)
        return dX

    assert "wrong on case" in fails(checks.check_pool2d_backward, overwrites)


def test_pool_backward_shortcuts_are_refused():
    def through_autograd(dY, X, pool_size, stride=None, mode="max"):
        from cnnlib.ops import pool2d

        X = X.detach().requires_grad_()
        Y = pool2d(X, pool_size, stride, mode=mode)  # cnnlib's forward is refused too
        return torch.autograd.grad(Y, X, dY)[0]

    assert "uses" in fails(checks.check_pool2d_backward, through_autograd)

    def own_forward_then_backward(dY, X, pool_size, stride=None, mode="max"):
        X = X.detach().requires_grad_()
        (kh, kw), (sh, sw) = pair(pool_size), pair(stride if stride is not None else pool_size)
        rows = [torch.stack([X[..., i * sh:i * sh + kh, j * sw:j * sw + kw].amax(dim=(-2, -1))
                             for j in range(dY.shape[-1])], -1) for i in range(dY.shape[-2])]
        (torch.stack(rows, -2) * dY).sum().backward()
        return X.grad

    assert "torch.autograd.backward" in fails(checks.check_pool2d_backward, own_forward_then_backward)

    def library_forward(dY, X, pool_size, stride=None, mode="max"):
        X = X.detach().requires_grad_()
        Y = F.max_pool2d(X.reshape(-1, 1, *X.shape[-2:]), pool_size, stride)
        return torch.autograd.grad(Y, X, dY.reshape(Y.shape))[0]

    assert "F.max_pool2d" in fails(checks.check_pool2d_backward, library_forward)


def test_conv_transpose_mistakes_and_shortcuts_fail():
    def no_crop(X, weight, stride=1, padding=0):
        return conv_transpose2d(X, weight, stride, 0)

    assert "wrong on case" in fails(checks.check_conv_transpose2d, no_crop)

    def library(X, weight, stride=1, padding=0):
        return F.conv_transpose2d(X, weight, stride=stride, padding=padding)

    assert "F.conv_transpose2d" in fails(checks.check_conv_transpose2d, library)

    def cnnlib_version(X, weight, stride=1, padding=0):
        from cnnlib.ops import conv_transpose2d as finished

        return finished(X, weight, stride=stride, padding=padding)

    assert "uses" in fails(checks.check_conv_transpose2d, cnnlib_version)

    def as_a_gradient(X, weight, stride=1, padding=0):  # the gradient of a convolution, by autograd
        N, O = X.shape[0], weight.shape[1]
        size = [(n - 1) * s - 2 * p + k for n, s, p, k in zip(X.shape[2:], pair(stride), pair(padding),
                                                               weight.shape[2:])]
        Z = torch.zeros(N, O, *size, requires_grad=True)
        return torch.autograd.grad(F.conv2d(Z, weight, stride=stride, padding=padding), Z, X)[0]

    assert "uses" in fails(checks.check_conv_transpose2d, as_a_gradient)


def test_iou_mistakes_and_shortcuts_fail():
    def zero_for_absent(pred, target, num_classes):
        return torch.nan_to_num(iou_per_class(pred, target, num_classes), nan=0.0)

    assert "NaN, not 0" in fails(checks.check_iou_per_class, zero_for_absent)

    def recall(pred, target, num_classes):  # over the true pixels only, not the union
        return torch.tensor([((pred == c) & (target == c)).sum() / (target == c).sum() for c in range(num_classes)])

    assert "wrong on case" in fails(checks.check_iou_per_class, recall)

    def library(pred, target, num_classes):
        from cnnlib.segmentation import iou_per_class as finished

        return finished(pred, target, num_classes)

    assert "uses" in fails(checks.check_iou_per_class, library)

    def bincount(pred, target, num_classes):
        cm = torch.bincount(target.flatten() * num_classes + pred.flatten(), minlength=num_classes ** 2)
        cm = cm.reshape(num_classes, num_classes).double()
        return cm.diagonal() / (cm.sum(0) + cm.sum(1) - cm.diagonal())

    assert "torch.bincount" in fails(checks.check_iou_per_class, bincount)
