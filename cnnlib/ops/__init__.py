"""From-scratch operations the first chapters build, in their finished, validated form."""
from .conv import conv2d, conv_output_size, corr2d, corr2d_multi_in, corr2d_multi_in_out
from .norm import BatchNorm, batch_norm
from .pool import pool2d, pool2d_output_size
