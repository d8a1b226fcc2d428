"""The guard of the from-scratch checks: every known shortcut is refused with its name, what is allowed stays
allowed, and the library works again afterwards (the reference solutions: test_checks_solutions.py)."""

import functools
import os
import re
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import scipy.ndimage
import scipy.signal
import torch
import torch.nn.functional as F
from test_checks_solutions import my_conv2d, my_corr2d
from torch import nn

import cnnlib
from cnnlib import checks
from cnnlib.ops import BatchNorm, corr2d

CNNLIB_DIR = os.path.dirname(os.path.abspath(cnnlib.__file__))
# A thread of a cheat that dies of its refusal prints its traceback: expected here.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")


def pair(v):
    return [v, v] if isinstance(v, int) else list(v)


# -- conv2d cheats: fn(X, weight, bias=None, stride=1, padding=0, dilation=1) --------------------------------

def conv_aten_convolution(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return torch.ops.aten.convolution(X, weight, bias, pair(stride), pair(padding), pair(dilation), False, [0, 0], 1)


def conv_aten_conv2d_default(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return torch.ops.aten.conv2d.default(X, weight, bias, pair(stride), pair(padding), pair(dilation), 1)


def conv_underscore_convolution(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return torch._convolution(X, weight, bias, pair(stride), pair(padding), pair(dilation), False, [0, 0], 1,
                              False, False, True, True)


def conv_mkldnn(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return torch.mkldnn_convolution(X, weight, bias, pair(padding), pair(stride), pair(dilation), 1)


def conv_on_mkldnn_tensors(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv2d(X.to_mkldnn(), weight.to_mkldnn(), bias, stride, padding, dilation).to_dense()


def conv_3d(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return F.conv3d(X[:, :, None], weight[:, :, None], bias, [1, *pair(stride)], [0, *pair(padding)],
                    [1, *pair(dilation)])[:, :, 0]


def conv_partial(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return functools.partial(F.conv2d, stride=stride, padding=padding, dilation=dilation)(X, weight, bias)


def conv_map(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return next(map(F.conv2d, [X], [weight], [bias], [stride], [padding], [dilation]))


def conv_thread(X, weight, bias=None, stride=1, padding=0, dilation=1):
    out = {}
    thread = threading.Thread(target=lambda: out.update(y=F.conv2d(X, weight, bias, stride, padding, dilation)))
    thread.start()
    thread.join()
    return out["y"]  # a KeyError when the thread died: the check still names what it used


def conv_thread_pool(X, weight, bias=None, stride=1, padding=0, dilation=1):
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(F.conv2d, X, weight, bias, stride, padding, dilation).result()


def conv_profile_off(X, weight, bias=None, stride=1, padding=0, dilation=1):
    sys.setprofile(None)
    return F.conv2d(X, weight, bias, stride, padding, dilation)


_in_cnnlib = {}
exec(compile("def conv(X, w, b, s, p, d):\n    return F.conv2d(X, w, b, s, p, d)\n",  # noqa: S102
             os.path.join(CNNLIB_DIR, "ops", "conv.py"), "exec"), {"F": F}, _in_cnnlib)


def conv_from_cnnlib_file(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return _in_cnnlib["conv"](X, weight, bias, stride, padding, dilation)


def conv_module(X, weight, bias=None, stride=1, padding=0, dilation=1):
    layer = nn.Conv2d(weight.shape[1], weight.shape[0], weight.shape[2:], stride, padding, dilation,
                      bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
        return layer(X)


def conv_transposed(X, weight, bias=None, stride=1, padding=0, dilation=1):
    (d_h, d_w), (p_h, p_w) = pair(dilation), pair(padding)
    full = (d_h * (weight.shape[2] - 1) - p_h, d_w * (weight.shape[3] - 1) - p_w)
    return F.conv_transpose2d(X, weight.flip(2, 3).transpose(0, 1), bias, 1, full, 0, 1, dilation)


def _scripted_conv(X: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return torch.conv2d(X, weight)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)  # torch.jit.script is deprecated, and still a way in
    _scripted_conv = torch.jit.script(_scripted_conv)


def conv_jit(X, weight, bias=None, stride=1, padding=0, dilation=1):
    return _scripted_conv(X, weight)


def conv_unfold(X, weight, bias=None, stride=1, padding=0, dilation=1):
    cols = F.unfold(X, weight.shape[2:], dilation, padding, stride)
    return cols  # refused before the shape matters


def conv_swallowed(X, weight, bias=None, stride=1, padding=0, dilation=1):
    try:
        return F.conv2d(X, weight, bias, stride, padding, dilation)
    except RuntimeError:
        return X.new_zeros(1)  # the error is caught, but the check saw the use


# -- corr2d cheats: fn(X, K) ---------------------------------------------------------------------------------

def corr_aten(X, K):
    return torch.ops.aten.convolution(X[None, None], K[None, None], None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1)[0, 0]


def corr_scipy(X, K):
    return torch.from_numpy(scipy.signal.correlate2d(X.numpy(), K.numpy(), mode="valid"))


def corr_numpy_rows(X, K):
    h = K.shape[0]
    rows = [sum(np.correlate(X[i + a].numpy(), K[a].numpy(), mode="valid") for a in range(h))
            for i in range(X.shape[0] - h + 1)]
    return torch.tensor(np.array(rows))


def corr_cnnlib(X, K):
    return corr2d(X, K)


# -- pool2d cheats: fn(X, pool_size, stride=None, padding=0, mode="max") -------------------------------------

def pooled_by(pool):
    def fn(X, pool_size, stride=None, padding=0, mode="max"):
        flat = X.reshape(-1, 1, *X.shape[-2:])
        Y = pool(flat, pair(pool_size), pair(stride if stride is not None else pool_size), pair(padding), mode)
        return Y.reshape(*X.shape[:-2], *Y.shape[-2:])
    fn.__name__ = pool.__name__
    return fn


def pool_aten(flat, k, s, p, mode):
    return torch.ops.aten.max_pool2d(flat, k, s, p) if mode == "max" else torch.ops.aten.avg_pool2d(flat, k, s, p)


def pool_3d(flat, k, s, p, mode):
    pool = F.max_pool3d if mode == "max" else F.avg_pool3d
    return pool(flat[:, :, None], [1, *k], [1, *s], [0, *p])[:, :, 0]


def pool_1d_twice(flat, k, s, p, mode):
    N, C, H, W = flat.shape
    rows = F.max_pool1d(flat.reshape(-1, 1, W), k[1], s[1], p[1]).reshape(N, C, H, -1)
    cols = F.max_pool1d(rows.transpose(2, 3).reshape(-1, 1, H), k[0], s[0], p[0])
    return cols.reshape(N, C, rows.shape[-1], -1).transpose(2, 3)


def pool_module(flat, k, s, p, mode):
    return nn.MaxPool2d(k, s, p)(flat)


def pool_adaptive(flat, k, s, p, mode):
    return F.adaptive_max_pool2d(flat, 1)


def pool_lp(flat, k, s, p, mode):
    return F.lp_pool2d(flat, 1.0, k, s)


def pool_fractional(flat, k, s, p, mode):
    return F.fractional_max_pool2d(flat, k, output_size=1)


def pool_ndimage(flat, k, s, p, mode):
    return torch.from_numpy(scipy.ndimage.maximum_filter(flat.numpy(), size=(1, 1, *k)))


# -- batch norm cheats: fn(X, gamma, beta, moving_mean, moving_var, eps, momentum, training) ------------------

def bn_by(norm):
    def fn(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True):
        mean, var = moving_mean.clone(), moving_var.clone()
        return norm(X, gamma, beta, mean, var, eps, momentum, training), mean, var
    fn.__name__ = norm.__name__
    return fn


def bn_native(X, g, b, m, v, eps, momentum, training):
    return torch.native_batch_norm(X, g, b, m, v, training, momentum, eps)[0]


def bn_aten_native(X, g, b, m, v, eps, momentum, training):
    return torch.ops.aten.native_batch_norm(X, g, b, m, v, training, momentum, eps)[0]


def bn_thread(X, g, b, m, v, eps, momentum, training):
    out = {}
    thread = threading.Thread(target=lambda: out.update(y=F.batch_norm(X, m, v, g, b, training, momentum, eps)))
    thread.start()
    thread.join()
    return out["y"]


def bn_instance(X, g, b, m, v, eps, momentum, training):
    return F.instance_norm(X.transpose(0, 1)[None], weight=None, bias=None, eps=eps)[0].transpose(0, 1)


def bn_group(X, g, b, m, v, eps, momentum, training):
    return F.group_norm(X.transpose(0, 1)[None], 1, eps=eps)[0].transpose(0, 1)


def bn_layer(X, g, b, m, v, eps, momentum, training):
    return F.layer_norm(X.transpose(0, 1), X.shape[:1], eps=eps).transpose(0, 1)


def bn_module(X, g, b, m, v, eps, momentum, training):
    layer = (nn.BatchNorm1d if X.ndim == 2 else nn.BatchNorm2d)(X.shape[1], eps, momentum)
    return layer(X)


def bn_cnnlib(X, g, b, m, v, eps, momentum, training):
    return BatchNorm(X.shape[1], X.ndim)(X)


# -- global average pooling, dropout, output size ------------------------------------------------------------

def gap_mean(X):
    return X.mean(dim=(2, 3))


def gap_own_pool(X):  # a pool2d of the learner's that averages with mean: refused, as the notebook says
    return torch.stack([X[:, :, i].mean(-1) for i in range(X.shape[2])], -1).mean(-1)


def gap_aten(X):
    return torch.ops.aten.mean.dim(X, [2, 3])


def gap_sum(X):
    return X.sum((2, 3)) / (X.shape[2] * X.shape[3])


def dropout_F(x, p):
    if not 0 <= p < 1:
        raise ValueError(p)
    return F.dropout(x, p)


def dropout_module(x, p):
    if not 0 <= p < 1:
        raise ValueError(p)
    return nn.Dropout(p)(x)


def dropout_native(x, p):
    if not 0 <= p < 1:
        raise ValueError(p)
    return torch.ops.aten.native_dropout(x, p, True)[0]


def size_on_meta(size, kernel, padding=0, stride=1, dilation=1):
    out = F.conv2d(torch.zeros(1, 1, *pair(size), device="meta"), torch.zeros(1, 1, *pair(kernel), device="meta"),
                   stride=stride, padding=padding, dilation=dilation).shape[-2:]
    return int(out[0]) if isinstance(size, int) else tuple(out)


def size_cnnlib(size, kernel, padding=0, stride=1, dilation=1):
    return cnnlib.conv_output_size(size, kernel, padding, stride, dilation)


CONV = "aten::conv2d (what F.conv2d runs)"
CHEATS = [
    (checks.check_conv2d, conv_aten_convolution, "aten::convolution (what F.conv2d runs)"),
    (checks.check_conv2d, conv_aten_conv2d_default, CONV),
    (checks.check_conv2d, conv_underscore_convolution, "aten::_convolution (what F.conv2d runs)"),
    (checks.check_conv2d, conv_mkldnn, "aten::mkldnn_convolution (what F.conv2d runs)"),
    (checks.check_conv2d, conv_on_mkldnn_tensors, "aten::convolution (what F.conv2d runs)"),
    (checks.check_conv2d, conv_3d, "aten::conv3d (what F.conv3d runs)"),
    (checks.check_conv2d, conv_partial, CONV),
    (checks.check_conv2d, conv_map, CONV),
    (checks.check_conv2d, conv_thread, CONV),
    (checks.check_conv2d, conv_thread_pool, CONV),
    (checks.check_conv2d, conv_profile_off, CONV),
    (checks.check_conv2d, conv_from_cnnlib_file, CONV),
    (checks.check_conv2d, conv_module, CONV),
    (checks.check_conv2d, conv_transposed, "aten::conv_transpose2d (what F.conv_transpose2d runs)"),
    (checks.check_conv2d, conv_jit, CONV),
    (checks.check_conv2d, conv_unfold, "aten::im2col (what F.unfold runs)"),
    (checks.check_conv2d, conv_swallowed, CONV),
    (checks.check_corr2d, corr_aten, "aten::convolution (what F.conv2d runs)"),
    (checks.check_corr2d, corr_scipy, "scipy.signal.correlate2d"),
    (checks.check_corr2d, corr_numpy_rows, "numpy.correlate"),
    (checks.check_corr2d, corr_cnnlib, "cnnlib.ops.corr2d"),
    (checks.check_pool2d, pooled_by(pool_aten), "aten::max_pool2d (what F.max_pool2d runs)"),
    (checks.check_pool2d, pooled_by(pool_3d), "aten::max_pool3d (what F.max_pool3d runs)"),
    (checks.check_pool2d, pooled_by(pool_1d_twice), "aten::max_pool1d (what F.max_pool1d runs)"),
    (checks.check_pool2d, pooled_by(pool_module), "aten::max_pool2d (what F.max_pool2d runs)"),
    (checks.check_pool2d, pooled_by(pool_adaptive), "aten::adaptive_max_pool2d (what F.adaptive_max_pool2d runs)"),
    (checks.check_pool2d, pooled_by(pool_lp), "aten::avg_pool2d (what F.avg_pool2d runs)"),
    (checks.check_pool2d, pooled_by(pool_fractional), "aten::fractional_max_pool2d"),
    (checks.check_pool2d, pooled_by(pool_ndimage), "scipy.ndimage.maximum_filter"),
    (checks.check_batch_norm, bn_by(bn_native), "aten::native_batch_norm (what F.batch_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_aten_native), "aten::native_batch_norm (what F.batch_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_thread), "aten::batch_norm (what F.batch_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_instance), "aten::instance_norm (what F.instance_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_group), "aten::group_norm (what F.group_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_layer), "aten::layer_norm (what F.layer_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_module), "aten::batch_norm (what F.batch_norm runs)"),
    (checks.check_batch_norm, bn_by(bn_cnnlib), "cnnlib.ops.BatchNorm"),
    (checks.check_global_avg_pool, gap_mean, "aten::mean (what Tensor.mean runs)"),
    (checks.check_global_avg_pool, gap_own_pool, "aten::mean (what Tensor.mean runs)"),
    (checks.check_global_avg_pool, gap_aten, "aten::mean (what Tensor.mean runs)"),
    (checks.check_global_avg_pool, gap_sum, "aten::sum (what Tensor.sum runs)"),
    (checks.check_dropout, dropout_F, "aten::dropout (what F.dropout runs)"),
    (checks.check_dropout, dropout_module, "aten::dropout (what F.dropout runs)"),
    (checks.check_dropout, dropout_native, "aten::native_dropout (what F.dropout runs)"),
    (checks.check_conv_output_size, size_on_meta, "aten::convolution (what F.conv2d runs)"),
    (checks.check_conv_output_size, size_cnnlib, "cnnlib.ops.conv_output_size"),
]


@pytest.mark.parametrize("check, cheat, used", CHEATS, ids=[f"{c[0].__name__}-{c[1].__name__}" for c in CHEATS])
def test_every_shortcut_is_refused_and_named(check, cheat, used):
    with pytest.raises(AssertionError) as info:
        check(cheat)
    message = str(info.value)
    assert re.search(f"uses {re.escape(used)}.*: this exercise asks you to write it without it", message), message
    x, k = torch.randn(1, 1, 4, 4), torch.randn(1, 1, 2, 2)
    assert F.conv2d(x, k).shape == (1, 1, 3, 3) and F.max_pool2d(x, 2).shape == (1, 1, 2, 2)  # the guard is gone
    assert corr2d(x[0, 0], k[0, 0]).shape == (3, 3) and scipy.signal.correlate2d(np.ones((2, 2)), np.ones((1, 1))).size


# -- the guard comes off, and notices when it was taken off --------------------------------------------------

def test_the_guard_is_removed_after_a_failure_and_after_an_exception():
    x, k = torch.randn(1, 1, 5, 5), torch.randn(1, 1, 3, 3)
    expected = F.conv2d(x, k)

    def raises(X, weight, bias=None, stride=1, padding=0, dilation=1):
        raise KeyError("a bug of the learner's")
    with pytest.raises(AssertionError, match="raised KeyError"):
        checks.check_conv2d(raises)
    assert torch.equal(F.conv2d(x, k), expected)
    with pytest.raises(AssertionError, match="uses"):
        checks.check_conv2d(conv_aten_convolution)
    assert torch.equal(torch.ops.aten.convolution(x, k, None, [1, 1], [0, 0], [1, 1], False, [0, 0], 1), expected)
    assert torch.allclose(corr2d(x[0, 0], k[0, 0]), expected[0, 0], atol=1e-5)
    assert BatchNorm(2, 4).training and x.mean() == x.mean(dim=(0, 1, 2, 3))
    assert scipy.ndimage.maximum_filter(np.arange(4.0), 2).tolist() == [0.0, 1.0, 2.0, 3.0]
    assert np.correlate([1.0, 2.0], [1.0]).tolist() == [1.0, 2.0]


def test_the_guard_refuses_in_every_thread_and_restores_nested_guards():
    x, k = torch.randn(1, 1, 3, 3), torch.randn(1, 1, 2, 2)
    with checks.refusing(["F.conv2d"]) as outer:
        with checks.refusing(["F.conv2d", "Tensor.mean"]) as inner, pytest.raises(checks.Refused):
            x.mean()
        assert inner.used == "aten::mean (what Tensor.mean runs)" and outer.used is None
        assert x.mean() is not None  # the inner guard's refusal is gone, the outer one's stays
        with ThreadPoolExecutor(1) as pool, pytest.raises(checks.Refused):
            pool.submit(F.conv2d, x, k).result()
        assert outer.used == CONV and outer.tampered() is None
    assert F.conv2d(x, k).shape == (1, 1, 2, 2)


def test_a_function_that_removes_the_guard_fails_the_check():
    import gc

    def destroys_the_guard(X, weight, bias=None, stride=1, padding=0, dilation=1):
        # Only the guard's own registrations: destroying every aten library found by gc would also remove
        # PyTorch's meta kernels and break this test process (a learner who does that breaks their kernel).
        from cnnlib.checks import guard

        for active in guard._active:
            if active._lib is not None and active._lib.m is not None:
                active._lib._destroy()
        return my_conv2d(X, weight, bias, stride, padding, dilation)

    def restores_scipy(X, K):
        scipy.signal.correlate2d.__code__ = saved
        return my_corr2d(X, K)

    saved = scipy.signal.correlate2d.__code__
    with pytest.raises(AssertionError, match="destroys_the_guard tampered with the check: aten::convolution"):
        checks.check_conv2d(destroys_the_guard)
    with pytest.raises(AssertionError, match="restores_scipy tampered with the check: scipy.signal.correlate2d"):
        checks.check_corr2d(restores_scipy)
    assert scipy.signal.correlate2d.__code__ is saved


def test_an_unknown_name_in_forbid_is_a_clear_error():
    for name in ("F.conv9d", "cnnlib.nothing", "Tensor.shape"):
        with pytest.raises(ValueError, match=re.escape(repr(name))):
            checks.check(lambda x: x, lambda x: x, [(torch.ones(1),)], forbid=(name,))


def test_what_stays_allowed():
    def allowed(X):
        windows = X.unfold(-2, 2, 1).unfold(-2, 2, 1)  # Tensor.unfold is a view, not F.unfold
        spectrum = torch.fft.rfft2(X).abs()
        return (windows.sum((-2, -1)) + torch.einsum("nchw->nc", X)[..., None, None] * 0
                + (X[..., :1, :1] @ X[..., :1, :1]) * 0 + spectrum.mean() * 0)

    def reference(X):
        return F.conv2d(X.reshape(-1, 1, *X.shape[-2:]), torch.ones(1, 1, 2, 2)).reshape(*X.shape[:-2], 2, 2)
    assert checks.check(allowed, reference, [(torch.randn(2, 3, 3, 3),)], forbid=checks.NO_LIBRARY_CONV)
