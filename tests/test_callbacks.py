"""The extension point of fit: schedules per step, batch transforms, early stopping, and errors that keep work."""

import math

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.train import Callback


def test_per_step_schedule_through_fit_matches_torch_step_by_step(tiny_model, tiny_batches):
    epochs, steps = 3, len(tiny_batches)
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1, momentum=0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=epochs * steps)
    recorder = cnnlib.LRSchedule(schedule)
    cnnlib.fit(tiny_model, tiny_batches, epochs=epochs, optimizer=opt, callbacks=[recorder], device="cpu",
               progress=False)
    reference_opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)
    reference = torch.optim.lr_scheduler.OneCycleLR(reference_opt, max_lr=0.5, total_steps=epochs * steps)
    expected = []
    for _ in range(epochs * steps):
        expected.append(reference.get_last_lr()[0])
        reference_opt.step()
        reference.step()
    assert len(recorder.lrs) == epochs * steps
    assert recorder.lrs == pytest.approx(expected, rel=1e-12)
    assert recorder.lrs[0] < recorder.lrs[len(expected) // 3] > recorder.lrs[-1]  # warm up, then anneal


def test_the_lr_each_step_trained_with_is_the_one_the_optimizer_used(tiny_model, tiny_batches):
    seen = []

    class Spy(Callback):
        def on_batch(self, state, X, y):  # before the step: the rate this step will use
            seen.append(state.optimizer.param_groups[0]["lr"])
            return X, y

    opt = torch.optim.SGD(tiny_model.parameters(), lr=1.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1 / (step + 1))
    recorder = cnnlib.LRSchedule(schedule)
    cnnlib.fit(tiny_model, tiny_batches, epochs=2, optimizer=opt, callbacks=[recorder, Spy()], device="cpu",
               progress=False)
    assert seen == pytest.approx(recorder.lrs) and seen[:3] == pytest.approx([1, 1 / 2, 1 / 3])


def test_per_epoch_scheduler_argument_still_steps_once_per_epoch(tiny_model, tiny_batches):
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.4)
    schedule = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    cnnlib.fit(tiny_model, tiny_batches, epochs=3, optimizer=opt, scheduler=schedule, device="cpu", progress=False)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)


@pytest.mark.parametrize("make", [
    lambda opt, n: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=n - 1),
    lambda opt, n: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n // 2),
    lambda opt, n: torch.optim.lr_scheduler.SequentialLR(
        opt, [torch.optim.lr_scheduler.LinearLR(opt, 0.1, total_iters=2),
              torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=n - 5)], milestones=[2]),
])
def test_a_schedule_that_ends_before_training_is_refused_before_any_step(tiny_model, tiny_batches, make):
    opt = torch.optim.SGD(tiny_model.parameters(), lr=0.1)
    schedule = make(opt, 2 * len(tiny_batches))
    before = tiny_model[0].weight.clone()
    with pytest.raises(ValueError, match=r"scheduler ends after \d+ steps but training needs 12"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=2, optimizer=opt, callbacks=[cnnlib.LRSchedule(schedule)],
                   device="cpu", progress=False)
    assert torch.equal(before, tiny_model[0].weight)


def test_schedule_for_another_optimizer_is_refused(tiny_model, tiny_batches):
    other = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    schedule = torch.optim.lr_scheduler.StepLR(other, step_size=1)
    with pytest.raises(ValueError, match="another optimizer"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, lr=0.1, callbacks=[cnnlib.LRSchedule(schedule)],
                   device="cpu", progress=False)
    with pytest.raises(ValueError, match="per must be"):
        cnnlib.LRSchedule(schedule, per="batch")


def test_batch_transform_sees_training_batches_only(tiny_model, tiny_batches):
    counts = {"n": 0}

    def count(X, y):
        counts["n"] += len(y)
        return X.flip(-1), y

    cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=2, lr=0.1, callbacks=[cnnlib.BatchTransform(count)],
               device="cpu", progress=False)
    assert counts["n"] == 2 * len(tiny_batches.labels)
    with pytest.raises(TypeError, match="callable"):
        cnnlib.BatchTransform("flip")


