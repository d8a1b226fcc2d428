import pytest
import torch
import torchvision
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


def _recurrence(layers):
    """Receptive field of a plain stack of (kernel, stride, dilation) layers: r += (k-1)*d*jump; jump *= s."""
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        size += (kernel - 1) * dilation * jump
        jump *= stride
    return size


def test_receptive_field_of_lenet_features():
    lenet = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                          nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2))
    assert cnnlib.inspect.receptive_field(lenet, (1, 28, 28)) == (16, 16)


def test_receptive_field_matches_the_recurrence_on_random_stacks():
    g = torch.Generator().manual_seed(0)
    for _ in range(12):
        layers, modules = [], []
        for _ in range(int(torch.randint(1, 5, (1,), generator=g))):
            kernel, stride, dilation = (int(torch.randint(lo, hi, (1,), generator=g))
                                        for lo, hi in ((1, 6), (1, 3), (1, 3)))
            layers.append((kernel, stride, dilation))
            if torch.rand(1, generator=g) < 0.3:
                modules.append(nn.MaxPool2d(kernel, stride, dilation=dilation))
            else:
                modules += [nn.Conv2d(2, 2, kernel, stride, dilation=dilation), nn.ReLU()]
        size = _recurrence(layers)
        measured = cnnlib.inspect.receptive_field(nn.Sequential(*modules), (2, 3 * size + 8, 3 * size + 8))
        assert measured == (size, size), layers


class FunctionalPooling(nn.Module):
    """Two 3x3 convolutions and a 2x2 max pooling called as a function, not held as a module."""

    def __init__(self):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)

    def forward(self, x):
        return torch.nn.functional.max_pool2d(self.conv2(self.conv1(x)), 2)


def test_receptive_field_of_dilated_and_functional_max_pooling():
    dilated = nn.Sequential(nn.Conv2d(1, 1, 3), nn.MaxPool2d(2, dilation=3))
    assert cnnlib.inspect.receptive_field(dilated, (1, 16, 16)) == (6, 6)  # 3 + (2 - 1) * 3
    assert cnnlib.inspect.receptive_field(FunctionalPooling(), (1, 16, 16)) == (6, 6)  # 3 + 2 + 1
    # torch.max_pool2d and adaptive max pooling must not pick a single winner either
    assert cnnlib.inspect.receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.AdaptiveMaxPool2d(3)),
                                          (1, 14, 14)) == (6, 6)  # windows of 14 / 3 -> 4 or 5 pixels


@pytest.mark.parametrize("kernel, stride, padding, dilation, ceil_mode, size", [
    (3, 2, 1, 1, True, 10), (2, None, 0, 3, False, 11), ((3, 2), (1, 2), (1, 0), (2, 1), True, 9),
    (3, 2, 0, 1, True, 7), (5, 3, 2, 2, True, 13)])
def test_probe_pooling_keeps_the_shape_of_max_pooling(kernel, stride, padding, dilation, ceil_mode, size):
    from cnnlib.inspect import _MaxPoolAverages

    x = torch.randn(2, 3, size, size + 1, dtype=torch.float64)
    pool = nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil_mode)
    with _MaxPoolAverages():
        averaged = pool(x)
    assert averaged.shape == pool(x).shape
    assert not torch.equal(averaged, pool(x))  # a mean, not the max


def test_receptive_field_of_torchvision_models_with_branches_and_skips():
    # Published values: AlexNet's last pooling layer sees 195 pixels; ResNet-18's second stage 99.
    assert cnnlib.inspect.receptive_field(torchvision.models.alexnet(), (3, 320, 320), layer="features") == (195, 195)
    resnet = torchvision.models.resnet18()
    before = {k: v.clone() for k, v in resnet.state_dict().items()}
    assert cnnlib.inspect.receptive_field(resnet, (3, 160, 160), layer="layer2") == (99, 99)
    assert all(torch.equal(before[k], v) for k, v in resnet.state_dict().items())  # the model is untouched
    assert isinstance(resnet.maxpool, nn.MaxPool2d)


def test_receptive_field_errors_are_clear():
    convs = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3))
    with pytest.raises(ValueError, match="reaches the border of the 5x5 input"):
        cnnlib.inspect.receptive_field(convs, (1, 5, 5))
    with pytest.raises(ValueError, match="not a feature map"):
        cnnlib.inspect.receptive_field(nn.Sequential(convs, nn.Flatten()), (1, 9, 9))
    with pytest.raises(ValueError, match="no layer 'head'"):
        cnnlib.inspect.receptive_field(convs, (1, 9, 9), layer="head")
    with pytest.raises(ValueError, match="input_shape"):
        cnnlib.inspect.receptive_field(convs, (9, 9))
    global_gate = nn.Sequential(convs, nn.AdaptiveAvgPool2d(1), nn.Conv2d(2, 2, 1))
    with pytest.raises(ValueError, match="whole input"):
        cnnlib.inspect.receptive_field(global_gate, (1, 64, 64))


def test_receptive_field_is_not_hidden_by_saturating_activations():
    """EfficientNet-Lite's ReLU6 saturates once residual sums grow; a tiny probe input keeps every path open."""
    from dataclasses import replace

    from cnnlib.models.efficientnet import LITE0_STAGES, EfficientNetLite

    thin = EfficientNetLite(tuple(replace(s, in_channels=4, out_channels=4) for s in LITE0_STAGES),
                            stem_channels=4, head_channels=4)
    # stem 3x3/2, then per stage (kernel, stride, blocks): (3,1,1) (3,2,2) (5,2,2) (3,2,3) (5,1,3)
    layers = [(3, 2, 1), (3, 1, 1), (3, 2, 1), (3, 1, 1), (5, 2, 1), (5, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1)]
    field = cnnlib.inspect.receptive_field(thin, (3, 224, 224), layer="stages.3")
    assert field == (_recurrence(layers),) * 2 == (147, 147)
    layers += [(5, 1, 1)] * 3
    field = cnnlib.inspect.receptive_field(thin, (3, 448, 448), layer="stages.4")
    assert field == (_recurrence(layers),) * 2 == (339, 339)
