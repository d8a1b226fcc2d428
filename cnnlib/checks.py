"""Self-checks for the exercises: compare a learner's function with a reference on many small cases.

``check(fn, reference, cases)`` runs both on every case, smallest first. It prints one line and returns
True when all agree; otherwise it raises an AssertionError, named after the learner's function, that shows
the smallest failing input, the expected output and what ``fn`` returned (or raised). ``forbid`` names the
library functions a from-scratch exercise must not call: the check fails when ``fn`` calls one of them.
The named checks (``check_corr2d``, ...) bring their own fixed and random cases, from a seeded generator,
so runs are reproducible; another ``seed`` gives the other inputs of a hidden test. ``check_answer`` and
``check_properties`` grade answers that are values, not functions, without printing the right answer.
"""

from __future__ import annotations

import inspect
import math
import numbers
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

__all__ = [
    "Case", "NO_LIBRARY_CONV", "NO_LIBRARY_NORM", "NO_LIBRARY_POOL", "check", "check_answer", "check_batch_norm",
    "check_conv2d", "check_conv_output_size", "check_corr2d", "check_corr2d_multi_in", "check_corr2d_multi_in_out",
    "check_pool2d", "check_properties", "check_receptive_field", "check_shapes", "watching_calls",
]

#: What the from-scratch exercises may not call: the finished versions in PyTorch and in cnnlib.ops.
NO_LIBRARY_CONV = ("F.conv2d", "F.conv1d", "F.conv_transpose2d", "F.unfold", "cnnlib.ops")
NO_LIBRARY_POOL = ("F.max_pool2d", "F.avg_pool2d", "F.adaptive_max_pool2d", "F.adaptive_avg_pool2d", "F.lp_pool2d",
                   "cnnlib.ops")
NO_LIBRARY_NORM = ("F.batch_norm", "F.instance_norm", "F.layer_norm", "F.group_norm", "cnnlib.ops")


@dataclass
class Case:
    """One call: positional ``args`` and keyword ``kwargs``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


class _Mismatch(Exception):
    """Why an output differs from the expected one."""


# ----------------------------------------------------------------------------------------------------------
# Forbidden calls: a from-scratch exercise cannot be passed by calling the finished version
# ----------------------------------------------------------------------------------------------------------

_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn"}
_CNNLIB_DIR = os.path.dirname(os.path.abspath(__file__))
_THIS_FILE = os.path.abspath(__file__)
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
    import importlib

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
        if not where.startswith(_CNNLIB_DIR) or where == _THIS_FILE:  # cnnlib's own inner calls are fine
            self.called = label

    def __enter__(self) -> "watching_calls":
        self._previous = sys.getprofile()
        sys.setprofile(self._profile)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)


def _forbidden(name: str, called: str, number: int, total: int) -> AssertionError:
    return AssertionError(f"{name} calls {called}: this exercise asks you to write it without {called}. "
                          f"(Seen on case {number} of {total}.)")


def _not_implemented(name: str) -> AssertionError:
    return AssertionError(f"{name} is not implemented yet. Write your solution, run its cell, then run this check again.")


# ----------------------------------------------------------------------------------------------------------
# The generic checker
# ----------------------------------------------------------------------------------------------------------

def _as_case(case: Case | tuple | dict) -> Case:
    if isinstance(case, Case):
        return case
    if isinstance(case, dict):
        return Case((), dict(case))
    if isinstance(case, tuple):
        return Case(case)
    raise TypeError(f"a case must be a Case, a tuple of arguments or a dict of keyword arguments, got {case!r}")


def _size(value: Any) -> tuple[int, int]:
    """How big an input is: (number of tensor elements, sum of the integers), for sorting cases."""
    if isinstance(value, torch.Tensor):
        return value.numel(), 0
    if isinstance(value, bool) or value is None:
        return 0, 0
    if isinstance(value, numbers.Integral):
        return 0, abs(int(value))
    if isinstance(value, (tuple, list)):
        sizes = [_size(v) for v in value]
        return sum(s[0] for s in sizes), sum(s[1] for s in sizes)
    if isinstance(value, dict):
        return _size(list(value.values()))
    return 0, 0


def _clone(value: Any) -> Any:
    """A deep copy of the tensors in ``value``, so no call can change another call's inputs."""
    if isinstance(value, torch.Tensor):
        return value.detach().clone()
    if isinstance(value, tuple):
        return tuple(_clone(v) for v in value)
    if isinstance(value, list):
        return [_clone(v) for v in value]
    if isinstance(value, dict):
        return {k: _clone(v) for k, v in value.items()}
    return value


