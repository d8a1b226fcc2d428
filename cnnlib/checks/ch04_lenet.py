"""Chapter 04's checks: LeNet-5 as published, shapes at 64 pixels, the sigmoid's slope, the initialisation run."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .core import _not_implemented, _unset, check_answer, check_shapes


def _lenet_classic() -> nn.Sequential:
    """The chapter's ``lenet_classic``: padding 2, sigmoids, average pooling, three dense layers."""
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def _lenet5_original() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(16, 120, kernel_size=5), nn.Sigmoid(), nn.Flatten(),
        nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def _fail(name: str, what: str) -> AssertionError:
    return AssertionError(f"{name} is not right yet: {what}.")


def check_lenet5_original(build: Callable, seed: int = 0) -> bool:
    """Check chapter 4's exercise 1 by behaviour: ``build()`` must give a fresh model whose parameters have the
    shapes of LeNet-5 as published and which, with the reference's weights copied in, computes the same scores."""
    name = "lenet5_original"
    if _unset(build):
        raise _not_implemented(name)
    try:
        model = build()
    except NotImplementedError:
        raise _not_implemented(name) from None
    if _unset(model):
        raise _not_implemented(name)
    if not isinstance(model, nn.Module):
        raise _fail(name, f"it should return an nn.Module (an nn.Sequential), got {type(model).__name__}")
    if build() is model:
        raise _fail(name, "each call should build a new model, but two calls returned the same object")
    reference = _lenet5_original()
    ours = [tuple(p.shape) for p in model.parameters()]
    theirs = [tuple(p.shape) for p in reference.parameters()]
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if any(c.padding != (0, 0) for c in convs):
        raise _fail(name, "a convolution pads; the original takes 32x32 inputs without padding")
    if [c.kernel_size for c in convs][2:] != [(5, 5)] or convs[2].out_channels != 120:
        raise _fail(name, "it should have three convolutions, the last (C5) 5x5 with 120 output channels")
    if ours != theirs:
        raise _fail(name, f"its parameters have shapes {ours}; count each layer's inputs and outputs again")
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in reference.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for ours_p, theirs_p in zip(model.parameters(), reference.parameters()):
            ours_p.copy_(theirs_p)
        model.eval()
        X = torch.randn(3, 1, 32, 32, generator=g)
        try:
            out = model(X)
        except Exception as error:
            raise _fail(name, f"it raises {type(error).__name__} on a (3, 1, 32, 32) batch: {error}") from error
        if tuple(out.shape) != (3, 10):
            raise _fail(name, f"it maps a (3, 1, 32, 32) batch to {tuple(out.shape)}, not (3, 10) scores")
        if not torch.allclose(out, reference(X), atol=1e-5):
            raise _fail(name, "with the same weights it computes other scores than LeNet-5: check the activations "
                              "(sigmoid) and the pooling (average, 2x2, stride 2)")
    print(f"✓ {name}: LeNet-5's layers, {sum(p.numel() for p in model.parameters()):,} parameters, same scores "
          "with the same weights")
    return True


def check_lenet_64(shape_after_pool2: Any, dense_inputs: Any) -> bool:
    """Check chapter 4's exercise 2: lenet_classic's shape after the second pool on a 64x64 input, run here,
    and the number of inputs the first dense layer would need."""
    check_shapes("shape_after_pool2", None if _unset(shape_after_pool2) else [shape_after_pool2],
                 [((1, 1, 64, 64), _lenet_classic()[:6])],
                 "the first convolution keeps the size (padding 2), the second loses 4 pixels, each pool halves")
    with torch.no_grad():
        features = _lenet_classic()[:7](torch.zeros(1, 1, 64, 64)).shape[1]
    return check_answer("dense_inputs", dense_inputs, features,
                        "flattening multiplies channels, height and width of shape_after_pool2")


def _max_sigmoid_slope() -> float:
    z = torch.linspace(-8, 8, 16001, dtype=torch.float64, requires_grad=True)
    torch.sigmoid(z).sum().backward()
    return float(z.grad.max())


def check_max_sigmoid_slope(max_sigmoid_slope: Any) -> bool:
    """Check chapter 4's exercise 3: the largest slope of the sigmoid, a float within 0.001."""
    if isinstance(max_sigmoid_slope, torch.Tensor):
        raise AssertionError("max_sigmoid_slope should be a float, got a tensor: take .item() of it.")
    return check_answer("max_sigmoid_slope", max_sigmoid_slope, _max_sigmoid_slope(),
                        "autograd gives the slope at every point of a fine grid; take the largest", atol=1e-3)


def check_init_experiment(h_normal: Any, model_normal: Any, val: Any, history_classic: Any, epochs: int) -> bool:
    """Check chapter 4's exercise 4: ``h_normal`` is the History of training ``model_normal``, a lenet_classic
    initialised with normal(0.01), for ``epochs`` epochs; it is not the Xavier run ``history_classic``.

    Evaluating ``model_normal`` on ``val`` here must give the last validation numbers that ``h_normal``
    recorded, so a History made up by hand, or taken from another run, fails."""
    from ..train import History, evaluate

    name = "h_normal"
    if _unset(h_normal):
        raise _not_implemented(name)
    if _unset(model_normal):
        raise _not_implemented("model_normal")
    if not isinstance(h_normal, History):
        raise _fail(name, f"it should be the History that cnnlib.fit returns, got {type(h_normal).__name__}")
    if len(h_normal) != epochs:
        raise _fail(name, f"it records {len(h_normal)} epochs, not EPOCHS = {epochs}")
    if h_normal is history_classic or list(h_normal.train_loss) == list(history_classic.train_loss):
        raise _fail(name, "it is the Xavier run's history (history_classic); train a new model with init=\"normal\"")
    if len(h_normal.val_loss) != epochs or len(h_normal.val_acc) != epochs:
        raise _fail(name, "it has no validation numbers for every epoch; pass val to cnnlib.fit")
    losses = list(h_normal.train_loss) + list(h_normal.val_loss)
    if not all(isinstance(v, float) and math.isfinite(v) for v in losses):
        raise _fail(name, "some of its losses are not finite floats")
    if epochs > 1 and len(set(h_normal.train_loss)) == 1:
        raise _fail(name, "its training loss is the same number in every epoch: it was not measured by training")
    if not isinstance(model_normal, nn.Module):
        raise _fail("model_normal", f"it should be the model you trained, got {type(model_normal).__name__}")
    shapes = [tuple(p.shape) for p in model_normal.parameters()]
    if shapes != [tuple(p.shape) for p in _lenet_classic().parameters()]:
        raise _fail("model_normal", "it is not a lenet_classic() (its parameters have other shapes)")
    first = next(m for m in model_normal.modules() if isinstance(m, nn.Conv2d)).weight.detach()
    if float(first.std()) > 0.05:
        raise _fail("model_normal", f"its first convolution's weights have standard deviation "
                                    f"{float(first.std()):.3f}: "
                                    "it was not initialised with init=\"normal\" (0.01)")
    val_loss, val_acc = evaluate(model_normal, val)
    if abs(val_loss - h_normal.val_loss[-1]) > 1e-3 or abs(val_acc - h_normal.val_acc[-1]) > 1e-3:
        raise _fail(name, f"model_normal evaluated on val gives loss {val_loss:.4f}, accuracy {val_acc:.4f}, but "
                          f"h_normal's last epoch recorded {h_normal.val_loss[-1]:.4f}, {h_normal.val_acc[-1]:.4f}: "
                          "h_normal should be the History of training model_normal")
    print(f"✓ {name}: {epochs} epochs of training model_normal from normal(0.01) weights")
    return True
