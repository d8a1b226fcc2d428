"""Self-checks for the exercises: compare a learner's function with a reference on many small cases.

``check(fn, reference, cases)`` runs both on every case, smallest first. It prints one line and returns
True when all agree; otherwise it raises an AssertionError, named after the learner's function, that shows
the smallest failing input, the expected output and what ``fn`` returned (or raised). ``forbid`` names the
library functions a from-scratch exercise must not call: the check fails when ``fn`` calls one of them.
The named checks (``check_corr2d``, ...) bring their own fixed and random cases, from a seeded generator,
so runs are reproducible; another ``seed`` gives the other inputs of a hidden test. ``check_answer`` and
``check_properties`` grade answers that are values, not functions, without printing the right answer.

Where things are: ``core`` holds the generic checker, ``guard`` the refusal of library shortcuts, and
each chapter's checks sit in the module named after its notebook (``ch02_padding_and_stride`` for
``notebooks/02_padding_and_stride.ipynb``). Every public name is importable from ``cnnlib.checks``.
"""

from .ch01_convolution import (
    check_corr2d,
    check_corr2d_multi_in,
    check_corr2d_multi_in_out,
)
from .ch02_padding_and_stride import check_conv2d, check_conv_output_size
from .ch03_pooling import check_pool2d
from .ch09_batch_norm import check_batch_norm
from .ch12_architecture_analysis import check_receptive_field
from .ch15_training_well import check_one_cycle_lr, check_random_crop
from .ch16_seeing_what_cnns_learn import check_grad_cam_map, check_occlusion_drop
from .core import Case, check, check_answer, check_properties, check_shapes
from .guard import NO_LIBRARY_CONV, NO_LIBRARY_NORM, NO_LIBRARY_POOL, watching_calls

__all__ = [
    "Case", "NO_LIBRARY_CONV", "NO_LIBRARY_NORM", "NO_LIBRARY_POOL", "check", "check_answer", "check_batch_norm",
    "check_conv2d", "check_conv_output_size", "check_corr2d", "check_corr2d_multi_in", "check_corr2d_multi_in_out",
    "check_grad_cam_map", "check_occlusion_drop", "check_one_cycle_lr", "check_pool2d", "check_properties",
    "check_random_crop", "check_receptive_field", "check_shapes", "watching_calls",
]
