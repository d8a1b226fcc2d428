"""cnnlib: the helpers that the chapters of the CNN course build and then reuse."""

from . import augment, checks, data, explain, inspect, plot, transfer
from ._version import __version__  # noqa: F401
from .callbacks import BatchTransform, BNStatsProbe, EarlyStopping, LRSchedule, TimeEstimate
from .checkpoint import Checkpoint, load_checkpoint
from .checksums import CorruptDataError
from .data import Splits, cifar10, data_dir, fashion_mnist, hymenoptera_dir, mnist
from .device import QUICK, device_name, get_device, native_bf16, seed_everything
from .environment import env_info
from .explain import feature_maps, grad_cam, occlusion, overlay, saliency
from .inspect import count_params, layer_shapes, receptive_field, summary
from .lr_finder import lr_find
from .ops.conv import conv_output_size
from .plot import plot_history, show_feature_maps, show_filters, show_images
from .train import Callback, FitState, History, evaluate, fit, init_weights, predict

__all__ = [
    "augment", "BatchTransform", "BNStatsProbe", "Callback", "Checkpoint", "checks", "cifar10", "conv_output_size", "CorruptDataError",
    "count_params", "data", "data_dir", "device_name", "EarlyStopping", "env_info", "evaluate", "explain",
    "fashion_mnist", "feature_maps", "fit", "FitState", "get_device", "grad_cam", "History", "hymenoptera_dir",
    "init_weights", "inspect", "native_bf16", "layer_shapes", "load_checkpoint", "lr_find", "LRSchedule", "mnist", "occlusion", "overlay", "plot",
    "plot_history", "predict", "QUICK", "receptive_field", "saliency", "seed_everything", "show_feature_maps",
    "show_filters", "show_images", "Splits", "summary", "TimeEstimate", "transfer",
]
