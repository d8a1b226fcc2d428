import math

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.data import TensorBatches


def test_fit_learns_an_easy_problem_and_records_history(tiny_model, tiny_batches, capsys):
    history = cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=8, lr=0.5, device="cpu", progress=False)
    assert len(history) == 8 and not history.interrupted
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "examples_per_sec"):
        assert len(getattr(history, name)) == 8
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.val_acc[-1] > 0.9  # three brightness levels are easy to tell apart
    assert all(rate > 0 for rate in history.examples_per_sec)
    final = capsys.readouterr().out.strip().splitlines()[-1]
    assert final.startswith("loss ") and "val acc" in final and "examples/sec on CPU" in final


def test_fit_history_matches_evaluate(tiny_model, tiny_batches):
    history = cnnlib.fit(tiny_model, tiny_batches, tiny_batches, epochs=2, lr=0.5, device="cpu", progress=False)
    loss, acc = cnnlib.evaluate(tiny_model, tiny_batches)
    assert history.val_loss[-1] == pytest.approx(loss) and history.val_acc[-1] == pytest.approx(acc)


def test_evaluate_restores_training_mode(tiny_model, tiny_batches):
    tiny_model.train()
    cnnlib.evaluate(tiny_model, tiny_batches)
    assert tiny_model.training
    tiny_model.eval()
    cnnlib.evaluate(tiny_model, tiny_batches)
    assert not tiny_model.training


def test_evaluate_counts_correct_predictions():
    class Oracle(nn.Module):  # predicts the label stored in the top-left pixel
        def forward(self, x):
            return nn.functional.one_hot(x[:, 0, 0, 0].long(), 3).float()

    labels = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    images = labels.view(-1, 1, 1, 1).float().expand(-1, 1, 2, 2).clone()
    images[:2, 0, 0, 0] = 2  # two wrong answers out of eight
    data = TensorBatches(images, labels, batch_size=3)
    _, acc = cnnlib.evaluate(Oracle(), data, device="cpu")
    assert acc == pytest.approx(6 / 8)
    preds, true = cnnlib.predict(Oracle(), data, device="cpu")
    assert torch.equal(true, labels) and (preds == labels).sum().item() == 6


def test_fit_stops_on_nan_loss(tiny_model, tiny_batches):
    with pytest.raises(FloatingPointError, match="smaller lr"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=3, lr=1e30, device="cpu", progress=False)


def test_keyboard_interrupt_returns_history_so_far(tiny_model, tiny_batches, capsys):
    calls = {"n": 0}

    class InterruptingBatches:
        def __len__(self):
            return len(tiny_batches)

        def __iter__(self):
            calls["n"] += 1
            if calls["n"] == 3:  # Ctrl-C in the third epoch
                raise KeyboardInterrupt
            return iter(tiny_batches)

    history = cnnlib.fit(tiny_model, InterruptingBatches(), epochs=5, lr=0.5, device="cpu", progress=False)
    assert history.interrupted and len(history) == 2
    assert "Interrupted" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["xavier", "kaiming", "normal"])
def test_init_weights_changes_weights_and_zeroes_biases(tiny_model, method):
    before = tiny_model[0].weight.clone()
    cnnlib.init_weights(tiny_model, method)
    assert not torch.equal(before, tiny_model[0].weight)
    assert torch.count_nonzero(tiny_model[0].bias) == 0 and torch.count_nonzero(tiny_model[4].bias) == 0
    if method == "normal":
        assert tiny_model[4].weight.std().item() == pytest.approx(0.01, rel=0.5)


def test_fit_init_accepts_a_function_and_rejects_unknown_names(tiny_model, tiny_batches):
    def constant(module):
        if isinstance(module, nn.Linear):
            nn.init.constant_(module.weight, 0.5)

    cnnlib.fit(tiny_model, tiny_batches, epochs=0, device="cpu", init=constant, progress=False)
    assert torch.all(tiny_model[4].weight == 0.5)
    with pytest.raises(ValueError, match="unknown init"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", init="glorious", progress=False)


def test_fit_uses_a_given_optimizer_and_scheduler(tiny_model, tiny_batches):
    optimizer = torch.optim.Adam(tiny_model.parameters(), lr=0.01)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    cnnlib.fit(tiny_model, tiny_batches, epochs=2, optimizer=optimizer, scheduler=scheduler, device="cpu",
               progress=False)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0025)


