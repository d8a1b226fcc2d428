"""The generic checker: compare a learner's function with a reference on many small cases, smallest first."""

from __future__ import annotations

import inspect
import numbers
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .guard import watching_calls


@dataclass
class Case:
    """One call: positional ``args`` and keyword ``kwargs``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


class _Mismatch(Exception):
    """Why an output differs from the expected one."""


def _forbidden(name: str, called: str, number: int, total: int) -> AssertionError:
    return AssertionError(f"{name} calls {called}: this exercise asks you to write it without {called}. "
                          f"(Seen on case {number} of {total}.)")


def _not_implemented(name: str) -> AssertionError:
    return AssertionError(f"{name} is not implemented yet. Write your solution, run its cell, then run this check again.")


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


def _randint(g: torch.Generator, low: int, high: int) -> int:
    """A random int in [low, high], both included."""
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _ramp(*shape: int) -> torch.Tensor:
    """0, 1, 2, ... in the given shape, as floats: easy to follow by hand."""
    n = 1
    for s in shape:
        n *= s
    return torch.arange(float(n)).reshape(shape)



class _Blocked:
    """Stands in for a library function while a check runs: the exercise asks to write it."""

    def __init__(self, name: str):
        self.name = name

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"{self.name} is what this exercise asks you to write: compute it yourself")
