"""cnnlib: the helpers that the chapters of the CNN course build and then reuse."""

__version__ = "0.1.0"

from . import checks, data, inspect, plot, transfer
from .data import Splits, data_dir, fashion_mnist, hymenoptera_dir
from .device import QUICK, device_name, env_info, get_device, seed_everything
from .ops.conv import conv_output_size
from .inspect import count_params, layer_shapes, receptive_field, summary
from .plot import plot_history, show_images
from .train import History, evaluate, fit, init_weights, predict

__all__ = [
    "QUICK", "History", "Splits", "checks", "conv_output_size", "count_params", "data", "data_dir", "device_name", "env_info", "evaluate",
    "fashion_mnist", "fit", "get_device", "hymenoptera_dir", "init_weights", "inspect", "layer_shapes", "plot",
    "plot_history", "predict", "receptive_field", "seed_everything", "show_images", "summary", "transfer",
]
