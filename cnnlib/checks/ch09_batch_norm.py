"""Chapter 09's checks: batch normalisation with running statistics, Keras's momentum, the bias before batch norm."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F

from .core import Case, _ramp, _randint, check, check_answer
from .guard import NO_LIBRARY_NORM


def _ref_batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    running_mean, running_var = moving_mean.double().clone(), moving_var.double().clone()
    Y = F.batch_norm(X.double(), running_mean, running_var, gamma.double(), beta.double(), training, momentum, eps)
    return Y, running_mean, running_var


def check_batch_norm(fn: Callable, n_random: int = 8, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_NORM) -> bool:
    """Check ``fn(X, gamma, beta, moving_mean, moving_var, eps, momentum, training) -> (Y, new_mean, new_var)``.

    PyTorch's conventions: normalise with the biased batch variance, update the running variance with the
    unbiased one, running = (1 - momentum) * running + momentum * batch statistic.
    """
    g = torch.Generator().manual_seed(seed)

    def params(C: int) -> tuple[torch.Tensor, ...]:
        return (1 + 0.5 * torch.randn(C, generator=g), 0.5 * torch.randn(C, generator=g),
                0.3 * torch.randn(C, generator=g), 0.5 + torch.rand(C, generator=g))

    cases = [Case((torch.tensor([[1.0], [3.0]]), torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1))),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.zeros(2), torch.ones(2)),
                  {"momentum": 0.5}),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]),
                   torch.tensor([4.0, 0.25])), {"training": False})]
    for i in range(n_random):
        C = _randint(g, 1, 4)
        shape = (_randint(g, 2, 6), C) if i % 2 else (_randint(g, 2, 3), C, _randint(g, 1, 4), _randint(g, 1, 4))
        X = 2 * torch.randn(shape, generator=g) + 1
        kwargs = {"eps": (1e-5, 1e-3)[i % 2], "momentum": (0.1, 0.3, 0.9)[i % 3], "training": i % 4 != 2}
        cases.append(Case((X, *params(C)), kwargs))
    return check(fn, _ref_batch_norm, cases, atol=1e-4, rtol=1e-4, forbid=forbid)


def _running_mean_after_three_steps(momentum: float) -> float:
    """The running mean of a fresh ``nn.BatchNorm1d(1, momentum)`` after three batches whose mean is 2.0."""
    from torch import nn

    layer = nn.BatchNorm1d(1, momentum=momentum)
    for _ in range(3):
        layer(torch.tensor([[1.0], [3.0]]))
    return layer.running_mean.item()


def check_keras_momentum(torch_momentum, predicted_running_mean) -> bool:
    """Grade exercise 2: PyTorch's momentum for Keras's ``momentum=0.99``, then the running mean after three
    steps on batches of mean 2.0; both are measured here on a real ``nn.BatchNorm1d``."""
    expected_momentum = 1 - 0.99  # Keras's momentum weighs the old running value, PyTorch's the new batch
    check_answer("torch_momentum", torch_momentum, expected_momentum,
                 "PyTorch's momentum is the weight of the new batch, Keras's the weight of the old value", atol=1e-9)
    check_answer("predicted_running_mean", predicted_running_mean, _running_mean_after_three_steps(expected_momentum),
                 "apply running = (1 - momentum) * running + momentum * 2.0 three times, from 0", atol=1e-6)
    return True


def check_bias_before_bn(out_before, out_after, conv, bn, X, original_bias) -> bool:
    """Grade exercise 3: ``out_before = bn(conv(X))``, the bias changed entry by entry, ``out_after`` again.

    Each output is compared with the batch normalisation of ``conv(X)`` recomputed here with the bias it
    had (``original_bias``, then ``conv.bias``), so neither can be a copy of the other.
    """
    if out_before is None or out_after is None:
        missing = " and ".join(n for n, v in (("out_before", out_before), ("out_after", out_after)) if v is None)
        raise AssertionError(f"{missing} {'is' if ' and ' not in missing else 'are'} not implemented yet: set "
                             "them to the two outputs of bn(conv(X)), run the cell, then run this check again.")
    for name, value in (("out_before", out_before), ("out_after", out_after)):
        if not isinstance(value, torch.Tensor):
            raise AssertionError(f"{name} should be a tensor, the output of bn(conv(X)); got {type(value).__name__}")
    if out_after is out_before:
        raise AssertionError("out_after is the same tensor as out_before: compute bn(conv(X)) again after "
                             "changing conv.bias")
    if not bn.training:
        raise AssertionError("bn is in evaluation mode: this exercise is about training mode (call bn.train())")
    shift = conv.bias.detach() - original_bias
    if bool((shift.abs() < 1e-6).any()) or float(shift.max() - shift.min()) < 1e-4:
        raise AssertionError("add a different nonzero constant to each entry of conv.bias (inside torch.no_grad())")
    if int(bn.num_batches_tracked) < 2:
        raise AssertionError("bn has run fewer than two training steps: compute both outputs with bn(conv(X))")

    def normalised(bias: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            Y = F.conv2d(X, conv.weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups)
            return F.batch_norm(Y.double(), None, None, bn.weight.double(), bn.bias.double(), True, 0.0, bn.eps)

    for name, value, bias in (("out_before", out_before, original_bias), ("out_after", out_after, conv.bias)):
        expected = normalised(bias)
        if tuple(value.shape) != tuple(expected.shape):
            raise AssertionError(f"{name} has shape {tuple(value.shape)}; bn(conv(X)) has shape {tuple(expected.shape)}")
        if not torch.allclose(value.detach().double(), expected, atol=1e-4, rtol=1e-4):
            when = "before" if name == "out_before" else "after"
            raise AssertionError(f"{name} is not bn(conv(X)) computed {when} the bias changed")
    print("✓ out_before and out_after: both are bn(conv(X)), and changing the convolution's bias did not "
          "change the batch-norm output")
    return True
