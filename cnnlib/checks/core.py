"""The generic checker: compare a learner's function with a reference on many small cases, smallest first."""

from __future__ import annotations

import functools
import inspect
import numbers
import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .guard import refusing


@dataclass
class Case:
    """One call: positional ``args`` and keyword ``kwargs``."""

    args: tuple = ()
    kwargs: dict = field(default_factory=dict)


class _Mismatch(Exception):
    """Why an output differs from the expected one."""


def _forbidden(name: str, used: str, where: str = "") -> AssertionError:
    return AssertionError(f"{name} uses {used}: this exercise asks you to write it without it.{where}")


def _tampered(name: str, what: str) -> AssertionError:
    return AssertionError(f"{name} tampered with the check: {what} is no longer refused after it ran. Write the "
                          "exercise with ordinary tensor operations, without changing PyTorch's or cnnlib's insides.")


def _raised(name: str, error: Exception, context: str) -> AssertionError:
    """The failure for an exception of the learner's code: not implemented yet, or ``context`` and the error."""
    if isinstance(error, NotImplementedError):
        failure = AssertionError(f"{name} is not implemented yet: it raised NotImplementedError. "
                                 "Write your solution, run its cell, then run this check again.")
        failure.__suppress_context__ = True
        return failure
    failure = AssertionError(f"{context} {type(error).__name__}: {error}")
    failure.__cause__ = error
    return failure


def _guarded(calls: Sequence[Callable[[], Any]], forbid: tuple[str, ...], name: str,
             where: Callable[[int], str] = lambda i: "") -> list[tuple[Any, Exception | None]]:
    """Run the calls in order, under one guard that refuses ``forbid``, until one raises; return (a copy of
    the result, the exception raised) for each call run.

    Raises the AssertionError for a refused use (even one the code caught) or a guard that no longer refuses,
    with ``where(index of the call)``. Each copy is taken under the guard, so a thread that writes into a
    result later changes nothing.
    """
    guard, results, tampered, error = refusing(forbid), [], None, None
    with guard:
        for i, call in enumerate(calls):  # i: which call used a refused function, if one did
            value, error = None, None
            try:
                value = _clone(call())
            except Exception as caught:  # noqa: BLE001 - reported by the caller, with the input
                error = caught
            tampered = guard.tampered() if forbid else None
            if tampered or guard.used:
                break
            results.append((value, error))
            if error is not None:
                break
    if tampered:
        raise _tampered(name, tampered) from error
    if guard.used:
        raise _forbidden(name, guard.used, where(i)) from error
    return results


def _call(fn: Callable, case: Case) -> Any:
    return fn(*_clone(case.args), **_clone(case.kwargs))


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


