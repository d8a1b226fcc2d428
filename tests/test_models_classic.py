"""AlexNet, VGG and NiN builders: torchvision parity, configurations, shapes, blocks and errors."""

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from cnnlib import count_params
from cnnlib.models import AlexNetConfig, NiNBlock, VGGBlock, alexnet, nin, vgg, vgg11, vgg16


# --- parameter counts against torchvision ---------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    (lambda **kw: alexnet(**kw), tvm.alexnet), (vgg11, tvm.vgg11), (vgg16, tvm.vgg16),
])
def test_parameter_count_matches_torchvision(ours, theirs):
    assert count_params(ours()) == count_params(theirs(weights=None))
    assert count_params(ours(num_classes=10)) == count_params(theirs(weights=None, num_classes=10))


def test_published_counts():
    assert count_params(alexnet()) == 61_100_840
    assert count_params(vgg16()) == 138_357_544


@pytest.mark.parametrize("ours, theirs", [(alexnet, tvm.alexnet), (vgg16, tvm.vgg16)])
def test_state_dict_tensor_shapes_match_torchvision(ours, theirs):
    # Same tensors in the same order, so torchvision's weights can be copied in one by one.
    assert [p.shape for p in ours().state_dict().values()] == [p.shape for p in theirs(weights=None).state_dict().values()]


def test_alexnet_torchvision_state_dict_loads():
    # Identical keys (load_state_dict raises if any differ), so the same weights give the same outputs.
    ours, theirs = alexnet().eval(), tvm.alexnet(weights=None).eval()
    ours.load_state_dict(theirs.state_dict())
    x = torch.rand(1, 3, 224, 224)
    torch.testing.assert_close(ours(x), theirs(x))


# --- AlexNet configurations -------------------------------------------------------------------------

def test_alexnet_paper_configuration():
    model = alexnet(config="paper")
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [96, 256, 384, 384, 256]
    assert [c.groups for c in convs] == [1, 2, 1, 2, 2]  # the two-GPU split
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in model.features) == 2
    # Hand count: five convolutions (three split in two groups) and three dense layers; "60 million".
    convs_by_hand = (96 * (3 * 121 + 1) + 256 * (48 * 25 + 1) + 384 * (256 * 9 + 1)
                     + 384 * (192 * 9 + 1) + 256 * (192 * 9 + 1))
    dense_by_hand = 4096 * (9216 + 1) + 4096 * (4096 + 1) + 1000 * (4096 + 1)
    assert count_params(model) == convs_by_hand + dense_by_hand == 60_965_224
    assert model.eval()(torch.rand(1, 3, 224, 224)).shape == (1, 1000)


def test_alexnet_torchvision_and_paper_place_dropout_differently():
    tv, paper = alexnet(config="torchvision"), alexnet(config="paper")
    assert isinstance(tv.classifier[0], nn.Dropout) and isinstance(paper.classifier[0], nn.Linear)
    assert [type(m) for m in paper.classifier][:3] == [nn.Linear, nn.ReLU, nn.Dropout]


def test_alexnet_fashion_configuration_at_224():
    model = alexnet(1, 10, config="fashion").eval()
    assert model.features(torch.zeros(1, 1, 224, 224)).shape == (1, 256, 5, 5)
    assert model.classifier[0].in_features == 6400
    assert count_params(model) == 46_764_746
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())


def test_alexnet_dropout_argument():
    model = alexnet(dropout=0.3)
    assert [m.p for m in model.modules() if isinstance(m, nn.Dropout)] == [0.3, 0.3]
    with pytest.raises(ValueError, match="dropout"):
        alexnet(dropout=1.0)


def test_alexnet_custom_config():
    config = AlexNetConfig(widths=(32, 64, 96, 96, 64), hidden=256)
    model = alexnet(1, 10, config=config).eval()
    assert model(torch.rand(2, 1, 96, 96)).shape == (2, 10)
    assert model.classifier[-1].in_features == 256


# --- forward passes at the chapter sizes and small sizes --------------------------------------------

@pytest.mark.parametrize("build, size, small", [
    (lambda: alexnet(1, 10, config="fashion"), 224, 65),
    (lambda: alexnet(1, 10, config="torchvision"), 224, 63),
    (lambda: vgg("vgg11-narrow", 1, 10), 224, 32),
    (lambda: nin(1, 10), 224, 67),
])
def test_fashion_mnist_forward(build, size, small):
    model = build().eval()
    for s in (size, small, 96):
        assert model(torch.rand(2, 1, s, s)).shape == (2, 10)


@pytest.mark.parametrize("build, too_small", [
    (lambda: alexnet(1, 10, config="fashion"), 64),
    (lambda: alexnet(1, 10), 62),
    (lambda: vgg("vgg11-narrow", 1, 10), 31),
    (lambda: nin(1, 10), 66),
])
def test_too_small_input_has_clear_error(build, too_small):
    with pytest.raises(ValueError, match="at least"):
        build().eval()(torch.rand(1, 1, too_small, too_small))


@pytest.mark.parametrize("build", [lambda: alexnet(1, 10), lambda: vgg11(1, 10), lambda: nin(1, 10)])
def test_wrong_channels_has_clear_error(build):
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        build()(torch.rand(1, 3, 224, 224))
    with pytest.raises(ValueError, match="expects input"):
        build()(torch.rand(1, 224, 224))


