"""The self-checks of chapters 00 to 07: each passes the solution, says "not implemented yet" for the stub,
and fails a plausible mistake and the shortcuts a reviewer found (library calls, copied answers, fake results)."""

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import cnnlib
from cnnlib import checks
from cnnlib.data import TensorBatches
from cnnlib.ops import pool2d


def fails(call, *words):
    """Run ``call``; it must raise AssertionError whose message contains every one of ``words``."""
    with pytest.raises(AssertionError) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, f"{word!r} not in: {message}"
    return message


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your solution here")


# ---------------------------------------------------------------- core: what is not a real answer

def test_a_complex_number_is_refused():
    fails(lambda: checks.check_answer("v", 0.25 + 1000j, 0.25), "complex")
    fails(lambda: checks.check_answer("v", 0.25 + 0j, 0.25), "complex")


def test_a_complex_tensor_is_refused_by_check():
    fails(lambda: checks.check(lambda x: (x * 2).to(torch.complex64) + 1000j, lambda x: x * 2, [(torch.ones(2),)]),
          "complex")


def test_integer_and_bool_tensors_are_refused_where_floats_are_expected():
    fails(lambda: checks.check_answer("m", torch.ones(3, dtype=torch.int64), torch.ones(3)), "torch.int64")
    fails(lambda: checks.check_answer("m", torch.ones(3, dtype=torch.bool), torch.ones(3)), "torch.bool")


def test_nan_is_refused():
    fails(lambda: checks.check_answer("v", float("nan"), 0.25, atol=1e-3), "NaN")
    fails(lambda: checks.check_answer("m", torch.tensor([1.0, float("nan")]), torch.ones(2)), "NaN")


def test_check_answer_does_not_print_the_expected_tensor():
    message = fails(lambda: checks.check_answer("m", torch.zeros(3), torch.full((3,), 0.123456)), "wrong values")
    assert "0.123" not in message


def test_check_shapes_refuses_entries_that_are_not_shape_tuples():
    layer = [((1, 1, 5, 5), nn.Conv2d(1, 2, 3))]
    checks.check_shapes("s", [(1, 2, 3, 3)], layer)
    fails(lambda: checks.check_shapes("s", [(1.0, 2.0, 3.0, 3.0)], layer), "entry 0", "int")
    fails(lambda: checks.check_shapes("s", [torch.tensor([1, 2, 3, 3])], layer), "tuple of ints")


# ---------------------------------------------------------------- chapter 00

@pytest.fixture
def train_split():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (60, 1, 28, 28), generator=g, dtype=torch.uint8)
    return SimpleNamespace(images=images, labels=torch.arange(60) % 10)


def test_class_mean(train_split):
    t = train_split
    solution = (t.images[t.labels == 5].float() / 255).mean(dim=0)
    assert checks.check_class_mean(solution, t)
    fails(lambda: checks.check_class_mean(None, t), "not implemented yet")
    fails(lambda: checks.check_class_mean(t.images[t.labels == 5].float().mean(0), t), "[0, 1]")  # forgot / 255
    fails(lambda: checks.check_class_mean((t.images[t.labels == 4].float() / 255).mean(0), t), "wrong values")
    fails(lambda: checks.check_class_mean(solution + 1000j, t), "complex")
    fails(lambda: checks.check_class_mean(solution.round().long(), t), "dtype")


# ---------------------------------------------------------------- chapter 01

def test_conv_shapes():
    solution = [(1, 6, 24, 24), (8, 16, 30, 30), (2, 4, 8, 8), (4, 32, 7, 7), (1, 10, 1, 1)]
    assert checks.check_conv_shapes(solution)
    fails(lambda: checks.check_conv_shapes(None), "not implemented yet")
    fails(lambda: checks.check_conv_shapes([(1, 1, 24, 24)] + solution[1:]), "entry 0")  # kept the input channels


