"""batch_norm and BatchNorm against nn.BatchNorm1d/2d: outputs, gradients, running statistics, state_dict."""

import pytest
import torch
from torch import nn

from cnnlib.ops import BatchNorm, batch_norm


def random_shapes(seed: int, count: int = 4):
    """Random 2-D (N, F) and 4-D (N, C, H, W) input shapes."""
    g = torch.Generator().manual_seed(seed)
    for i in range(count):
        n, c = (int(v) for v in torch.randint(2, 9, (2,), generator=g))
        if i % 2:
            yield (n, c)
        else:
            h, w = (int(v) for v in torch.randint(1, 6, (2,), generator=g))
            yield (n, c, h, w)


def reference_for(shape, **kwargs) -> nn.Module:
    return (nn.BatchNorm1d if len(shape) == 2 else nn.BatchNorm2d)(shape[1], **kwargs)


def randomise(*modules: nn.Module, seed: int = 0) -> None:
    """Give the modules the same random, non-trivial parameters and running statistics."""
    g = torch.Generator().manual_seed(seed)
    c = modules[0].weight.shape[0]
    values = {"weight": torch.randn(c, generator=g), "bias": torch.randn(c, generator=g),
              "running_mean": torch.randn(c, generator=g), "running_var": torch.rand(c, generator=g) + 0.5}
    with torch.no_grad():
        for module in modules:
            for name, value in values.items():
                getattr(module, name).copy_(value)


@pytest.mark.parametrize("seed", range(3))
def test_function_matches_torch_in_training(seed):
    for shape in random_shapes(seed):
        X = 3 * torch.randn(shape) + 1
        ref = reference_for(shape, momentum=0.3)
        randomise(ref, seed=seed)
        mean, var = ref.running_mean.clone(), ref.running_var.clone()
        expected = ref(X)
        Y, new_mean, new_var = batch_norm(X, ref.weight, ref.bias, mean, var, momentum=0.3, training=True)
        torch.testing.assert_close(Y, expected)
        torch.testing.assert_close(new_mean, ref.running_mean)
        torch.testing.assert_close(new_var, ref.running_var)
        # the function returns new statistics and leaves its inputs alone
        assert not torch.equal(new_mean, mean)


@pytest.mark.parametrize("seed", range(3))
def test_function_matches_torch_in_eval(seed):
    for shape in random_shapes(seed):
        X = torch.randn(shape)
        ref = reference_for(shape).eval()
        randomise(ref, seed=seed)
        Y, new_mean, new_var = batch_norm(X, ref.weight, ref.bias, ref.running_mean, ref.running_var,
                                          training=False)
        torch.testing.assert_close(Y, ref(X))
        assert torch.equal(new_mean, ref.running_mean) and torch.equal(new_var, ref.running_var)


def test_running_variance_uses_unbiased_estimate():
    X = torch.tensor([[0.0], [2.0]])  # mean 1, biased variance 1, unbiased variance 2
    Y, new_mean, new_var = batch_norm(X, torch.ones(1), torch.zeros(1), torch.zeros(1), torch.ones(1),
                                      eps=1e-12, momentum=1.0)  # 1 + 1e-12 rounds to 1 in float32
    assert Y.flatten().tolist() == [-1.0, 1.0]  # normalised with the biased variance
    assert new_mean.item() == 1.0 and new_var.item() == 2.0


@pytest.mark.parametrize("seed", range(3))
def test_module_matches_torch_over_several_training_steps(seed):
    for shape in random_shapes(seed):
        torch.manual_seed(seed)
        ours, ref = BatchNorm(shape[1], momentum=0.2), reference_for(shape, momentum=0.2)
        randomise(ours, ref, seed=seed)
        for step in range(4):
            X = (step + 1) * torch.randn(shape) + step
            X_ours, X_ref = X.clone().requires_grad_(), X.clone().requires_grad_()
            upstream = torch.randn(shape)
            Y_ours, Y_ref = ours(X_ours), ref(X_ref)
            torch.testing.assert_close(Y_ours, Y_ref)
            (Y_ours * upstream).sum().backward()
            (Y_ref * upstream).sum().backward()
            torch.testing.assert_close(X_ours.grad, X_ref.grad)
            torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
            torch.testing.assert_close(ours.bias.grad, ref.bias.grad)
            torch.testing.assert_close(ours.running_mean, ref.running_mean)
            torch.testing.assert_close(ours.running_var, ref.running_var)
        assert ours.num_batches_tracked.item() == ref.num_batches_tracked.item() == 4
        assert not ours.running_mean.requires_grad and not ours.running_var.requires_grad

        ours.eval(), ref.eval()
        X = torch.randn(shape, requires_grad=True)
        X_ref = X.detach().clone().requires_grad_()
        torch.testing.assert_close(ours(X), ref(X_ref))
        ours(X).sum().backward()
        ref(X_ref).sum().backward()
        torch.testing.assert_close(X.grad, X_ref.grad)


