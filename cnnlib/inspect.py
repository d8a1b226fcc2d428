"""Looking inside a model: the layer-by-layer shape trace, a torchinfo summary, parameter counts."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .train import _model_device


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
