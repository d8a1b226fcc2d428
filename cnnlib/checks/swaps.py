"""Refusing Python functions and classes: their code is swapped for code that raises ``Refused``.

``guard.refusing`` turns these swaps on while a check runs and off afterwards; every reference to a swapped
function, including one the learner took before the check, sees the raising code. Dispatcher kernels for
PyTorch's operators are in ``guard``; this module holds what they share: ``Refused`` and ``_refuse``.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import threading
import types
from typing import Any


class Refused(RuntimeError):
    """Raised by a library function or operator that the running check refuses."""


_active: list = []  # the guard.refusing contexts that are on, in every thread
_probing = threading.local()


def _refuse(label: str):
    """Record ``label`` as used (unless the check itself is probing) and raise Refused."""
    if not getattr(_probing, "on", False):
        for guard in tuple(_active):  # a copy: another thread may leave meanwhile
            if label in guard.labels:
                guard._record(label)
    raise Refused(f"{label} is refused while this check runs: the exercise asks you to write it yourself")


@functools.cache
def _raising_code(label: str, name: str, n_free: int) -> types.CodeType:
    """Code that raises Refused for ``label``, with ``n_free`` free variables so it fits any closure."""
    free = [f"_free{i}" for i in range(n_free)]
    name = name if name.isidentifier() else "refused"
    src = ("def _make():\n" + "".join(f"    {v} = None\n" for v in free) + f"    def {name}(*args, **kwargs):\n"
           + (f"        if args is None: ({', '.join(free)},)\n" if free else "")
           + f"        raise __import__('cnnlib.checks.swaps', fromlist=['_refuse'])._refuse({label!r})\n"
           + f"    return {name}\n")
    namespace: dict = {}
    exec(compile(src, f"<refused {label}>", "exec"), namespace)  # noqa: S102 - fixed template, label is repr'd
    return namespace["_make"]().__code__


class _CodeSwap:
    """A Python function whose code raises while the guard is on (every reference to it sees the swap)."""

    def __init__(self, fn: types.FunctionType, label: str):
        self.fn, self.label = fn, label
        self.raising = _raising_code(label, fn.__name__, len(fn.__code__.co_freevars))

    def on(self) -> tuple:
        saved = (self.fn.__code__, self.fn.__defaults__, self.fn.__kwdefaults__)
        self.fn.__defaults__ = self.fn.__kwdefaults__ = None  # the raising code takes *args, **kwargs only
        self.fn.__code__ = self.raising
        return saved

    def off(self, saved: tuple) -> None:
        self.fn.__code__, self.fn.__defaults__, self.fn.__kwdefaults__ = saved

    def intact(self) -> bool:
        return self.fn.__code__ is self.raising


class _AttrSwap:
    """A module or class attribute replaced by a raising function while the guard is on."""

    def __init__(self, owner: Any, attr: str, label: str):
        if owner is None or not hasattr(owner, attr):
            raise AttributeError(f"{owner!r} has no {attr}")
        self.owner, self.attr, self.label = owner, attr, label
        self.raising = types.FunctionType(_raising_code(label, attr, 0), {"__builtins__": __builtins__})

    def on(self) -> tuple:
        saved = (self.attr in vars(self.owner), vars(self.owner).get(self.attr))
        setattr(self.owner, self.attr, self.raising)
        return saved

    def off(self, saved: tuple) -> None:
        had, value = saved
        if had:
            setattr(self.owner, self.attr, value)
        else:
            delattr(self.owner, self.attr)

    def intact(self) -> bool:
        return vars(self.owner).get(self.attr) is self.raising


_ALIASES = {"F": "torch.nn.functional", "nn": "torch.nn", "Tensor": "torch.Tensor"}
_OPTIONAL = ("scipy",)  # refused where installed; where not, the learner cannot use it either


def _lookup(dotted: str) -> Any:
    """The object a dotted name refers to, importing modules on the way; None for an optional package that is
    not installed. Raises ImportError or AttributeError for a name that does not exist."""
    head, _, rest = dotted.partition(".")
    if head in _ALIASES:
        head, _, more = _ALIASES[head].rpartition(".")
        rest = f"{more}.{rest}" if rest else more
    if head in _OPTIONAL and importlib.util.find_spec(head) is None:
        return None
    obj = importlib.import_module(head)
    for part in rest.split(".") if rest else []:
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(f"{obj.__name__}.{part}")
    return obj


def _python_blocks(dotted: str, obj: Any) -> list:
    """Swaps that refuse a function, a class (its constructor and own methods) or a module's public ones."""
    if obj is None:  # an optional package that is not installed
        return []
    if isinstance(obj, types.ModuleType):
        return [swap for attr in dir(obj) if not attr.startswith("_")
                for value in [getattr(obj, attr)]
                if (inspect.isfunction(value) or inspect.isclass(value))
                and getattr(value, "__module__", "").startswith(obj.__name__)
                for swap in _python_blocks(f"{dotted}.{attr}", value)]
    if inspect.isclass(obj):
        blocks = [] if "__init__" in vars(obj) else [_AttrSwap(obj, "__init__", dotted)]
        for attr, value in vars(obj).items():
            value = getattr(value, "__func__", value)  # staticmethod, classmethod
            if inspect.isfunction(value) and (not attr.startswith("__") or attr in ("__init__", "__call__")):
                blocks.append(_CodeSwap(value, dotted))
        return blocks
    blocks = []
    while inspect.isfunction(obj) or hasattr(obj, "__wrapped__"):  # numpy's dispatchers wrap a Python function
        if inspect.isfunction(obj):
            blocks.append(_CodeSwap(obj, dotted))
        obj = getattr(obj, "__wrapped__", None)
    return blocks
