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
import copy
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from . import distributed
from .callbacks import LivePlotter, LRSchedule, TimeEstimate
from .cuda_graph import _graph_safe, _GraphedStep, _optimizer_settings  # noqa: F401  (tests reach them here)
from .device import cpu_threads, device_name, get_device, native_bf16
from .evaluation import _check_batch, _model_device, evaluate, not_finite, predict  # noqa: F401
from .fitstate import Batches, Callback, FitState, History, snapshot  # noqa: F401  (the public names, as before)


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



def _fast_cpu(model: nn.Module) -> str | None:
    """Apply ``fit(fast=True)``'s CPU settings to ``model`` and the process; return the ``amp`` to use."""
    if any(isinstance(m, nn.Conv2d) for m in model.modules()):
        model.to(memory_format=torch.channels_last)
    if torch.get_num_threads() > cpu_threads():
        torch.set_num_threads(cpu_threads())
    return "bf16" if native_bf16("cpu") else None


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
        labels = y.argmax(dim=1) if y.is_floating_point() else y  # soft targets (mixup): the dominant class
        hits = out.detach().argmax(dim=1) == labels  # (N,), or (N, H, W) for a mask per image (segmentation)
        self.correct.add_(hits.reshape(len(hits), -1).float().mean(dim=1).sum())  # each image's fraction right