def test_fit_with_bf16_autocast_on_cpu(tiny_model, tiny_batches):
    history = cnnlib.fit(tiny_model, tiny_batches, epochs=2, lr=0.5, device="cpu", amp="bf16", progress=False)
    assert math.isfinite(history.train_loss[-1])
    with pytest.raises(ValueError, match="amp must be"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", amp="int8", progress=False)


@pytest.fixture
def amp_used(monkeypatch):
    """Records the ``amp`` that each fit asks for; restores torch's thread count, which fast=True may change."""
    import cnnlib.train as train

    used = []
    real_autocast = train._autocast
    monkeypatch.setattr(train, "_autocast", lambda device, amp: used.append(amp) or real_autocast(device, amp))
    threads = torch.get_num_threads()
    yield used
    torch.set_num_threads(threads)


@pytest.mark.parametrize("native", [True, False])
def test_fast_on_cpu_uses_channels_last_and_bf16_only_where_native(tiny_batches, monkeypatch, amp_used, native):
    import cnnlib.train as train

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                          nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    monkeypatch.setattr(train, "native_bf16", lambda device: native)
    cnnlib.fit(model, tiny_batches, epochs=1, lr=0.5, device="cpu", progress=False, fast=True)
    assert amp_used == ["bf16" if native else None]
    assert model[2].weight.is_contiguous(memory_format=torch.channels_last)
    assert not model[2].weight.is_contiguous()  # really converted (4 input channels: the layouts differ)


def test_fast_keeps_an_explicit_amp_and_off_is_unchanged(tiny_model, tiny_batches, monkeypatch, amp_used):
    import cnnlib.train as train

    monkeypatch.setattr(train, "native_bf16", lambda device: True)
    cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", progress=False, fast=True, amp="off")
    torch.manual_seed(0)
    plain = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3))
    cnnlib.fit(plain, tiny_batches, epochs=1, device="cpu", progress=False)
    assert amp_used == ["off", None]
    assert plain[0].weight.is_contiguous()


def test_mismatched_batches_are_a_clear_error(tiny_model):
    bad = [(torch.zeros(4, 1, 8, 8), torch.zeros(3, dtype=torch.long))]
    with pytest.raises(ValueError, match="4 inputs but 3 labels"):
        cnnlib.fit(tiny_model, bad, epochs=1, device="cpu", progress=False)


def test_wrong_input_shape_reaches_the_learner(tiny_model):
    bad = [(torch.zeros(4, 3, 8, 8), torch.zeros(4, dtype=torch.long))]  # 3 channels for a 1-channel model
    with pytest.raises(RuntimeError, match="channels"):
        cnnlib.fit(tiny_model, bad, epochs=1, device="cpu", progress=False)


def test_empty_training_data_is_an_error(tiny_model):
    with pytest.raises(ValueError, match="no batches"):
        cnnlib.fit(tiny_model, [], epochs=1, device="cpu", progress=False)


def test_fit_reads_the_device_only_a_few_times_per_epoch(tiny_model, tiny_batches, item_calls):
    """The loop must not sync with the host every step: count Tensor.item calls."""
    steps = len(tiny_batches)
    cnnlib.fit(tiny_model, tiny_batches, epochs=1, lr=0.1, device="cpu", progress=True, updates_per_epoch=2)
    assert steps == 6 and item_calls["n"] <= 2 * 2 + 2  # two per progress update, two at the end of the epoch


def test_cuda_graphs_are_refused_where_they_cannot_work(tiny_model, tiny_batches):
    """CUDA graphs need a CUDA device; on the CPU the default is the plain loop (gpu_tests/ checks CUDA)."""
    with pytest.raises(ValueError, match="cuda_graph=True needs a CUDA device"):
        cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", progress=False, cuda_graph=True)
    history = cnnlib.fit(tiny_model, tiny_batches, epochs=1, device="cpu", progress=False, cuda_graph=None)
    assert len(history) == 1


