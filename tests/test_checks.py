"""cnnlib.checks: right answers pass, wrong ones fail with the smallest failing case in the message."""

import inspect
import math
import re

import pytest
import torch
import torch.nn.functional as F

from cnnlib import checks
from cnnlib.ops import batch_norm, conv2d, conv_output_size, corr2d, corr2d_multi_in, corr2d_multi_in_out, pool2d


def fails(check, fn, *args, **kwargs) -> str:
    """The AssertionError message of a check that must fail (the wrong answers here are built from cnnlib.ops,
    so the named checks run without their list of forbidden functions)."""
    if "forbid" in inspect.signature(check).parameters and check is not checks.check:
        kwargs.setdefault("forbid", ())
    with pytest.raises(AssertionError) as info:
        check(fn, *args, **kwargs)
    message = str(info.value)
    assert "smallest failing one" in message or "not implemented yet" in message
    return message


# -- the generic checker -------------------------------------------------------------------------------------

def test_check_passes_and_prints_one_line(capsys):
    cases = [(torch.randn(3),), (torch.randn(5),)]
    assert checks.check(lambda x: x * 2, lambda x: x + x, cases, "double") is True
    assert capsys.readouterr().out == "✓ double: 2 cases pass\n"


def test_check_reports_the_smallest_failing_case():
    sizes = [9, 2, 7, 4, 1, 6]
    cases = [(torch.arange(float(n)),) for n in sizes]
    wrong_from_4 = lambda x: x if len(x) < 4 else x + 1  # noqa: E731
    message = fails(checks.check, wrong_from_4, lambda x: x, cases, "identity")
    assert "case 3 of 6" in message and "x = tensor of shape (4,)" in message
    assert "tensor([0., 1., 2., 3.])" in message and "tensor([1., 2., 3., 4.])" in message


def test_check_kinds_of_wrong_output():
    ref = lambda x: x.sum(0)  # noqa: E731
    cases = [(torch.ones(2, 3),)]
    assert "shape (2, 3), expected (3,)" in fails(checks.check, lambda x: x, ref, cases)
    assert "should be a tensor, got list" in fails(checks.check, lambda x: x.sum(0).tolist(), ref, cases)
    assert "wrong values" in fails(checks.check, lambda x: x.sum(0) + 1e-3, ref, cases)
    assert "should be an int, got float" in fails(checks.check, lambda n: n / 1, lambda n: n, [(3,)])
    assert "should be a tuple of length 2" in fails(checks.check, lambda n: n, lambda n: (n, n), [(3,)])


def test_check_reports_the_learners_exception_and_not_implemented():
    def broken(x):
        return x[10]
    message = fails(checks.check, broken, lambda x: x, [(torch.ones(2),)])
    assert "raised IndexError" in message

    def todo(x):
        raise NotImplementedError("Exercise: write your solution here")
    assert "not implemented yet" in fails(checks.check, todo, lambda x: x, [(torch.ones(2),)])


def test_check_never_lets_the_learner_change_the_reference_inputs():
    def sneaky(x):
        x.zero_()  # changes its own copy only
        return x
    assert "wrong values" in fails(checks.check, sneaky, lambda x: x.clone(), [(torch.ones(3),)])


def test_check_rejects_bad_arguments():
    with pytest.raises(TypeError):
        checks.check(42, lambda x: x, [(1,)])
    with pytest.raises(ValueError):
        checks.check(lambda x: x, lambda x: x, [])


# -- the named checks ----------------------------------------------------------------------------------------

def recording(fn, log):
    """fn, logging the number of tensor elements of each call's inputs."""
    def wrapper(*args, **kwargs):
        log.append(sum(a.numel() for a in args if isinstance(a, torch.Tensor)))
        return fn(*args, **kwargs)
    wrapper.__signature__ = inspect.signature(fn)
    return wrapper


NAMED = [
    (checks.check_corr2d, corr2d),
    (checks.check_corr2d_multi_in, corr2d_multi_in),
    (checks.check_corr2d_multi_in_out, corr2d_multi_in_out),
    (checks.check_conv2d, conv2d),
    (checks.check_conv_output_size, conv_output_size),
    (checks.check_pool2d, pool2d),
    (checks.check_batch_norm, batch_norm),
]


