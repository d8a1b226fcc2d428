"""Chapter 17's models: ResNeXt, wide ResNets, ConvNeXt, MobileNetV2 (torchvision parity, weights that load
strictly, equal outputs), squeeze-and-excitation, and the ResNet-to-ConvNeXt ladder."""

import pytest
import torch
import torchvision
import torchvision.models as tvm
from torch import nn

from cnnlib import count_params
from cnnlib.models import (LADDER, ConvNeXtBlock, ConvNeXtConfig, DropPath, InvertedResidual, LadderConfig,
                           LayerNorm2d, ResNetConfig, SqueezeExcitation, convnext, ladder_configs, ladder_net,
                           load_torchvision_convnext, load_torchvision_resnet, mobilenet_v2, resnet)
from cnnlib.models.ladder import PAPER_TOP1

RESNETS = ["resnext50_32x4d", "resnext101_32x8d", "resnext101_64x4d", "wide_resnet50_2", "wide_resnet101_2",
           "resnet101", "resnet152"]
CONVNEXTS = ["convnext_tiny", "convnext_small", "convnext_base", "convnext_large"]


# --- parameter parity with torchvision, every named variant (built on the meta device: no memory, no init) ---

@pytest.mark.parametrize("name", RESNETS)
def test_resnet_family_parameter_parity(name):
    with torch.device("meta"):
        assert count_params(resnet(name)) == count_params(getattr(tvm, name)(weights=None))
        assert count_params(resnet(name, num_classes=10)) == count_params(getattr(tvm, name)(weights=None,
                                                                                               num_classes=10))


@pytest.mark.parametrize("name", CONVNEXTS)
def test_convnext_parameter_parity(name):
    with torch.device("meta"):
        assert count_params(convnext(name)) == count_params(getattr(tvm, name)(weights=None))


@pytest.mark.parametrize("width_mult", [1.0, 0.5, 1.4])
def test_mobilenet_v2_parameter_parity(width_mult):
    with torch.device("meta"):
        ours = count_params(mobilenet_v2(width_mult=width_mult))
        assert ours == count_params(tvm.mobilenet_v2(weights=None, width_mult=width_mult))


def test_published_counts():
    with torch.device("meta"):
        assert count_params(resnet("resnext50_32x4d")) == 25_028_904
        assert count_params(convnext("convnext_tiny")) == 28_589_128
        assert count_params(mobilenet_v2()) == 3_504_872


# --- torchvision's state dict loads strictly into ours, and both compute the same ---------------------------

def _randomised(model: nn.Module) -> nn.Module:
    """Random weights and batch-norm statistics, so equal outputs cannot come from a lucky initialisation."""
    torch.manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5 if "running_var" in name
                             else tensor + 0.05 * torch.randn_like(tensor))
    return model.eval()


@pytest.mark.parametrize("name, load, ours", [
    ("resnext50_32x4d", load_torchvision_resnet, lambda: resnet("resnext50_32x4d")),
    ("convnext_tiny", load_torchvision_convnext, lambda: convnext("convnext_tiny")),
    ("mobilenet_v2", lambda model, sd: model.load_state_dict(sd, strict=True) and model, mobilenet_v2),
])
def test_torchvision_weights_load_and_give_the_same_outputs(name, load, ours):
    theirs = _randomised(getattr(tvm, name)(weights=None))
    model = ours()
    load(model, theirs.state_dict())
    model.eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        expected = theirs(x)
        torch.testing.assert_close(model(x), expected, atol=1e-4, rtol=1e-4)
    assert expected.std() > 1e-3  # not a constant output


def test_wide_resnet_loads_torchvision_names():
    with torch.device("meta"):
        theirs = tvm.wide_resnet50_2(weights=None).state_dict()
    model = resnet("wide_resnet50_2").to_empty(device="meta")
    from cnnlib.models.resnet import TORCHVISION_RULES
    from cnnlib.models._weights import rename_keys
    assert set(rename_keys(theirs, TORCHVISION_RULES)) == set(model.state_dict())


