"""The chapter 15 self-checks: they pass a correct answer, fail wrong ones, and cannot be passed by the library."""

import math

import pytest
import torch
import torch.nn.functional as F

from cnnlib import augment, checks


def one_cycle_lr(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
    start = max_lr / div_factor
    up = float(pct_start * total_steps) - 1
    cos = lambda a, b, t: b + (a - b) / 2 * (1 + math.cos(math.pi * t))  # noqa: E731
    if step <= up:
        return cos(start, max_lr, step / up)
    return cos(max_lr, start / final_div_factor, (step - up) / (total_steps - 1 - up))


def crop(X, padding):
    N, C, H, W = X.shape
    dy, dx = torch.randint(0, 2 * padding + 1, (2, N, 1, 1))
    rows, cols = dy + torch.arange(H).view(1, H, 1), dx + torch.arange(W).view(1, 1, W)
    return F.pad(X, (padding,) * 4)[torch.arange(N).view(N, 1, 1), :, rows, cols].permute(0, 3, 1, 2)


def stub(*args, **kwargs):
    raise NotImplementedError


def test_correct_answers_pass():
    assert checks.check_one_cycle_lr(one_cycle_lr) and checks.check_random_crop(crop)


@pytest.mark.parametrize("check", [checks.check_one_cycle_lr, checks.check_random_crop])
def test_a_stub_is_not_implemented_yet(check):
    with pytest.raises(AssertionError, match="not implemented yet"):
        check(stub)


def test_one_cycle_wrong_and_library_answers_fail():
    with pytest.raises(AssertionError, match="smallest failing"):
        checks.check_one_cycle_lr(lambda step, total_steps, max_lr, **kw: max_lr)

    def through_torch(step, total_steps, max_lr, **kw):
        opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        torch.optim.lr_scheduler.OneCycleLR(opt, max_lr, total_steps=total_steps)

    with pytest.raises(AssertionError, match="uses torch.optim.lr_scheduler.* this exercise asks you to write it"):
        checks.check_one_cycle_lr(through_torch)
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    assert torch.optim.lr_scheduler.OneCycleLR(opt, 0.1, total_steps=10).get_last_lr()  # works again afterwards


@pytest.mark.parametrize("wrong, message", [
    (lambda X, p: augment.random_crop(X, p), "uses cnnlib.augment.random_crop: this exercise"),
    (lambda X, p: X, "never occurred"),  # no randomness
    (lambda X, p: torch.roll(X, 1, -1), "not its input shifted"),  # wraps around instead of zeros
    (lambda X, p: X[torch.randperm(len(X))], "not its input shifted"),  # mixes examples
])
def test_random_crop_wrong_answers_fail(wrong, message):
    with pytest.raises(AssertionError, match=message):
        checks.check_random_crop(wrong)
    assert augment.random_crop(torch.ones(1, 1, 2, 2), 1).shape == (1, 1, 2, 2)  # works again afterwards