@pytest.mark.parametrize("check, right", NAMED, ids=lambda v: getattr(v, "__name__", ""))
def test_named_check_passes_the_right_answer_and_runs_cases_smallest_first(check, right, capsys):
    log = []
    assert check(recording(right, log), forbid=()) is True
    assert capsys.readouterr().out.startswith("✓ ")
    if check is not checks.check_conv_output_size:
        assert log == sorted(log) and len(log) >= 10


@pytest.mark.parametrize("check, right", NAMED, ids=lambda v: getattr(v, "__name__", ""))
def test_named_check_fails_on_returning_the_input_and_on_not_implemented(check, right):
    fails(check, lambda *args, **kwargs: args[0])

    def todo(*args, **kwargs):
        raise NotImplementedError
    assert "not implemented yet" in fails(check, todo)


def test_named_checks_are_reproducible():
    def wrong(X, K):
        return corr2d(X, K.flip(0, 1))
    assert fails(checks.check_corr2d, wrong) == fails(checks.check_corr2d, wrong)


WRONG_CORR2D = {
    "flipped kernel (a true convolution)": lambda X, K: corr2d(X, K.flip(0, 1)),
    "one row and column short": lambda X, K: corr2d(X, K)[:-1, :-1] if min(X.shape) > min(K.shape) else corr2d(X, K),
    "transposed": lambda X, K: corr2d(X.T, K.T).T.contiguous().T if X.shape[0] != X.shape[1] else corr2d(X, K),
    "square kernels only": lambda X, K: corr2d(X, K[:, :1].expand(-1, K.shape[0]) if K.shape[0] <= X.shape[1] else K),
    "mean instead of sum": lambda X, K: corr2d(X, K) / K.numel(),
    "a list": lambda X, K: corr2d(X, K).tolist(),
}


@pytest.mark.parametrize("wrong", WRONG_CORR2D.values(), ids=WRONG_CORR2D.keys())
def test_check_corr2d_catches(wrong):
    fails(checks.check_corr2d, wrong)


def test_check_corr2d_shows_the_smallest_failing_input():
    def wrong_on_wide_kernels(X, K):
        return corr2d(X, K) if K.shape[1] < 3 else corr2d(X, K) + 1
    message = fails(checks.check_corr2d, wrong_on_wide_kernels)
    shapes = [tuple(map(int, s.split(", "))) for s in __import__("re").findall(r"K = tensor of shape \(([\d, ]+)\)", message)]
    assert len(shapes) == 1 and shapes[0][1] >= 3
    x_shape = __import__("re").search(r"X = tensor of shape \((\d+), (\d+)\)", message).groups()
    # the fixed 3x3 ramp with a 3x3 kernel (18 elements) is the smallest case with a kernel of width 3 or more
    assert tuple(map(int, x_shape)) == (3, 3) and shapes[0] == (3, 3)


@pytest.mark.parametrize("wrong", [
    lambda X, K: corr2d(X[0], K[0]),
    lambda X, K: sum(corr2d(x, k) for x, k in zip(X, K)) / X.shape[0],
    lambda X, K: sum(corr2d(x, k.flip(0, 1)) for x, k in zip(X, K)),
])
def test_check_corr2d_multi_in_catches(wrong):
    fails(checks.check_corr2d_multi_in, wrong)


@pytest.mark.parametrize("wrong", [
    lambda X, K: corr2d_multi_in_out(X, K).sum(0),
    lambda X, K: corr2d_multi_in_out(X, K.flip(0)),
    lambda X, K: corr2d_multi_in_out(X, K).transpose(-1, -2) if X.shape[1] == X.shape[2] else corr2d_multi_in_out(X, K).transpose(0, 1),
    lambda X, K: torch.stack([corr2d_multi_in(X, K[0])] * K.shape[0]),
])
def test_check_corr2d_multi_in_out_catches(wrong):
    fails(checks.check_corr2d_multi_in_out, wrong)


@pytest.mark.parametrize("wrong", [
    lambda X, W, b=None, stride=1, padding=0, dilation=1: F.conv2d(X, W, b, stride, padding),  # no dilation
    lambda X, W, b=None, stride=1, padding=0, dilation=1: F.conv2d(X, W, None, stride, padding, dilation),  # no bias
    lambda X, W, b=None, stride=1, padding=0, dilation=1: F.conv2d(X, W.flip(-1, -2), b, stride, padding, dilation),
    lambda X, W, b=None, stride=1, padding=0, dilation=1: F.conv2d(
        X, W, b, stride if isinstance(stride, int) else stride[0], padding, dilation),  # first stride only
    lambda X, W, b=None, stride=1, padding=0, dilation=1: F.conv2d(
        F.pad(X, (0, 2 * padding, 0, 2 * padding)) if isinstance(padding, int) else F.pad(
            X, (0, 2 * padding[1], 0, 2 * padding[0])), W, b, stride, 0, dilation),  # pads one side only
])
def test_check_conv2d_catches(wrong):
    fails(checks.check_conv2d, wrong)


