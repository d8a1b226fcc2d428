"""Self-checks for the exercises: compare a learner's function with a reference on many small cases.

``check(fn, reference, cases)`` runs both on every case, smallest first. It prints one line and returns
True when all agree; otherwise it raises an AssertionError, named after the learner's function, that shows
the smallest failing input, the expected output and what ``fn`` returned (or raised). ``forbid`` names the
library functions a from-scratch exercise must not use: they raise while ``fn`` runs, in every thread, and
the check fails naming the one ``fn`` reached (see ``guard``).
The named checks (``check_corr2d``, ...) bring their own fixed and random cases, from a seeded generator,
so runs are reproducible; another ``seed`` gives the other inputs of a hidden test. ``check_answer`` and
``check_properties`` grade answers that are values, not functions, without printing the right answer.

Where things are: ``core`` holds the generic checker, ``guard`` the refusal of library shortcuts, and
each chapter's checks sit in the module named after its notebook (``ch02_padding_and_stride`` for
``notebooks/02_padding_and_stride.ipynb``). Every public name is importable from ``cnnlib.checks``.
"""

from .ch00_getting_started import check_class_mean
from .ch01_convolution import (
    check_conv1x1,
    check_conv_shapes,
    check_corr2d,
    check_corr2d_multi_in,
    check_corr2d_multi_in_out,
    check_kernel_for_convolution,
)
from .ch02_padding_and_stride import (
    NO_LIBRARY_SIZE,
    check_conv2d,
    check_conv_output_size,
    check_conv_settings,
    check_same_padding_split,
)
from .ch03_pooling import check_global_avg_pool, check_pool2d, check_pool_shapes, check_shift_examples
from .ch04_lenet import check_init_experiment, check_lenet5_original, check_lenet_64, check_max_sigmoid_slope
from .ch05_alexnet import check_conv1_params, check_dropout, check_first_layer_sizes
from .ch06_vgg import check_block4_params, check_vgg16_layers, check_vgg19_config, check_vgg_shapes
from .ch07_nin import check_block2_params, check_conv1x1_layer, check_nin_shapes, check_nin_smallest
from .ch08_googlenet import check_inception_channels, check_inception_factorised, check_params_4a
from .ch09_batch_norm import check_batch_norm, check_bias_before_bn, check_keras_momentum
from .ch10_resnet import (
    check_basic_block_params,
    check_resnet10_config,
    check_resnet_stage_shapes,
    check_zero_init_residual,
)
from .ch11_densenet import check_dense_block_channels, check_dense_layer_params, check_densenet121_width
from .ch12_architecture_analysis import check_receptive_field, check_stack_vs_single
from .ch13_efficientnet import check_pointwise_share, check_preprocessing, check_separable_conv
from .ch14_transfer_learning import check_partial_unfreeze, check_transfer_recipe
from .ch15_training_well import check_ema_update, check_one_cycle_lr, check_random_crop
from .ch16_seeing_what_cnns_learn import check_grad_cam_map, check_ig_trapezoid, check_occlusion_drop
from .ch17_modern_cnns import check_convnext_block_params, check_group_norm, check_grouped_conv2d
from .ch18_beyond_labels import check_conv_transpose2d, check_iou_per_class, check_pool2d_backward
from .ch19_several_devices import NO_LIBRARY_SHARD, check_combine_gradients, check_shard_batch
from .core import Case, check, check_answer, check_properties, check_shapes
from .guard import NO_LIBRARY_CONV, NO_LIBRARY_NORM, NO_LIBRARY_POOL, Refused, refusing

__all__ = [
    # chapters 00 to 07
    "NO_LIBRARY_SIZE", "check_block2_params", "check_block4_params", "check_class_mean", "check_conv1_params",
    "check_conv1x1", "check_conv1x1_layer", "check_conv_settings", "check_conv_shapes", "check_dropout",
    "check_first_layer_sizes", "check_global_avg_pool", "check_init_experiment", "check_kernel_for_convolution",
    "check_lenet5_original", "check_lenet_64", "check_max_sigmoid_slope", "check_nin_shapes", "check_nin_smallest",
    "check_pool_shapes", "check_same_padding_split", "check_shift_examples", "check_vgg16_layers",
    "check_vgg19_config", "check_vgg_shapes",
    # chapters 08 to 16
    "check_basic_block_params", "check_bias_before_bn", "check_dense_block_channels", "check_dense_layer_params",
    "check_densenet121_width", "check_inception_channels", "check_inception_factorised", "check_keras_momentum",
    "check_params_4a", "check_partial_unfreeze", "check_pointwise_share", "check_preprocessing",
    "check_resnet10_config", "check_resnet_stage_shapes", "check_separable_conv", "check_stack_vs_single",
    "check_transfer_recipe", "check_zero_init_residual",
    # chapter 17
    "check_convnext_block_params", "check_group_norm", "check_grouped_conv2d",
    "Case", "NO_LIBRARY_CONV", "NO_LIBRARY_NORM", "NO_LIBRARY_POOL", "check", "check_answer", "check_batch_norm",
    "check_conv2d", "check_conv_output_size", "check_corr2d", "check_corr2d_multi_in", "check_corr2d_multi_in_out",
    "check_grad_cam_map", "check_ig_trapezoid", "check_occlusion_drop", "check_one_cycle_lr", "check_pool2d", "check_properties",
    "check_ema_update", "check_random_crop", "check_receptive_field", "check_shapes", "Refused", "refusing",
    # chapter 18
    "check_conv_transpose2d", "check_iou_per_class", "check_pool2d_backward",
    # chapter 19
    "NO_LIBRARY_SHARD", "check_combine_gradients", "check_shard_batch",
]
