"""The training loop: ``fit`` trains a classifier, ``evaluate`` and ``predict`` measure it.

The loop never waits for the device inside an epoch except at the few progress updates: losses and
correct counts are summed on the device and read back once per update. On CUDA, each training step is
recorded once as a CUDA graph and then replayed, so a small network is not slowed down by Python
launching its kernels one by one.

Everything beyond the plain loop (learning-rate schedules, augmentation, checkpoints, early stopping,
the live plot) plugs in through one extension point: a list of ``Callback`` objects whose hooks ``fit``
calls at fixed places. The hooks are listed in ``Callback``; ``fit`` has no other branches for them.
"""

from __future__ import annotations

import contextlib
import math
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from .device import device_name, get_device

Batches = Iterable[tuple[torch.Tensor, torch.Tensor]]


@dataclass
class History:
    """What ``fit`` measured, one entry per finished epoch."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    examples_per_sec: list[float] = field(default_factory=list)
    #: (epoch position, running train loss, running train accuracy, learning rate) at each progress update
    running: list[tuple[float, float, float, float]] = field(default_factory=list)
    device: str = ""
    interrupted: bool = False

    def __len__(self) -> int:
        return len(self.train_loss)

    @property
    def total_seconds(self) -> float:
        return sum(self.seconds)

    def summary(self) -> str:
        """One line: final loss and accuracies, throughput and device."""
        if not self:
            return "no epoch finished"
        val = f", val acc {self.val_acc[-1]:.3f}" if self.val_acc else ""
        return (f"loss {self.train_loss[-1]:.3f}, train acc {self.train_acc[-1]:.3f}{val}, "
                f"{self.examples_per_sec[-1]:,.0f} examples/sec on {self.device}")


def init_weights(model: nn.Module, method: str | Callable[[nn.Module], None]) -> None:
    """Re-initialise every convolution and linear layer: ``"xavier"``, ``"kaiming"``, ``"normal"`` or a function."""
    if callable(method):
        model.apply(method)
        return
    inits = {
        "xavier": nn.init.xavier_uniform_,
        "kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
        "normal": lambda w: nn.init.normal_(w, std=0.01),
    }
    if method not in inits:
        raise ValueError(f"unknown init {method!r}; choose one of {sorted(inits)} or pass a function")
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
            inits[method](module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)


def _autocast(device: torch.device, amp: str | None):
    """The autocast context and gradient scaler for a mixed-precision choice (None, "bf16" or "fp16")."""
    if amp in (None, False, "off"):
        return contextlib.nullcontext, None
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if amp not in dtypes:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")
    if amp == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise ValueError(f"{device_name(device)} has no bfloat16 support; use amp='fp16'")
    scaler = torch.amp.GradScaler(device.type) if amp == "fp16" and device.type == "cuda" else None
    # No cache of cast weights: CUDA graphs must recast the updated weights on every replay.
    return (lambda: torch.autocast(device.type, dtype=dtypes[amp], cache_enabled=False)), scaler


def _check_batch(X: torch.Tensor, y: torch.Tensor) -> None:
    if X.shape[0] != y.shape[0]:
        raise ValueError(f"a batch has {X.shape[0]} inputs but {y.shape[0]} labels")


def evaluate(model: nn.Module, data: Batches, device: torch.device | str | None = None,
             loss_fn: Callable | None = None) -> tuple[float, float]:
    """Mean loss and accuracy of a classifier over ``data``; the model's train/eval mode is restored after."""
    device = get_device(device) if device is not None else _model_device(model)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    was_training = model.training
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    count = 0
    try:
        with torch.inference_mode():
            for X, y in data:
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                _check_batch(X, y)
                out = model(X)
                loss_sum += loss_fn(out.float(), y) * y.shape[0]
                correct += (out.argmax(dim=1) == y).sum()
                count += y.shape[0]
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate got no batches")
    return loss_sum.item() / count, correct.item() / count