def int_only_output_size(size, kernel, padding=0, stride=1, dilation=1):
    return (size + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1


@pytest.mark.parametrize("wrong", [
    lambda n, k, padding=0, stride=1, dilation=1: math.ceil((n + 2 * padding - dilation * (k - 1) - 1) / stride) + 1,
    lambda n, k, padding=0, stride=1, dilation=1: (n + 2 * padding - k) // stride + 1,  # forgets dilation
    lambda n, k, padding=0, stride=1, dilation=1: (n + 2 * padding - dilation * (k - 1) - 1) / stride + 1,
    lambda n, k, padding=0, stride=1, dilation=1: (n + padding - dilation * (k - 1) - 1) // stride + 1,
    lambda n, k, padding=0, stride=1, dilation=1: (n + 2 * padding - dilation * (k - 1)) // stride,
])
def test_check_conv_output_size_catches(wrong):
    fails(checks.check_conv_output_size, wrong, pairs=False)


def test_check_conv_output_size_pairs_option():
    assert checks.check_conv_output_size(int_only_output_size, pairs=False)
    message = fails(checks.check_conv_output_size, int_only_output_size, pairs=True)
    assert "size = (" in message and "raised TypeError" in message


@pytest.mark.parametrize("wrong", [
    lambda X, k, stride=None, padding=0, mode="max": pool2d(X, k, stride or 1, padding, mode),  # stride default 1
    lambda X, k, stride=None, padding=0, mode="max": pool2d(X, k, stride, padding, "max"),  # ignores mode
    lambda X, k, stride=None, padding=0, mode="max": (  # average without the padded zeros
        F.avg_pool2d(X.unsqueeze(0), k, stride, padding, count_include_pad=False)[0]
        if mode == "avg" else pool2d(X, k, stride, padding, mode)),
    lambda X, k, stride=None, padding=0, mode="max": (  # max pads with zeros
        pool2d(F.pad(X, (padding, padding, padding, padding)) if isinstance(padding, int)
               else F.pad(X, (padding[1], padding[1], padding[0], padding[0])), k, stride, 0, mode)),
])
def test_check_pool2d_catches(wrong):
    fails(checks.check_pool2d, wrong)


def bn_variant(X, gamma, beta, moving_mean, moving_var, eps=1e-5, momentum=0.1, training=True, *,
               normalise_unbiased=False, running_biased=False, swap_momentum=False, batch_stats_in_eval=False):
    """batch_norm with one chosen mistake."""
    dims = (0,) if X.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if X.ndim == 2 else (1, -1, 1, 1)
    m = momentum if not swap_momentum else 1 - momentum
    if training or batch_stats_in_eval:
        mean = X.mean(dims)
        var = X.var(dims, correction=1 if normalise_unbiased else 0)
        running = X.var(dims, correction=0 if running_biased else 1)
        new_mean, new_var = (1 - m) * moving_mean + m * mean, (1 - m) * moving_var + m * running
        if not training:
            new_mean, new_var = moving_mean, moving_var
    else:
        mean, var, new_mean, new_var = moving_mean, moving_var, moving_mean, moving_var
    Y = gamma.reshape(shape) * (X - mean.reshape(shape)) / torch.sqrt(var.reshape(shape) + eps) + beta.reshape(shape)
    return Y, new_mean, new_var


def test_bn_variant_without_mistakes_is_right():
    assert checks.check_batch_norm(bn_variant)


@pytest.mark.parametrize("mistake", ["normalise_unbiased", "running_biased", "swap_momentum", "batch_stats_in_eval"])
def test_check_batch_norm_catches(mistake):
    fails(checks.check_batch_norm, lambda *args, **kwargs: bn_variant(*args, **kwargs, **{mistake: True}))


def test_check_batch_norm_catches_missing_outputs():
    message = fails(checks.check_batch_norm, lambda *args, **kwargs: batch_norm(*args, **kwargs)[0])
    assert "should be a tuple of length 3" in message


def _rf_recurrence(layers, use_dilation=True, use_jump=True):
    size, jump = 1, 1
    for kernel, stride, dilation in layers:
        size += (kernel - 1) * (dilation if use_dilation else 1) * (jump if use_jump else 1)
        jump *= stride
    return size


def test_check_receptive_field_passes_the_recurrence_and_catches_common_mistakes():
    assert checks.check_receptive_field(_rf_recurrence)
    assert checks.check_receptive_field(_rf_recurrence, seed=1)
    with pytest.raises(AssertionError, match=r"layers = \[\(3, 1, 2\)\]"):  # forgot the dilation
        checks.check_receptive_field(lambda layers: _rf_recurrence(layers, use_dilation=False))
    # forgot that strides multiply the jump
    with pytest.raises(AssertionError, match=r"layers = \[\(2, 2, 1\), \(3, 1, 1\)\]\nExpected:\n  6"):
        checks.check_receptive_field(lambda layers: _rf_recurrence(layers, use_jump=False))


# -- no pass by delegation, the learner's name, answers that are values ------------------------------------

def my_pool2d(X, pool_size, stride=None, padding=0, mode="max"):
    """Delegates to PyTorch: what a from-scratch exercise must refuse."""
    pool = F.max_pool2d if mode == "max" else F.avg_pool2d
    flat = X.reshape(-1, 1, *X.shape[-2:])
    Y = pool(flat, pool_size, stride if stride is not None else pool_size, padding)
    return Y.reshape(*X.shape[:-2], *Y.shape[-2:])


DELEGATING = [
    (checks.check_corr2d, lambda X, K: F.conv2d(X[None, None], K[None, None])[0, 0], "aten::conv2d (what F.conv2d runs)"),
    (checks.check_corr2d, lambda X, K: corr2d(X, K), "cnnlib.ops.corr2d"),
    (checks.check_corr2d, corr2d, "cnnlib.ops.corr2d"),
    (checks.check_conv2d, lambda X, w, b=None, stride=1, padding=0, dilation=1: torch.nn.functional.conv2d(
        X, w, b, stride, padding, dilation), "aten::conv2d (what F.conv2d runs)"),
    (checks.check_conv2d, lambda X, w, b=None, stride=1, padding=0, dilation=1: conv2d(X, w, b, stride, padding,
                                                                                      dilation), "cnnlib.ops.conv2d"),
    (checks.check_pool2d, my_pool2d, "aten::max_pool2d (what F.max_pool2d runs)"),
    (checks.check_pool2d, lambda X, p, stride=None, padding=0, mode="max": pool2d(X, p, stride, padding, mode),
     "cnnlib.ops.pool2d"),
    (checks.check_batch_norm, lambda X, g, b, m, v, eps=1e-5, momentum=0.1, training=True: batch_norm(
        X, g, b, m, v, eps, momentum, training), "cnnlib.ops.batch_norm"),
]


@pytest.mark.parametrize("check, fn, library", DELEGATING, ids=[d[2] + str(i) for i, d in enumerate(DELEGATING)])
def test_named_checks_refuse_the_library_version(check, fn, library):
    with pytest.raises(AssertionError, match=f"uses {re.escape(library)}: this exercise asks you to write it without it"):
        check(fn)


def test_batch_norm_check_refuses_F_batch_norm():
    def my_batch_norm(X, gamma, beta, mean, var, eps=1e-5, momentum=0.1, training=True):
        mean, var = mean.clone(), var.clone()
        return F.batch_norm(X, mean, var, gamma, beta, training, momentum, eps), mean, var
    with pytest.raises(AssertionError, match=r"^my_batch_norm uses aten::batch_norm \(what F.batch_norm runs\)"):
        checks.check_batch_norm(my_batch_norm)
    assert checks.check_batch_norm(my_batch_norm, forbid=())  # the same code is right when allowed


def test_forbidding_a_method_and_allowing_cnnlib_ops_inside():
    ref = lambda X: X.mean(dim=(2, 3))  # noqa: E731
    cases = [(torch.randn(2, 3, 4, 4),)]

    def by_mean(X):
        return X.mean(dim=(2, 3))

    def by_pool2d(X):  # pool2d itself averages with mean: cnnlib.ops's own calls still run
        return pool2d(X, tuple(X.shape[-2:]), mode="avg").flatten(1)
    with pytest.raises(AssertionError, match=r"by_mean uses aten::mean \(what Tensor.mean runs\)"):
        checks.check(by_mean, ref, cases, forbid=("Tensor.mean", "torch.mean"))
    assert checks.check(by_pool2d, ref, cases, forbid=("Tensor.mean", "torch.mean"))
    with checks.refusing(["F.conv2d"]) as guard:
        F.relu(torch.ones(1))
    assert guard.used is None


def test_messages_name_the_learners_function():
    def my_corr2d(X, K):
        return corr2d(X, K.flip(0, 1))
    message = fails(checks.check_corr2d, my_corr2d)
    assert message.startswith("my_corr2d is wrong on case")


@pytest.mark.parametrize("stub", [None, ...])
def test_a_function_left_as_none_is_not_implemented(stub):
    assert "not implemented yet" in fails(checks.check_pool2d, stub)


def test_check_answer_says_right_or_wrong_without_the_answer(capsys):
    assert checks.check_answer("conv1_params", 34_944, 34_944)
    assert capsys.readouterr().out == "✓ conv1_params is right\n"
    for wrong, expected_text in [(34_848, "conv1_params is not right. Hint: one bias per kernel"),
                                 (34944.0, "should be an int, got float")]:
        with pytest.raises(AssertionError) as info:
            checks.check_answer("conv1_params", wrong, 34_944, "one bias per kernel")
        assert expected_text in str(info.value) and "34944" not in str(info.value).replace("34944.0", "")
    with pytest.raises(AssertionError, match="not implemented yet"):
        checks.check_answer("conv1_params", None, 34_944)


def test_check_answer_on_lists_names_the_wrong_entries_only():
    with pytest.raises(AssertionError) as info:
        checks.check_answer("predicted", [(1, 6, 24, 24), [8, 16, 30, 30], (2, 4, 8, 9)],
                            [(1, 6, 24, 24), (8, 16, 30, 30), (2, 4, 8, 8)], "k - 1")
    message = str(info.value)
    assert "1 of 3 entries are wrong (entry 2" in message and "(2, 4, 8, 8)" not in message
    with pytest.raises(AssertionError, match="a list of 3 entries, got 2 entries"):
        checks.check_answer("predicted", [(1,), (2,)], [(1,), (2,), (3,)])


def test_check_shapes_runs_the_layers_itself():
    cases = [((1, 1, 28, 28), torch.nn.Conv2d(1, 6, 5)), ((1, 3, 8, 8), torch.nn.MaxPool2d(2))]
    assert checks.check_shapes("predicted_shapes", [(1, 6, 24, 24), (1, 3, 4, 4)], cases)
    with pytest.raises(AssertionError, match="entry 0") as info:
        checks.check_shapes("predicted_shapes", [(1, 6, 28, 28), (1, 3, 4, 4)], cases)
    assert "24" not in str(info.value)


def test_check_receptive_field_with_kernel_stride_pairs():
    def pairs(layers):
        return _rf_recurrence([(k, s, 1) for k, s in layers])
    assert checks.check_receptive_field(pairs, dilation=False)
    with pytest.raises(AssertionError, match="layers = "):
        checks.check_receptive_field(lambda layers: 1 + sum(k - 1 for k, s in layers), dilation=False)


def test_check_answer_on_a_tensor_says_where_it_differs():
    with pytest.raises(AssertionError, match=r"has shape \(2,\), expected \(1, 2\)"):
        checks.check_answer("mean_image", torch.zeros(2), torch.zeros(1, 2))


def test_check_properties_can_forbid_calls():
    def my_dropout(x, p):
        return F.dropout(x, p)
    with pytest.raises(AssertionError, match=r"my_dropout uses aten::dropout \(what F.dropout runs\)"):
        checks.check_properties("my_dropout", my_dropout, [("it keeps the shape", lambda f: f(torch.ones(3), 0.5).shape == (3,))],
                                forbid=("F.dropout",))


def test_check_properties():
    props = [("it returns a tensor", lambda f: isinstance(f(1), torch.Tensor)), ("f(1) is 2", lambda f: f(1) == 2)]
    assert checks.check_properties("f", lambda x: torch.tensor(x + 1), props)
    with pytest.raises(AssertionError, match="f is not right yet: f\\(1\\) is 2"):
        checks.check_properties("f", lambda x: torch.tensor(x), props)
    with pytest.raises(AssertionError, match="testing that it returns a tensor, your code raised ZeroDivisionError"):
        checks.check_properties("f", lambda x: x / 0, props)

    def todo(x):
        raise NotImplementedError
    for stub in (None, todo):
        with pytest.raises(AssertionError, match="not implemented yet"):
            checks.check_properties("f", stub, props)