def test_graph_safety_depends_on_the_optimizer_and_scaler(tiny_model):
    from cnnlib.train import _graph_safe

    cuda = torch.device("cuda")
    params = list(tiny_model.parameters())
    assert _graph_safe(cuda, torch.optim.SGD(params, lr=0.1, momentum=0.9), scaler=None)
    assert not _graph_safe(torch.device("cpu"), torch.optim.SGD(params, lr=0.1), scaler=None)
    assert not _graph_safe(cuda, torch.optim.SGD(params, lr=0.1), scaler=object())
    assert not _graph_safe(cuda, torch.optim.Adam(params), scaler=None)
    assert _graph_safe(cuda, torch.optim.Adam(params, capturable=True), scaler=None)
    assert not _graph_safe(cuda, torch.optim.SGD(params, lr=torch.tensor(0.1)), scaler=None)


def test_optimizer_settings_see_a_new_learning_rate(tiny_model):
    from cnnlib.train import _optimizer_settings

    optimizer = torch.optim.SGD(tiny_model.parameters(), lr=0.1, momentum=0.9)
    before = _optimizer_settings(optimizer)
    optimizer.param_groups[0]["lr"] = 0.05  # what a scheduler does
    after = _optimizer_settings(optimizer)
    assert before != after and after[0]["lr"] == pytest.approx(0.05) and after[0]["momentum"] == 0.9


def overflowing_run(tmp_path):
    """The reviewer's reproduction: an update on the epoch's last step overflows the weights to infinity."""
    from cnnlib.data import TensorBatches

    torch.manual_seed(0)
    X, y = torch.randn(32, 1, 6, 6) * 1e6, torch.randint(0, 3, (32,))
    batches = TensorBatches(X, y, 32)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    return model, batches


def test_non_finite_weights_are_never_recorded_saved_or_kept(tmp_path):
    model, batches = overflowing_run(tmp_path)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(FloatingPointError, match="weights became NaN or infinite in epoch 1.*an update overflowed") as caught:
        cnnlib.fit(model, batches, batches, epochs=3, lr=1e33, device="cpu", progress=False,
                   callbacks=[cnnlib.Checkpoint(tmp_path / "runs")])
    assert len(caught.value.history) == 0 and not caught.value.history.val_loss  # nothing recorded
    assert not (tmp_path / "runs" / "last.pt").exists()  # nothing saved
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())  # the last good state


def test_after_a_nan_the_same_optimizer_trains_on_at_a_lower_rate(tiny_model, tiny_batches):
    optimizer = torch.optim.SGD(tiny_model.parameters(), lr=0.5, momentum=0.9)
    cnnlib.fit(tiny_model, tiny_batches, epochs=1, optimizer=optimizer, device="cpu", progress=False)
    optimizer.param_groups[0]["lr"] = 1e30
    with pytest.raises(FloatingPointError):
        cnnlib.fit(tiny_model, tiny_batches, epochs=2, optimizer=optimizer, device="cpu", progress=False)
    buffers = [s["momentum_buffer"] for s in optimizer.state.values()]
    assert all(torch.isfinite(b).all() for b in buffers)  # the momentum of the last good epoch, not NaN
    optimizer.param_groups[0]["lr"] = 0.1
    history = cnnlib.fit(tiny_model, tiny_batches, epochs=1, optimizer=optimizer, device="cpu", progress=False)
    assert math.isfinite(history.train_loss[-1])


def test_an_infinite_pixel_is_blamed_on_the_data_not_the_learning_rate(tiny_model, tiny_batches):
    images = tiny_batches.images.clone()
    images[5, 0, 3, 3] = float("inf")
    bad = TensorBatches(images, tiny_batches.labels, batch_size=16, shuffle=True)
    with pytest.raises(FloatingPointError, match="input data holds NaN or infinite values: the learning rate is not"):
        cnnlib.fit(tiny_model, bad, epochs=1, lr=0.1, device="cpu", progress=False)


def test_evaluate_refuses_nan_inputs_and_names_diverged_weights(tiny_model, tiny_batches):
    images = tiny_batches.images.clone()
    images[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="the data holds NaN or infinite values"):
        cnnlib.evaluate(tiny_model, TensorBatches(images, tiny_batches.labels, batch_size=16))
    with torch.no_grad():
        tiny_model[0].weight.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match="weights hold NaN or infinite values"):
        cnnlib.evaluate(tiny_model, tiny_batches)