def fit(model: nn.Module, train: Batches, val: Batches | None = None, epochs: int = 10, lr: float = 0.1,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: Callable | None = None,
        device: torch.device | str | None = None, init: str | Callable | None = None,
        amp: str | None = None, scheduler=None, callbacks: Sequence[Callback] = (),
        live_plot: bool | None = None, progress: bool = True, updates_per_epoch: int = 4,
        cuda_graph: bool | None = None, fast: bool = False) -> History:
    """Train a classifier and return its ``History``.

    - ``optimizer`` defaults to SGD with learning rate ``lr`` (fused on CUDA); ``loss_fn`` to cross-entropy.
    - Segmentation trains the same way: (N, classes, H, W) scores for (N, H, W) masks; accuracy is then per pixel.
    - ``init`` re-initialises the weights first (see ``init_weights``).
    - ``amp`` turns on mixed precision: ``"bf16"`` (Ampere and newer GPUs) or ``"fp16"`` (with a
      gradient scaler, for older GPUs such as the T4). Off by default: for small models it is slower.
    - ``scheduler`` (a torch LR scheduler) is stepped once per epoch; for per-step schedules pass
      ``callbacks=[LRSchedule(scheduler)]``.
    - ``callbacks``: the extension point (see ``Callback``): schedules, augmentation, checkpoints...
    - ``cuda_graph`` replays each training step as a CUDA graph, which removes the cost of launching
      many small kernels from Python. By default it is on where it is safe: on CUDA, without fp16's
      gradient scaler, with plain SGD or an optimizer made with ``capturable=True``.
    - ``fast=True`` asks for what measurably speeds up training on a CPU (``benchmarks/cpu_fast_settings.py``):
      convolutional models in channels_last memory layout, bfloat16 autocast where the CPU computes in bf16
      natively (``native_bf16``; an explicit ``amp`` wins), and one thread per core this process may use.
      It changes nothing on a GPU.
    - A progress bar and, in notebooks, a live plot show progress. Ctrl-C (or the stop button) ends
      training early and returns the history of the finished epochs. Any other error is raised with the
      history of the finished epochs attached as ``error.history``; after a loss that became NaN or
      infinite (``FloatingPointError``) the model holds the weights of the last finished epoch again.
    """
    from tqdm.auto import tqdm

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    if updates_per_epoch < 1:
        raise ValueError(f"updates_per_epoch must be at least 1, got {updates_per_epoch}")
    _require_reiterable(train, "train", epochs)
    _require_reiterable(val, "val", epochs)
    if val is not None and hasattr(val, "__len__") and len(val) == 0:  # else found only after a whole epoch
        raise ValueError("val is empty (len(val) == 0): pass validation batches, or val=None to train without")
    device = get_device(device)
    model.to(device)
    if fast and device.type == "cpu":
        fast_amp = _fast_cpu(model)
        amp = amp if amp is not None else fast_amp
    if init is not None:
        init_weights(model, init)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr, fused=device.type == "cuda")
    _require_own_optimizer(model, optimizer)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    _check_label_smoothing(loss_fn)
    autocast, scaler = _autocast(device, amp)
    history = History(device=f"{device} ({device_name(device)})" if device.type != "cpu" else device_name(device))
    # Under torchrun: DistributedDataParallel, each process's slice of every batch, progress on process 0 only.
    parallel = distributed.DataParallel(model, train, loss_fn, device) if distributed.world_size() > 1 else None
    main = distributed.is_main()
    if not main:
        progress = live_plot = False
    steps = len(train) if hasattr(train, "__len__") else None
    update_every = max(1, steps // updates_per_epoch) if steps else 50
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"callbacks must be Callback objects, got {cb!r}: subclass cnnlib.Callback and override "
                            "the hooks you need (on_epoch_end, ...)")
    if scheduler is not None:
        callbacks.append(LRSchedule(scheduler, per="epoch"))
    if parallel is not None:
        callbacks.append(parallel)
    if live_plot if live_plot is not None else _in_notebook():
        callbacks.append(LivePlotter())
    if progress:
        callbacks.append(TimeEstimate())
    callbacks.sort(key=lambda cb: cb.order)  # stable: equal orders keep the order given
    state = FitState(model, optimizer, loss_fn, device, history, epochs, steps, callbacks=callbacks)

    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)  # summed per image: the fraction of its labels (pixels) predicted right
    step = _TrainStep(parallel.module if parallel else model, loss_fn, optimizer, autocast, scaler, loss_sum, correct)
    graph_safe = _graph_safe(device, optimizer, scaler) and parallel is None
    if cuda_graph and not graph_safe:
        raise ValueError("cuda_graph=True needs a CUDA device, no fp16 gradient scaler, plain SGD or an "
                         "optimizer made with capturable=True, and a single process (not torchrun)")
    if graph_safe and cuda_graph is not False:
        step = _GraphedStep(step)

    last_good = _good_state(model, optimizer)
    bad_input = torch.zeros((), device=device, dtype=torch.bool)
    failed: BaseException | None = None
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
                bad_input |= not_finite(X)
                if state.step == 0:
                    _check_labels(model, X, y)
                step(X, y)
                state.step += 1
                count += y.shape[0]
                for cb in callbacks:
                    cb.on_step_end(state)
                bar.update()
                if i % update_every == 0:  # the only host syncs inside an epoch
                    total_loss, total_correct, seen = distributed.totals(loss_sum, correct, count)  # all processes
                    running = total_loss / seen
                    _stop_if_not_finite(running, state.epoch, i, bad_input)
                    history.running.append((state.epoch + i / (steps or i), running, total_correct / seen,
                                            float(optimizer.param_groups[0]["lr"])))
                    bar.set_postfix(loss=f"{running:.3f}", acc=f"{history.running[-1][2]:.3f}")
                    for cb in callbacks:
                        cb.on_update(state)
            bar.close()
            if count == 0:
                raise ValueError("the training data gave no batches")
            total_loss, total_correct, count = distributed.totals(loss_sum, correct, count)
            train_loss, train_acc = total_loss / count, total_correct / count
            _stop_if_not_finite(train_loss, state.epoch, steps, bad_input)
            _stop_if_weights_not_finite(model, state.epoch)  # before anything records, saves or snapshots them
            seconds = time.perf_counter() - start  # .item() above waited for the device
            val_result = distributed.evaluate(model, val, device, loss_fn) if val is not None else None
            # all of an epoch's entries at once, so an interruption never leaves the lists uneven
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.seconds.append(seconds)
            history.examples_per_sec.append(count / seconds)
            if val_result is not None:
                history.val_loss.append(val_result[0])
                history.val_acc.append(val_result[1])
            last_good = _good_state(model, optimizer)
            for cb in callbacks:
                cb.on_epoch_end(state)
            if state.stop:
                break
    except KeyboardInterrupt:
        history.interrupted = True
        _trim(history)
        if main:
            print(f"Interrupted: returning the history of the {len(history)} finished epoch(s).")
    except FloatingPointError as error:
        model.load_state_dict(last_good[0])
        optimizer.load_state_dict(last_good[1])  # momentum buffers too: the same optimizer can train on
        error.history = _trim(history)
        error.add_note(f"The model and the optimizer hold the state of the last finished epoch ({len(history)}) "
                       "again; error.history has the finished epochs.")
        failed = error
        raise
    except Exception as error:
        error.history = _trim(history)
        error.add_note(f"error.history has the {len(history)} finished epoch(s).")
        failed = error
        raise
    finally:
        model.train()
        _end_callbacks(callbacks, state, failed)
    if main:
        print(history.summary())
    return history


