"""cnnlib: the helpers that the chapters of the CNN course build and then reuse."""

from . import augment, checks, data, distributed, explain, inspect, plot, scenes, segmentation, transfer
from ._version import __version__  # noqa: F401
from .accumulation import GradAccumulation
from .averaging import WeightAveraging
from .callbacks import BatchTransform, BNStatsProbe, EarlyStopping, LRSchedule, TimeEstimate
from .diagnostics import ActivationStats, GradClip, GradNorm, UpdateRatio
from .checkpoint import Checkpoint, load_checkpoint
from .checksums import CorruptDataError
from .data import Splits, cifar10, data_dir, fashion_mnist, hymenoptera_dir, mnist
from .device import QUICK, SETTING, device_name, get_device, native_bf16, seed_everything
from .environment import env_info
from .explain import (deletion_curve, feature_maps, grad_cam, insertion_curve, integrated_gradients, occlusion, overlay,
                      saliency, smooth_grad)
from .inspect import count_params, layer_shapes, receptive_field, summary
from .lr_finder import lr_find
from .ops.conv import conv_output_size
from .plot import plot_history, show_feature_maps, show_filters, show_images
from .scenes import SCENE_CLASSES, fashion_scenes
from .segmentation import iou_per_class, mean_iou, pixel_accuracy
from .train import Callback, FitState, History, evaluate, fit, init_weights, predict

__all__ = [
    "augment", "BatchTransform", "BNStatsProbe", "Callback", "Checkpoint", "checks", "cifar10", "conv_output_size", "CorruptDataError",
    "count_params", "data", "data_dir", "distributed", "device_name", "EarlyStopping", "env_info", "evaluate", "explain",
    "fashion_mnist", "feature_maps", "fit", "FitState", "get_device", "grad_cam", "History", "hymenoptera_dir",
    "init_weights", "inspect", "native_bf16", "layer_shapes", "load_checkpoint", "lr_find", "LRSchedule", "mnist", "occlusion", "overlay", "plot",
    "plot_history", "predict", "QUICK", "receptive_field", "SETTING", "saliency", "seed_everything", "show_feature_maps",
    "show_filters", "show_images", "Splits", "summary", "TimeEstimate", "transfer",
    "deletion_curve", "insertion_curve", "integrated_gradients", "smooth_grad",
    "scenes", "segmentation", "SCENE_CLASSES", "fashion_scenes", "iou_per_class", "mean_iou", "pixel_accuracy",
    "ActivationStats", "GradAccumulation", "GradClip", "GradNorm", "UpdateRatio", "WeightAveraging",
]