def _show(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        with_shape = f"tensor of shape {tuple(value.shape)}"
        if value.numel() > 400:
            return with_shape + " (too large to print)"
        value = value.detach().cpu()
        if value.dtype == torch.float64:  # references compute in float64; print like the learner's floats
            value = value.float()
        return with_shape + ":\n" + textwrap.indent(str(value), "    ")
    if isinstance(value, tuple) and any(isinstance(v, torch.Tensor) for v in value):
        return "a tuple of:\n" + textwrap.indent("\n".join(_show(v) for v in value), "  ")
    return repr(value)


def _compare(actual: Any, expected: Any, atol: float, rtol: float, where: str = "the output") -> None:
    """Raise _Mismatch when ``actual`` is not ``expected`` (tensors: same shape, values within tolerance)."""
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            raise _Mismatch(f"{where} should be a tensor, got {type(actual).__name__}")
        if tuple(actual.shape) != tuple(expected.shape):
            raise _Mismatch(f"{where} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
        a = actual.detach().cpu().to(torch.float64)
        e = expected.detach().cpu().to(torch.float64)
        close = torch.isclose(a, e, rtol=rtol, atol=atol)
        if not bool(close.all()):
            diff = (a - e).abs().nan_to_num(float("inf"))
            index = tuple(int(i) for i in torch.nonzero(~close)[0])
            raise _Mismatch(f"{where} has the right shape but wrong values: at index {index} it holds "
                            f"{a[index].item():.6g} instead of {e[index].item():.6g} "
                            f"(largest difference {diff.max().item():.3g})")
        return
    if isinstance(expected, tuple):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            kind = f"a {type(actual).__name__}" + (f" of length {len(actual)}" if isinstance(actual, (tuple, list)) else "")
            raise _Mismatch(f"{where} should be a tuple of length {len(expected)}, got {kind}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, atol, rtol, f"element {i} of {where}")
        return
    if isinstance(expected, numbers.Integral) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, numbers.Integral):
            raise _Mismatch(f"{where} should be an int, got {type(actual).__name__} {actual!r}")
        if int(actual) != int(expected):
            raise _Mismatch(f"{where} is {actual!r}, expected {expected!r}")
        return
    if isinstance(expected, numbers.Real):
        if not isinstance(actual, numbers.Real) or abs(actual - expected) > atol + rtol * abs(expected):
            raise _Mismatch(f"{where} is {actual!r}, expected {expected!r}")
        return
    if actual != expected:
        raise _Mismatch(f"{where} is {actual!r}, expected {expected!r}")


def _describe_inputs(fn: Callable, case: Case) -> str:
    try:
        bound = inspect.signature(fn).bind(*case.args, **case.kwargs)
        named = dict(bound.arguments)
    except (TypeError, ValueError):
        named = {f"argument {i}": v for i, v in enumerate(case.args)} | dict(case.kwargs)
    return "\n".join(f"  {name} = {textwrap.indent(_show(value), '  ').lstrip()}" for name, value in named.items())


def check(fn: Callable, reference: Callable, cases: Iterable[Case | tuple | dict], name: str | None = None,
          atol: float = 1e-5, rtol: float = 1e-4, forbid: Iterable[str] = ()) -> bool:
    """Compare ``fn`` with ``reference`` on every case, smallest first; print a pass line or raise.

    Raises AssertionError describing the smallest case on which ``fn`` is wrong, raises, or calls one of
    the ``forbid`` functions. ``name`` defaults to ``fn``'s own name.
    """
    name = name or getattr(fn, "__name__", "your function")
    if fn is None or fn is Ellipsis:
        raise _not_implemented(name)
    if not callable(fn):
        raise TypeError(f"fn must be a function, got {type(fn).__name__}")
    cases = sorted((_as_case(c) for c in cases), key=lambda c: _size((c.args, c.kwargs)))
    if not cases:
        raise ValueError("check needs at least one case")
    forbid = tuple(forbid)
    for number, case in enumerate(cases, start=1):
        expected = reference(*_clone(case.args), **_clone(case.kwargs))
        header = f"{name} is wrong on case {number} of {len(cases)}, the smallest failing one. Input:\n" \
                 f"{_describe_inputs(fn, case)}\n"
        watch = watching_calls(forbid)
        try:
            with watch:
                actual = fn(*_clone(case.args), **_clone(case.kwargs))
        except NotImplementedError:
            raise AssertionError(f"{name} is not implemented yet: it raised NotImplementedError. "
                                 "Write your solution, run its cell, then run this check again.") from None
        except Exception as error:  # the learner's bug, shown with the input that triggers it
            if watch.called:
                raise _forbidden(name, watch.called, number, len(cases)) from error
            raise AssertionError(f"{header}Expected:\n  {_show(expected)}\n"
                                 f"but your code raised {type(error).__name__}: {error}") from error
        if watch.called:
            raise _forbidden(name, watch.called, number, len(cases))
        try:
            _compare(actual, expected, atol, rtol)
        except _Mismatch as mismatch:
            raise AssertionError(f"{header}Expected:\n  {_show(expected)}\nGot:\n  {_show(actual)}\n"
                                 f"Problem: {mismatch}") from None
    print(f"✓ {name}: {len(cases)} cases pass")
    return True


# ----------------------------------------------------------------------------------------------------------
# Answers that are values: right or wrong, with a hint, never the right answer
# ----------------------------------------------------------------------------------------------------------

def _unset(value: Any) -> bool:
    return value is None or value is Ellipsis


def check_answer(name: str, value: Any, expected: Any, hint: str = "", atol: float = 1e-6, rtol: float = 0.0) -> bool:
    """Grade the answer ``value`` stored in the variable ``name``: print a pass line, or raise an
    AssertionError that says what is wrong (type, length, which entries) and gives ``hint``, never ``expected``."""
    if _unset(value):
        raise AssertionError(f"{name} is not implemented yet: set it to your answer (it is still None), run its "
                             "cell, then run this check again.")
    hint = f" Hint: {hint}" if hint else ""
    if isinstance(expected, list):
        if not isinstance(value, (list, tuple)) or len(value) != len(expected):
            kind = f"{len(value)} entries" if isinstance(value, (list, tuple)) else f"a {type(value).__name__}"
            raise AssertionError(f"{name} should be a list of {len(expected)} entries, got {kind}.")
        wrong = []
        for i, (v, e) in enumerate(zip(value, expected)):
            try:
                _compare(tuple(v) if isinstance(e, tuple) and isinstance(v, (list, torch.Size)) else v, e, atol, rtol)
            except _Mismatch:
                wrong.append(i)
        if wrong:
            which = ", ".join(str(i) for i in wrong)
            raise AssertionError(f"{name}: {len(wrong)} of {len(expected)} entries are wrong "
                                 f"(entr{'y' if len(wrong) == 1 else 'ies'} {which}, counting from 0).{hint}")
    else:
        if isinstance(expected, tuple) and isinstance(value, (list, torch.Size)):
            value = tuple(value)
        try:
            _compare(value, expected, atol, rtol, where=name)
        except _Mismatch as mismatch:
            reason = str(mismatch)  # the kind of mistake; for a tensor also where it differs
            if not isinstance(expected, torch.Tensor) and "expected" in reason:
                reason = f"{name} is not right"
            raise AssertionError(f"{reason}.{hint}") from None
    print(f"✓ {name} is right")
    return True


def check_shapes(name: str, predicted: Any, cases: Sequence[tuple[tuple[int, ...], Callable]], hint: str = "") -> bool:
    """Grade predicted output shapes: ``cases`` holds (input shape, layer) pairs, run here on zeros."""
    with torch.no_grad():
        expected = [tuple(layer(torch.zeros(shape)).shape) for shape, layer in cases]
    return check_answer(name, predicted, expected, hint)


def check_properties(name: str, value: Any, properties: Sequence[tuple[str, Callable[[Any], bool]]],
                     forbid: Iterable[str] = ()) -> bool:
    """Grade ``value`` (a function, model or result) by ``properties``: (what should hold, test) pairs,
    tested in order; the first one that fails, raises, or calls one of ``forbid``, names the problem."""
    if _unset(value):
        raise _not_implemented(name)
    forbid = tuple(forbid)
    for what, test in properties:
        watch = watching_calls(forbid)
        try:
            with watch:
                ok = test(value)
        except NotImplementedError:
            raise _not_implemented(name) from None
        except Exception as error:
            raise AssertionError(f"{name}: testing that {what}, your code raised {type(error).__name__}: {error}") from error
        if watch.called:
            raise AssertionError(f"{name} calls {watch.called}: this exercise asks you to write it without {watch.called}.")
        if not ok:
            raise AssertionError(f"{name} is not right yet: {what}.")
    print(f"✓ {name}: all {len(properties)} properties hold")
    return True


# ----------------------------------------------------------------------------------------------------------
# Case generators and references for the course's exercises
# ----------------------------------------------------------------------------------------------------------

def _randint(g: torch.Generator, low: int, high: int) -> int:
    """A random int in [low, high], both included."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _ramp(*shape: int) -> torch.Tensor:
    """0, 1, 2, ... in the given shape, as floats: easy to follow by hand."""
    n = 1
    for s in shape:
        n *= s
    return torch.arange(float(n)).reshape(shape)


def _ref_corr2d(X: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    return F.conv2d(X[None, None].double(), K[None, None].double())[0, 0]


def check_corr2d(fn: Callable, n_random: int = 10, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: valid 2-D cross-correlation of an (H, W) input with an (h, w) kernel."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(3, 3), _ramp(2, 2)), (_ramp(2, 4), torch.tensor([[1.0, -1.0]])),
             (_ramp(4, 3), torch.tensor([[1.0], [2.0]])), (_ramp(3, 3), _ramp(3, 3))]
    for _ in range(n_random):
        H, W = _randint(g, 1, 8), _randint(g, 1, 8)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(H, W, generator=g), torch.randn(h, w, generator=g)))
    return check(fn, _ref_corr2d, cases, forbid=forbid)


def check_corr2d_multi_in(fn: Callable, n_random: int = 10, seed: int = 0,
                          forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: X (C, H, W), K (C, h, w) -> (H', W'), summed over the channels."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(2, 3, 3), _ramp(2, 2, 2)), (_ramp(1, 3, 4), torch.tensor([[[1.0, -1.0]]]))]
    for _ in range(n_random):
        C, H, W = _randint(g, 1, 4), _randint(g, 1, 7), _randint(g, 1, 7)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(C, H, W, generator=g), torch.randn(C, h, w, generator=g)))
    return check(fn, lambda X, K: F.conv2d(X[None].double(), K[None].double())[0, 0], cases,
                 forbid=forbid)


def check_corr2d_multi_in_out(fn: Callable, n_random: int = 10, seed: int = 0,
                              forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, K)``: X (C, H, W), K (O, C, h, w) -> (O, H', W')."""
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(2, 3, 3), torch.stack([_ramp(2, 2, 2), _ramp(2, 2, 2) + 1, _ramp(2, 2, 2) + 2])),
             (_ramp(1, 2, 3), torch.tensor([[[[1.0, -1.0]]], [[[2.0, 0.5]]]]))]
    for _ in range(n_random):
        O, C, H, W = _randint(g, 1, 4), _randint(g, 1, 3), _randint(g, 1, 7), _randint(g, 1, 7)
        h, w = _randint(g, 1, H), _randint(g, 1, W)
        cases.append((torch.randn(C, H, W, generator=g), torch.randn(O, C, h, w, generator=g)))
    return check(fn, lambda X, K: F.conv2d(X[None].double(), K.double())[0], cases,
                 forbid=forbid)


