"""Chapter 15's deeper tools: diagnostics callbacks, gradient clipping, gradient accumulation, weight averaging."""

import copy

import pytest
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import cnnlib
from cnnlib.accumulation import GradAccumulation
from cnnlib.averaging import WeightAveraging, ema_update
from cnnlib.data import TensorBatches
from cnnlib.diagnostics import ActivationStats, GradClip, GradNorm, UpdateRatio, global_grad_norm


def _fit(model, batches, callbacks, epochs=1, optimizer=None, **kw):
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=0.1)
    return cnnlib.fit(model, batches, epochs=epochs, optimizer=optimizer, callbacks=callbacks, device="cpu",
                      progress=False, live_plot=False, **kw)


# --- diagnostics ---------------------------------------------------------------------------------------------

def test_global_grad_norm_is_the_norm_of_all_gradients_together():
    model = nn.Linear(3, 2)
    model.weight.grad = torch.full((2, 3), 2.0)
    model.bias.grad = torch.tensor([3.0, 4.0])
    assert global_grad_norm(model).item() == pytest.approx((6 * 4 + 9 + 16) ** 0.5)
    assert global_grad_norm(nn.Linear(3, 2)).item() == 0.0  # no gradients yet


def test_grad_norm_records_every_nth_step(tiny_model, tiny_batches):
    recorder = GradNorm(every=2)
    _fit(tiny_model, tiny_batches, [recorder], epochs=2)
    assert recorder.steps == list(range(2, 2 * len(tiny_batches) + 1, 2))
    assert all(n > 0 for n in recorder.norms)
    with pytest.raises(ValueError, match="every"):
        GradNorm(every=0)


def test_update_ratio_is_the_step_relative_to_the_weights(tiny_model, tiny_batches):
    ratio = UpdateRatio(every=3)
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1)
    _fit(tiny_model, tiny_batches, [ratio], optimizer=opt)
    assert ratio.steps == [3, 6]
    assert set(ratio.ratios) == {"0.weight", "4.weight"}  # weights only, no biases
    # a ten times larger learning rate gives ten times larger ratios on the first recorded step
    torch.manual_seed(0)
    small, large = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    seen = {}
    for lr, model in ((0.01, small), (0.1, large)):
        r = UpdateRatio(every=1)
        batches = TensorBatches(tiny_batches.images[:16], tiny_batches.labels[:16], 16)
        _fit(model, batches, [r], optimizer=torch.optim.SGD(model.parameters(), lr=lr))
        seen[lr] = r.ratios["4.weight"][0]
    assert seen[0.1] / seen[0.01] == pytest.approx(10, rel=1e-4)


def test_activation_stats_watch_relus_in_training_only(tiny_model, tiny_batches):
    stats = ActivationStats(every=2)
    _fit(tiny_model, tiny_batches, [stats], val=tiny_batches)
    assert list(stats.stats) == ["1"]  # the one ReLU, by its name in the model
    entry = stats.stats["1"]
    assert len(entry["mean"]) == len(stats.steps) == len(tiny_batches) // 2
    assert all(0 <= z <= 1 for z in entry["zero"]) and all(m >= 0 for m in entry["mean"])
    assert all(g > 0 for g in entry["grad_std"])
    assert not tiny_model[1]._forward_hooks  # hooks removed at the end
    # a ReLU fed only negative numbers is dead: every output is zero
    dead = nn.Sequential(nn.Flatten(), nn.Linear(64, 8), nn.ReLU(), nn.Linear(8, 3))
    with torch.no_grad():
        dead[1].weight.zero_()
        dead[1].bias.fill_(-1.0)
    stats = ActivationStats(every=1, modules=[dead[2]])
    _fit(dead, tiny_batches, [stats], optimizer=torch.optim.SGD(dead.parameters(), lr=0.0))
    assert stats.stats["2"]["zero"] == [1.0] * len(tiny_batches)


def test_activation_stats_refuse_foreign_modules_and_models_without_relu(tiny_model, tiny_batches):
    with pytest.raises(ValueError, match="not a module of the model"):
        _fit(tiny_model, tiny_batches, [ActivationStats(modules=[nn.ReLU()])])
    with pytest.raises(ValueError, match="no nn.ReLU"):
        _fit(nn.Sequential(nn.Flatten(), nn.Linear(64, 3)), tiny_batches, [ActivationStats()])


def test_grad_clip_caps_the_gradient_before_each_step(tiny_model, tiny_batches):
    limit = 1e-3
    clip = GradClip(limit)
    seen = []

    class AfterStep(cnnlib.Callback):
        def on_step_end(self, state):
            seen.append(global_grad_norm(state.model).item())  # the gradient the step used

    _fit(tiny_model, tiny_batches, [clip, AfterStep()])
    assert len(clip.norms) == len(tiny_batches) and clip.clipped_fraction == 1.0
    assert max(seen) == pytest.approx(limit, rel=1e-4)
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1)
    _fit(tiny_model, tiny_batches, [GradClip(1e6)], optimizer=opt)
    assert not opt._optimizer_step_pre_hooks  # the hook is removed at the end
    with pytest.raises(ValueError, match="positive"):
        GradClip(0)


def test_a_huge_clip_limit_changes_nothing(tiny_model, tiny_batches):
    plain, clipped = copy.deepcopy(tiny_model), copy.deepcopy(tiny_model)
    for model, cbs in ((plain, []), (clipped, [GradClip(1e9)])):
        cnnlib.seed_everything(0)
        _fit(model, tiny_batches, cbs, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    for a, b in zip(plain.parameters(), clipped.parameters()):
        torch.testing.assert_close(a, b)


# --- gradient accumulation -----------------------------------------------------------------------------------

def _no_bn_net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 3))


