"""cnnlib: the helpers that the chapters of the CNN course build and then reuse."""

__version__ = "0.1.0"

from . import data, inspect, plot
from .data import data_dir, fashion_mnist
from .device import QUICK, device_name, env_info, get_device, seed_everything
from .inspect import count_params, layer_shapes, summary
from .plot import plot_history, show_images
from .train import History, evaluate, fit, init_weights, predict

__all__ = [
    "QUICK", "History", "count_params", "data", "data_dir", "device_name", "env_info", "evaluate",
    "fashion_mnist", "fit", "get_device", "init_weights", "inspect", "layer_shapes", "plot",
    "plot_history", "predict", "seed_everything", "show_images", "summary",
]