def _end_callbacks(callbacks: Sequence[Callback], state: FitState, failed: BaseException | None) -> None:
    """Run every callback's ``on_fit_end``, even when one raises (so EarlyStopping still restores its best
    weights). The first error is raised after them, with the History attached, unless training already failed
    (that error goes on, with a note) or was interrupted (the History is returned, with a warning)."""
    first = None
    for cb in callbacks:
        try:
            cb.on_fit_end(state)
        except Exception as error:
            first = first or (cb, error)
    if first is None:
        return
    cb, error = first
    what = f"{type(cb).__name__}.on_fit_end raised {type(error).__name__}: {error}"
    if failed is not None:
        failed.add_note(f"Afterwards {what}.")
    elif state.history.interrupted:
        warnings.warn(f"{what}; the interrupted run's History is returned anyway.", stacklevel=3)
    else:
        error.history = _trim(state.history)
        error.add_note(f"Every callback's on_fit_end ran; error.history has the {len(state.history)} finished epoch(s).")
        raise error


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
    """On the first batch only (one host sync): the model must return (N, classes) scores, or (N, classes, H, W)
    for (N, H, W) masks (segmentation), and the labels must be class indices it can output."""
    if y.dtype.is_floating_point:
        return  # soft targets (mixup, cutmix) are checked by the loss itself
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            shape = tuple(model(X[:1]).shape)
    finally:
        model.train(was_training)
    if y.ndim > 1 and shape[2:] != tuple(y.shape[1:]):
        raise ValueError(f"for labels of shape (N, {', '.join(map(str, y.shape[1:]))}) (a mask per image) the model "
                         f"must return scores of shape (N, classes, {', '.join(map(str, y.shape[1:]))}); for a "
                         f"batch of 1 it returned shape {shape}")
    if y.ndim == 1 and len(shape) != 2:
        raise ValueError(f"the model must return class scores of shape (N, classes), but for a batch of 1 it "
                         f"returned shape {shape}: flatten or squeeze its output (e.g. nn.Flatten() at the end)")
    classes = shape[1]
    low, high = torch.stack([y.min(), y.max()]).tolist()  # one wait for the device, once per fit
    if low < 0 or high >= classes:
        raise ValueError(f"labels must be class indices in [0, {classes - 1}] for a model with {classes} outputs; "
                         f"this batch has labels from {low} to {high}")


def _good_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> tuple[dict, dict]:
    """Copies of the weights and the optimizer state (momentum buffers...) to go back to after a NaN."""
    return snapshot(model), copy.deepcopy(optimizer.state_dict())


def _stop_if_not_finite(loss: float, epoch: int, step: int | None, bad_input: torch.Tensor) -> None:
    if math.isfinite(loss):
        return
    if bad_input.item():  # read only now, when something already went wrong
        raise FloatingPointError(
            f"the training loss became {loss} in epoch {epoch + 1} (by step {step}) because the input data holds "
            "NaN or infinite values: the learning rate is not the cause. Find them with torch.isfinite(X).all() "
            "on each batch.")
    raise FloatingPointError(
        f"the training loss became {loss} in epoch {epoch + 1} (by step {step}); training stopped. "
        "The learning rate is probably too high for this model and initialisation: try a smaller lr.")


def _stop_if_weights_not_finite(model: nn.Module, epoch: int) -> None:
    """One check (one host sync) per epoch: an update that overflowed on the epoch's last step leaves a finite
    training loss but NaN or infinite weights, which must never be recorded or saved as a good epoch."""
    tensors = [t for t in model.state_dict().values() if t.is_floating_point()]
    if tensors and not bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all()):
        bad = next(name for name, t in model.state_dict().items() if t.is_floating_point() and not torch.isfinite(t).all())
        raise FloatingPointError(
            f"the weights became NaN or infinite in epoch {epoch + 1} (first: {bad}): an update overflowed. "
            "The learning rate is probably too high for this model and initialisation: try a smaller lr.")