def test_kernel_for_convolution():
    K_demo = torch.tensor([[1.0, 2.0, 0.0], [0.0, -1.0, 3.0]])
    assert checks.check_kernel_for_convolution(K_demo.flip(0, 1), K_demo)
    assert checks.check_kernel_for_convolution(K_demo.flip(0, 1), K_demo, seed=31, n_random=20)
    fails(lambda: checks.check_kernel_for_convolution(None, K_demo), "not implemented yet")
    fails(lambda: checks.check_kernel_for_convolution(K_demo, K_demo), "not right yet")  # forgot the flip
    fails(lambda: checks.check_kernel_for_convolution(K_demo.flip(0), K_demo), "not right yet")  # one axis only
    fails(lambda: checks.check_kernel_for_convolution(K_demo.T, K_demo), "shape")
    fails(lambda: checks.check_kernel_for_convolution(K_demo.flip(0, 1).long(), K_demo), "dtype")
    fails(lambda: checks.check_kernel_for_convolution(K_demo.flip(0, 1) + 1000j, K_demo), "dtype")


def test_conv1x1_channels():
    assert checks.check_conv1x1(lambda X, W: torch.einsum("oc,nchw->nohw", W, X))
    fails(lambda: checks.check_conv1x1(stub), "not implemented yet")
    fails(lambda: checks.check_conv1x1(lambda X, W: F.conv2d(X, W[:, :, None, None])), "F.conv2d")
    fails(lambda: checks.check_conv1x1(lambda X, W: torch.einsum("co,nchw->nohw", W.T.T, X)), "wrong")  # W as (C, O)


# ---------------------------------------------------------------- chapter 02

def output_size(n, k, padding=0, stride=1, dilation=1):
    return (n + 2 * padding - dilation * (k - 1) - 1) // stride + 1