def test_models_train_one_step():
    torch.manual_seed(0)
    for model, size in [(alexnet(1, 10, config="fashion"), 96), (vgg("vgg11-narrow", 1, 10), 32), (nin(1, 10), 96)]:
        x, y = torch.rand(4, 1, size, size), torch.randint(0, 10, (4,))
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss)
        assert all(p.grad is not None for p in model.parameters())


# --- VGG ------------------------------------------------------------------------------------------------

def test_vgg_block():
    block = VGGBlock(2, 16, 32)
    assert block(torch.zeros(1, 16, 20, 20)).shape == (1, 32, 10, 10)
    assert count_params(block) == 32 * (16 * 9 + 1) + 32 * (32 * 9 + 1)
    assert sum(isinstance(m, nn.Conv2d) for m in block) == 2
    with pytest.raises(ValueError):
        VGGBlock(0, 16, 32)


def test_vgg_any_config_and_input_size():
    model = vgg([(1, 8), (2, 16), (1, 32)], in_channels=1, num_classes=5, hidden=64).eval()
    assert len(model.features) == 3
    assert model.features(torch.zeros(1, 1, 40, 40)).shape == (1, 32, 5, 5)
    for size in (8, 40, 100):
        assert model(torch.rand(2, 1, size, size)).shape == (2, 5)
    assert model.classifier[0].in_features == 32 * 7 * 7


def test_vgg11_narrow_is_vgg11_with_quarter_channels():
    full, narrow = vgg11().features, vgg("vgg11-narrow").features
    widths = [[m.out_channels for m in b if isinstance(m, nn.Conv2d)] for b in full]
    narrow_widths = [[m.out_channels for m in b if isinstance(m, nn.Conv2d)] for b in narrow]
    assert narrow_widths == [[w // 4 for w in block] for block in widths]


@pytest.mark.parametrize("config, error", [
    ("vgg12", ValueError), ([], TypeError), ([(1, 64), (0, 128)], ValueError), ([(1, 64, 3)], ValueError),
    (42, TypeError), ([(True, 64)], ValueError),
])
def test_vgg_bad_config(config, error):
    with pytest.raises(error):
        vgg(config)


# --- NiN ------------------------------------------------------------------------------------------------

def test_nin_block_is_a_per_pixel_mlp():
    block = NiNBlock(8, 16, kernel_size=1)
    x = torch.rand(1, 8, 5, 5)
    convs = [m for m in block if isinstance(m, nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(1, 1)] * 3
    # The same three-layer MLP, applied to the 8 channels of one pixel, gives that pixel's output.
    pixel = x[0, :, 2, 3]
    for conv in convs:
        pixel = torch.relu(conv.weight.flatten(1) @ pixel + conv.bias)
    torch.testing.assert_close(block(x)[0, :, 2, 3], pixel)


def test_nin_parameters_and_no_dense_layers():
    model = nin(1, 10)
    assert not any(isinstance(m, nn.Linear) for m in model.modules())
    by_hand = sum(c * (i * k * k + 1) + 2 * c * (c + 1)
                  for i, c, k in [(1, 96, 11), (96, 256, 5), (256, 384, 3), (384, 10, 3)])
    assert count_params(model) == by_hand == 1_992_166
    assert model.min_size == 67


def test_nin_custom_blocks():
    model = nin(3, 4, blocks=[(16, 3, 1, 1), (32, 3, 1, 1)], dropout=0.0).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 4)
    assert model.min_size == 7
    with pytest.raises(ValueError, match="blocks"):
        nin(blocks=[])
    with pytest.raises(ValueError, match="blocks"):
        nin(blocks=[(16, 3, 1)])


@pytest.mark.parametrize("builder", [alexnet, nin, lambda **kw: vgg("vgg11", **kw)])
def test_bad_arguments(builder):
    with pytest.raises(ValueError):
        builder(in_channels=0)
    with pytest.raises(ValueError):
        builder(num_classes=0)
    with pytest.raises(ValueError):
        builder(dropout=-0.1)


def test_alexnet_bad_config():
    with pytest.raises(ValueError, match="unknown AlexNet"):
        alexnet(config="caffe")
    with pytest.raises(TypeError):
        alexnet(config=3)
    with pytest.raises(ValueError, match="groups"):
        AlexNetConfig(groups=5)
    with pytest.raises(ValueError, match="widths"):
        AlexNetConfig(widths=(64, 192, 384))


def test_block_bad_arguments():
    with pytest.raises(ValueError, match="positive"):
        NiNBlock(0, 16, 3)
    with pytest.raises(ValueError, match="padding"):
        NiNBlock(8, 16, 3, padding=-1)
    with pytest.raises(ValueError, match="hidden"):
        vgg("vgg11", hidden=0)
    with pytest.raises(ValueError, match="pool_size"):
        vgg("vgg11", pool_size=0)


def test_lenet_builders_match_chapters_04_and_09():
    from cnnlib.models import lenet

    classic, modern, bn = lenet("classic"), lenet("modern"), lenet("classic", batch_norm=True)
    assert count_params(classic) == count_params(modern) == 61_706  # chapter 04 counts them by hand
    assert count_params(bn) == 61_706 + 2 * (6 + 16 + 120 + 84)  # chapter 09's 62,158
    assert [type(m).__name__ for m in classic[:3]] == ["Conv2d", "Sigmoid", "AvgPool2d"]
    assert [type(m).__name__ for m in modern[:3]] == ["Conv2d", "ReLU", "MaxPool2d"]
    assert [type(m).__name__ for m in bn[:3]] == ["Conv2d", "BatchNorm2d", "Sigmoid"]
    assert modern(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match="variant must be one of"):
        lenet("tanh")
