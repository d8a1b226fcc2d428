"""cnnlib: the helpers that the chapters of the CNN course build and then reuse."""

__version__ = "0.1.0"

from . import checks, data, explain, inspect, plot, transfer
from .checksums import CorruptDataError
from .data import Splits, cifar10, data_dir, fashion_mnist, hymenoptera_dir, mnist
from .device import QUICK, device_name, env_info, get_device, seed_everything
from .ops.conv import conv_output_size
from .inspect import count_params, layer_shapes, receptive_field, summary
from .explain import feature_maps, grad_cam, occlusion, overlay, saliency
from .plot import plot_history, show_feature_maps, show_filters, show_images
from .train import History, evaluate, fit, init_weights, predict

__all__ = [
    "QUICK", "CorruptDataError", "History", "Splits", "checks", "cifar10", "conv_output_size", "count_params", "data", "data_dir", "device_name", "env_info", "evaluate",
    "fashion_mnist", "fit", "get_device", "hymenoptera_dir", "init_weights", "inspect", "layer_shapes", "mnist", "plot",
    "plot_history", "predict", "receptive_field", "seed_everything", "show_images", "summary", "transfer",
    "explain", "feature_maps", "grad_cam", "occlusion", "overlay", "saliency", "show_feature_maps", "show_filters",
]
