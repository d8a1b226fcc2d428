"""Looking inside a model: the layer-by-layer shape trace, a torchinfo summary, parameter counts and
receptive fields."""

from __future__ import annotations

import copy
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from .evaluation import _model_device
from .models._size import window_count


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (only those with ``requires_grad`` if ``trainable_only``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_shapes(model: nn.Module, input_shape: Sequence[int], print_it: bool = True
                 ) -> list[tuple[str, str, tuple[int, ...]]]:
    """Pass a zero tensor through the model's top-level layers and report each output shape.

    ``input_shape`` is (N, C, H, W) or (C, H, W) (a batch of one is added). Returns a list of
    (name, layer type, output shape); if a layer fails, the error says which one and its input shape.
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    trace: list[tuple[str, str, tuple[int, ...]]] = []
    current: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    hooks = []
    for name, layer in model.named_children():
        def pre(module, args, name=name):
            current.append((name, module, tuple(args[0].shape) if args and hasattr(args[0], "shape") else ()))

        def post(module, args, output, name=name):
            out = output[0] if isinstance(output, (tuple, list)) else output
            trace.append((name, type(module).__name__, tuple(out.shape)))

        hooks += [layer.register_forward_pre_hook(pre), layer.register_forward_hook(post)]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(shape, device=_model_device(model)))
    except RuntimeError as error:
        if current:
            name, layer, in_shape = current[-1]
            raise RuntimeError(f"layer {name!r} ({layer}) failed on input of shape {in_shape}: {error}") from error
        raise
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    if print_it:
        width = max((len(f"{n} {t}") for n, t, _ in trace), default=10)
        print(f"{'input':<{width}}  {shape}")
        for name, kind, out in trace:
            print(f"{f'{name} {kind}':<{width}}  {out}")
    return trace


def summary(model: nn.Module, input_size: Sequence[int], **kwargs):
    """A torchinfo summary: output shape, parameters and multiply-adds of every layer.

    ``input_size`` is (N, C, H, W); extra keyword arguments go to ``torchinfo.summary``.
    """
    from torchinfo import summary as torchinfo_summary

    options = dict(col_names=("output_size", "num_params", "mult_adds"), depth=3, verbose=0,
                   device=_model_device(model), row_settings=("var_names",))
    options.update(kwargs)
    return torchinfo_summary(model, input_size=tuple(input_size), **options)


class _Stop(Exception):
    """Raised by a forward hook once the feature map we want has been computed."""


def receptive_field(model: nn.Module, input_shape: Sequence[int], layer: str | None = None) -> tuple[int, int]:
    """Height and width, in input pixels, of the region one unit at the centre of a feature map can see.

    The feature map is the output of the submodule ``layer`` (e.g. ``"features"``, ``"layer4"``) or of the
    whole model. It is measured, so branches and skip connections are handled: in a copy of the model every
    weight is positive and max pooling (``nn.MaxPool2d`` or ``F.max_pool2d``, dilated or not) averages its
    window instead, so no path can cancel or drop a gradient, and the
    input pixels with a nonzero gradient of the centre unit are exactly its receptive field.
    """
    shape = tuple(input_shape)
    if len(shape) == 3:
        shape = (1, *shape)
    if len(shape) != 4:
        raise ValueError(f"input_shape must be (C, H, W) or (N, C, H, W), got {tuple(input_shape)}")
    probe = _every_path_counts(model)
    # A tiny input keeps every activation far below where ReLU6 and friends saturate, even after the
    # values have doubled at each of many residual additions.
    x = torch.full(shape[1:], 1e-6, dtype=torch.float64).unsqueeze(0).requires_grad_()
    with _MaxPoolAverages():
        fmap = _output_of(probe, layer, x)
    where = f"layer {layer!r}" if layer else "the model"
    if fmap.ndim != 4:
        raise ValueError(f"the output of {where} has shape {tuple(fmap.shape)}, not a feature map (N, C, H, W); "
                         "name a convolutional part with layer=...")
    h, w = fmap.shape[-2:]
    fmap[0, :, h // 2, w // 2].sum().backward()
    seen = x.grad[0].abs().sum(dim=0) > 0
    if not seen.any():
        raise ValueError(f"no input pixel reaches the centre unit of {where}: its gradient is zero everywhere")
    rows, cols = seen.any(dim=1).nonzero().flatten(), seen.any(dim=0).nonzero().flatten()
    height, width = shape[-2:]
    if rows[0] == 0 or cols[0] == 0 or rows[-1] == height - 1 or cols[-1] == width - 1:
        raise ValueError(
            f"the receptive field of {where} reaches the border of the {height}x{width} input, so it was cut "
            "off: measure again with a larger input_shape. (If it always covers the whole input, a global "
            "pooling or a fully connected layer lies on the way, and each unit sees the entire image.)")
    return int(rows[-1] - rows[0] + 1), int(cols[-1] - cols[0] + 1)


class _MaxPoolAverages(TorchFunctionMode):
    """Inside this mode every 2-D max pooling, module or functional, averages its window instead.

    The window keeps its size, stride, padding, dilation and ceil mode, so the output has the same shape,
    but the gradient reaches every pixel of the window rather than only the one that won the max.
    """

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if name in ("max_pool2d", "max_pool2d_with_indices"):
            pooled = _window_mean(*args, **kwargs)
            wants_indices = name.endswith("indices") or kwargs.get("return_indices") or len(args) > 6 and args[6]
            return (pooled, func(*args, **kwargs)[1]) if wants_indices else pooled
        if name in ("adaptive_max_pool2d", "adaptive_max_pool2d_with_indices"):
            pooled = F.adaptive_avg_pool2d(args[0], args[1] if len(args) > 1 else kwargs["output_size"])
            wants_indices = name.endswith("indices") or kwargs.get("return_indices") or len(args) > 2 and args[2]
            return (pooled, func(*args, **kwargs)[1]) if wants_indices else pooled
        return func(*args, **kwargs)


def _window_mean(input: torch.Tensor, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False,
                 return_indices=False) -> torch.Tensor:
    """The mean of each (possibly dilated) window that ``F.max_pool2d`` with these arguments would see."""
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v) * (2 if len(v) == 1 else 1)

    k, p, d = pair(kernel_size), pair(padding), pair(dilation)
    s = pair(stride) if stride not in (None, [], ()) else k
    x = input if input.ndim == 4 else input.unsqueeze(0)
    extra = []
    for n, ki, si, pi, di in zip(x.shape[-2:], k, s, p, d):  # pad on the far side for ceil mode's last window
        out = window_count(n, ki, si, pi, di, ceil_mode)
        extra.append(max(0, (out - 1) * si + di * (ki - 1) + 1 - (n + 2 * pi)))
    x = F.pad(x, (p[1], p[1] + extra[1], p[0], p[0] + extra[0]))
    weight = x.new_full((x.shape[1], 1, *k), 1.0 / (k[0] * k[1]))
    y = F.conv2d(x, weight, stride=s, dilation=d, groups=x.shape[1])
    return y if input.ndim == 4 else y.squeeze(0)


def _every_path_counts(model: nn.Module) -> nn.Module:
    """A float64 copy in eval mode where every path from input to output carries a positive gradient."""
    probe = copy.deepcopy(model).cpu().double().eval()
    for module in probe.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_parameters()  # an identity in eval mode
        elif isinstance(module, (nn.modules.conv._ConvNd, nn.Linear)):
            with torch.no_grad():
                module.weight.fill_(1.0 / module.weight[0].numel())  # averages: values stay near 1
                if module.bias is not None:
                    module.bias.zero_()
    return probe


def _output_of(model: nn.Module, layer: str | None, x: torch.Tensor) -> torch.Tensor:
    if layer is None:
        out = model(x)
        return out[0] if isinstance(out, (tuple, list)) else out
    try:
        target = model.get_submodule(layer)
    except AttributeError:
        names = [name for name, _ in model.named_children()]
        raise ValueError(f"the model has no layer {layer!r}; its top-level layers are {names}") from None
    captured = []

    def stop(module, args, output):
        captured.append(output[0] if isinstance(output, (tuple, list)) else output)
        raise _Stop

    handle = target.register_forward_hook(stop)
    try:
        model(x)
    except _Stop:
        pass
    finally:
        handle.remove()
    if not captured:
        raise ValueError(f"layer {layer!r} was not used in the forward pass")
    return captured[0]