@pytest.mark.parametrize("k", [2, 4])
def test_k_micro_batches_equal_one_k_times_larger_batch(tiny_batches, k):
    images, labels = tiny_batches.images, tiny_batches.labels
    big, small = _no_bn_net(), _no_bn_net()
    big_opt = torch.optim.SGD(big.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    small_opt = torch.optim.SGD(small.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    _fit(big, TensorBatches(images, labels, 8 * k), [], epochs=2, optimizer=big_opt)
    acc = GradAccumulation(k)
    _fit(small, TensorBatches(images, labels, 8), [acc], epochs=2, optimizer=small_opt)
    assert acc.micro == 2 * 96 // 8 and acc.optimizer_steps == 2 * 96 // (8 * k)
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    # the optimizer is itself again afterwards
    assert "step" not in vars(small_opt) and "zero_grad" not in vars(small_opt)


def test_accumulation_of_one_is_plain_training_and_differs_from_no_accumulation_for_k_above_one(tiny_batches):
    plain, one, two = _no_bn_net(), _no_bn_net(), _no_bn_net()
    for model, cbs in ((plain, []), (one, [GradAccumulation(1)]), (two, [GradAccumulation(2)])):
        cnnlib.seed_everything(0)  # the same shuffling
        _fit(model, tiny_batches, cbs, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    torch.testing.assert_close(plain[3].weight, one[3].weight)
    assert not torch.allclose(plain[3].weight, two[3].weight)


def test_accumulation_keeps_a_schedulers_wrapper_and_refuses_bad_k(tiny_batches):
    model = _no_bn_net()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=100)  # wraps opt.step on the object
    wrapped = vars(opt).get("step")
    _fit(model, tiny_batches, [GradAccumulation(2), cnnlib.LRSchedule(schedule)], optimizer=opt)
    assert vars(opt).get("step") is wrapped
    for bad in (0, 1.5, "2"):
        with pytest.raises(ValueError, match="positive int"):
            GradAccumulation(bad)
    with pytest.raises(ValueError, match="already accumulates"):
        _fit(model, tiny_batches, [GradAccumulation(2), GradAccumulation(2)], optimizer=opt)


# --- weight averaging ----------------------------------------------------------------------------------------

def test_ema_update_matches_torch_swa_utils():
    torch.manual_seed(0)
    a, w = [torch.randn(3, 2), torch.randn(4)], [torch.randn(3, 2), torch.randn(4)]
    ours = [t.clone() for t in a]
    ema_update(ours, w, 0.9)
    reference = [t.clone() for t in a]
    get_ema_multi_avg_fn(0.9)(reference, w, None)
    for x, y in zip(ours, reference):
        torch.testing.assert_close(x, y)
    torch.testing.assert_close(ours[1], 0.9 * a[1] + 0.1 * w[1])
    with pytest.raises(ValueError, match="decay"):
        ema_update(ours, w, 1.5)
    with pytest.raises(ValueError, match="tensors"):
        ema_update(ours, w[:1], 0.5)


def test_ema_callback_follows_the_weights_step_by_step(tiny_model, tiny_batches):
    decay = 0.8
    shadow = [p.detach().clone() for p in tiny_model.parameters()]

    class Follow(cnnlib.Callback):
        def on_step_end(self, state):
            if state.step > 1:
                ema_update(shadow, list(state.model.parameters()), decay)
            else:
                for s, p in zip(shadow, state.model.parameters()):
                    s.copy_(p.detach())

    ema = WeightAveraging("ema", decay=decay, val=tiny_batches)
    _fit(tiny_model, tiny_batches, [ema, Follow()], epochs=2, val=tiny_batches)
    for s, p in zip(shadow, ema.averaged.module.parameters()):
        torch.testing.assert_close(s, p)
    assert ema.epochs == [1, 2] and len(ema.val_acc) == 2
    assert not torch.allclose(shadow[0], tiny_model[0].weight)  # the average lags the weights


def test_swa_is_the_mean_of_the_epochs_weights_with_batch_norm_recomputed(tiny_batches):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                          nn.Flatten(), nn.Linear(16, 3))
    ends = []

    class Keep(cnnlib.Callback):
        def on_epoch_end(self, state):
            ends.append([p.detach().clone() for p in state.model.parameters()])

    swa = WeightAveraging("swa", start_epoch=1, train=tiny_batches, val=tiny_batches)
    _fit(model, tiny_batches, [swa, Keep()], epochs=3, val=tiny_batches)
    assert swa.averaged.n_averaged.item() == 2 and swa.epochs == [2, 3]
    for i, p in enumerate(swa.averaged.module.parameters()):
        torch.testing.assert_close(p, (ends[1][i] + ends[2][i]) / 2)
    assert not torch.allclose(swa.averaged.module[1].running_mean, model[1].running_mean)  # recomputed


def test_weight_averaging_refuses_bad_settings():
    for kwargs, match in ((dict(kind="mean"), "kind"), (dict(decay=1.0), "decay"), (dict(every=0), "every"),
                          (dict(start_epoch=-1), "start_epoch"), (dict(kind="swa", val=[]), "train=")):
        with pytest.raises(ValueError, match=match):
            WeightAveraging(**kwargs)
    assert isinstance(WeightAveraging().averaged, type(None))
    assert AveragedModel  # the class the callback keeps
