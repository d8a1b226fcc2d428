"""The self-checks of chapters 08 to 16: each solution passes; a stub fails with "not implemented yet"; plausible
mistakes and library shortcuts fail; the check cells hold no reference (it lives in cnnlib.checks)."""

import tempfile
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnlib import checks

# The reference solutions that this file and the solutions test share.
from test_checks_solutions import occlusion_drop, one_cycle_lr, receptive_field_size, stack_vs_single  # noqa: E402
from checking import fails, stub


def not_implemented(check, *args, **kwargs) -> None:
    assert "not implemented yet" in fails(check, *args, **kwargs)


# -- chapter 08 ------------------------------------------------------------------------------------------------

class InceptionBlock(nn.Module):  # notebook 08's block
    def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(nn.Conv2d(in_channels, c1, 1), nn.ReLU())
        self.branch2 = nn.Sequential(nn.Conv2d(in_channels, c3_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c3_reduce, c3, 3, padding=1), nn.ReLU())
        self.branch3 = nn.Sequential(nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(),
                                     nn.Conv2d(c5_reduce, c5, 5, padding=2), nn.ReLU())
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(in_channels, pool_proj, 1), nn.ReLU())

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


def factorised(relu_between=True, padding=1, width=None):
    class Factorised(InceptionBlock):
        def __init__(self, in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
            super().__init__(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj)
            mid = width or c5_reduce
            layers = [nn.Conv2d(in_channels, c5_reduce, 1), nn.ReLU(), nn.Conv2d(c5_reduce, mid, 3, padding=padding)]
            layers += [nn.ReLU()] if relu_between else []
            self.branch3 = nn.Sequential(*layers, nn.Conv2d(mid, c5, 3, padding=padding), nn.ReLU())
    return Factorised


def conv_params(c_in, c_out, k):
    return c_out * (c_in * k * k + 1)


def test_ch08_params_4a():
    right = (conv_params(480, 192, 1) + conv_params(480, 96, 1) + conv_params(96, 208, 3) + conv_params(480, 16, 1)
             + conv_params(16, 48, 5) + conv_params(480, 64, 1))
    assert checks.check_params_4a(right)
    not_implemented(checks.check_params_4a, None)
    no_biases = right - (192 + 96 + 208 + 16 + 48 + 64)
    message = fails(checks.check_params_4a, no_biases)
    assert str(right) not in message and f"{right:,}" not in message  # never the answer
    assert "should be an int" in fails(checks.check_params_4a, float(right))
    assert fails(checks.check_params_4a, complex(right, 1000))


def test_ch08_inception_channels():
    from cnnlib.models.googlenet import INCEPTION_CONFIG

    right = [c1 + c3 + c5 + pool for (_, c1, _, c3, _, c5, pool) in INCEPTION_CONFIG.values()]
    assert checks.check_inception_channels(right)
    not_implemented(checks.check_inception_channels, None)
    inputs = [widths[0] for widths in INCEPTION_CONFIG.values()]  # a plausible mistake: the input widths
    assert "entries are wrong" in fails(checks.check_inception_channels, inputs)
    assert "9 entries" in fails(checks.check_inception_channels, right[:8])


def test_ch08_inception_factorised():
    assert checks.check_inception_factorised(factorised(), InceptionBlock)
    assert checks.check_inception_factorised(factorised(), InceptionBlock, hidden=True)

    class Stub(InceptionBlock):
        def __init__(self, *widths):
            super().__init__(*widths)
            raise NotImplementedError

    not_implemented(checks.check_inception_factorised, Stub, InceptionBlock)
    not_implemented(checks.check_inception_factorised, None, InceptionBlock)
    assert "1x1 convolution to c5_reduce" in fails(checks.check_inception_factorised, InceptionBlock, InceptionBlock)
    assert "a ReLU after each" in fails(checks.check_inception_factorised, factorised(relu_between=False), InceptionBlock)
    assert "keep the size" in fails(checks.check_inception_factorised, factorised(padding=0), InceptionBlock)
    assert "3x3 keeping c5_reduce" in fails(checks.check_inception_factorised, factorised(width=8), InceptionBlock)
    assert "subclasses InceptionBlock" in fails(checks.check_inception_factorised, nn.Module, InceptionBlock)


# -- chapter 09 ------------------------------------------------------------------------------------------------

def my_batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)
    if training:
        m = X.numel() // X.shape[1]
        mean, var = X.mean(dim=dims), X.var(dim=dims, correction=0)
        new_mean = (1 - momentum) * moving_mean + momentum * mean
        new_var = (1 - momentum) * moving_var + momentum * var * m / (m - 1)
    else:
        mean, var = new_mean, new_var = moving_mean, moving_var
    X_hat = (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps)
    return gamma.reshape(shape) * X_hat + beta.reshape(shape), new_mean, new_var