def test_loading_the_wrong_weights_fails_clearly():
    with pytest.raises(KeyError, match="do not match this ResNet"):
        load_torchvision_resnet(resnet("resnet18"), tvm.resnet34(weights=None).state_dict())
    with pytest.raises(ValueError, match="shape mismatch"):
        load_torchvision_resnet(resnet("resnet50"), tvm.resnext50_32x4d(weights=None).state_dict())
    with pytest.raises(KeyError, match="do not match this ConvNeXt"):
        load_torchvision_convnext(convnext("convnext_tiny"), tvm.convnext_small(weights=None).state_dict())


# --- ResNeXt and wide ResNet blocks ---------------------------------------------------------------------

def test_resnext_block_is_grouped_and_wide_resnet_doubles_the_3x3():
    rx, wide, plain = resnet("resnext50_32x4d"), resnet("wide_resnet50_2"), resnet("resnet50")
    conv = rx.layer1[0].conv2
    assert conv.groups == 32 and conv.in_channels == 128 and conv.weight.shape == (128, 4, 3, 3)
    assert wide.layer1[0].conv2.out_channels == 2 * plain.layer1[0].conv2.out_channels == 128
    assert rx.layer1[0].conv3.out_channels == plain.layer1[0].conv3.out_channels == 256  # same block output


def test_grouped_configs_need_bottlenecks():
    with pytest.raises(ValueError, match="need block='bottleneck'"):
        ResNetConfig("basic", groups=32)
    with pytest.raises(ValueError, match="positive"):
        ResNetConfig("bottleneck", groups=0)


# --- ConvNeXt pieces ----------------------------------------------------------------------------------

def test_layer_norm_2d_normalises_each_pixel_over_channels():
    norm = LayerNorm2d(6)
    x = 3 * torch.randn(2, 6, 4, 5) + 1
    y = norm(x)
    torch.testing.assert_close(y.mean(dim=1), torch.zeros(2, 4, 5), atol=1e-5, rtol=0)
    torch.testing.assert_close(y.var(dim=1, correction=0), torch.ones(2, 4, 5), atol=1e-3, rtol=0)
    with pytest.raises(ValueError, match="expects"):
        norm(torch.zeros(2, 5, 4, 4))


def test_convnext_block_parameters_and_residual():
    block = ConvNeXtBlock(96)
    # depthwise 7x7 + bias, LayerNorm, 1x1 up to 4C, 1x1 down, layer scale
    assert count_params(block) == (96 * 49 + 96) + 2 * 96 + (96 * 384 + 384) + (384 * 96 + 96) + 96
    with torch.no_grad():
        block.layer_scale.zero_()
    x = torch.randn(1, 96, 5, 5)
    torch.testing.assert_close(block(x), x)  # layer scale 0: the block starts as the identity
    with pytest.raises(ValueError, match="odd"):
        ConvNeXtBlock(8, kernel_size=4)


def test_convnext_shapes_and_errors():
    model = convnext("convnext-fashion-mnist", in_channels=1, num_classes=10).eval()
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 1, H, W\)"):
        model(torch.rand(2, 3, 28, 28))
    with pytest.raises(ValueError, match="unknown ConvNeXt"):
        convnext("convnext_huge")
    with pytest.raises(ValueError, match="one dim per stage"):
        ConvNeXtConfig(depths=(3, 3), dims=(96,))
    with pytest.raises(ValueError, match="stochastic_depth"):
        ConvNeXtConfig(stochastic_depth=1.0)


def test_drop_path_drops_whole_examples_in_training_only():
    drop = DropPath(0.5)
    x = torch.ones(1000, 3, 2, 2)
    torch.manual_seed(0)
    y = drop(x)
    per_example = y.flatten(1)
    assert set(per_example.unique().tolist()) == {0.0, 2.0}  # dropped, or kept and scaled by 1 / (1 - p)
    assert (per_example.min(dim=1).values == per_example.max(dim=1).values).all()
    assert 400 < int((per_example[:, 0] == 0).sum()) < 600
    assert torch.equal(drop.eval()(x), x)
    with pytest.raises(ValueError):
        DropPath(1.0)


