"""Shared fixtures: a tiny model and tiny in-memory batches, so unit tests run in seconds."""

import pytest
import torch
from torch import nn

from cnnlib.data import TensorBatches


@pytest.fixture
def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Linear(16, 3))


@pytest.fixture
def tiny_batches() -> TensorBatches:
    """An easy 3-class problem: the class sets the mean brightness of the image."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(96) % 3
    images = labels.view(-1, 1, 1, 1).float() / 2 + 0.1 * torch.randn(96, 1, 8, 8, generator=g)
    return TensorBatches(images, labels, batch_size=16, shuffle=True, classes=("dark", "grey", "light"))