def _is_complex(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.is_complex()
    return isinstance(value, numbers.Complex) and not isinstance(value, numbers.Real)


def _compare(actual: Any, expected: Any, atol: float, rtol: float, where: str = "the output",
             reveal: bool = True) -> None:
    """Raise _Mismatch when ``actual`` is not ``expected`` (tensors: same shape, values within tolerance).

    Complex results, integer or bool tensors where floats are expected, and NaN are refused with a message
    that names the problem. With ``reveal=False`` no message shows an expected value."""
    if _is_complex(actual) and not _is_complex(expected):
        tensor = isinstance(actual, torch.Tensor)
        kind = f"a complex tensor (dtype {actual.dtype})" if tensor else f"complex ({actual!r})"
        raise _Mismatch(f"{where} is {kind}: the answer is real, so find where the imaginary part comes from")
    if isinstance(expected, torch.Tensor):
        if not isinstance(actual, torch.Tensor):
            raise _Mismatch(f"{where} should be a tensor, got {type(actual).__name__}")
        if tuple(actual.shape) != tuple(expected.shape):
            raise _Mismatch(f"{where} has shape {tuple(actual.shape)}, expected {tuple(expected.shape)}")
        if expected.is_floating_point() and not actual.is_floating_point():
            raise _Mismatch(f"{where} has dtype {actual.dtype}: it should be a floating-point tensor "
                            "(convert with .float())")
        a = actual.detach().cpu().to(torch.float64)
        e = expected.detach().cpu().to(torch.float64)
        nan = a.isnan() & ~e.isnan()
        if bool(nan.any()):
            index = tuple(int(i) for i in torch.nonzero(nan)[0])
            raise _Mismatch(f"{where} contains NaN ({int(nan.sum())} entries, the first at index {index})")
        close = torch.isclose(a, e, rtol=rtol, atol=atol)
        if not bool(close.all()):
            diff = (a - e).abs().nan_to_num(float("inf"))
            index = tuple(int(i) for i in torch.nonzero(~close)[0])
            if not reveal:
                raise _Mismatch(f"{where} has the right shape but wrong values: {int((~close).sum())} of "
                                f"{close.numel()} entries are off, the first at index {index}")
            raise _Mismatch(f"{where} has the right shape but wrong values: at index {index} it holds "
                            f"{a[index].item():.6g} instead of {e[index].item():.6g} "
                            f"(largest difference {diff.max().item():.3g})")
        return
    if isinstance(expected, tuple):
        if not isinstance(actual, (tuple, list)) or len(actual) != len(expected):
            length = f" of length {len(actual)}" if isinstance(actual, (tuple, list)) else ""
            kind = f"a {type(actual).__name__}{length}"
            raise _Mismatch(f"{where} should be a tuple of length {len(expected)}, got {kind}")
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, atol, rtol, f"element {i} of {where}", reveal)
        return
    if isinstance(expected, numbers.Integral) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, numbers.Integral):
            raise _Mismatch(f"{where} should be an int, got {type(actual).__name__} {actual!r}")
        if int(actual) != int(expected):
            raise _Mismatch(f"{where} is {actual!r}, expected {expected!r}")
        return
    if isinstance(expected, numbers.Real) and not isinstance(expected, bool):
        if isinstance(actual, bool) or not isinstance(actual, numbers.Real):
            raise _Mismatch(f"{where} should be a real number, got {type(actual).__name__} {actual!r}")
        if actual != actual:  # NaN compares unequal to itself, and to every bound
            raise _Mismatch(f"{where} is NaN, not a number")
        if not abs(actual - expected) <= atol + rtol * abs(expected):
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
    refusing(forbid)  # an unknown name in forbid fails here, before anything runs
    # Every reference runs before the learner's code, outside the guard: it may use what the guard refuses.
    expected_values = [reference(*_clone(case.args), **_clone(case.kwargs)) for case in cases]
    # One guard for all the calls (entering it costs milliseconds); they stop at the first exception.
    results = _guarded([functools.partial(_call, fn, case) for case in cases], forbid, name,
                       lambda i: f" (Seen on case {i + 1} of {len(cases)}.)")
    for number, (case, expected, (actual, error)) in enumerate(zip(cases, expected_values, results), start=1):
        def header(number: int = number, case: Case = case, expected: Any = expected) -> str:  # slow: on failure only
            return (f"{name} is wrong on case {number} of {len(cases)}, the smallest failing one. Input:\n"
                    f"{_describe_inputs(fn, case)}\nExpected:\n  {_show(expected)}\n")
        if error is not None:  # the learner's bug, shown with the input that triggers it
            raise _raised(name, error, f"{header()}but your code raised")
        try:
            _compare(actual, expected, atol, rtol)
        except _Mismatch as mismatch:
            raise AssertionError(f"{header()}Got:\n  {_show(actual)}\nProblem: {mismatch}") from None
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
        wrong, kinds = [], []
        for i, (v, e) in enumerate(zip(value, expected)):
            try:
                _compare(tuple(v) if isinstance(e, tuple) and isinstance(v, (list, torch.Size)) else v, e, atol, rtol,
                         where=f"entry {i}", reveal=False)
            except _Mismatch as mismatch:
                wrong.append(i)
                if "expected" not in str(mismatch):  # not a wrong value but a wrong kind of value: say which
                    kinds.append(str(mismatch))
        if wrong:
            which = ", ".join(str(i) for i in wrong)
            kind = f" First problem: {kinds[0]}." if kinds else ""
            raise AssertionError(f"{name}: {len(wrong)} of {len(expected)} entries are wrong "
                                 f"(entr{'y' if len(wrong) == 1 else 'ies'} {which}, counting from 0).{kind}{hint}")
    else:
        if isinstance(expected, tuple) and isinstance(value, (list, torch.Size)):
            value = tuple(value)
        try:
            _compare(value, expected, atol, rtol, where=name, reveal=False)
        except _Mismatch as mismatch:
            reason = str(mismatch)  # the kind of mistake; for a tensor also where it differs
            if not isinstance(expected, torch.Tensor) and "expected" in reason:
                reason = f"{name} is not right"
            raise AssertionError(f"{reason}.{hint}") from None
    print(f"✓ {name} is right")
    return True


def check_shapes(name: str, predicted: Any, cases: Sequence[tuple[tuple[int, ...], Callable]], hint: str = "") -> bool:
    """Grade predicted output shapes: ``cases`` holds (input shape, layer) pairs, run here on zeros.

    Each prediction must be a tuple (or list, or torch.Size) of ints; floats, bools and tensors are refused."""
    if not _unset(predicted) and isinstance(predicted, (list, tuple)):
        for i, shape in enumerate(predicted):
            if isinstance(shape, torch.Tensor) or not isinstance(shape, (tuple, list, torch.Size)):
                raise AssertionError(f"{name}: entry {i} should be a tuple of ints such as (1, 6, 24, 24), "
                                     f"got {type(shape).__name__}.")
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
    refusing(forbid)  # an unknown name in forbid fails here, before anything runs
    for what, test in properties:  # the tests run under the guard: they must not use what it refuses
        [(ok, error)] = _guarded([functools.partial(test, value)], forbid, name)
        if error is not None:
            raise _raised(name, error, f"{name}: testing that {what}, your code raised")
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


