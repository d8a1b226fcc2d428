"""Chapter 15's deeper exercise: the in-place EMA step of weight averaging."""

import torch

from cnnlib.checks.ch15_training_well import check_ema_update
from checking import fails, stub


def ema_update(averaged, current, decay):
    with torch.no_grad():
        for a, w in zip(averaged, current):
            a.mul_(decay).add_(w, alpha=1 - decay)


def test_ch15_ema_update():
    assert check_ema_update(ema_update)
    assert check_ema_update(ema_update, n_random=10, seed=1504)  # the notebook's hidden check
    assert "not implemented yet" in fails(check_ema_update, stub)
    assert "not implemented yet" in fails(check_ema_update, None)


def test_ch15_ema_update_wrong_answers_are_caught_on_the_smallest_case():
    def swapped(averaged, current, decay):  # the weight on the new value and the old one exchanged
        for a, w in zip(averaged, current):
            a.mul_(1 - decay).add_(w, alpha=decay)

    message = fails(check_ema_update, swapped)
    assert "smallest failing one" in message and "case 2 of" in message  # decay 0.5 hides the swap

    def rebinds(averaged, current, decay):  # builds new tensors: the caller's list never changes
        averaged = [decay * a + (1 - decay) * w for a, w in zip(averaged, current)]
        return averaged

    assert "smallest failing one" in fails(check_ema_update, rebinds)

    def first_only(averaged, current, decay):
        averaged[0].mul_(decay).add_(current[0], alpha=1 - decay)

    assert "smallest failing one" in fails(check_ema_update, first_only)


def test_ch15_ema_update_refuses_the_finished_versions():
    from torch.optim.swa_utils import get_ema_multi_avg_fn  # taken before the check: still refused

    from cnnlib.averaging import ema_update as finished

    assert "get_ema_multi_avg_fn" in fails(check_ema_update, lambda a, w, d: get_ema_multi_avg_fn(d)(a, w, None))
    assert "cnnlib.averaging" in fails(check_ema_update, finished)