def predict(model: nn.Module, data: Batches, device: torch.device | str | None = None
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Predicted and true labels for every example in ``data``, as CPU tensors."""
    device = get_device(device) if device is not None else _model_device(model)
    was_training = model.training
    model.eval()
    preds, labels = [], []
    try:
        with torch.inference_mode():
            for X, y in data:
                preds.append(model(X.to(device)).argmax(dim=1))
                labels.append(y.to(device))
    finally:
        model.train(was_training)
    if not preds:
        raise ValueError("predict got no batches")
    return torch.cat(preds).cpu(), torch.cat(labels).cpu()


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else get_device()


def _in_notebook() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and type(shell).__name__ == "ZMQInteractiveShell"


class _TrainStep:
    """One optimisation step on a batch; it adds the batch's summed loss and correct count to two
    device tensors, so nothing is read back to the host."""

    def __init__(self, model: nn.Module, loss_fn: Callable, optimizer: torch.optim.Optimizer, autocast, scaler,
                 loss_sum: torch.Tensor, correct: torch.Tensor):
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer
        self.autocast, self.scaler = autocast, scaler
        self.loss_sum, self.correct = loss_sum, correct

    def new_epoch(self) -> None:
        """Nothing to prepare: a plain step reads the optimizer's settings every time."""

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        with self.autocast():
            out = self.model(X)
            loss = self.loss_fn(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            loss.backward()
            self.optimizer.step()
        self.loss_sum.add_(loss.detach().float(), alpha=y.shape[0])
        labels = y.argmax(dim=1) if y.ndim > 1 else y  # soft targets (mixup): count the dominant class
        self.correct.add_((out.detach().argmax(dim=1) == labels).sum())


class _GraphedStep:
    """A ``_TrainStep`` replayed as a CUDA graph: one launch instead of dozens of tiny kernel launches.

    For a small network most of a step's time goes into launching its kernels from Python. A CUDA
    graph records the whole step once (forward, backward, optimizer update, metric sums) and replays
    it with one call. The first steps run normally (they warm up cuDNN and create optimizer state);
    batches of another shape, such as the smaller last one, also run normally.

    A graph bakes in the numbers it was recorded with. Where the optimizer can read its learning rate
    from device memory (fused SGD, or any optimizer made with ``capturable=True``), the graph is recorded
    with a one-element tensor in place of each group's learning rate, and that tensor is refreshed
    before each replay: a schedule that changes the learning rate every step keeps the graph. Any other
    change of the optimizer's settings (or of the learning rate of another optimizer) records it again.
    """

    WARMUP_STEPS = 3
    MAX_RECORDINGS_PER_EPOCH = 3

    def __init__(self, step: _TrainStep):
        self.step = step
        optimizer = step.optimizer
        self.side_stream = torch.cuda.Stream(step.loss_sum.device)
        self.graph: torch.cuda.CUDAGraph | None = None
        self.tensor_lr = _reads_lr_from_device(optimizer)
        self.lrs = [torch.tensor(float(g["lr"]), device=step.loss_sum.device) for g in optimizer.param_groups]
        self.settings = _optimizer_settings(optimizer, skip_lr=self.tensor_lr)
        self.shape: torch.Size | None = None  # of a full batch, the one the graph is recorded for
        self.eager_steps = 0
        self.recordings = self.recordings_this_epoch = 0
        self.sync_checked = False
        self.failed = False

    def __call__(self, X: torch.Tensor, y: torch.Tensor) -> None:
        settings = _optimizer_settings(self.step.optimizer, skip_lr=self.tensor_lr)
        if settings != self.settings:
            self.graph, self.settings = None, settings
            if self.recordings_this_epoch >= self.MAX_RECORDINGS_PER_EPOCH and not self.failed:
                self._give_up("its settings change every few steps, and this optimizer bakes its learning rate "
                              "into the graph; for a per-step schedule build it with fused=True (SGD) or "
                              "capturable=True (Adam, AdamW)")
        self.shape = self.shape or X.shape
        if self.graph is None and not self.failed and X.shape == self.shape:
            if not self.sync_checked and self.eager_steps >= self.WARMUP_STEPS - 1:
                self._last_warmup_step(X, y)
                return
            if self.sync_checked:
                self._capture(X, y)
        if self.graph is not None and X.shape == self.shape:
            self.X.copy_(X)
            self.y.copy_(y)
            if self.tensor_lr:
                for lr, group in zip(self.lrs, self.step.optimizer.param_groups):
                    lr.fill_(group["lr"])  # an asynchronous fill: no wait for the device
            self.graph.replay()
        else:
            self._eager(X, y)

    def new_epoch(self) -> None:
        """Settings are compared before every step; here only the count of recordings starts again."""
        self.recordings_this_epoch = 0

    def _eager(self, X: torch.Tensor, y: torch.Tensor) -> None:
        # On a side stream, as PyTorch's CUDA graph notes ask for warm-up steps, so that state created
        # lazily per stream exists before the capture.
        current = torch.cuda.current_stream(X.device)
        self.side_stream.wait_stream(current)
        with torch.cuda.stream(self.side_stream):
            self.step(X, y)
        current.wait_stream(self.side_stream)
        self.eager_steps += 1

    def _last_warmup_step(self, X: torch.Tensor, y: torch.Tensor) -> None:
        """A warm-up step watched by PyTorch's sync detector: a step that waits for the device
        (``.item()``, ``.cpu()``, ``print(tensor)``...) cannot be recorded, so it keeps running eagerly."""
        mode = torch.cuda.get_sync_debug_mode()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                self._eager(X, y)
            finally:
                torch.cuda.set_sync_debug_mode(mode)
        self.sync_checked = True
        syncs = [w for w in caught if "synchronizing CUDA operation" in str(w.message)]
        for w in caught:  # pass on the step's own warnings, not the detector's note that it is a prototype
            if w not in syncs and "Synchronization debug mode" not in str(w.message):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        if syncs:
            self._give_up("it waits for the device, for example with .item()")

    def _capture(self, X: torch.Tensor, y: torch.Tensor) -> None:
        self.X, self.y = X.clone(), y.clone()
        optimizer = self.step.optimizer
        optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph
        graph = torch.cuda.CUDAGraph()
        stream = torch.cuda.current_stream(X.device)
        floats = [group["lr"] for group in optimizer.param_groups]
        if self.tensor_lr:
            for lr, group in zip(self.lrs, optimizer.param_groups):
                lr.fill_(group["lr"])
                group["lr"] = lr
        try:
            with torch.cuda.graph(graph):
                self.step(self.X, self.y)
        except RuntimeError as error:
            # A failed capture can leave its stream current and the random generator in capture mode.
            torch.cuda.set_stream(stream)
            generator = torch.cuda.default_generators[X.device.index]
            generator.graphsafe_set_state(generator.clone_state())
            self._give_up(str(error).splitlines()[0])
            return
        finally:
            for value, group in zip(floats, optimizer.param_groups):
                group["lr"] = value  # schedulers keep working with plain numbers
        self.graph = graph
        self.recordings += 1
        self.recordings_this_epoch += 1

    def _give_up(self, reason: str) -> None:
        self.failed = True
        warnings.warn(f"fit: this training step cannot be recorded as a CUDA graph ({reason}), so it runs "
                      "without one. Pass cuda_graph=False to skip the attempt.", stacklevel=5)


def _reads_lr_from_device(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the optimizer's step reads a tensor learning rate on the device (so a graph can follow it)."""
    groups = optimizer.param_groups
    if type(optimizer) is torch.optim.SGD:
        return all(group.get("fused", False) for group in groups)
    return all(group.get("capturable", False) for group in groups)


def _optimizer_settings(optimizer: torch.optim.Optimizer, skip_lr: bool = False) -> list[dict]:
    """The optimizer's numeric hyperparameters per parameter group (a CUDA graph bakes them in)."""
    return [{k: v for k, v in group.items() if isinstance(v, (int, float, bool, tuple)) and not (skip_lr and k == "lr")}
            for group in optimizer.param_groups]


def _graph_safe(device: torch.device, optimizer: torch.optim.Optimizer, scaler) -> bool:
    """Whether a training step can be recorded as a CUDA graph: on CUDA, with no gradient scaler (it reads
    values back to the host), and with an optimizer that keeps its state on the device (plain SGD, or one
    made with ``capturable=True``) and plain-number hyperparameters."""
    if device.type != "cuda" or scaler is not None:
        return False
    groups = optimizer.param_groups
    if any(isinstance(v, torch.Tensor) for group in groups for k, v in group.items() if k != "params"):
        return False
    return type(optimizer) is torch.optim.SGD or all(group.get("capturable", False) for group in groups)


@dataclass
class FitState:
    """What a ``Callback`` sees and may change while ``fit`` runs."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss_fn: Callable
    device: torch.device
    history: History
    epochs: int
    steps_per_epoch: int | None
    epoch: int = 0  #: the current epoch, counted from 0
    step: int = 0  #: optimisation steps taken so far, over all epochs
    stop: bool = False  #: set it to end training after the current epoch
    callbacks: list = field(default_factory=list)  #: every callback of this fit (for ``Checkpoint``)
    start_epoch: int = 0  #: the first epoch to train; ``on_fit_start`` may raise it to resume a run


class Callback:
    """The one extension point of ``fit``: override the hooks you need; each default does nothing.

    ``fit`` calls, in order: ``on_fit_start`` once; per batch ``on_batch`` (may return a transformed
    batch: augmentation) and, after the optimisation step, ``on_step_end`` (per-step schedules);
    ``on_update`` at each progress update (the running metrics were just read from the device);
    ``on_epoch_end`` after validation, with the epoch's History entries in place (per-epoch schedules,
    checkpoints, early stopping through ``state.stop``); ``on_fit_end`` once, also after an error
    or Ctrl-C. ``on_fit_start`` may set ``state.start_epoch`` (and restore the History) to resume a
    run. A callback with ``state_dict()``/``load_state_dict()`` is saved by ``Checkpoint``. Hooks run on the host: a hook that reads a device tensor (``.item()``) waits for the device.
    """

    def on_fit_start(self, state: FitState) -> None: ...

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return X, y

    def on_step_end(self, state: FitState) -> None: ...

    def on_update(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...

    def on_fit_end(self, state: FitState) -> None: ...


def fit(model: nn.Module, train: Batches, val: Batches | None = None, epochs: int = 10, lr: float = 0.1,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: Callable | None = None,
        device: torch.device | str | None = None, init: str | Callable | None = None,
        amp: str | None = None, scheduler=None, callbacks: Sequence[Callback] = (),
        live_plot: bool | None = None, progress: bool = True, updates_per_epoch: int = 4,
        cuda_graph: bool | None = None) -> History:
    """Train a classifier and return its ``History``.

    - ``optimizer`` defaults to SGD with learning rate ``lr`` (fused on CUDA); ``loss_fn`` to cross-entropy.
    - ``init`` re-initialises the weights first (see ``init_weights``).
    - ``amp`` turns on mixed precision: ``"bf16"`` (Ampere and newer GPUs) or ``"fp16"`` (with a
      gradient scaler, for older GPUs such as the T4). Off by default: for small models it is slower.
    - ``scheduler`` (a torch LR scheduler) is stepped once per epoch; for per-step schedules pass
      ``callbacks=[LRSchedule(scheduler)]``.
    - ``callbacks``: the extension point (see ``Callback``): schedules, augmentation, checkpoints...
    - ``cuda_graph`` replays each training step as a CUDA graph, which removes the cost of launching
      many small kernels from Python. By default it is on where it is safe: on CUDA, without fp16's
      gradient scaler, with plain SGD or an optimizer made with ``capturable=True``.
    - A progress bar and, in notebooks, a live plot show progress. Ctrl-C (or the stop button) ends
      training early and returns the history of the finished epochs. Any other error is raised with the
      history of the finished epochs attached as ``error.history``; after a loss that became NaN or
      infinite (``FloatingPointError``) the model holds the weights of the last finished epoch again.
    """
    from tqdm.auto import tqdm

    from .callbacks import LivePlotter, LRSchedule

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if updates_per_epoch < 1:
        raise ValueError(f"updates_per_epoch must be at least 1, got {updates_per_epoch}")
    _require_reiterable(train, "train", epochs)
    _require_reiterable(val, "val", epochs)
    device = get_device(device)
    model.to(device)
    if init is not None:
        init_weights(model, init)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr, fused=device.type == "cuda")
    _require_own_optimizer(model, optimizer)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    _check_label_smoothing(loss_fn)
    autocast, scaler = _autocast(device, amp)
    history = History(device=f"{device} ({device_name(device)})" if device.type != "cpu" else device_name(device))
    steps = len(train) if hasattr(train, "__len__") else None
    update_every = max(1, steps // updates_per_epoch) if steps else 50
    callbacks = list(callbacks)
    if scheduler is not None:
        callbacks.append(LRSchedule(scheduler, per="epoch"))
    if live_plot if live_plot is not None else _in_notebook():
        callbacks.append(LivePlotter())
    state = FitState(model, optimizer, loss_fn, device, history, epochs, steps, callbacks=callbacks)

    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device, dtype=torch.long)
    step = _TrainStep(model, loss_fn, optimizer, autocast, scaler, loss_sum, correct)
    graph_safe = _graph_safe(device, optimizer, scaler)
    if cuda_graph and not graph_safe:
        raise ValueError("cuda_graph=True needs a CUDA device, no fp16 gradient scaler, and plain SGD or an "
                         "optimizer made with capturable=True")
    if graph_safe and cuda_graph is not False:
        step = _GraphedStep(step)

    last_good = snapshot(model)
    try:
        for cb in callbacks:
            cb.on_fit_start(state)
        for state.epoch in range(state.start_epoch, epochs):
            model.train()
            step.new_epoch()
            loss_sum.zero_()
            correct.zero_()
            count = 0
            start = time.perf_counter()
            bar = tqdm(total=steps, desc=f"epoch {state.epoch + 1}/{epochs}", leave=False, disable=not progress)
            for i, (X, y) in enumerate(train, 1):
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                for cb in callbacks:
                    X, y = cb.on_batch(state, X, y)
                _check_batch(X, y)
                if state.step == 0:
                    _check_labels(model, X, y)
                step(X, y)
                state.step += 1
                count += y.shape[0]
                for cb in callbacks:
                    cb.on_step_end(state)
                bar.update()
                if i % update_every == 0:  # the only host syncs inside an epoch
                    running = loss_sum.item() / count
                    _stop_if_not_finite(running, state.epoch, i)
                    history.running.append((state.epoch + i / (steps or i), running, correct.item() / count,
                                            float(optimizer.param_groups[0]["lr"])))
                    bar.set_postfix(loss=f"{running:.3f}", acc=f"{history.running[-1][2]:.3f}")
                    for cb in callbacks:
                        cb.on_update(state)
            bar.close()
            if count == 0:
                raise ValueError("the training data gave no batches")
            train_loss, train_acc = loss_sum.item() / count, correct.item() / count
            _stop_if_not_finite(train_loss, state.epoch, steps)
            seconds = time.perf_counter() - start  # .item() above waited for the device
            val_result = evaluate(model, val, device, loss_fn) if val is not None else None
            # all of an epoch's entries at once, so an interruption never leaves the lists uneven
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.seconds.append(seconds)
            history.examples_per_sec.append(count / seconds)
            if val_result is not None:
                history.val_loss.append(val_result[0])
                history.val_acc.append(val_result[1])
            last_good = snapshot(model)
            for cb in callbacks:
                cb.on_epoch_end(state)
            if state.stop:
                break
    except KeyboardInterrupt:
        history.interrupted = True
        _trim(history)
        print(f"Interrupted: returning the history of the {len(history)} finished epoch(s).")
    except FloatingPointError as error:
        model.load_state_dict(last_good)
        error.history = _trim(history)
        error.add_note(f"The model holds the weights of the last finished epoch ({len(history)}) again; "
                       "error.history has the finished epochs.")
        raise
    except Exception as error:
        error.history = _trim(history)
        error.add_note(f"error.history has the {len(history)} finished epoch(s).")
        raise
    finally:
        model.train()
        for cb in callbacks:
            cb.on_fit_end(state)
    print(history.summary())
    return history


def _trim(history: History) -> History:
    """Cut every per-epoch list to the epochs that finished completely (an interruption may split one)."""
    n = len(history.train_loss)
    if history.val_loss:
        n = min(n, len(history.val_loss))
    for name in ("train_loss", "train_acc", "seconds", "examples_per_sec"):
        del getattr(history, name)[n:]
    if history.val_loss:
        del history.val_loss[n:], history.val_acc[n:]
    return history


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the device (cheap for the course's models), to go back to after a NaN."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _require_reiterable(data, name: str, epochs: int) -> None:
    if epochs > 1 and isinstance(data, Iterator):
        raise TypeError(f"{name} is a one-shot iterator (for example a generator): it would be empty after the "
                        "first epoch. Pass something that can be iterated again, such as a list of batches, "
                        "TensorBatches or a DataLoader.")


def _require_own_optimizer(model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
    own = {id(p) for p in model.parameters()}
    if not any(id(p) in own for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("the optimizer holds none of the model's parameters, so training would change nothing: "
                         "build it from this model, e.g. torch.optim.SGD(model.parameters(), lr=0.1)")


def _check_label_smoothing(loss_fn: Callable) -> None:
    smoothing = getattr(loss_fn, "label_smoothing", 0.0)
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1), got {smoothing}: at 1 the target is uniform "
                         "and says nothing about the class")


def _check_labels(model: nn.Module, X: torch.Tensor, y: torch.Tensor) -> None:
    """On the first batch only (one host sync): labels must be class indices the model can output."""
    if y.dtype.is_floating_point:
        return  # soft targets (mixup, cutmix) are checked by the loss itself
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            classes = model(X[:1]).shape[-1]
    finally:
        model.train(was_training)
    low, high = torch.stack([y.min(), y.max()]).tolist()  # one wait for the device, once per fit
    if low < 0 or high >= classes:
        raise ValueError(f"labels must be class indices in [0, {classes - 1}] for a model with {classes} outputs; "
                         f"this batch has labels from {low} to {high}")


def _stop_if_not_finite(loss: float, epoch: int, step: int | None) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the training loss became {loss} in epoch {epoch + 1} (by step {step}); training stopped. "
            "The learning rate is probably too high for this model and initialisation: try a smaller lr.")
