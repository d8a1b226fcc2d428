"""CUDA-only checks of ``fit``'s CUDA graph path. CI has no GPU, so these live outside ``tests/``;
run them on a GPU machine with ``python -m pytest gpu_tests``."""

import copy
import warnings

import pytest
import torch
from torch import nn

import cnnlib
from cnnlib.data import TensorBatches

if not torch.cuda.is_available():
    pytest.fail("gpu_tests need a CUDA GPU", pytrace=False)

DEVICE = torch.device("cuda")


@pytest.fixture(autouse=True)
def deterministic():
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    yield
    torch.backends.cudnn.deterministic = False


@pytest.fixture
def replays(monkeypatch):
    """Counts CUDA graph captures and replays."""
    counts = {"capture": 0, "replay": 0}
    replay, capture_begin = torch.cuda.CUDAGraph.replay, torch.cuda.CUDAGraph.capture_begin

    def counting_replay(self):
        counts["replay"] += 1
        return replay(self)

    def counting_capture_begin(self, *args, **kwargs):
        counts["capture"] += 1
        return capture_begin(self, *args, **kwargs)

    monkeypatch.setattr(torch.cuda.CUDAGraph, "replay", counting_replay)
    monkeypatch.setattr(torch.cuda.CUDAGraph, "capture_begin", counting_capture_begin)
    return counts


def batches(n=100, batch_size=16, shuffle=False) -> TensorBatches:
    """An easy 3-class problem on the GPU; 100 examples make 6 full batches and one of 4."""
    g = torch.Generator().manual_seed(0)
    labels = torch.arange(n) % 3
    images = labels.view(-1, 1, 1, 1).float() / 2 + 0.3 * torch.randn(n, 1, 12, 12, generator=g)
    return TensorBatches(images.to(DEVICE), labels.to(DEVICE), batch_size=batch_size, shuffle=shuffle)


def small_cnn(dropout=0.0) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
                         nn.Dropout(dropout), nn.Linear(32, 3)).to(DEVICE)


def train_both(make_optimizer, epochs=3, scheduler=None, modes=(False, True), **fit_kwargs):
    """The same model trained from the same start with and without CUDA graphs."""
    results = []
    for graph in modes:
        model = small_cnn()
        optimizer = make_optimizer(model.parameters())
        sched = scheduler(optimizer) if scheduler else None
        history = cnnlib.fit(model, batches(), batches(), epochs=epochs, optimizer=optimizer, scheduler=sched,
                             device=DEVICE, progress=False, cuda_graph=graph, **fit_kwargs)
        results.append((model, history))
    return results


def assert_same_training(eager, graphed, rtol=1e-3, atol=1e-4):
    (m1, h1), (m2, h2) = eager, graphed
    for (name, a), b in zip(m1.state_dict().items(), m2.state_dict().values()):
        torch.testing.assert_close(b.float(), a.float(), rtol=rtol, atol=atol, msg=f"{name} differs")
    assert h2.train_loss == pytest.approx(h1.train_loss, rel=1e-3)
    assert h2.train_acc == pytest.approx(h1.train_acc)
    assert h2.val_acc == pytest.approx(h1.val_acc)


