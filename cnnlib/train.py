"""The training loop: ``fit`` trains a classifier, ``evaluate`` and ``predict`` measure it.

The loop never waits for the device inside an epoch except at the few progress updates: losses and
correct counts are summed on the device and read back once per update.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
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
        val = f", test acc {self.val_acc[-1]:.3f}" if self.val_acc else ""
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
    return (lambda: torch.autocast(device.type, dtype=dtypes[amp])), scaler


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
    with torch.inference_mode():
        for X, y in data:
            X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
            _check_batch(X, y)
            out = model(X)
            loss_sum += loss_fn(out.float(), y) * y.shape[0]
            correct += (out.argmax(dim=1) == y).sum()
            count += y.shape[0]
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
    with torch.inference_mode():
        for X, y in data:
            preds.append(model(X.to(device)).argmax(dim=1))
            labels.append(y.to(device))
    model.train(was_training)
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


def fit(model: nn.Module, train: Batches, val: Batches | None = None, epochs: int = 10, lr: float = 0.1,
        optimizer: torch.optim.Optimizer | None = None, loss_fn: Callable | None = None,
        device: torch.device | str | None = None, init: str | Callable | None = None,
        amp: str | None = None, scheduler=None, live_plot: bool | None = None, progress: bool = True,
        updates_per_epoch: int = 4) -> History:
    """Train a classifier and return its ``History``.

    - ``optimizer`` defaults to SGD with learning rate ``lr``; ``loss_fn`` to cross-entropy.
    - ``init`` re-initialises the weights first (see ``init_weights``).
    - ``amp`` turns on mixed precision: ``"bf16"`` (Ampere and newer GPUs) or ``"fp16"`` (with a
      gradient scaler, for older GPUs such as the T4). Off by default: for small models it is slower.
    - ``scheduler`` (a torch LR scheduler) is stepped once per epoch.
    - A progress bar and, in notebooks, a live plot show progress; Ctrl-C (or the stop button)
      ends training early and returns the history so far. A loss that becomes NaN or infinite stops
      training with ``FloatingPointError``.
    """
    from tqdm.auto import tqdm

    from .plot import LivePlot

    if epochs < 0:
        raise ValueError(f"epochs must be >= 0, got {epochs}")
    device = get_device(device)
    model.to(device)
    if init is not None:
        init_weights(model, init)
    optimizer = optimizer or torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    autocast, scaler = _autocast(device, amp)
    history = History(device=f"{device} ({device_name(device)})" if device.type != "cpu" else device_name(device))
    plot = LivePlot() if (live_plot if live_plot is not None else _in_notebook()) else None
    steps = len(train) if hasattr(train, "__len__") else None
    update_every = max(1, steps // updates_per_epoch) if steps else 50

    try:
        for epoch in range(epochs):
            model.train()
            loss_sum = torch.zeros((), device=device)
            correct = torch.zeros((), device=device, dtype=torch.long)
            count = 0
            start = time.perf_counter()
            bar = tqdm(total=steps, desc=f"epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
            for step, (X, y) in enumerate(train, 1):
                X, y = X.to(device, non_blocking=True), y.to(device, non_blocking=True)
                _check_batch(X, y)
                with autocast():
                    out = model(X)
                    loss = loss_fn(out, y)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    loss.backward()
                    optimizer.step()
                loss_sum += loss.detach().float() * y.shape[0]
                correct += (out.detach().argmax(dim=1) == y).sum()
                count += y.shape[0]
                bar.update()
                if step % update_every == 0:  # the only host syncs inside an epoch
                    running = loss_sum.item() / count
                    _stop_if_not_finite(running, epoch, step)
                    bar.set_postfix(loss=f"{running:.3f}", acc=f"{correct.item() / count:.3f}")
            bar.close()
            if count == 0:
                raise ValueError("the training data gave no batches")
            train_loss, train_acc = loss_sum.item() / count, correct.item() / count
            _stop_if_not_finite(train_loss, epoch, steps)
            seconds = time.perf_counter() - start  # .item() above waited for the device
            history.train_loss.append(train_loss)
            history.train_acc.append(train_acc)
            history.seconds.append(seconds)
            history.examples_per_sec.append(count / seconds)
            if val is not None:
                val_loss, val_acc = evaluate(model, val, device, loss_fn)
                history.val_loss.append(val_loss)
                history.val_acc.append(val_acc)
            if scheduler is not None:
                scheduler.step()
            if plot is not None:
                plot.update(history)
    except KeyboardInterrupt:
        history.interrupted = True
        print(f"Interrupted: returning the history of the {len(history)} finished epoch(s).")
    finally:
        if plot is not None:
            plot.close()
    print(history.summary())
    return history


def _stop_if_not_finite(loss: float, epoch: int, step: int | None) -> None:
    if not math.isfinite(loss):
        raise FloatingPointError(
            f"the training loss became {loss} in epoch {epoch + 1} (by step {step}); training stopped. "
            "The learning rate is probably too high for this model and initialisation: try a smaller lr.")
