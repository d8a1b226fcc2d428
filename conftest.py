"""Fixtures shared by tests/ and gpu_tests/."""

import pytest
import torch


@pytest.fixture
def item_calls(monkeypatch) -> dict[str, int]:
    """Counts Tensor.item calls; each one makes the host wait for the device."""
    calls = {"n": 0}
    original = torch.Tensor.item

    def counting_item(self):
        calls["n"] += 1
        return original(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    return calls
