import pytest
import torch

import cnnlib


def test_lr_find_sweeps_exponentially_restores_weights_and_suggests_a_rate(tiny_model, tiny_batches):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    result = cnnlib.lr_find(tiny_model, tiny_batches, start=1e-4, end=100.0, steps=60, device="cpu")
    assert all(torch.equal(v, before[k]) for k, v in tiny_model.state_dict().items())
    ratios = [b / a for a, b in zip(result.lrs, result.lrs[1:])]
    assert ratios == pytest.approx([ratios[0]] * len(ratios))  # a geometric sweep
    assert result.lrs[0] == pytest.approx(1e-4)
    assert len(result.lrs) < 60  # the sweep is cut where the loss blew up
    assert 1e-3 < result.suggestion < 20  # not at either end of the sweep
    assert result.losses[result.lrs.index(result.suggestion)] < result.losses[0]
    fig = result.plot()
    assert fig.axes[0].get_xscale() == "log"


def test_lr_find_rejects_bad_arguments(tiny_model, tiny_batches):
    with pytest.raises(ValueError, match="no batches"):
        cnnlib.lr_find(tiny_model, [], device="cpu")
    with pytest.raises(ValueError, match="start < end"):
        cnnlib.lr_find(tiny_model, tiny_batches, start=1.0, end=0.1, device="cpu")
    with pytest.raises(ValueError, match="steps"):
        cnnlib.lr_find(tiny_model, tiny_batches, steps=3, device="cpu")
