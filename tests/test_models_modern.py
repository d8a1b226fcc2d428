"""GoogLeNet, ResNet and DenseNet builders: torchvision parity, shapes, blocks and errors."""

import pytest
import torch
import torchvision.models as tvm
from torch import nn

from cnnlib import count_params
from cnnlib.models import (BasicBlock, Bottleneck, DenseBlock, DenseLayer, DenseNetConfig, Inception,
                           ResNetConfig, Transition, densenet, densenet121, googlenet, resnet, resnet18,
                           resnet34, resnet50)
from cnnlib.models.googlenet import GoogLeNetOutputs


# --- parameter counts against torchvision ---------------------------------------------------------

@pytest.mark.parametrize("ours, theirs", [
    (resnet18, tvm.resnet18), (resnet34, tvm.resnet34), (resnet50, tvm.resnet50), (densenet121, tvm.densenet121),
])
def test_parameter_count_matches_torchvision(ours, theirs):
    assert count_params(ours()) == count_params(theirs(weights=None))
    assert count_params(ours(num_classes=10)) == count_params(theirs(weights=None, num_classes=10))


@pytest.mark.parametrize("aux_logits", [False, True])
def test_googlenet_matches_torchvision(aux_logits):
    theirs = tvm.googlenet(weights=None, aux_logits=aux_logits, init_weights=False)
    assert count_params(googlenet(aux_logits=aux_logits)) == count_params(theirs)


def test_published_counts():
    assert count_params(resnet18()) == 11_689_512
    assert count_params(resnet50()) == 25_557_032
    assert count_params(densenet121()) == 7_978_856
    assert count_params(googlenet()) == 6_624_904


def test_resnet_state_dict_loads_torchvision_shapes():
    # Same tensors in the same order: torchvision's weights can be copied in one by one.
    ours = [p.shape for p in resnet50().state_dict().values()]
    theirs = [p.shape for p in tvm.resnet50(weights=None).state_dict().values()]
    assert ours == theirs


# --- forward passes at the chapter sizes and small sizes ------------------------------------------

@pytest.mark.parametrize("build, size", [
    (lambda: googlenet(1, 10, variant="fashion-mnist"), 96),
    (lambda: resnet18(1, 10), 96),
    (lambda: resnet("resnet18-small", 1, 10), 28),
    (lambda: densenet("densenet-fashion-mnist", 1, 10), 96),
])
@pytest.mark.parametrize("small", [False, True])
def test_fashion_mnist_forward(build, size, small):
    model = build().eval()
    x = torch.rand(2, 1, 32 if small else size, 32 if small else size)
    assert model(x).shape == (2, 10)


def test_googlenet_paper_variant_at_224():
    model = googlenet(variant="paper").eval()
    assert model(torch.rand(1, 3, 224, 224)).shape == (1, 1000)
    assert isinstance(model.norm1, nn.LocalResponseNorm)
    assert model.inception3a.branch3[1][0].kernel_size == (5, 5)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def test_googlenet_torchvision_variant_differs_from_paper():
    tv, paper = googlenet(variant="torchvision"), googlenet(variant="paper")
    assert tv.inception3a.branch3[1][0].kernel_size == (3, 3)
    assert any(isinstance(m, nn.BatchNorm2d) for m in tv.modules())
    assert count_params(paper) > count_params(tv)  # 5x5 kernels outweigh the batch-norm parameters


def test_googlenet_aux_outputs_only_in_training():
    model = googlenet(1, 10, aux_logits=True, variant="fashion-mnist")
    out = model.train()(torch.rand(2, 1, 96, 96))
    assert isinstance(out, GoogLeNetOutputs)
    assert [t.shape for t in out] == [(2, 10)] * 3
    assert model.eval()(torch.rand(2, 1, 96, 96)).shape == (2, 10)


def test_resnet_stage_shapes_at_96():
    model = resnet18(1, 10).eval()
    x = model.stem(torch.zeros(1, 1, 96, 96))
    assert x.shape == (1, 64, 24, 24)
    for layer, shape in zip((model.layer1, model.layer2, model.layer3, model.layer4),
                            [(64, 24, 24), (128, 12, 12), (256, 6, 6), (512, 3, 3)]):
        x = layer(x)
        assert x.shape[1:] == shape


def test_densenet_fashion_channel_growth():
    model = densenet("densenet-fashion-mnist", 1, 10)
    # 64 -> +4*32 = 192 -> 96 -> 224 -> 112 -> 240 -> 120 -> 248
    assert [model.dense1.out_channels, model.dense2.out_channels, model.dense3.out_channels,
            model.dense4.out_channels] == [192, 224, 240, 248]
    assert model.out_channels == 248


# --- blocks ----------------------------------------------------------------------------------------

def test_inception_block_channels_and_size():
    block = Inception(192, 64, 96, 128, 16, 32, 32)
    out = block(torch.rand(1, 192, 12, 12))
    assert out.shape == (1, 256, 12, 12) and block.out_channels == 256
    # 1x1: 192*64+64; 1x1->3x3: 192*96+96 + 96*9*128+128; 1x1->5x5: 192*16+16 + 16*25*32+32; pool proj: 192*32+32
    assert count_params(block) == 12_352 + 18_528 + 110_720 + 3_088 + 12_832 + 6_176


