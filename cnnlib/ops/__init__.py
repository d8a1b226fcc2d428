"""From-scratch operations the first chapters build, in their finished, validated form."""
from .backward import (
    BatchNormFunction,
    Conv2dFunction,
    Corr2dFunction,
    Pool2dFunction,
    batch_norm_backward,
    conv2d_backward,
    corr2d_backward,
    pool2d_backward,
)
from .conv import conv2d, conv_output_size, corr2d, corr2d_multi_in, corr2d_multi_in_out
from .norm import BatchNorm, batch_norm, group_norm, layer_norm2d
from .pool import pool2d, pool2d_output_size
from .transpose import conv_transpose2d