def test_ch09_batch_norm():
    assert checks.check_batch_norm(my_batch_norm)
    not_implemented(checks.check_batch_norm, stub)

    def biased_running_var(X, gamma, beta, mean, var, eps=1e-5, momentum=0.1, training=True):
        Y, m, v = my_batch_norm(X, gamma, beta, mean, var, eps, momentum, training)
        if training:
            dims = (0,) if X.ndim == 2 else (0, 2, 3)
            v = (1 - momentum) * var + momentum * X.var(dim=dims, correction=0)
        return Y, m, v

    assert "smallest failing one" in fails(checks.check_batch_norm, biased_running_var)

    def library(X, gamma, beta, mean, var, eps=1e-5, momentum=0.1, training=True):
        mean, var = mean.clone(), var.clone()
        return F.batch_norm(X, mean, var, gamma, beta, training, momentum, eps), mean, var

    assert "batch_norm" in fails(checks.check_batch_norm, library)


def test_ch09_keras_momentum():
    assert checks.check_keras_momentum(1 - 0.99, 2.0 * (1 - 0.99 ** 3))
    not_implemented(checks.check_keras_momentum, None, None)
    assert "torch_momentum is not right" in fails(checks.check_keras_momentum, 0.99, 0.059402)
    message = fails(checks.check_keras_momentum, 0.01, 2.0 * 0.01 * 3)  # three additions, no decay
    assert "predicted_running_mean is not right" in message and "0.0594" not in message


def bias_setup():
    from cnnlib.ops import BatchNorm

    torch.manual_seed(0)
    conv, bn, X = nn.Conv2d(3, 4, kernel_size=3, bias=True), BatchNorm(4), torch.randn(8, 3, 10, 10)
    return conv, bn, X, conv.bias.detach().clone()


def test_ch09_bias_before_bn():
    conv, bn, X, original = bias_setup()
    out_before = bn(conv(X))
    with torch.no_grad():
        conv.bias += torch.tensor([5.0, -3.0, 0.5, 100.0])
    out_after = bn(conv(X))
    assert checks.check_bias_before_bn(out_before, out_after, conv, bn, X, original)
    not_implemented(checks.check_bias_before_bn, None, None, conv, bn, X, original)
    assert "same tensor" in fails(checks.check_bias_before_bn, out_before, out_before, conv, bn, X, original)
    assert "not bn(conv(X))" in fails(checks.check_bias_before_bn, torch.zeros(8, 4, 8, 8), torch.zeros(8, 4, 8, 8),
                                      conv, bn, X, original)
    conv, bn, X, original = bias_setup()  # the bias left as it was: the shortcut of copying out_before
    out_before = bn(conv(X))
    assert "different nonzero constant" in fails(checks.check_bias_before_bn, out_before, out_before.clone(), conv,
                                                 bn, X, original)
    with torch.no_grad():
        conv.bias += 1.0  # the same constant everywhere
    assert "different nonzero constant" in fails(checks.check_bias_before_bn, out_before, bn(conv(X)), conv, bn, X,
                                                 original)


# -- chapter 10 ------------------------------------------------------------------------------------------------

def test_ch10_value_answers():
    right = 64 * 128 * 9 + 2 * 128 + 128 * 128 * 9 + 2 * 128 + 64 * 128 + 2 * 128
    assert checks.check_basic_block_params(right)
    not_implemented(checks.check_basic_block_params, None)
    assert "projection" in fails(checks.check_basic_block_params, right - 64 * 128 - 2 * 128)
    shapes = [(1, 64, 16, 16), (1, 64, 16, 16), (1, 128, 8, 8), (1, 256, 4, 4), (1, 512, 2, 2)]
    assert checks.check_resnet_stage_shapes(shapes)
    not_implemented(checks.check_resnet_stage_shapes, None)
    assert "entry 0" in fails(checks.check_resnet_stage_shapes, [(1, 64, 32, 32)] + shapes[1:])  # stem /2 only