def test_soft_targets_from_mixup_train_and_count_accuracy(tiny_model, tiny_batches):
    mix = cnnlib.BatchTransform(lambda X, y: cnnlib.augment.mixup(X, y, num_classes=3, alpha=0.4))
    history = cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=4, lr=0.5, callbacks=[mix], device="cpu",
                         progress=False)
    assert 0 <= history.train_acc[-1] <= 1 and history.val_acc[-1] > 0.6


def test_early_stopping_stops_and_restores_the_best_epoch(tiny_model, tiny_batches):
    class WorseEachEpoch(Callback):
        """Fake validation results: best in epoch 2, then worse."""

        def on_epoch_end(self, state):
            state.history.val_acc[-1] = [0.5, 0.9, 0.8, 0.7, 0.6, 0.5][len(state.history) - 1]
            if len(state.history) == 2:
                self.best = {k: v.clone() for k, v in state.model.state_dict().items()}

    fake = WorseEachEpoch()
    stopper = cnnlib.EarlyStopping(patience=2)
    history = cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=6, lr=0.5, callbacks=[fake, stopper],
                         device="cpu", progress=False)
    assert len(history) == 4 and stopper.best_epoch == 2
    assert all(torch.equal(v, fake.best[k]) for k, v in tiny_model.state_dict().items())
    with pytest.raises(ValueError, match="needs validation data"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, lr=0.1, callbacks=[cnnlib.EarlyStopping()], device="cpu",
                   progress=False)


def test_an_error_mid_run_keeps_the_finished_epochs(tiny_model, tiny_batches):
    class FailInEpoch3(Callback):
        def on_batch(self, state, X, y):
            if state.epoch == 2:
                raise RuntimeError("a bad batch")
            return X, y

    with pytest.raises(RuntimeError, match="a bad batch") as error:
        cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=5, lr=0.1, callbacks=[FailInEpoch3()],
                   device="cpu", progress=False)
    history = error.value.history
    assert len(history) == 2 and len(history.val_acc) == 2
    assert "error.history" in "".join(error.value.__notes__)
    assert tiny_model.training


def test_nan_loss_restores_the_last_finished_epoch(tiny_model, tiny_batches):
    class BlowUp(Callback):
        def on_epoch_end(self, state):
            if len(state.history) == 2:
                self.good = {k: v.clone() for k, v in state.model.state_dict().items()}
                state.optimizer.param_groups[0]["lr"] = 1e30

    blow = BlowUp()
    with pytest.raises(FloatingPointError) as error:
        cnnlib.fit(tiny_model, tiny_batches, epochs=5, lr=0.1, callbacks=[blow], device="cpu", progress=False)
    assert len(error.value.history) == 2
    assert all(torch.equal(v, blow.good[k]) for k, v in tiny_model.state_dict().items())


def test_interrupt_during_validation_leaves_even_lists_and_train_mode(tiny_model, tiny_batches):
    class StopInValidation:
        def __init__(self):
            self.calls = 0

        def __iter__(self):
            self.calls += 1
            if self.calls == 2:
                raise KeyboardInterrupt
            return iter(tiny_batches)

    history = cnnlib.fit(tiny_model, tiny_batches, StopInValidation(), epochs=3, lr=0.1, device="cpu",
                         progress=False)
    assert history.interrupted and len(history) == 1
    assert len(history.train_loss) == len(history.val_loss) == len(history.seconds) == 1
    assert tiny_model.training