def test_mode_follows_module_training_not_grad_mode():
    bn = BatchNorm(3)
    X = torch.randn(8, 3) * 5 + 2
    with torch.no_grad():
        bn(X)  # training mode: batch statistics, running statistics updated even without gradients
    assert bn.num_batches_tracked.item() == 1 and not torch.equal(bn.running_mean, torch.zeros(3))
    bn.eval()
    before = bn.running_mean.clone()
    Y = bn(X)  # eval mode with gradients on: running statistics used and left alone
    assert torch.equal(bn.running_mean, before) and bn.num_batches_tracked.item() == 1
    expected = (X - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps)
    torch.testing.assert_close(Y, expected)


def test_state_dict_round_trip_with_torch(tmp_path):
    torch.manual_seed(0)
    ref = nn.BatchNorm2d(4)
    randomise(ref)
    ref.train()
    ref(torch.randn(6, 4, 3, 3))  # also moves num_batches_tracked
    torch.save(ref.state_dict(), tmp_path / "torch_bn.pt")

    ours = BatchNorm(4)
    ours.load_state_dict(torch.load(tmp_path / "torch_bn.pt", weights_only=True))  # strict: same names and shapes
    assert ours.state_dict().keys() == ref.state_dict().keys()
    X = torch.randn(5, 4, 2, 2)
    ours.eval(), ref.eval()
    torch.testing.assert_close(ours(X), ref(X))
    assert ours.num_batches_tracked.item() == 1

    ours.train()
    ours(torch.randn(6, 4, 3, 3) * 2)
    torch.save(ours.state_dict(), tmp_path / "ours_bn.pt")
    back = nn.BatchNorm2d(4)
    back.load_state_dict(torch.load(tmp_path / "ours_bn.pt", weights_only=True))
    for name, value in ours.state_dict().items():
        assert torch.equal(back.state_dict()[name], value), name
    back.eval(), ours.eval()
    torch.testing.assert_close(back(X), ours(X))


def test_module_parameters_and_buffers_match_torch():
    ours, ref = BatchNorm(5), nn.BatchNorm1d(5)
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in ref.named_parameters()]
    assert [(n, b.shape, b.dtype) for n, b in ours.named_buffers()] == \
           [(n, b.shape, b.dtype) for n, b in ref.named_buffers()]
    assert "5, eps=1e-05, momentum=0.1" in repr(ours)


@pytest.mark.parametrize("shape", [(4,), (2, 3, 4), (2, 3, 4, 4, 4)])
def test_wrong_ndim_raises(shape):
    ones, zeros = torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match="2-D .* or 4-D"):
        batch_norm(torch.zeros(shape), ones, zeros, zeros, ones)
    with pytest.raises(ValueError, match="2-D .* or 4-D"):
        BatchNorm(3)(torch.zeros(shape))


def test_mismatched_features_raise():
    ones, zeros = torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match="gamma must have shape \\(4,\\)"):
        batch_norm(torch.zeros(2, 4), ones, zeros, zeros, ones)
    with pytest.raises(ValueError, match="moving_var must have shape \\(3,\\)"):
        batch_norm(torch.zeros(2, 3), ones, zeros, zeros, torch.ones(3, 1))
    with pytest.raises(ValueError, match="BatchNorm\\(3\\) got input of shape \\(2, 5, 4, 4\\) with 5 features"):
        BatchNorm(3)(torch.zeros(2, 5, 4, 4))


def test_bad_settings_raise():
    ones, zeros = torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match="more than one value per feature"):
        batch_norm(torch.zeros(1, 3), ones, zeros, zeros, ones)
    batch_norm(torch.zeros(1, 3), ones, zeros, zeros, ones, training=False)  # fine in eval
    with pytest.raises(ValueError, match="momentum"):
        batch_norm(torch.zeros(2, 3), ones, zeros, zeros, ones, momentum=1.5)
    with pytest.raises(ValueError, match="eps"):
        batch_norm(torch.zeros(2, 3), ones, zeros, zeros, ones, eps=-1.0)
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match="num_features"):
            BatchNorm(bad)
    with pytest.raises(ValueError, match="momentum"):
        BatchNorm(3, momentum=None)


@pytest.mark.parametrize("eps", [0.0, float("nan"), float("inf"), -1e-5])
def test_eps_must_be_positive_and_finite(eps):
    ones, zeros = torch.ones(3), torch.zeros(3)
    with pytest.raises(ValueError, match="eps must be a positive, finite number"):
        batch_norm(torch.randn(4, 3), ones, zeros, zeros, ones, eps=eps)
    with pytest.raises(ValueError, match="eps must be a positive, finite number"):
        BatchNorm(3, eps=eps)