def test_ch10_resnet10_config():
    from cnnlib.models import ResNetConfig

    assert checks.check_resnet10_config(ResNetConfig(block="basic", layers=(1, 1, 1, 1)))
    not_implemented(checks.check_resnet10_config, None)
    assert "one block in each" in fails(checks.check_resnet10_config, ResNetConfig())
    assert "basic blocks" in fails(checks.check_resnet10_config, ResNetConfig(block="bottleneck", layers=(1, 1, 1, 1)))
    assert "widths" in fails(checks.check_resnet10_config, ResNetConfig(layers=(1, 1, 1, 1), widths=(32, 64, 128, 256)))
    assert "should be a ResNetConfig" in fails(checks.check_resnet10_config, {"block": "basic", "layers": (1, 1, 1, 1)})


def test_ch10_zero_init_residual():
    from cnnlib.models import BasicBlock

    def right(model):
        for module in model.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.bn2.weight)

    assert checks.check_zero_init_residual(right)
    assert checks.check_zero_init_residual(right, hidden=True)
    not_implemented(checks.check_zero_init_residual, stub)

    def every_bn(model):
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                nn.init.zeros_(module.weight)

    def last_conv(model):  # zeroes conv2 instead: F(x) = 0 too, but the scale is not the one asked for
        for module in model.modules():
            if isinstance(module, BasicBlock):
                nn.init.zeros_(module.conv2.weight)

    def first_stage_only(model):
        right(model.layer1)

    assert "only the scale" in fails(checks.check_zero_init_residual, every_bn)
    assert "conv2.weight" in fails(checks.check_zero_init_residual, last_conv)
    assert "not all zeros" in fails(checks.check_zero_init_residual, first_stage_only)
    assert "not all zeros" in fails(checks.check_zero_init_residual, lambda model: None)


# -- chapter 11 ------------------------------------------------------------------------------------------------

