"""What ``fit`` records and what its callbacks see: ``History``, ``FitState``, the ``Callback`` hooks."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from torch import nn

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
    run. A callback with ``state_dict()``/``load_state_dict()`` is saved by ``Checkpoint``. Hooks run on the
    host: a hook that reads a device tensor (``.item()``) waits for the device.

    Callbacks run in the order of ``order`` (then as listed): ``Checkpoint`` has order 1, so it saves the
    state every other callback left at the epoch's end (a schedule already stepped), in any list order.
    """

    order: int = 0

    def on_fit_start(self, state: FitState) -> None: ...

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return X, y

    def on_step_end(self, state: FitState) -> None: ...

    def on_update(self, state: FitState) -> None: ...

    def on_epoch_end(self, state: FitState) -> None: ...

    def on_fit_end(self, state: FitState) -> None: ...



def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the device (cheap for the course's models), to go back to after a NaN."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
