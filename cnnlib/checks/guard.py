"""Forbidden calls: a from-scratch exercise cannot be passed by calling the finished version."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Iterable
from typing import Any

import torch

#: What the from-scratch exercises may not call: the finished versions in PyTorch and in cnnlib.ops.
NO_LIBRARY_CONV = ("F.conv2d", "F.conv1d", "F.conv_transpose2d", "F.unfold", "cnnlib.ops")
NO_LIBRARY_POOL = ("F.max_pool2d", "F.avg_pool2d", "F.adaptive_max_pool2d", "F.adaptive_avg_pool2d", "F.lp_pool2d",
                   "cnnlib.ops")
NO_LIBRARY_NORM = ("F.batch_norm", "F.instance_norm", "F.layer_norm", "F.group_norm", "cnnlib.ops")


_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn"}
_CNNLIB_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CHECKS_DIR = os.path.dirname(os.path.abspath(__file__))
# The C functions that the torch.nn.functional names end in (F.max_pool2d is Python calling torch.max_pool2d).
_UNDERLYING = {"F.conv1d": ("torch.conv1d",), "F.conv2d": ("torch.conv2d", "torch.convolution"),
               "F.conv_transpose2d": ("torch.conv_transpose2d",), "F.unfold": ("torch._C._nn.im2col",),
               "F.max_pool2d": ("torch.max_pool2d", "torch._C._nn.max_pool2d_with_indices"),
               "F.avg_pool2d": ("torch._C._nn.avg_pool2d",),
               "F.adaptive_max_pool2d": ("torch._C._nn.adaptive_max_pool2d",),
               "F.adaptive_avg_pool2d": ("torch._C._nn.adaptive_avg_pool2d", "torch.adaptive_avg_pool1d"),
               "F.lp_pool2d": ("torch._C._nn.avg_pool2d",), "F.batch_norm": ("torch.batch_norm",),
               "F.instance_norm": ("torch.instance_norm",), "F.layer_norm": ("torch.layer_norm",),
               "F.group_norm": ("torch.group_norm",), "F.dropout": ("torch.dropout", "torch._VF.dropout")}



def _lookup(dotted: str) -> Any:
    head, _, rest = dotted.partition(".")
    obj = importlib.import_module(_ALIASES.get(head, head))
    for part in rest.split(".") if rest else []:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


def _targets(names: Iterable[str]) -> tuple[dict, dict, dict]:
    """Code objects (Python functions), C functions and Tensor method names to watch, each with its label."""
    codes, builtins, methods = {}, {}, {}
    for name in names:
        if name.startswith("Tensor."):
            methods[name.split(".", 1)[1]] = name
            if hasattr(torch, name.split(".", 1)[1]):
                builtins[id(getattr(torch, name.split(".", 1)[1]))] = name
            continue
        obj = _lookup(name)
        if inspect.ismodule(obj):  # every function the module (a package of ours) exports
            for attr in dir(obj):
                value = getattr(obj, attr)
                if inspect.isfunction(value):
                    codes[value.__code__] = f"{name}.{attr}"
                elif inspect.isclass(value) and "forward" in vars(value):  # a module of ours, e.g. BatchNorm
                    codes[value.forward.__code__] = f"{name}.{attr}"
            continue
        if name in _UNDERLYING:  # F.max_pool2d's Python code is shared with other pools: watch its C function
            pass
        elif inspect.isfunction(obj):
            codes[obj.__code__] = name
        else:
            builtins[id(obj)] = name
        for underlying in _UNDERLYING.get(name, ()):
            builtins[id(_lookup(underlying))] = name
    return codes, builtins, methods


class watching_calls:
    """Context manager: record the first call to one of ``forbid`` (dotted names such as "F.conv2d",
    "cnnlib.ops" for a whole module, "Tensor.mean" for a method) made outside cnnlib itself."""

    def __init__(self, forbid: Iterable[str]):
        self.codes, self.builtins, self.methods = _targets(forbid)
        self.called: str | None = None

    def _profile(self, frame, event, arg):
        if self.called is not None:
            return
        if event == "call":
            label = self.codes.get(frame.f_code)
            caller = frame.f_back
        elif event == "c_call":
            label = self.builtins.get(id(arg))
            if label is None and isinstance(getattr(arg, "__self__", None), torch.Tensor):
                label = self.methods.get(getattr(arg, "__name__", ""))
            caller = frame
        else:
            return
        if label is None or caller is None:
            return
        where = caller.f_code.co_filename
        if not where.startswith(_CNNLIB_DIR) or where.startswith(_CHECKS_DIR):  # cnnlib's own inner calls are fine
            self.called = label

    def __enter__(self) -> "watching_calls":
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)