def _random_conv_setting(g: torch.Generator) -> tuple[tuple[int, int], ...]:
    """Kernel, stride, padding, dilation and an input size they fit, per axis."""
    axes = []
    for _ in range(2):
        k, s, p, d = _randint(g, 1, 4), _randint(g, 1, 3), _randint(g, 0, 2), _randint(g, 1, 2)
        span = d * (k - 1) + 1
        n = _randint(g, max(1, span - 2 * p), span + 6)
        axes.append((k, s, p, d, n))
    return tuple(zip(*axes))


def check_conv2d(fn: Callable, n_random: int = 12, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_CONV) -> bool:
    """Check ``fn(X, weight, bias=None, stride=1, padding=0, dilation=1)`` against ``F.conv2d``."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((_ramp(1, 1, 3, 3), _ramp(1, 1, 2, 2))),
             Case((_ramp(1, 2, 4, 4), _ramp(3, 2, 3, 3) / 10, torch.tensor([1.0, 0.0, -1.0])), {"padding": 1}),
             Case((_ramp(1, 1, 5, 5), torch.ones(1, 1, 3, 3)), {"stride": 2}),
             Case((_ramp(1, 1, 5, 6), _ramp(1, 1, 2, 2)), {"dilation": 2}),
             Case((_ramp(2, 1, 5, 4), _ramp(1, 1, 3, 2)), {"stride": (2, 1), "padding": (0, 1), "dilation": (1, 2)})]
    for i in range(n_random):
        (k_h, k_w), stride, padding, dilation, (H, W) = _random_conv_setting(g)
        N, C, O = _randint(g, 1, 2), _randint(g, 1, 3), _randint(g, 1, 3)
        X, weight = torch.randn(N, C, H, W, generator=g), torch.randn(O, C, k_h, k_w, generator=g)
        bias = torch.randn(O, generator=g) if i % 2 else None
        as_int = all(v[0] == v[1] for v in (stride, padding, dilation)) and i % 3 == 0
        settings = {"stride": stride, "padding": padding, "dilation": dilation}
        cases.append(Case((X, weight, bias), {k: v[0] for k, v in settings.items()} if as_int else settings))

    def reference(X, weight, bias=None, stride=1, padding=0, dilation=1):
        bias = None if bias is None else bias.double()
        return F.conv2d(X.double(), weight.double(), bias, stride, padding, dilation)

    return check(fn, reference, cases, forbid=forbid)


def _ref_conv_output_size(size, kernel, padding=0, stride=1, dilation=1):
    pair = lambda v: (v, v) if isinstance(v, int) else tuple(v)  # noqa: E731
    out = F.conv2d(torch.zeros(1, 1, *pair(size)), torch.zeros(1, 1, *pair(kernel)), stride=pair(stride),
                   padding=pair(padding), dilation=pair(dilation)).shape[-2:]
    all_ints = all(isinstance(v, int) for v in (size, kernel, padding, stride, dilation))
    return int(out[0]) if all_ints else (int(out[0]), int(out[1]))


def check_conv_output_size(fn: Callable, pairs: bool = True, n_random: int = 30, seed: int = 0,
                           forbid: Iterable[str] = ("cnnlib.conv_output_size", "cnnlib.ops")) -> bool:
    """Check ``fn(size, kernel, padding=0, stride=1, dilation=1)``, the output size of a convolution.

    With ``pairs=False`` only int arguments are used; with ``pairs=True`` (height, width) tuples too.
    """
    g = torch.Generator().manual_seed(seed)
    cases = [Case((5, 3)), Case((5, 3), {"padding": 1}), Case((7, 3), {"stride": 2}), Case((8, 3), {"stride": 2}),
             Case((6, 3), {"padding": 1, "stride": 2}), Case((9, 3), {"dilation": 2}), Case((28, 5), {"padding": 2}),
             Case((224, 11), {"padding": 2, "stride": 4}), Case((1, 1))]
    if pairs:
        cases += [Case(((6, 8), (3, 4))), Case(((6, 8), (3, 3)), {"padding": (0, 1), "stride": (3, 4)})]
    for i in range(n_random):
        (k_h, k_w), stride, padding, dilation, (H, W) = _random_conv_setting(g)
        if pairs and i % 2:
            cases.append(Case(((H, W), (k_h, k_w)), {"padding": padding, "stride": stride, "dilation": dilation}))
        else:
            cases.append(Case((H, k_h), {"padding": padding[0], "stride": stride[0], "dilation": dilation[0]}))
    return check(fn, _ref_conv_output_size, cases, forbid=forbid)


def _ref_pool2d(X, pool_size, stride=None, padding=0, mode="max"):
    pool = {"max": F.max_pool2d, "avg": F.avg_pool2d}[mode]
    flat = X.reshape(-1, *X.shape[-2:]).double()
    Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)
    return Y.reshape(*X.shape[:-2], *Y.shape[-2:])


def check_pool2d(fn: Callable, n_random: int = 12, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_POOL) -> bool:
    """Check ``fn(X, pool_size, stride=None, padding=0, mode="max")`` on X of shape (..., H, W)."""
    g = torch.Generator().manual_seed(seed)
    cases = [Case((_ramp(3, 3), (2, 2)), {"stride": 1}), Case((_ramp(3, 3), (2, 2)), {"stride": 1, "mode": "avg"}),
             Case((_ramp(4, 4), 2)), Case((_ramp(4, 4), 2), {"mode": "avg"}),
             Case((_ramp(1, 4, 4), 3), {"stride": 2, "padding": 1}),
             Case((_ramp(1, 4, 4), 3), {"stride": 2, "padding": 1, "mode": "avg"}),
             Case((_ramp(2, 5, 4), (2, 3)), {"stride": (2, 1), "padding": (0, 1), "mode": "avg"}),
             Case((-_ramp(1, 3, 3) - 1, 2), {"stride": 1, "padding": 1})]
    for i in range(n_random):
        k = (_randint(g, 1, 4), _randint(g, 1, 4))
        stride = (_randint(g, 1, 3), _randint(g, 1, 3))
        padding = (_randint(g, 0, k[0] // 2), _randint(g, 0, k[1] // 2))
        lead = [(), (_randint(g, 1, 3),), (_randint(g, 1, 2), _randint(g, 1, 3))][i % 3]
        X = torch.randn(*lead, _randint(g, k[0], 8), _randint(g, k[1], 8), generator=g)
        kwargs = {"padding": padding, "mode": ("max", "avg")[i % 2]}
        if i % 4 != 3:
            kwargs["stride"] = stride
        cases.append(Case((X, k), kwargs))
    return check(fn, _ref_pool2d, cases, forbid=forbid)


def _ref_batch_norm(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
    running_mean, running_var = moving_mean.double().clone(), moving_var.double().clone()
    Y = F.batch_norm(X.double(), running_mean, running_var, gamma.double(), beta.double(), training, momentum, eps)
    return Y, running_mean, running_var


def check_batch_norm(fn: Callable, n_random: int = 8, seed: int = 0, forbid: Iterable[str] = NO_LIBRARY_NORM) -> bool:
    """Check ``fn(X, gamma, beta, moving_mean, moving_var, eps, momentum, training) -> (Y, new_mean, new_var)``.

    PyTorch's conventions: normalise with the biased batch variance, update the running variance with the
    unbiased one, running = (1 - momentum) * running + momentum * batch statistic.
    """
    g = torch.Generator().manual_seed(seed)

    def params(C: int) -> tuple[torch.Tensor, ...]:
        return (1 + 0.5 * torch.randn(C, generator=g), 0.5 * torch.randn(C, generator=g),
                0.3 * torch.randn(C, generator=g), 0.5 + torch.rand(C, generator=g))

    cases = [Case((torch.tensor([[1.0], [3.0]]), torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1))),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.zeros(2), torch.ones(2)),
                  {"momentum": 0.5}),
             Case((_ramp(3, 2), torch.tensor([1.0, 2.0]), torch.tensor([0.0, 1.0]), torch.tensor([1.0, 2.0]),
                   torch.tensor([4.0, 0.25])), {"training": False})]
    for i in range(n_random):
        C = _randint(g, 1, 4)
        shape = (_randint(g, 2, 6), C) if i % 2 else (_randint(g, 2, 3), C, _randint(g, 1, 4), _randint(g, 1, 4))
        X = 2 * torch.randn(shape, generator=g) + 1
        kwargs = {"eps": (1e-5, 1e-3)[i % 2], "momentum": (0.1, 0.3, 0.9)[i % 3], "training": i % 4 != 2}
        cases.append(Case((X, *params(C)), kwargs))
    return check(fn, _ref_batch_norm, cases, atol=1e-4, rtol=1e-4, forbid=forbid)


def _ref_receptive_field(layers: list[tuple[int, int, int]]) -> int:
    """Measured on a stack of real convolutions, so the reference does not rely on the formula."""
    from torch import nn

    from .inspect import receptive_field

    # No field exceeds 1 + (sum of kernel spans) * (product of strides): an input twice that size holds it.
    bound = 1 + math.prod(s for _, s, _ in layers) * sum((k - 1) * d for k, _, d in layers)
    # One-pixel-wide kernels on a 3-pixel-wide image keep this cheap even for large fields.
    stack = nn.Sequential(*(nn.Conv2d(1, 1, (k, 1), (s, 1), dilation=(d, 1)) for k, s, d in layers))
    return receptive_field(stack, (1, 2 * bound + 9, 3))[0]


def check_receptive_field(fn: Callable, n_random: int = 12, seed: int = 0, dilation: bool = True,
                          forbid: Iterable[str] = ("cnnlib.receptive_field", "cnnlib.inspect.receptive_field")) -> bool:
    """Check ``fn(layers)``: the receptive field size of a stack of (kernel, stride, dilation) layers, or of
    (kernel, stride) layers with ``dilation=False``."""
    g = torch.Generator().manual_seed(seed)
    lenet = [(5, 1, 1), (2, 2, 1), (5, 1, 1), (2, 2, 1)]
    alexnet = [(11, 4, 1), (3, 2, 1), (5, 1, 1), (3, 2, 1), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 1)]
    stacks = [[], [(3, 1, 1)], [(3, 1, 1), (3, 1, 1)], [(2, 2, 1), (3, 1, 1)], [(3, 1, 2)],
              [(3, 1, 1), (3, 1, 2), (3, 1, 4)], lenet, alexnet]
    for _ in range(n_random):
        d_max = 3 if dilation else 1
        stacks.append([(_randint(g, 1, 5), _randint(g, 1, 3), _randint(g, 1, d_max)) for _ in range(_randint(g, 1, 4))])
    if dilation:
        return check(fn, _ref_receptive_field, [(layers,) for layers in stacks], forbid=forbid)
    pairs = [([(k, s) for k, s, d in layers],) for layers in stacks if all(d == 1 for _, _, d in layers)]
    return check(fn, lambda layers: _ref_receptive_field([(k, s, 1) for k, s in layers]), pairs, forbid=forbid)


# ----------------------------------------------------------------------------------------------------------
# Chapter 16: explanations (Grad-CAM's map from activations and gradients, one occlusion patch)
# ----------------------------------------------------------------------------------------------------------

__all__ += ["check_grad_cam_map", "check_occlusion_drop"]


def _ref_grad_cam_map(activations: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    weights = gradients.double().mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations.double()).sum(dim=1))


def check_grad_cam_map(fn: Callable, n_random: int = 8, seed: int = 0,
                       forbid: Iterable[str] = ("cnnlib.explain",)) -> bool:
    """Check ``fn(activations, gradients) -> (N, h, w)``: Grad-CAM at the layer's resolution, not upsampled.

    Both inputs are (N, C, h, w); the channel weights are the spatial means of the gradients.
    """
    g = torch.Generator().manual_seed(seed)
    cases = [(_ramp(1, 1, 2, 2), torch.ones(1, 1, 2, 2)),
             (_ramp(1, 2, 2, 2), torch.stack([torch.ones(2, 2), -torch.ones(2, 2)])[None]),  # ReLU matters
             (_ramp(1, 2, 1, 3), torch.tensor([[[[1.0, 0.0, 2.0]], [[0.0, 0.0, -3.0]]]])),  # mean, not sum
             (_ramp(2, 1, 2, 2), torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]], [[[-1.0, 0.0], [0.0, 0.0]]]]))]
    for _ in range(n_random):
        shape = (_randint(g, 1, 3), _randint(g, 1, 5), _randint(g, 1, 5), _randint(g, 1, 5))
        cases.append((torch.randn(shape, generator=g).relu(), torch.randn(shape, generator=g)))
    return check(fn, _ref_grad_cam_map, cases, forbid=forbid)


def _ref_occlusion_drop(model, x, target, top, left, patch, baseline=0.0):
    with torch.no_grad():
        occluded = x.clone()
        occluded[:, :, top:top + patch, left:left + patch] = baseline
        return (model(x.double()).softmax(dim=1) - model(occluded.double()).softmax(dim=1))[:, target]


def check_occlusion_drop(fn: Callable, n_random: int = 6, seed: int = 0,
                         forbid: Iterable[str] = ("cnnlib.explain.occlusion",)) -> bool:
    """Check ``fn(model, x, target, top, left, patch, baseline=0.0) -> (N,)``: the drop in the probability of
    class ``target`` when ``x[:, :, top:top+patch, left:left+patch]`` is set to ``baseline``.
    """
    from torch import nn

    g = torch.Generator().manual_seed(seed)

    def model(channels: int, classes: int) -> nn.Module:
        torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
        return nn.Sequential(nn.Conv2d(channels, 3, 2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                             nn.Linear(3, classes)).double()

    cases = [Case((model(1, 2), _ramp(1, 1, 3, 3).double() / 8, 1, 0, 0, 2)),
             Case((model(1, 3), _ramp(1, 1, 4, 4).double() / 15, 2, 1, 2, 2), {"baseline": 0.5}),
             Case((model(2, 2), _ramp(2, 2, 4, 5).double() / 40, 0, 3, 3, 3))]  # the patch sticks out
    for _ in range(n_random):
        C, H, W, patch = _randint(g, 1, 3), _randint(g, 3, 7), _randint(g, 3, 7), _randint(g, 1, 3)
        x = torch.randn(_randint(g, 1, 3), C, H, W, generator=g, dtype=torch.float64)
        cases.append(Case((model(C, 4), x, _randint(g, 0, 3), _randint(g, 0, H - 1), _randint(g, 0, W - 1), patch),
                          {"baseline": float(torch.randn(1, generator=g))}))
    return check(fn, _ref_occlusion_drop, cases, atol=1e-6, forbid=forbid)


# ----------------------------------------------------------------------------------------------------------
# Chapter 15: training well (the one-cycle schedule, random crop with padding)
# ----------------------------------------------------------------------------------------------------------

__all__ += ["check_one_cycle_lr", "check_random_crop"]


class _Blocked:
    """Stands in for a library function while a check runs: the exercise asks to write it."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} is what this exercise asks you to write: compute it yourself")