def test_basic_block_identity_and_projection():
    same = BasicBlock(64, 64)
    assert isinstance(same.shortcut, nn.Identity)
    down = BasicBlock(64, 128, stride=2)
    assert isinstance(down.shortcut[0], nn.Conv2d) and down.shortcut[0].stride == (2, 2)
    assert down(torch.rand(1, 64, 8, 8)).shape == (1, 128, 4, 4)
    assert BasicBlock(64, 64, residual=False).shortcut is None


def test_residual_block_adds_its_input():
    block = BasicBlock(8, 8).eval()
    for conv in (block.conv2,):
        nn.init.zeros_(conv.weight)  # F(x) = 0, so the block is relu(x)
    x = torch.randn(1, 8, 5, 5)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_bottleneck_expands_four_times():
    block = Bottleneck(256, 64)
    assert isinstance(block.shortcut, nn.Identity)
    assert block(torch.rand(1, 256, 6, 6)).shape == (1, 256, 6, 6)
    first = Bottleneck(64, 64)  # first block of ResNet-50: 64 -> 256 channels needs a projection
    assert isinstance(first.shortcut, nn.Sequential)
    assert first.conv2.stride == (1, 1) and Bottleneck(256, 128, stride=2).conv2.stride == (2, 2)


def test_plain_network_has_no_shortcuts():
    plain = resnet("plain18")
    assert all(b.shortcut is None for b in plain.modules() if isinstance(b, BasicBlock))
    assert count_params(plain) < count_params(resnet18())  # no projection convolutions


def test_resnet_without_batch_norm():
    model = resnet(ResNetConfig(layers=(1, 1), widths=(8, 16), stem="small", batch_norm=False), 1, 10)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_dense_layer_and_block():
    layer = DenseLayer(64, 32)
    assert layer(torch.rand(1, 64, 8, 8)).shape == (1, 32, 8, 8)
    assert DenseLayer(64, 32, bottleneck_width=4).layers[2].out_channels == 128
    block = DenseBlock(3, 16, 8)
    x = torch.rand(1, 16, 6, 6)
    out = block(x)
    assert out.shape == (1, 40, 6, 6)
    torch.testing.assert_close(out[:, :16], x)  # the input is passed on unchanged


def test_transition_halves():
    assert Transition(192, 96)(torch.rand(1, 192, 12, 12)).shape == (1, 96, 6, 6)


# --- errors ----------------------------------------------------------------------------------------

def test_unknown_names_and_bad_configs():
    with pytest.raises(ValueError, match="unknown ResNet"):
        resnet("resnet19")
    with pytest.raises(TypeError):
        resnet(18)
    with pytest.raises(ValueError, match="block must be"):
        ResNetConfig(block="wide")
    with pytest.raises(ValueError, match="one width per stage"):
        ResNetConfig(layers=(2, 2), widths=(64,))
    with pytest.raises(ValueError, match="stem must be"):
        resnet18(stem="tiny")
    with pytest.raises(ValueError, match="unknown DenseNet"):
        densenet("densenet-12")
    with pytest.raises(ValueError, match="compression"):
        DenseNetConfig(compression=0)
    with pytest.raises(ValueError, match="unknown GoogLeNet variant"):
        googlenet(variant="v3")
    with pytest.raises(ValueError, match="odd"):
        Inception(192, 64, 96, 128, 16, 32, 32, branch3_kernel=4)
    with pytest.raises(ValueError, match="positive"):
        resnet18(in_channels=0)


@pytest.mark.parametrize("model", [googlenet(1, 10), resnet18(1, 10), densenet("densenet-fashion-mnist", 1, 10)])
def test_wrong_input_channels_is_a_clear_error(model):
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, H, W\), got \(2, 3, 32, 32\)"):
        model(torch.rand(2, 3, 32, 32))
    with pytest.raises(ValueError, match="expects input"):
        model(torch.rand(1, 32, 32))


@pytest.mark.parametrize("build, name", [(lambda: googlenet(1, 10), "GoogLeNet"),
                                         (lambda: densenet("densenet-fashion-mnist", 1, 10), "DenseNet")])
def test_too_small_input_fails_early_with_the_smallest_size(build, name):
    model = build().eval()
    n = model.min_input_size
    with pytest.raises(ValueError, match=f"{name} needs images of at least {n}x{n} pixels.*got 8x8"):
        model(torch.zeros(1, 1, 8, 8))
    assert model(torch.zeros(1, 1, n, n)).shape == (1, 10)  # the smallest size works ...
    model.min_input_size = 1
    with pytest.raises(RuntimeError):  # ... and one pixel less really is too small for torch
        model(torch.zeros(1, 1, n - 1, n - 1))


def test_densenet_compression_that_keeps_no_channels_fails_at_configuration():
    with pytest.raises(ValueError, match=r"compression=0.01 keeps none of the 16 channels after dense block 1"):
        DenseNetConfig(growth_rate=4, block_layers=(2, 2), stem_channels=8, compression=0.01)
    assert DenseNetConfig(growth_rate=4, block_layers=(2, 2), stem_channels=8, compression=0.1)  # 1 channel is kept
