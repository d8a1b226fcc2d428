"""A report of the environment: versions, device, data folder and quick mode."""

from __future__ import annotations

import sys

import torch

from ._version import __version__
from .data import data_dir
from .device import QUICK, device_name, get_device


def env_info(print_it: bool = True) -> dict[str, str]:
    """Report versions, device, data directory and quick mode; print them and return them as a dict."""
    import torchvision


    device = get_device()
    info = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cnnlib": __version__,
        "device": str(device),
        "device name": device_name(device),
        "data directory": str(data_dir()),
        "quick mode": "on" if QUICK else "off",
    }
    if print_it:
        width = max(map(len, info))
        for key, value in info.items():
            print(f"{key:<{width}}  {value}")
    return info