def test_bad_setups_are_refused_with_the_argument_named(tiny_model, tiny_batches):
    other = nn.Linear(2, 2)
    with pytest.raises(ValueError, match="none of the model's parameters"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, optimizer=torch.optim.SGD(other.parameters(), lr=0.1),
                   device="cpu", progress=False)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, loss_fn=nn.CrossEntropyLoss(label_smoothing=1.0),
                   device="cpu", progress=False)
    with pytest.raises(ValueError, match="label_smoothing must lie in"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, loss_fn=nn.CrossEntropyLoss(label_smoothing=-0.1),
                   device="cpu", progress=False)
    with pytest.raises(ValueError, match="updates_per_epoch"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, updates_per_epoch=0, device="cpu", progress=False)
    with pytest.raises(TypeError, match="one-shot iterator"):
        cnnlib.fit(tiny_model, (b for b in tiny_batches), epochs=2, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"labels must be class indices in \[0, 2\].*from 0 to 7"):
        bad = [(torch.zeros(4, 1, 8, 8), torch.tensor([0, 1, 7, 2]))]
        cnnlib.fit(tiny_model, bad, epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match=r"from -100 to"):
        bad = [(torch.zeros(4, 1, 8, 8), torch.tensor([-100, 1, 1, 2]))]
        cnnlib.fit(tiny_model, bad, epochs=1, device="cpu", progress=False)


def test_one_epoch_from_a_generator_is_allowed(tiny_model, tiny_batches):
    history = cnnlib.fit(tiny_model, (b for b in tiny_batches), epochs=1, lr=0.1, device="cpu", progress=False)
    assert len(history) == 1


def test_predict_and_evaluate_restore_mode_and_refuse_empty_data(tiny_model, tiny_batches):
    tiny_model.train()

    class Boom:
        def __iter__(self):
            yield next(iter(tiny_batches))
            raise KeyboardInterrupt

    for run in (cnnlib.predict, cnnlib.evaluate):
        with pytest.raises(KeyboardInterrupt):
            run(tiny_model, Boom(), "cpu")
        assert tiny_model.training
    with pytest.raises(ValueError, match="predict got no batches"):
        cnnlib.predict(tiny_model, [], "cpu")


def test_running_curve_is_recorded_at_each_progress_update(tiny_model, tiny_batches):
    history = cnnlib.fit(tiny_model, tiny_batches, epochs=2, lr=0.1, device="cpu", progress=False,
                         updates_per_epoch=3)
    positions = [p for p, *_ in history.running]
    assert positions == pytest.approx([1 / 3, 2 / 3, 1, 4 / 3, 5 / 3, 2])
    assert all(lr == 0.1 and 0 <= acc <= 1 and math.isfinite(loss) for _, loss, acc, lr in history.running)


def bn_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten(), nn.Linear(16, 3))


def test_bn_stats_probe_measures_three_ways_on_copies(tiny_batches):
    import copy

    from torch.optim.swa_utils import update_bn

    from cnnlib.callbacks import batch_statistics_accuracy

    val = cnnlib.data.TensorBatches(tiny_batches.images[:32], tiny_batches.labels[:32], batch_size=16)
    probe = cnnlib.BNStatsProbe(tiny_batches, val)
    probed, plain = bn_model(), bn_model()
    torch.manual_seed(1)
    history = cnnlib.fit(probed, tiny_batches, val, epochs=2, lr=0.5, callbacks=[probe], device="cpu",
                         progress=False, live_plot=False)
    torch.manual_seed(1)
    cnnlib.fit(plain, tiny_batches, val, epochs=2, lr=0.5, device="cpu", progress=False, live_plot=False)
    assert all(torch.equal(a, b) for a, b in zip(probed.state_dict().values(), plain.state_dict().values()))
    assert probe.eval_acc == history.val_acc and len(probe.batch_acc) == len(probe.recomputed_acc) == 2
    fresh = copy.deepcopy(probed)
    assert probe.batch_acc[-1] == batch_statistics_accuracy(copy.deepcopy(probed), val)
    update_bn(tiny_batches, fresh)
    assert probe.recomputed_acc[-1] == cnnlib.evaluate(fresh, val)[1]


def test_bn_stats_probe_needs_a_validation_set(tiny_batches):
    probe = cnnlib.BNStatsProbe(tiny_batches, tiny_batches)
    with pytest.raises(ValueError, match="BNStatsProbe reads fit's validation accuracy"):
        cnnlib.fit(bn_model(), tiny_batches, None, epochs=1, callbacks=[probe], device="cpu", progress=False,
                   live_plot=False)


