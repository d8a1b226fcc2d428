import pytest
import torch
from torch import nn

import cnnlib


def lenet():
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2), nn.Conv2d(6, 16, 5),
                         nn.Sigmoid(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(400, 120), nn.Sigmoid(),
                         nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def test_count_params_lenet():
    model = lenet()
    assert cnnlib.count_params(model) == 61_706  # 156 + 2,416 + 48,120 + 10,164 + 850
    model[0].requires_grad_(False)
    assert cnnlib.count_params(model, trainable_only=True) == 61_706 - 156


def test_layer_shapes_trace(capsys):
    trace = cnnlib.layer_shapes(lenet(), (1, 28, 28))
    assert trace[0] == ("0", "Conv2d", (1, 6, 28, 28))
    assert trace[5] == ("5", "AvgPool2d", (1, 16, 5, 5))
    assert trace[-1] == ("11", "Linear", (1, 10))
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["input", "(1,", "1,", "28,", "28)"]
    assert len(out.splitlines()) == 13


def test_layer_shapes_names_the_failing_layer():
    model = lenet()
    with pytest.raises(RuntimeError, match=r"layer '7' \(Linear.*input of shape \(1, 784\)"):
        cnnlib.layer_shapes(model, (1, 1, 36, 36), print_it=False)  # 36 px needs a bigger Linear
    assert model.training  # mode restored after the failure


def test_summary_counts_parameters_and_mult_adds():
    stats = cnnlib.summary(lenet(), (1, 1, 28, 28))
    assert stats.total_params == 61_706
    conv1_macs = 6 * 28 * 28 * 25 + 6 * 28 * 28  # weights and biases, as torchinfo counts them
    assert stats.total_mult_adds > conv1_macs
    assert "Conv2d" in str(stats)