def test_a_plain_fit_shows_the_learner_no_warnings():
    """Runs first: PyTorch warns once per process when its sync detector is first switched on."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cnnlib.fit(small_cnn(), batches(), epochs=2, lr=0.1, device=DEVICE, progress=False)
    assert [str(w.message) for w in caught] == []


def test_graphs_are_the_default_on_cuda_and_train_exactly_like_eager_steps(replays):
    eager, graphed = train_both(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4))
    assert_same_training(eager, graphed)
    # 3 epochs x 6 full batches, less 3 warm-up steps, each replayed once; the small last batch runs eagerly
    assert replays == {"capture": 1, "replay": 15}
    default = cnnlib.fit(small_cnn(), batches(), epochs=1, lr=0.1, device=DEVICE, progress=False)
    assert replays["replay"] == 15 + 3 and len(default) == 1


def test_a_scheduler_changing_the_learning_rate_records_the_graph_again(replays):
    eager, graphed = train_both(lambda p: torch.optim.SGD(p, lr=0.2, momentum=0.9),
                                scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.1))
    assert_same_training(eager, graphed)
    assert replays["capture"] == 3  # one per learning rate


def test_learning_rate_zero_after_the_first_epoch_freezes_the_weights():
    model = small_cnn()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.0)
    cnnlib.fit(model, batches(), epochs=1, optimizer=optimizer, device=DEVICE, progress=False)
    after_one = copy.deepcopy(model.state_dict())
    scheduler.step()
    cnnlib.fit(model, batches(), epochs=2, optimizer=optimizer, device=DEVICE, progress=False)
    for name, value in model.state_dict().items():
        if "running" not in name and "num_batches" not in name:
            torch.testing.assert_close(value, after_one[name], msg=f"{name} changed with lr 0")


def test_adam_uses_graphs_only_when_capturable(replays):
    eager, default = train_both(lambda p: torch.optim.Adam(p, lr=1e-2), modes=(False, None))
    assert_same_training(eager, default)
    assert replays["replay"] == 0  # default Adam keeps its step count on the host
    eager, graphed = train_both(lambda p: torch.optim.Adam(p, lr=1e-2, capturable=True))
    assert_same_training(eager, graphed)
    assert replays["replay"] == 15
    with pytest.raises(ValueError, match="capturable"):
        cnnlib.fit(small_cnn(), batches(), epochs=1, optimizer=torch.optim.Adam(small_cnn().parameters()),
                   device=DEVICE, progress=False, cuda_graph=True)


def test_bf16_autocast_in_a_graph_matches_eager_bf16(replays):
    eager, graphed = train_both(lambda p: torch.optim.SGD(p, lr=0.1), amp="bf16")
    assert_same_training(eager, graphed, rtol=2e-2, atol=2e-3)
    assert replays["replay"] == 15


def test_fp16_with_a_gradient_scaler_runs_without_graphs(replays):
    history = cnnlib.fit(small_cnn(), batches(), epochs=3, lr=0.1, device=DEVICE, amp="fp16", progress=False)
    assert history.train_loss[-1] < history.train_loss[0] and replays["replay"] == 0
    with pytest.raises(ValueError, match="scaler"):
        cnnlib.fit(small_cnn(), batches(), epochs=1, device=DEVICE, amp="fp16", progress=False, cuda_graph=True)


def test_dropout_and_shuffling_train_in_graphs(replays):
    model = small_cnn(dropout=0.3)
    history = cnnlib.fit(model, batches(n=400, shuffle=True), batches(), epochs=4, lr=0.1, device=DEVICE,
                         progress=False)
    assert replays["replay"] > 0
    assert history.train_loss[-1] < history.train_loss[0] and history.val_acc[-1] > 0.6


class SyncingModel(nn.Module):
    """Reads a value back to the host in forward, which a CUDA graph cannot record."""

    def __init__(self):
        super().__init__()
        self.net = small_cnn()

    def forward(self, x):
        if x.abs().max().item() > 1e6:
            raise ValueError("input too large")
        return self.net(x)


def test_a_step_that_waits_for_the_device_is_found_before_recording(replays):
    model = SyncingModel()
    with pytest.warns(UserWarning, match="cannot be recorded as a CUDA graph .it waits for the device"):
        history = cnnlib.fit(model, batches(), epochs=3, lr=0.1, device=DEVICE, progress=False)
    assert replays == {"capture": 0, "replay": 0}
    reference = SyncingModel()
    expected = cnnlib.fit(reference, batches(), epochs=3, lr=0.1, device=DEVICE, progress=False, cuda_graph=False)
    assert history.train_loss == pytest.approx(expected.train_loss, rel=1e-3)


class UnrecordableModel(nn.Module):
    """Asks whether its stream is idle, which is allowed eagerly but not while a graph is recorded."""

    def __init__(self):
        super().__init__()
        self.net = small_cnn(dropout=0.3)

    def forward(self, x):
        torch.cuda.current_stream().query()
        return self.net(x)


def test_a_failed_recording_warns_and_training_goes_on_without_graphs(replays):
    model = UnrecordableModel()
    with pytest.warns(UserWarning, match="cannot be recorded as a CUDA graph"):
        history = cnnlib.fit(model, batches(n=400, shuffle=True), batches(), epochs=3, lr=0.1, device=DEVICE,
                             progress=False)
    assert replays == {"capture": 1, "replay": 0}
    assert history.train_loss[-1] < history.train_loss[0] and history.val_acc[-1] > 0.6
    # random numbers (shuffling, dropout) and later graphs still work
    torch.rand(3, device=DEVICE)
    again = cnnlib.fit(small_cnn(dropout=0.3), batches(n=400, shuffle=True), epochs=2, lr=0.1, device=DEVICE,
                       progress=False)
    assert replays["replay"] > 0 and len(again) == 2


def test_graphed_fit_reads_the_device_only_a_few_times_per_epoch(item_calls):
    cnnlib.fit(small_cnn(), batches(n=400), epochs=1, lr=0.1, device=DEVICE, progress=True, updates_per_epoch=2)
    assert item_calls["n"] <= 2 * 2 + 2


def test_real_fashion_mnist_lenet_trains_the_same_in_graphs(replays):
    histories = []
    for graph in (False, True):
        torch.manual_seed(0)
        train, _, test = cnnlib.fashion_mnist(batch_size=256, subset=10_000, device=DEVICE, val_size=None)
        model = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(), nn.MaxPool2d(2, stride=2), nn.Flatten(),
            nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))
        histories.append(cnnlib.fit(model, train, test, epochs=4, lr=0.1, device=DEVICE, init="kaiming",
                                    progress=False, cuda_graph=graph))
    eager, graphed = histories
    assert replays["replay"] == 4 * 39 - 3  # 40 batches per epoch, the last one of 16 examples
    assert graphed.train_loss == pytest.approx(eager.train_loss, rel=1e-3)
    assert graphed.val_acc == pytest.approx(eager.val_acc, abs=2e-3) and graphed.val_acc[-1] > 0.6


def per_step(schedule):
    """A factory for ``train_both``'s callbacks: a fresh per-step schedule on each run's optimizer."""
    return lambda optimizer: [cnnlib.LRSchedule(schedule(optimizer))]


def train_both_with_callbacks(make_optimizer, make_callbacks, epochs=3, modes=(False, True)):
    results = []
    for graph in modes:
        torch.manual_seed(0)
        model = small_cnn()
        optimizer = make_optimizer(model.parameters())
        history = cnnlib.fit(model, batches(), batches(), epochs=epochs, optimizer=optimizer, device=DEVICE,
                             callbacks=make_callbacks(optimizer), progress=False, cuda_graph=graph)
        results.append((model, history))
    return results


def one_cycle(optimizer):
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.3, total_steps=3 * 7, cycle_momentum=False)


def test_a_per_step_schedule_keeps_one_graph_with_fused_sgd(replays):
    eager, graphed = train_both_with_callbacks(
        lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4, fused=True),
        per_step(one_cycle))
    assert_same_training(eager, graphed)
    assert replays == {"capture": 1, "replay": 15}  # the learning rate changed every step, the graph stayed


def test_a_per_step_schedule_keeps_one_graph_with_capturable_adamw(replays):
    eager, graphed = train_both_with_callbacks(
        lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.05, capturable=True),
        per_step(lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3 * 7)))
    assert_same_training(eager, graphed)
    assert replays == {"capture": 1, "replay": 15}


def test_the_default_optimizer_is_recorded_once(replays):
    model = small_cnn()
    history = cnnlib.fit(model, batches(), epochs=3, lr=0.1, device=DEVICE, progress=False)
    assert replays["capture"] == 1 and history.train_loss[-1] < history.train_loss[0]


def test_an_optimizer_that_bakes_the_rate_in_gives_up_graphs_with_a_hint(replays):
    with pytest.warns(UserWarning, match="fused=True"):
        eager, graphed = train_both_with_callbacks(lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9),
                                                   per_step(one_cycle))
    assert_same_training(eager, graphed)
    assert replays["capture"] == _GRAPH_LIMIT


_GRAPH_LIMIT = cnnlib.train._GraphedStep.MAX_RECORDINGS_PER_EPOCH


def test_augmentation_on_the_device_runs_beside_the_graph(replays):
    augment = cnnlib.BatchTransform(cnnlib.augment.Augment(crop=2, flip=0.5, erase=0.5))
    history = cnnlib.fit(small_cnn(), batches(n=400, shuffle=True), batches(), epochs=3, lr=0.1, device=DEVICE,
                         callbacks=[augment], progress=False)
    assert replays["replay"] > 0 and history.train_loss[-1] < history.train_loss[0]


def test_speedrun_tiny_config_runs_on_cuda(capsys):
    import runpy
    from pathlib import Path

    script = runpy.run_path(str(Path(__file__).parents[1] / "benchmarks" / "fashion_speedrun.py"))
    script["main"](["--tiny", "--device", "cuda"])
    assert "| chapter 15 recipe |" in capsys.readouterr().out