class _Slow(cnnlib.Callback):
    """Each step takes at least ``seconds``: a known lower bound for the time estimate."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, state):
        import time

        time.sleep(self.seconds)


def test_time_estimate_is_measured_from_the_first_steps_and_printed_once(tiny_model, tiny_batches, capsys):
    estimate = cnnlib.TimeEstimate(warmup=1, steps=3, seconds=0.0, min_seconds=0.0, hint="try fewer epochs")
    cnnlib.fit(tiny_model, tiny_batches, epochs=2, lr=0.5, device="cpu", progress=False,
               callbacks=[_Slow(0.01), estimate])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Estimated training time")]
    assert len(lines) == 1 and "for 2 epoch(s)" in lines[0] and "measured over 3 steps" in lines[0]
    assert lines[0].endswith("Try fewer epochs.")
    steps = 2 * len(tiny_batches)
    assert estimate.estimate >= 0.01 * steps  # every step slept 10 ms


def test_time_estimate_stays_quiet_for_short_runs_and_fit_adds_one_with_progress(tiny_model, tiny_batches, capsys,
                                                                                 monkeypatch):
    import cnnlib.train as train

    added = []
    monkeypatch.setattr(train, "TimeEstimate", lambda: added.append(cnnlib.TimeEstimate()) or added[-1])
    cnnlib.fit(tiny_model, tiny_batches, epochs=2, lr=0.5, device="cpu", progress=True)
    assert len(added) == 1 and (added[0].estimate is None or added[0].estimate < 60)
    assert "Estimated training time" not in capsys.readouterr().out  # a second-long run needs no warning
    cnnlib.fit(tiny_model, tiny_batches, epochs=1, lr=0.5, device="cpu", progress=False)
    assert len(added) == 1  # without progress output, no estimate either


class _FailsAtEnd(cnnlib.Callback):
    def on_fit_end(self, state):
        raise RuntimeError("disk full while writing the report")


class _InterruptsAt(cnnlib.Callback):
    def __init__(self, epoch: int):
        self.epoch = epoch

    def on_epoch_end(self, state):
        if len(state.history) == self.epoch:
            raise KeyboardInterrupt


def test_every_on_fit_end_runs_and_the_first_error_comes_after_with_the_history(tiny_model, tiny_batches):
    stop = cnnlib.EarlyStopping(patience=1)
    ends = []

    class Records(cnnlib.Callback):
        def on_fit_end(self, state):
            ends.append(len(state.history))

    with pytest.raises(RuntimeError, match="disk full") as caught:
        cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=3, lr=0.5, device="cpu", progress=False,
                   callbacks=[_FailsAtEnd(), stop, Records()])
    assert len(ends) == 1  # the callback after the failing one still ran
    assert len(caught.value.history) == ends[0] and "Every callback's on_fit_end ran" in str(caught.value.__notes__)
    best = stop.best_state
    assert all(torch.equal(v, best[k]) for k, v in tiny_model.state_dict().items())  # EarlyStopping restored


def test_ctrl_c_still_returns_the_history_when_an_on_fit_end_fails(tiny_model, tiny_batches):
    with pytest.warns(UserWarning, match="_FailsAtEnd.on_fit_end raised RuntimeError: disk full"):
        history = cnnlib.fit(tiny_model, tiny_batches, epochs=4, lr=0.5, device="cpu", progress=False,
                             callbacks=[_InterruptsAt(2), _FailsAtEnd()])
    assert history.interrupted and len(history) == 2


def test_a_training_error_is_not_replaced_by_an_on_fit_end_error(tiny_model, tiny_batches):
    class Breaks(cnnlib.Callback):
        def on_epoch_end(self, state):
            raise ValueError("bad schedule")

    with pytest.raises(ValueError, match="bad schedule") as caught:
        cnnlib.fit(tiny_model, tiny_batches, epochs=2, lr=0.5, device="cpu", progress=False,
                   callbacks=[Breaks(), _FailsAtEnd()])
    assert any("_FailsAtEnd.on_fit_end raised RuntimeError" in note for note in caught.value.__notes__)


def test_a_callback_that_is_not_a_callback_is_refused_before_training(tiny_model, tiny_batches):
    with pytest.raises(TypeError, match="callbacks must be Callback objects, got <function"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", progress=False, callbacks=[lambda s: None])