@pytest.mark.parametrize("shortcut, called", [
    (lambda n, k, padding=0, stride=1, dilation=1: F.conv2d(
        torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), stride=stride, padding=padding, dilation=dilation).shape[-1],
     "conv"),
    (lambda n, k, padding=0, stride=1, dilation=1: nn.Conv2d(1, 1, k, stride, padding, dilation, device="meta")(
        torch.zeros(1, 1, n, n, device="meta")).shape[-1], "conv"),
    (lambda n, k, padding=0, stride=1, dilation=1: F.max_pool2d(
        torch.zeros(1, 1, n, n), k, stride, min(padding, k // 2), dilation).shape[-1], "pool"),
    (lambda n, k, padding=0, stride=1, dilation=1: cnnlib.conv_output_size(n, k, padding, stride, dilation),
     "conv_output_size"),
    (lambda n, k, padding=0, stride=1, dilation=1: cnnlib.layer_shapes(
        nn.Conv2d(1, 1, k, stride, padding, dilation), (1, 1, n, n), print_it=False)[-1][2][-1], ""),
    (lambda n, k, padding=0, stride=1, dilation=1: torch.ops.aten.convolution(
        torch.zeros(1, 1, n, n), torch.zeros(1, 1, k, k), None, [stride] * 2, [padding] * 2, [dilation] * 2, False,
        [0, 0], 1).shape[-1], "conv"),
])
def test_conv_output_size_refuses_the_library(shortcut, called):
    fails(lambda: checks.check_conv_output_size(shortcut, pairs=False), called)


def test_conv_output_size():
    assert checks.check_conv_output_size(output_size, pairs=False)
    fails(lambda: checks.check_conv_output_size(stub, pairs=False), "not implemented yet")
    fails(lambda: checks.check_conv_output_size(  # forgot the dilation
        lambda n, k, padding=0, stride=1, dilation=1: (n + 2 * padding - k) // stride + 1, pairs=False), "wrong")


def test_conv_settings():
    assert checks.check_conv_settings(2, 1, 3, 3)
    fails(lambda: checks.check_conv_settings(None, None, None, None), "not implemented yet")
    fails(lambda: checks.check_conv_settings(2.0, 1, 3, 3), "should be an int")
    fails(lambda: checks.check_conv_settings(True, 1, 3, 3), "should be an int")
    fails(lambda: checks.check_conv_settings(2, 2, 3, 3), "padding_halve_32")
    fails(lambda: checks.check_conv_settings(2, 1, 2, 2), "dilation_span_7")
    fails(lambda: checks.check_conv_settings(2, 1, 3, 1), "padding_keep_dilated")


def test_same_padding_split():
    assert checks.check_same_padding_split(1, 2)
    assert checks.check_same_padding_split(1, 2, seed=203, n_random=8)
    fails(lambda: checks.check_same_padding_split(None, None), "not implemented yet")
    fails(lambda: checks.check_same_padding_split(2, 1), "differs from padding='same'")
    fails(lambda: checks.check_same_padding_split(1, 1), "3 padding pixels")
    fails(lambda: checks.check_same_padding_split(1.0, 2.0), "should be an int")


# ---------------------------------------------------------------- chapter 03

def test_pool_shapes():
    solution = [(1, 3, 16, 16), (1, 3, 15, 15), (1, 3, 16, 16), (8, 16, 3, 3), (8, 16, 1, 1), (2, 64, 56, 56),
                (4, 6, 14, 7)]
    assert checks.check_pool_shapes(solution)
    fails(lambda: checks.check_pool_shapes(None), "not implemented yet")
    fails(lambda: checks.check_pool_shapes(solution[:3] + [(8, 16, 6, 6)] + solution[4:]), "entry 3")  # stride 1


def test_shift_examples():
    stays, moves = torch.zeros(1, 8), torch.zeros(1, 8)
    stays[0, 2], moves[0, 3] = 1.0, 1.0
    assert checks.check_shift_examples(stays, moves)
    fails(lambda: checks.check_shift_examples(None, None), "not implemented yet")
    fails(lambda: checks.check_shift_examples(moves, stays), "x_stays")
    fails(lambda: checks.check_shift_examples(stays.long(), moves), "dtype")
    fails(lambda: checks.check_shift_examples(stays + moves, moves), "single pixel")


def test_global_avg_pool():
    assert checks.check_global_avg_pool(lambda X: pool2d(X, tuple(X.shape[-2:]), mode="avg").flatten(1))
    assert checks.check_global_avg_pool(lambda X: pool2d(X, tuple(X.shape[-2:]), mode="avg").flatten(1), seed=302)
    fails(lambda: checks.check_global_avg_pool(stub), "not implemented yet")
    fails(lambda: checks.check_global_avg_pool(lambda X: X.mean(dim=(2, 3))), "mean")
    fails(lambda: checks.check_global_avg_pool(lambda X: torch.sum(X, dim=(2, 3)) / X[0, 0].numel()), "sum")
    fails(lambda: checks.check_global_avg_pool(lambda X: F.adaptive_avg_pool2d(X, 1).flatten(1)), "adaptive_avg_pool")
    fails(lambda: checks.check_global_avg_pool(lambda X: pool2d(X, tuple(X.shape[-2:]), mode="avg")), "shape")


# ---------------------------------------------------------------- chapter 04

def lenet5(activation=nn.Sigmoid, pool=nn.AvgPool2d, padding=0):
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=padding), activation(), pool(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), activation(), pool(2, stride=2),
        nn.Conv2d(16, 120, kernel_size=5), activation(), nn.Flatten(),
        nn.Linear(120, 84), activation(), nn.Linear(84, 10))


def lenet_classic():
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def test_lenet5_original():
    assert checks.check_lenet5_original(lenet5)
    assert checks.check_lenet5_original(lenet5, seed=401)
    fails(lambda: checks.check_lenet5_original(stub), "not implemented yet")
    fails(lambda: checks.check_lenet5_original(None), "not implemented yet")
    fails(lambda: checks.check_lenet5_original(lambda: lenet5(activation=nn.ReLU)), "sigmoid")
    fails(lambda: checks.check_lenet5_original(lambda: lenet5(pool=nn.MaxPool2d)), "average")
    fails(lambda: checks.check_lenet5_original(lambda: lenet5(padding=2)), "pads")
    fails(lambda: checks.check_lenet5_original(lenet_classic), "pads")
    def dense_c5():  # C5 as a dense layer, as in lenet_classic, but without padding
        return nn.Sequential(*lenet5()[:6], nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(),
                             nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
    fails(lambda: checks.check_lenet5_original(dense_c5), "three convolutions")
    one = lenet5()
    fails(lambda: checks.check_lenet5_original(lambda: one), "same object")


def test_lenet_64():
    assert checks.check_lenet_64((1, 16, 14, 14), 16 * 14 * 14)
    fails(lambda: checks.check_lenet_64(None, None), "not implemented yet")
    fails(lambda: checks.check_lenet_64((1, 16, 13, 13), 16 * 13 * 13), "shape_after_pool2")
    fails(lambda: checks.check_lenet_64((1, 16, 14, 14), None), "dense_inputs", "not implemented yet")
    fails(lambda: checks.check_lenet_64((1, 16, 14, 14), 16 * 5 * 5), "dense_inputs is not right")


def test_max_sigmoid_slope():
    assert checks.check_max_sigmoid_slope(0.25)
    fails(lambda: checks.check_max_sigmoid_slope(None), "not implemented yet")
    fails(lambda: checks.check_max_sigmoid_slope(0.5), "not right")
    fails(lambda: checks.check_max_sigmoid_slope(torch.tensor(0.25)), ".item()")
    fails(lambda: checks.check_max_sigmoid_slope(0.25 + 1000j), "complex")
    fails(lambda: checks.check_max_sigmoid_slope(float("nan")), "NaN")


@pytest.fixture(scope="module")
def lenet_runs():
    """Two short trainings of lenet_classic on random 28x28 images: normal(0.01) and Xavier initialisation."""
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(96, 1, 28, 28, generator=g), torch.arange(96) % 10
    train = TensorBatches(images[:64], labels[:64], batch_size=32, shuffle=True)
    val = TensorBatches(images[64:], labels[64:], batch_size=32)
    runs = {}
    for init in ("normal", "xavier"):
        cnnlib.seed_everything(0)
        model = lenet_classic()
        runs[init] = (cnnlib.fit(model, train, val, epochs=3, lr=0.9, init=init, device="cpu", progress=False,
                                 live_plot=False), model)
    return runs, val


def test_init_experiment(lenet_runs):
    runs, val = lenet_runs
    (h_normal, model_normal), (h_xavier, model_xavier) = runs["normal"], runs["xavier"]
    assert checks.check_init_experiment(h_normal, model_normal, val, h_xavier, 3)
    fails(lambda: checks.check_init_experiment(None, None, val, h_xavier, 3), "not implemented yet")
    fails(lambda: checks.check_init_experiment(h_xavier, model_normal, val, h_xavier, 3), "history_classic")
    fails(lambda: checks.check_init_experiment(cnnlib.History(train_loss=[2.3] * 3), model_normal, val, h_xavier, 3),
          "validation")
    fake = cnnlib.History(train_loss=[2.31, 2.30, 2.29], val_loss=[2.3] * 3, val_acc=[0.1] * 3)
    fails(lambda: checks.check_init_experiment(fake, model_normal, val, h_xavier, 3), "evaluated on val")
    fails(lambda: checks.check_init_experiment(h_normal, model_normal, val, h_xavier, 4), "records 3 epochs")
    fails(lambda: checks.check_init_experiment(h_normal, lenet_classic(), val, h_xavier, 3), "standard deviation")
    untrained = lenet_classic()
    cnnlib.init_weights(untrained, "normal")
    fails(lambda: checks.check_init_experiment(h_normal, untrained, val, h_xavier, 3), "evaluated on val")
    fails(lambda: checks.check_init_experiment(h_normal, model_xavier, val, cnnlib.History(), 3), "standard deviation")


# ---------------------------------------------------------------- chapter 05

def test_conv1_params():
    assert checks.check_conv1_params(96 * (3 * 11 * 11 + 1))
    fails(lambda: checks.check_conv1_params(None), "not implemented yet")
    fails(lambda: checks.check_conv1_params(96 * 3 * 11 * 11), "not right")  # forgot the biases
    fails(lambda: checks.check_conv1_params(96.0 * (3 * 11 * 11 + 1)), "should be an int")


def test_first_layer_sizes():
    assert checks.check_first_layer_sizes(54, 55)
    fails(lambda: checks.check_first_layer_sizes(None, None), "not implemented yet")
    fails(lambda: checks.check_first_layer_sizes(55, 55), "out_224")
    fails(lambda: checks.check_first_layer_sizes(54, 55.0), "out_227", "int")


def my_dropout(x, p):
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    keep = (torch.rand_like(x) >= p).to(x.dtype)
    return x * keep / (1 - p)


def first_elements_dropped(x, p):  # zeroes a fixed block: the right fraction, but no randomness
    if not 0 <= p < 1:
        raise ValueError(p)
    y = x / (1 - p)
    y.view(-1)[:int(p * x.numel())] = 0
    return y


def rows_dropped(x, p):  # drops whole rows of a 2-D input
    if not 0 <= p < 1:
        raise ValueError(p)
    keep = (torch.rand(x.shape[0], *([1] * (x.ndim - 1)), dtype=x.dtype) >= p).to(x.dtype)
    return x * keep / (1 - p)


def in_place(x, p):
    if not 0 <= p < 1:
        raise ValueError(p)
    return x.mul_((torch.rand_like(x) >= p).to(x.dtype) / (1 - p))


def test_dropout():
    assert checks.check_dropout(my_dropout)
    assert checks.check_dropout(my_dropout, p=0.5, seed=501, n=50_000)
    fails(lambda: checks.check_dropout(stub), "not implemented yet")
    fails(lambda: checks.check_dropout(lambda x, p: F.dropout(x, p) if 0 <= p < 1 else my_dropout(x, p)), "dropout")
    fails(lambda: checks.check_dropout(lambda x, p: nn.Dropout(p)(x) if 0 <= p < 1 else my_dropout(x, p)), "dropout")
    fails(lambda: checks.check_dropout(first_elements_dropped), "every part of the input")
    fails(lambda: checks.check_dropout(rows_dropped), "each element is dropped on its own")
    fails(lambda: checks.check_dropout(in_place), "does not change its input")
    fails(lambda: checks.check_dropout(lambda x, p: x * (torch.rand_like(x) >= p)), "divided by 1 - p")
    fails(lambda: checks.check_dropout(lambda x, p: x * (torch.rand_like(x) >= p) / (1 - p)), "ValueError")


# ---------------------------------------------------------------- chapter 06

def test_block4_params():
    assert checks.check_block4_params(512 * (256 * 9 + 1) + 2 * 512 * (512 * 9 + 1))
    fails(lambda: checks.check_block4_params(None), "not implemented yet")
    fails(lambda: checks.check_block4_params(512 * 256 * 9 + 2 * 512 * 512 * 9), "not right")  # no biases


def test_vgg19_config():
    from cnnlib.models.vgg import CONFIGS

    assert checks.check_vgg19_config([(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)])
    fails(lambda: checks.check_vgg19_config(None), "not implemented yet")
    fails(lambda: checks.check_vgg19_config(CONFIGS["vgg19"]), "copied")
    fails(lambda: checks.check_vgg19_config([list(b) for b in CONFIGS["vgg16"]]), "blocks 3, 4, 5")
    fails(lambda: checks.check_vgg19_config([(2, 64), (2, 128), (4, 256), (4, 256), (4, 512)]), "block 4")
    fails(lambda: checks.check_vgg19_config([(2, 64), (2, 128), (4, 256), (4, 512)]), "five")


def test_vgg_shapes():
    assert checks.check_vgg_shapes((1, 128, 3, 3), (1, 128, 7, 7))
    fails(lambda: checks.check_vgg_shapes(None, None), "features_shape", "not implemented yet")
    fails(lambda: checks.check_vgg_shapes((1, 128, 4, 4), (1, 128, 7, 7)), "features_shape")  # rounded up
    fails(lambda: checks.check_vgg_shapes((1, 128, 3, 3), (1, 128, 3, 3)), "pooled_shape")


def test_vgg16_layers():
    from cnnlib.models.vgg import CONFIGS

    solution = []
    for num_convs, _ in CONFIGS["vgg16"]:
        solution += [(3, 1)] * num_convs + [(2, 2)]
    assert checks.check_vgg16_layers(solution)
    fails(lambda: checks.check_vgg16_layers(None), "not implemented yet")
    fails(lambda: checks.check_vgg16_layers([(2, 1) if layer == (2, 2) else layer for layer in solution]), "wrong")
    fails(lambda: checks.check_vgg16_layers(solution[:-1]), "18 entries")


# ---------------------------------------------------------------- chapter 07

def test_block2_params():
    assert checks.check_block2_params(256 * (96 * 5 * 5 + 1) + 2 * 256 * (256 + 1))
    fails(lambda: checks.check_block2_params(None), "not implemented yet")
    fails(lambda: checks.check_block2_params(256 * (96 * 5 * 5 + 1) + 2 * 256 * 256), "not right")


def conv1x1(x, weight, bias):
    if weight.shape[2:] != (1, 1):
        raise ValueError(f"expected a 1x1 kernel, got {tuple(weight.shape[2:])}")
    return torch.einsum("oc,nchw->nohw", weight[:, :, 0, 0], x) + bias[None, :, None, None]


def test_conv1x1_layer():
    assert checks.check_conv1x1_layer(conv1x1)
    assert checks.check_conv1x1_layer(conv1x1, seed=701, n_random=10)
    fails(lambda: checks.check_conv1x1_layer(stub), "not implemented yet")
    fails(lambda: checks.check_conv1x1_layer(lambda x, w, b: F.conv2d(x, w, b)), "conv2d")

    def with_module(x, w, b):
        layer = nn.Conv2d(w.shape[1], w.shape[0], 1)
        layer.weight.data, layer.bias.data = w, b
        return layer(x)
    fails(lambda: checks.check_conv1x1_layer(with_module), "conv")
    fails(lambda: checks.check_conv1x1_layer(lambda x, w, b: torch.einsum("oc,nchw->nohw", w[:, :, 0, 0], x)), "wrong")
    def no_kernel_check(x, w, b):  # takes the first C weights of any kernel instead of refusing it
        return torch.einsum("oc,nchw->nohw", w.flatten(1)[:, :x.shape[1]], x) + b[None, :, None, None]
    fails(lambda: checks.check_conv1x1_layer(no_kernel_check), "ValueError")


def test_nin_shapes():
    solution = [(1, 96, 22, 22), (1, 96, 10, 10), (1, 256, 10, 10), (1, 256, 4, 4), (1, 384, 4, 4), (1, 384, 1, 1),
                (1, 10, 1, 1)]
    assert checks.check_nin_shapes(solution)
    fails(lambda: checks.check_nin_shapes(None), "not implemented yet")
    fails(lambda: checks.check_nin_shapes([(1, 96, 23, 23)] + solution[1:]), "entry 0")


def test_nin_smallest():
    assert checks.check_nin_smallest(67)
    fails(lambda: checks.check_nin_smallest(None), "not implemented yet")
    fails(lambda: checks.check_nin_smallest(68), "not right")
    fails(lambda: checks.check_nin_smallest(66), "not right")
    fails(lambda: checks.check_nin_smallest(67.0), "should be an int")
