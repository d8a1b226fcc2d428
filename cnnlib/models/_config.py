"""Builders take a configuration object or the name of a published one; this resolves either."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

Config = TypeVar("Config")


def resolve_config(config: Config | str, named: Mapping[str, Config], kind: type | None, what: str) -> Config:
    """``named[config]`` for a name, ``config`` itself for a ``kind`` instance; a clear error otherwise.

    ``what`` names the model in messages (``"ResNet"``); ``kind=None`` leaves non-names to the caller.
    """
    if isinstance(config, str):
        if config not in named:
            raise ValueError(f"unknown {what} {config!r}; named configurations: {sorted(named)}")
        return named[config]
    if kind is not None and not isinstance(config, kind):
        raise TypeError(f"expected a {kind.__name__} or a name, got {type(config).__name__}")
    return config