def test_ch11_value_answers():
    assert checks.check_dense_block_channels(24 + 6 * 12, (24 + 6 * 12) // 2)
    not_implemented(checks.check_dense_block_channels, None, None)
    assert "block_out is not right" in fails(checks.check_dense_block_channels, 6 * 12, 36)  # forgot the input
    c = 64 + 3 * 32
    assert checks.check_dense_layer_params(2 * c + c * 32 * 9)
    not_implemented(checks.check_dense_layer_params, None)
    assert "layer_params is not right" in fails(checks.check_dense_layer_params, c * 32 * 9)  # no batch norm
    assert checks.check_densenet121_width(1024)
    not_implemented(checks.check_densenet121_width, None)
    message = fails(checks.check_densenet121_width, 64 + 32 * 58)  # no compression
    assert "final_channels is not right" in message and "1024" not in message


# -- chapter 12 ------------------------------------------------------------------------------------------------

def test_ch12_receptive_field():
    assert checks.check_receptive_field(receptive_field_size)
    assert checks.check_receptive_field(receptive_field_size, n_random=30, seed=1201)
    not_implemented(checks.check_receptive_field, stub)
    no_dilation = lambda layers: receptive_field_size([(k, s, 1) for k, s, d in layers])  # noqa: E731
    assert "smallest failing one" in fails(checks.check_receptive_field, no_dilation)

    def measured(layers):  # the shortcut: run real convolutions and read the field off autograd
        from cnnlib import receptive_field
        stack = nn.Sequential(*(nn.Conv2d(1, 1, (k, 1), (s, 1), dilation=(d, 1)) for k, s, d in layers))
        return receptive_field(stack, (1, 200, 3))[0] if layers else 1

    assert "receptive_field" in fails(checks.check_receptive_field, measured)

    def by_autograd(layers):  # the same without cnnlib: refused because it runs convolutions
        x = torch.ones(1, 1, 300, 1, requires_grad=True)
        y = x
        for k, s, d in layers:
            y = F.conv2d(y, torch.ones(1, 1, k, 1), stride=(s, 1), dilation=(d, 1))
        y[0, 0, y.shape[2] // 2, 0].backward()
        return int((x.grad != 0).sum())

    assert "conv" in fails(checks.check_receptive_field, by_autograd)


def test_ch12_stack_vs_single():
    assert checks.check_stack_vs_single(stack_vs_single)
    assert checks.check_stack_vs_single(stack_vs_single, n_random=10, seed=1202)
    not_implemented(checks.check_stack_vs_single, stub)
    one_layer_per_size = lambda c, k: (k * k * c * c, (k - 2) * 9 * c * c, k - 2)  # noqa: E731
    assert "smallest failing one" in fails(checks.check_stack_vs_single, one_layer_per_size)

    def counted(channels, kernel):  # the shortcut: build the layers and count their weights
        layers = (kernel - 1) // 2
        big = nn.Conv2d(channels, channels, kernel, bias=False)
        small = [nn.Conv2d(channels, channels, 3, bias=False) for _ in range(layers)]
        return big.weight.numel(), sum(m.weight.numel() for m in small), layers

    assert "Conv2d" in fails(checks.check_stack_vs_single, counted)


# -- chapter 13 ------------------------------------------------------------------------------------------------

def separable_conv(c_in, c_out, k, stride=1):
    return nn.Sequential(nn.Conv2d(c_in, c_in, k, stride, padding=k // 2, groups=c_in, bias=False),
                         nn.Conv2d(c_in, c_out, 1, bias=False))


def test_ch13_separable_conv():
    assert checks.check_separable_conv(separable_conv)
    assert checks.check_separable_conv(separable_conv, hidden=True, seed=1301)
    not_implemented(checks.check_separable_conv, stub)
    standard = lambda c_in, c_out, k, stride=1: nn.Conv2d(c_in, c_out, k, stride, padding=k // 2)  # noqa: E731
    assert "holds 1 convolutions" in fails(checks.check_separable_conv, standard)
    with_relu = lambda *a: nn.Sequential(separable_conv(*a)[0], nn.ReLU(), separable_conv(*a)[1])  # noqa: E731
    assert "nothing else" in fails(checks.check_separable_conv, with_relu)
    with_bn = lambda c_in, c_out, k, s=1: nn.Sequential(*separable_conv(c_in, c_out, k, s), nn.BatchNorm2d(c_out))  # noqa: E731
    assert "no batch norm" in fails(checks.check_separable_conv, with_bn)
    no_stride = lambda c_in, c_out, k, stride=1: separable_conv(c_in, c_out, k, 1)  # noqa: E731
    assert "(96, 24, 5, 2)" in fails(checks.check_separable_conv, no_stride)


def test_ch13_pointwise_share():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1, groups=8), nn.Conv2d(8, 16, 1))
    per_pixel = {"3x3": 3 * 9 * 8, "depthwise": 9 * 8, "1x1": 8 * 16}
    right = per_pixel["1x1"] / sum(per_pixel.values())
    assert checks.check_pointwise_share(right, model)
    not_implemented(checks.check_pointwise_share, None, model)
    without_groups = 8 * 16 / (3 * 9 * 8 + 8 * 9 * 8 + 8 * 16)  # the depthwise layer counted as a full one
    message = fails(checks.check_pointwise_share, without_groups, model)
    assert "pointwise_share is not right" in message and f"{right:.3f}" not in message
    assert fails(checks.check_pointwise_share, complex(right, 1000), model)
    assert model.training  # the check restores the model's mode


@pytest.fixture(scope="module")
def lite0():
    from cnnlib.models import efficientnet_lite0

    return efficientnet_lite0(weights="imagenet").eval()


def test_ch13_preprocessing(lite0):
    import skimage.data
    from torchvision.transforms import v2

    from cnnlib.models import efficientnet_lite0_transform

    coffee = skimage.data.coffee()
    with torch.inference_mode():
        right = lite0(efficientnet_lite0_transform()(coffee).unsqueeze(0)).softmax(dim=1).max().item()
        unnormalised = v2.Compose([v2.ToImage(), v2.Resize(256), v2.CenterCrop(224), v2.ToDtype(torch.float32, scale=True)])
        wrong = lite0(unnormalised(coffee).unsqueeze(0)).softmax(dim=1).max().item()
    assert checks.check_preprocessing(right, wrong, lite0, coffee)
    not_implemented(checks.check_preprocessing, None, None, lite0, coffee)
    assert "right_norm is not right" in fails(checks.check_preprocessing, 0.9, 0.1, lite0, coffee)  # made up
    assert "wrong_norm is not right" in fails(checks.check_preprocessing, right, wrong / 2, lite0, coffee)


# -- chapter 14 ------------------------------------------------------------------------------------------------

def test_ch14_partial_unfreeze(lite0):
    from cnnlib.models import efficientnet_lite0

    def build(weights="imagenet", head=True):
        model = efficientnet_lite0(weights=weights)
        model.requires_grad_(False)
        model.stages[-1].requires_grad_(True)
        model.head.requires_grad_(head)
        model.classifier = nn.Linear(1280, 2)
        return model

    assert checks.check_partial_unfreeze(build())
    not_implemented(checks.check_partial_unfreeze, None)
    assert "ImageNet weights" in fails(checks.check_partial_unfreeze, build(weights=None))
    assert "head." in fails(checks.check_partial_unfreeze, build(head=False))
    everything = build().requires_grad_(True)
    assert "stem" in fails(checks.check_partial_unfreeze, everything)
    old_head = efficientnet_lite0(weights="imagenet")
    assert "nn.Linear(1280, 2)" in fails(checks.check_partial_unfreeze, old_head)


@pytest.fixture(scope="module")
def recipe():
    """Exercise 2's solution at the notebook's quick-mode size: (audit, model, history, root, cache size, transform)."""
    import skimage.data
    from PIL import Image
    from torchvision.transforms import v2

    import cnnlib
    from cnnlib.models import efficientnet_lite0
    from cnnlib.models.efficientnet import LITE0_MEAN, LITE0_STD
    from cnnlib.transfer import TransformedBatches, audit_image_folder, freeze, image_folder_tensors

    size, cache = 96, 96 * 8 // 7
    train_transform = v2.Compose([v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip(),
                                  v2.Normalize(LITE0_MEAN, LITE0_STD)])
    eval_transform = v2.Compose([v2.CenterCrop(size), v2.Normalize(LITE0_MEAN, LITE0_STD)])
    workdir = tempfile.TemporaryDirectory()
    root = Path(workdir.name)
    crop = v2.RandomResizedCrop(160, scale=(0.3, 1.0))
    torch.manual_seed(0)
    for name, photo in [("cat", skimage.data.chelsea()), ("coffee", skimage.data.coffee())]:
        (root / name).mkdir()
        for i in range(8):
            crop(Image.fromarray(photo)).save(root / name / f"{i}.jpg")
    audit = audit_image_folder(root)
    data = image_folder_tensors(root, cache, batch_size=8, shuffle=True, device="cpu")
    model = freeze(efficientnet_lite0(weights="imagenet"))
    model.classifier = nn.Linear(1280, 2)
    history = cnnlib.fit(model, TransformedBatches(data, train_transform), TransformedBatches(data, eval_transform),
                         epochs=3, optimizer=torch.optim.AdamW(model.classifier.parameters(), lr=1e-2), device="cpu",
                         progress=False, live_plot=False)
    yield audit, model, history, root, cache, eval_transform
    workdir.cleanup()


def test_ch14_transfer_recipe(recipe):
    import copy

    import cnnlib

    audit, model, history, root, cache, eval_transform = recipe
    assert checks.check_transfer_recipe(audit, model, history, root, cache, eval_transform)
    not_implemented(checks.check_transfer_recipe, None, None, None, root, cache, eval_transform)
    made_up = cnnlib.History(train_loss=[0.7, 0.5, 0.3], val_loss=[0.6, 0.4, 0.2], val_acc=[0.8, 0.9, 1.0])
    assert "not what my_model scores" in fails(checks.check_transfer_recipe, audit, model, made_up, root, cache,
                                               eval_transform)
    constant = cnnlib.History(train_loss=[2.3] * 3, val_loss=[2.3] * 3, val_acc=[1.0] * 3)
    assert "change from epoch to epoch" in fails(checks.check_transfer_recipe, audit, model, constant, root, cache,
                                                 eval_transform)
    untrained = copy.deepcopy(model)
    untrained.classifier = nn.Linear(1280, 2)  # a fresh head: the history no longer matches the model
    assert "not what my_model scores" in fails(checks.check_transfer_recipe, audit, untrained, history, root, cache,
                                               eval_transform)
    thawed = copy.deepcopy(model).requires_grad_(True)
    assert "only the new head" in fails(checks.check_transfer_recipe, audit, thawed, history, root, cache,
                                        eval_transform)
    one_epoch = copy.deepcopy(history)
    del one_epoch.train_loss[1:], one_epoch.val_loss[1:], one_epoch.val_acc[1:]
    assert "at least 2 epochs" in fails(checks.check_transfer_recipe, audit, model, one_epoch, root, cache,
                                        eval_transform)
    with tempfile.TemporaryDirectory() as other:
        assert "not the exercise's folder" in fails(checks.check_transfer_recipe, audit, model, history, other,
                                                    cache, eval_transform)


# -- chapter 15 ------------------------------------------------------------------------------------------------

def test_ch15_one_cycle_lr():
    assert checks.check_one_cycle_lr(one_cycle_lr)
    assert checks.check_one_cycle_lr(one_cycle_lr, n_random=10, seed=1501)
    not_implemented(checks.check_one_cycle_lr, stub)

    def peak_one_late(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        return one_cycle_lr(step, total_steps, max_lr, pct_start + 1 / total_steps, div_factor, final_div_factor)

    assert "smallest failing one" in fails(checks.check_one_cycle_lr, peak_one_late)
    from torch.optim.lr_scheduler import OneCycleLR  # taken before the check: still refused

    def with_torch(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        schedule = OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                              div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=False)
        for _ in range(step):
            optimizer.step()
            schedule.step()
        return optimizer.param_groups[0]["lr"]

    assert "LRScheduler" in fails(checks.check_one_cycle_lr, with_torch)


def my_random_crop(X, padding):
    N, C, H, W = X.shape
    padded = F.pad(X, (padding,) * 4)
    dy = torch.randint(0, 2 * padding + 1, (N, 1, 1))
    dx = torch.randint(0, 2 * padding + 1, (N, 1, 1))
    rows = dy + torch.arange(H).view(1, H, 1)
    cols = dx + torch.arange(W).view(1, 1, W)
    return padded[torch.arange(N).view(N, 1, 1), :, rows, cols].permute(0, 3, 1, 2)


def test_ch15_random_crop():
    assert checks.check_random_crop(my_random_crop)
    assert checks.check_random_crop(my_random_crop, seed=1502)
    not_implemented(checks.check_random_crop, stub)

    def one_shift_for_all(X, padding):
        dy, dx = (int(v) for v in torch.randint(0, 2 * padding + 1, (2,)))
        return F.pad(X, (padding,) * 4)[..., dy:dy + X.shape[2], dx:dx + X.shape[3]]

    assert "never occurred" in fails(checks.check_random_crop, one_shift_for_all)
    from cnnlib.augment import random_crop  # taken before the check: still refused

    assert "random_crop" in fails(checks.check_random_crop, lambda X, padding: random_crop(X, padding))


# -- chapter 16 ------------------------------------------------------------------------------------------------

def grad_cam_map(activations, gradients):
    return F.relu((gradients.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))


def test_ch16_grad_cam_map():
    assert checks.check_grad_cam_map(grad_cam_map)
    assert checks.check_grad_cam_map(grad_cam_map, n_random=12, seed=1601)
    not_implemented(checks.check_grad_cam_map, stub)
    summed = lambda a, g: F.relu((g.sum(dim=(2, 3), keepdim=True) * a).sum(dim=1))  # noqa: E731
    assert "smallest failing one" in fails(checks.check_grad_cam_map, summed)
    no_relu = lambda a, g: (g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)  # noqa: E731
    assert "smallest failing one" in fails(checks.check_grad_cam_map, no_relu)


def test_ch16_occlusion_drop():
    assert checks.check_occlusion_drop(occlusion_drop)
    assert checks.check_occlusion_drop(occlusion_drop, n_random=8, seed=1602)
    not_implemented(checks.check_occlusion_drop, stub)
    not_implemented(checks.check_occlusion_drop, None)

    def in_place(model, x, target, top, left, patch, baseline=0.0):
        with torch.no_grad():
            before = model(x).softmax(dim=1)[:, target]
            x[:, :, top:top + patch, left:left + patch] = baseline
            return before - model(x).softmax(dim=1)[:, target]

    message = fails(checks.check_occlusion_drop, in_place)
    assert "changed its input x in place" in message and message.startswith("in_place is wrong on case 1")

    def swapped(model, x, target, top, left, patch, baseline=0.0):
        return -occlusion_drop(model, x, target, top, left, patch, baseline)

    assert "smallest failing one" in fails(checks.check_occlusion_drop, swapped)
    from cnnlib.explain import occlusion

    def library(model, x, target, top, left, patch, baseline=0.0):
        return occlusion(model, x, target, patch=patch, stride=patch, baseline=baseline)[:, 0, 0]

    assert "occlusion" in fails(checks.check_occlusion_drop, library)