# --- squeeze-and-excitation, inverted residual ----------------------------------------------------------

def test_squeeze_excitation_matches_torchvision_and_gates_channels():
    ours, theirs = SqueezeExcitation(16, 4), torchvision.ops.SqueezeExcitation(16, 4)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(ours(x), theirs(x))
    gate = ours(torch.ones(1, 16, 3, 3))[0, :, 0, 0]  # input 1: the output is the gate itself
    assert ((gate > 0) & (gate < 1)).all()
    assert count_params(ours) == 16 * 4 + 4 + 4 * 16 + 16


def test_inverted_residual_expands_and_keeps_the_residual_only_when_shapes_match():
    block = InvertedResidual(24, 24, 1, 6)
    assert block.use_residual and block.conv[1][0].groups == 144
    assert not InvertedResidual(24, 32, 2, 6).use_residual
    with_se = InvertedResidual(24, 24, 1, 6, se_ratio=0.25)
    assert count_params(with_se) - count_params(block) == count_params(SqueezeExcitation(144, 6))
    assert with_se(torch.randn(2, 24, 8, 8)).shape == (2, 24, 8, 8)
    with pytest.raises(ValueError, match="stride"):
        InvertedResidual(8, 8, 3, 6)


# --- the ladder -------------------------------------------------------------------------------------

def test_ladder_applies_each_change_on_top_of_the_last():
    rungs = ladder_configs()
    assert len(rungs) == len(LADDER) == len(PAPER_TOP1) == 14
    assert rungs[0][1] == rungs[1][1] == LadderConfig()  # rung 1 changes the training recipe only
    assert rungs[2][1].depths == (1, 1, 3, 1) and rungs[-1][1].depths == (1, 1, 3, 1)
    last = rungs[-1][1]
    assert (last.stem, last.groups, last.kernel_size, last.act, last.norm) == ("patchify", 0, 7, "gelu", "ln")
    assert last.spatial_first and last.fewer_acts and last.fewer_norms and last.separate_downsampling


@pytest.mark.parametrize("rung", range(14))
def test_every_rung_runs_on_fashion_mnist(rung):
    model = ladder_net(rung).eval()
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_last_rung_is_convnext_without_layer_scale_head_norm_and_depthwise_bias():
    config = ConvNeXtConfig((1, 1, 3, 1), (24, 48, 96, 192), patch=2, stochastic_depth=0.0)
    extra = 2 * sum(d * c for d, c in zip(config.depths, config.dims)) + 2 * config.dims[-1]
    assert count_params(convnext(config, 1, 10)) - count_params(ladder_net(13)) == extra
    block = ladder_net(13).body[0]
    layers = [type(m) for m in block.branch]
    assert layers == [nn.Conv2d, LayerNorm2d, nn.Conv2d, nn.GELU, nn.Conv2d]  # one norm, one activation
    assert isinstance(block.shortcut, nn.Identity) and isinstance(block.post_act, nn.Identity)


def test_depthwise_rung_uses_one_filter_per_channel():
    block = ladder_net(4).body[1]
    conv = block.branch[3]
    assert conv.groups == conv.in_channels == conv.out_channels


def test_ladder_errors():
    with pytest.raises(ValueError, match="between 0 and 13"):
        ladder_net(14)
    with pytest.raises(TypeError):
        ladder_net("convnext")
    with pytest.raises(ValueError, match="spatial_first=True"):
        LadderConfig(fewer_acts=True)
    with pytest.raises(ValueError, match="stem_channels == widths"):
        LadderConfig(separate_downsampling=True)
    with pytest.raises(ValueError, match="stem must be"):
        LadderConfig(stem="vit")
