"""Helpers the self-check tests share: the message a failing check gives, and a learner's untouched stub."""

import pytest


def fails(check, *args, **kwargs) -> str:
    """Run a check that must fail; return its message."""
    with pytest.raises(AssertionError) as info:
        check(*args, **kwargs)
    return str(info.value)


def stub(*args, **kwargs):
    """An exercise's function as the learner receives it."""
    raise NotImplementedError("Exercise: write your solution here")
