"""Refused shortcuts: while a from-scratch exercise's code runs, the finished versions it must not use raise.

What is refused. A check's ``forbid`` names what the exercise asks you to write yourself, as dotted names:
"F.conv2d", "nn.MaxPool2d", "F.batch_norm", "F.dropout" stand for a whole family of PyTorch operators
(convolution, pooling, normalisation, dropout), "Tensor.mean" or "torch.sum" for one operator with all its
overloads, and "cnnlib.ops", "cnnlib.conv_output_size", "torch.optim.lr_scheduler.OneCycleLR" or
"scipy.signal.correlate2d" for a Python module, function or class. Forbidding a convolution also refuses
scipy's and numpy's correlations; forbidding a pooling also refuses scipy.ndimage's filters. A name this
module does not know is a ValueError that names it.

How. PyTorch runs every operator through its dispatcher, whatever the Python route: F.conv2d,
torch.ops.aten.convolution, torch._convolution, torch.mkldnn_convolution, nn.Conv2d, F.conv3d, TorchScript,
vmap, a functools.partial, a thread. While the learner's function runs, ``refusing`` registers a kernel
that raises ``Refused`` for every operator of the forbidden families (found by name among all aten
operators) on the CPU, CUDA, Meta and MkldnnCPU dispatch keys, and removes it afterwards, which restores
PyTorch's own kernels. Python functions (cnnlib's, scipy's, numpy's) get their code swapped for code that
raises (module ``swaps``), and classes their methods, so a reference the learner took before the check is
refused too; the originals come back afterwards. The first refused name is recorded (from any thread), so a check reports
it even when the learner's code caught the error or failed later in another way. One exception: a single
operator such as Tensor.mean still runs when a cnnlib.ops function calls it directly (identified by its code
object, not its file name), so global average pooling may be built on cnnlib.ops.pool2d, which averages.

Why this holds where watching Python calls did not. The old guard watched Python calls with
``sys.setprofile``: it saw only the calling thread, only the Python names on its list, and stopped when the
learner called ``sys.setprofile(None)``. A dispatcher kernel does not care which Python name, thread or
wrapper led to it, and the checks verify after every call that it is still in place ("tampered with").

Known limits. Code that deliberately re-registers PyTorch kernels, installs a dispatch mode that computes
the operator in Python, rebuilds a refused Python function from a code object it saved earlier, or calls a
private C helper of scipy or numpy by a path not swapped here, is not refused: the guard stops shortcuts
and honest mistakes, not a determined attacker. Registrations are global: any thread's use of a refused
operator fails while a check runs, and a check_properties test must not use what it refuses itself.
Entering the guard costs 3 to 5 ms (about 70 convolution operators on four keys), so a check enters it once
for all its cases (measured on a shared 2-core CPU machine, torch 2.14.1, 2026-12-07).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
import sys
import threading
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import torch

from .swaps import Refused, _active, _AttrSwap, _lookup, _probing, _python_blocks, _refuse

#: What the from-scratch exercises may not use: the finished versions in PyTorch, scipy, numpy and cnnlib.ops.
NO_LIBRARY_CONV = ("F.conv2d", "F.conv1d", "F.conv_transpose2d", "F.unfold", "cnnlib.ops")
NO_LIBRARY_POOL = ("F.max_pool2d", "F.avg_pool2d", "F.adaptive_max_pool2d", "F.adaptive_avg_pool2d", "F.lp_pool2d",
                   "cnnlib.ops")
NO_LIBRARY_NORM = ("F.batch_norm", "F.instance_norm", "F.layer_norm", "F.group_norm", "cnnlib.ops")

#: Operator families: which aten operators (by name, backward ones aside) and which dotted names stand for each.
_FAMILIES = {
    "convolution": (r"conv(?!ert)|im2col|col2im", r"^(conv|unfold$|fold$)"),
    "pooling": (r"pool", r"pool"),
    "normalisation": (r"batch_norm|layer_norm|group_norm|instance_norm", r"^(batch|layer|group|instance)norm"),
    "dropout": (r"(?<!no_)dropout", r"dropout"),
}
#: Python equivalents outside PyTorch that a family also refuses (skipped where the package is not installed).
_FAMILY_EXTRAS = {
    "convolution": ("scipy.signal.correlate2d", "scipy.signal.convolve2d", "scipy.signal.correlate",
                    "scipy.signal.convolve", "scipy.signal.fftconvolve", "scipy.signal.oaconvolve",
                    "scipy.ndimage.correlate", "scipy.ndimage.convolve", "scipy.ndimage.correlate1d",
                    "scipy.ndimage.convolve1d", "numpy.correlate", "numpy.convolve"),
    "pooling": tuple(f"scipy.ndimage.{n}_filter{k}" for n in ("maximum", "minimum", "uniform", "generic", "rank",
                                                               "median", "percentile", "vectorized") for k in ("", "1d")),
}
#: The C helpers those Python functions call, swapped on their module (label, module, attribute).
_FAMILY_HELPERS = {
    "convolution": (("scipy.signal.correlate2d", "scipy.signal._sigtools", "_convolve2d"),
                    ("scipy.signal.correlate", "scipy.signal._sigtools", "_correlateND"),
                    *(("scipy.ndimage.correlate", "scipy.ndimage._nd_image", a) for a in ("correlate", "correlate1d")),
                    *(("numpy.correlate", "numpy._core.multiarray", a) for a in ("correlate", "correlate2"))),
    "pooling": tuple((f"scipy.ndimage._nd_image.{a}", "scipy.ndimage._nd_image", a) for a in (
        "min_or_max_filter", "min_or_max_filter1d", "uniform_filter1d", "generic_filter")),
}
_KEYS = ("CPU", "CUDA", "Meta", "MkldnnCPU")
_PREFIXES = (("torch.nn.functional.", "F."), ("torch.nn.", "nn."))


@functools.cache
def _aten_ops() -> tuple[str, ...]:
    return tuple(sorted(n[len("aten::"):] for n in torch._C._dispatch_get_all_op_names() if n.startswith("aten::")))


@functools.cache
def _family_ops(family: str) -> tuple[str, ...]:
    pattern = re.compile(_FAMILIES[family][0])
    return tuple(op for op in _aten_ops() if pattern.search(op) and "backward" not in op)


def _single_ops(base: str) -> tuple[str, ...]:
    return tuple(op for op in _aten_ops() if op.split(".")[0] == base)


def _family_of(name: str) -> str | None:
    """The operator family a name such as "F.conv2d", "nn.MaxPool2d.forward" or "torch.batch_norm" stands for."""
    for long, short in _PREFIXES:
        if name.startswith(long):
            name = short + name[len(long):]
    head, _, rest = name.partition(".")
    if head not in ("F", "nn", "torch") or not rest:
        return None
    if head == "nn" and rest.endswith(".forward"):
        rest = rest[: -len(".forward")]
    squashed = rest.replace("_", "").lower()
    for family, (_, names) in _FAMILIES.items():
        if "." not in rest and re.search(names, squashed):
            module = {"F": torch.nn.functional, "nn": torch.nn, "torch": torch}[head]
            return family if hasattr(module, rest) else None
    return None


@functools.cache
def _plan(forbid: tuple[str, ...]) -> tuple[dict, frozenset, tuple]:
    """What to refuse for ``forbid``: {aten operator: label}, which of them are single operators (cnnlib.ops
    may still run those), and the Python swaps."""
    ops: dict[str, str] = {}
    singles: set[str] = set()
    swaps: list = []
    families: set[str] = set()
    for name in forbid:
        if not isinstance(name, str):
            raise TypeError(f"forbid takes dotted names such as 'F.conv2d', got {name!r}")
        family = _family_of(name)
        if family in families:
            continue
        if family is not None:
            families.add(family)
            ops.update({op: _op_label(op, name) for op in _family_ops(family) if op not in ops})
            for extra in _FAMILY_EXTRAS.get(family, ()):
                with contextlib.suppress(ImportError, AttributeError):  # another version may lack it
                    swaps += _python_blocks(extra, _lookup(extra))
            for label, module, attr in _FAMILY_HELPERS.get(family, ()):
                with contextlib.suppress(ImportError, AttributeError):  # another version keeps it elsewhere
                    swaps.append(_AttrSwap(_lookup(module), attr, label))
            continue
        head, _, base = name.partition(".")
        if head in ("Tensor", "torch") and "." not in base and _single_ops(base):
            for op in _single_ops(base):
                ops.setdefault(op, f"aten::{base} (what {name} runs)")
                singles.add(op)
            continue
        try:
            obj = _lookup(name)
        except (ImportError, AttributeError):
            raise ValueError(f"forbid names {name!r}, which is neither an operator family (like 'F.conv2d'), "
                             "an operator (like 'Tensor.mean') nor an importable function, class or module") from None
        blocks = _python_blocks(name, obj)
        if obj is not None and not blocks:
            raise ValueError(f"forbid names {name!r}, which is not a function, class or module it can refuse")
        swaps += blocks
    unique = {(type(swap), id(getattr(swap, "fn", None) or swap.owner), getattr(swap, "attr", None)): swap
              for swap in reversed(swaps)}  # one swap per target, the first name that asked for it
    return ops, frozenset(singles), tuple(reversed(unique.values()))


#: The Python name of operators whose own name says little (the rest are run by F.<name> or the forbidden name).
_RUN_BY = {"im2col": "F.unfold", "col2im": "F.fold", "max_pool2d_with_indices": "F.max_pool2d",
           "native_batch_norm": "F.batch_norm", "native_layer_norm": "F.layer_norm",
           "native_group_norm": "F.group_norm", "native_dropout": "F.dropout"}


def _op_label(op: str, forbidden_name: str) -> str:
    base = op.split(".")[0]
    via = _RUN_BY.get(base) or (f"F.{base}" if hasattr(torch.nn.functional, base) else forbidden_name)
    return f"aten::{base} (what {via} runs)"


_PROBES: dict[str, Callable[[torch.Tensor], Any]] = {
    "convolution": lambda z: torch.ops.aten.convolution.default(z, z, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1),
    "max_pool2d_with_indices": lambda z: torch.ops.aten.max_pool2d_with_indices.default(z, [1, 1]),
    "native_batch_norm": lambda z: torch.ops.aten.native_batch_norm.default(z, None, None, None, None, True, 0.1, 1e-5),
    "native_dropout": lambda z: torch.ops.aten.native_dropout.default(z, 0.5, True),
}


class refusing:
    """Context manager: while on, the library functions named by ``forbid`` raise Refused, in every thread.

    ``used`` is the first refused name the code under it reached; ``tampered()`` says what no longer refuses.
    """

    def __init__(self, forbid: Iterable[str]):
        self.ops, self.singles, self.swaps = _plan(tuple(forbid))
        self.labels = set(self.ops.values()) | {swap.label for swap in self.swaps}
        if self.singles:
            _cnnlib_ops_code()  # learnt now, before this guard swaps any of cnnlib.ops
        self.used: str | None = None
        self._lock = threading.Lock()
        self._lib: torch.library.Library | None = None

    def _record(self, label: str) -> None:
        with self._lock:
            if self.used is None:
                self.used = label

    def __enter__(self) -> "refusing":
        if self.ops:
            self._lib = torch.library.Library("aten", "IMPL")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*previously registered kernel.*")
                for op, label in self.ops.items():
                    for key in _KEYS:
                        self._register(op, label, key)
        self._done: list[tuple] = []
        _active.append(self)
        try:
            for swap in self.swaps:
                self._done.append((swap, swap.on()))
        except BaseException:
            self.__exit__()
            raise
        return self

    def _register(self, op: str, label: str, key: str) -> None:
        original = None
        if op in self.singles:  # cnnlib.ops's own code may still run it: keep the original kernel at hand
            with contextlib.suppress(RuntimeError, ValueError):  # no kernel there, or a key get_kernel refuses
                original = torch.library.get_kernel(f"aten::{op}", key)
        if key in ("Meta", "MkldnnCPU") and torch._C._dispatch_has_kernel_for_dispatch_key(
                f"aten::{op}", "CompositeImplicitAutograd"):
            return  # such an operator decomposes on these keys into operators that are refused
        with contextlib.suppress(RuntimeError):  # a registration PyTorch refuses
            if original is None:
                self._lib.impl(op, functools.partial(_kernel, label), key)
            else:
                self._lib.impl(op, functools.partial(_single_kernel, label, original), key, with_keyset=True)

    def __exit__(self, *exc) -> None:
        if self in _active:
            _active.remove(self)
        for swap, saved in reversed(self._done):
            swap.off(saved)
        self._done = []
        if self._lib is not None:
            self._lib._destroy()  # PyTorch's own kernels are back
            self._lib = None

    def tampered(self) -> str | None:
        """The first refused name that the code under the guard made usable again, or None."""
        for swap in self.swaps:
            if not swap.intact():
                return swap.label
        z = torch.zeros(1, 1, 1, 1)
        _probing.on = True
        try:
            singles = {op: lambda z, op=op: getattr(torch.ops.aten, op).default(z) for op in self.singles if "." not in op}
            for op, probe in (_PROBES | singles).items():
                if op in self.ops:
                    try:
                        probe(z)
                    except Refused:
                        continue
                    except Exception:  # noqa: BLE001 - for a family's probe, our kernel is gone
                        if op in singles:
                            continue  # this operator takes other arguments: it cannot be probed this way
                    return self.ops[op]
        finally:
            _probing.on = False
        return None


def _kernel(label: str, *args, **kwargs):
    _refuse(label)


_ops_code: frozenset | None = None


def _cnnlib_ops_code() -> frozenset:
    """The code of cnnlib.ops's functions and methods (the finished operations a check may build on), kept
    once none of them is swapped for raising code."""
    global _ops_code
    if _ops_code is None:
        from .. import ops

        codes = {fn.__code__ for value in vars(ops).values()
                 for fn in ([value, *vars(value).values()] if inspect.isclass(value) else [value])
                 if inspect.isfunction(fn) and fn.__module__.startswith(ops.__name__)}
        genuine = frozenset(c for c in codes if not c.co_filename.startswith("<refused"))
        if len(genuine) < len(codes):
            return genuine
        _ops_code = genuine
    return _ops_code


def _single_kernel(label: str, original, keyset, *args, **kwargs):
    """Refuse one operator (Tensor.mean, say), unless a cnnlib.ops function calls it directly: global average
    pooling built on cnnlib.ops.pool2d may average inside pool2d, not in the learner's code."""
    caller = sys._getframe(1)
    while caller is not None and caller.f_code is _single_kernel.__code__:  # mean's CPU kernel runs sum
        caller = caller.f_back
    if caller is not None and caller.f_code in _cnnlib_ops_code():
        return original.call_boxed(keyset, *args, **kwargs)
    _refuse(label)
