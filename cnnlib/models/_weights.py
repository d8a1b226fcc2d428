"""Load another library's state dict into our models: rename its keys by rules, then load strictly."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import torch
from torch import nn

Rules = Sequence[tuple[str, str]]


def rename_keys(state_dict: Mapping[str, torch.Tensor], rules: Rules) -> dict[str, torch.Tensor]:
    """Apply the first matching ``(regex, replacement)`` rule to each key; keys no rule matches stay as they are."""
    renamed = {}
    for key, value in state_dict.items():
        for pattern, replacement in rules:
            new, count = re.subn(pattern, replacement, key, count=1)
            if count:
                key = new
                break
        renamed[key] = value
    return renamed


def load_renamed(model: nn.Module, state_dict: Mapping[str, torch.Tensor], rules: Rules, what: str) -> nn.Module:
    """Rename ``state_dict``'s keys by ``rules`` and load it into ``model`` strictly (every key, every shape).

    A missing or unexpected key raises ``KeyError``, a wrong shape ``ValueError``; nothing is loaded then.
    """
    converted = rename_keys(state_dict, rules)
    expected = model.state_dict()
    missing, unexpected = sorted(set(expected) - set(converted)), sorted(set(converted) - set(expected))
    if missing or unexpected:
        raise KeyError(f"the weights do not match this {what}: missing {missing[:5]}"
                       f"{' ...' if len(missing) > 5 else ''}, unexpected {unexpected[:5]}"
                       f"{' ...' if len(unexpected) > 5 else ''}")
    wrong = [f"{k}: weights {tuple(v.shape)}, model {tuple(expected[k].shape)}"
             for k, v in converted.items() if v.shape != expected[k].shape]
    if wrong:
        raise ValueError(f"shape mismatch in the {what} weights: " + "; ".join(wrong[:5]))
    model.load_state_dict(converted, strict=True)
    return model