def check_one_cycle_lr(fn: Callable, n_random: int = 0, seed: int = 0) -> bool:
    """Check ``fn(step, total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4) -> float``
    against ``torch.optim.lr_scheduler.OneCycleLR`` (cosine annealing, two phases), at every step;
    ``n_random`` more settings are drawn with ``seed``.
    """
    from torch.optim import lr_scheduler

    one_cycle = lr_scheduler.OneCycleLR  # kept for the reference; blocked while the learner's code runs

    def reference(total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=max_lr)
        schedule = one_cycle(optimizer, max_lr=max_lr, total_steps=total_steps, pct_start=pct_start,
                             div_factor=div_factor, final_div_factor=final_div_factor, cycle_momentum=False)
        lrs = []
        for _ in range(total_steps):
            lrs.append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            schedule.step()
        return torch.tensor(lrs, dtype=torch.float64)

    def every_step(total_steps, max_lr, pct_start=0.3, div_factor=25.0, final_div_factor=1e4):
        return torch.tensor([float(fn(step, total_steps, max_lr, pct_start=pct_start, div_factor=div_factor,
                                      final_div_factor=final_div_factor)) for step in range(total_steps)],
                            dtype=torch.float64)

    every_step.__signature__ = inspect.signature(reference)
    cases = [Case((4, 1.0), {"pct_start": 0.5}), Case((10, 1.0)), Case((10, 0.1), {"div_factor": 10.0}),
             Case((20, 2.0), {"pct_start": 0.25, "final_div_factor": 100.0}),
             Case((100, 0.4), {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1e4}),
             Case((37, 0.05), {"pct_start": 0.1, "div_factor": 5.0, "final_div_factor": 10.0})]
    g = torch.Generator().manual_seed(seed)
    for _ in range(n_random):
        total = _randint(g, 10, 200)
        cases.append(Case((total, float(torch.rand(1, generator=g)) + 0.01),
                          {"pct_start": _randint(g, 2, total // 2) / total, "div_factor": float(_randint(g, 2, 50)),
                           "final_div_factor": float(10 ** _randint(g, 0, 4))}))
    lr_scheduler.OneCycleLR = torch.optim.lr_scheduler.OneCycleLR = _Blocked("OneCycleLR")
    try:
        return check(every_step, reference, cases, getattr(fn, "__name__", "one_cycle_lr") + " (at every step)",
                     atol=1e-9, rtol=1e-6)
    finally:
        lr_scheduler.OneCycleLR = one_cycle


def _crop_shift_matches(X: torch.Tensor, out: torch.Tensor, padding: int) -> tuple[torch.Tensor, list]:
    """For each example, which shifts (dy, dx) in [-p, p]^2 the output equals (a shifted copy, zeros filling)."""
    H, W = X.shape[-2:]
    padded = F.pad(X, (padding,) * 4)
    shifts = [(dy, dx) for dy in range(-padding, padding + 1) for dx in range(-padding, padding + 1)]
    matches = torch.stack([(padded[..., padding + dy:padding + dy + H, padding + dx:padding + dx + W] == out)
                           .flatten(1).all(1) for dy, dx in shifts], dim=1)
    return matches, shifts


def check_random_crop(fn: Callable, seed: int = 0) -> bool:
    """Check ``fn(X, padding)``, random crop with zero padding on a batch (N, C, H, W).

    Every output image must be its input shifted by some (dy, dx) in [-padding, padding] with zeros filling
    (so it never reads outside the padded image), each example must draw its own shift, and over a
    batch every shift must occur.
    """
    import cnnlib

    from . import augment

    name = getattr(fn, "__name__", "random_crop")
    saved = augment.random_crop
    augment.random_crop = _Blocked("cnnlib.augment.random_crop")
    g = torch.Generator().manual_seed(seed)
    try:
        for N, C, H, W, padding in [(1, 1, 3, 3, 0), (200, 1, 3, 3, 1), (400, 2, 4, 5, 2), (600, 1, 6, 6, 3)]:
            X = torch.randperm(N * C * H * W, generator=g).float().add(1).reshape(N, C, H, W)  # all distinct, none 0
            torch.manual_seed(int(torch.randint(0, 2**31, (1,), generator=g)))
            where = f"{name}(X, padding={padding}) with X of shape {(N, C, H, W)} (distinct nonzero values)"
            try:
                out = fn(X.clone(), padding)
            except NotImplementedError:
                raise AssertionError(f"{name} is not implemented yet: it raised NotImplementedError. "
                                     "Write your solution, run its cell, then run this check again.") from None
            except Exception as error:
                raise AssertionError(f"{where} raised {type(error).__name__}: {error}") from error
            if not isinstance(out, torch.Tensor) or out.shape != X.shape:
                got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
                raise AssertionError(f"{where} should return a tensor of shape {(N, C, H, W)}, got {got}")
            matches, shifts = _crop_shift_matches(X, out, padding)
            bad = (~matches.any(1)).nonzero()
            if len(bad):
                i = int(bad[0])
                raise AssertionError(
                    f"{where}: output image {i} is not its input shifted by at most {padding} pixels with zeros "
                    f"filling in (did it read outside the padded image, or mix examples?).\nInput image {i}:\n"
                    f"{textwrap.indent(str(X[i]), '    ')}\nYour output:\n{textwrap.indent(str(out[i]), '    ')}")
            seen = {shifts[j] for j in matches.float().argmax(1).tolist()}
            missing = sorted(set(shifts) - seen)
            if missing:
                raise AssertionError(f"{where}: over {N} examples the shifts {missing[:5]} never occurred; each "
                                     f"example should draw dy and dx uniformly from -{padding}..{padding} on its own")
        print(f"✓ {name}: every output is a shifted copy with zeros filling, every shift occurs, "
              "each example draws its own")
        return True
    finally:
        augment.random_crop = saved
        del cnnlib
