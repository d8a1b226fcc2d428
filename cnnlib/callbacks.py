"""Ready-made ``Callback``s for ``fit``: learning-rate schedules, batch transforms, early stopping, the live plot,
a time estimate, and a probe of the batch-norm statistics.

Each one is a few lines around one hook of ``cnnlib.fitstate.Callback``; write your own the same way.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import update_bn

from .device import device_name
from .evaluation import evaluate
from .fitstate import Batches, Callback, FitState, snapshot


def schedule_length(scheduler) -> int | None:
    """How many ``step()`` calls a torch LR scheduler is defined for, or ``None`` if it never ends.

    A one-cycle schedule raises after its ``total_steps``; a cosine schedule climbs back up after ``T_max``;
    a polynomial one stays at zero after ``total_iters``: each must last as long as training.
    """
    from torch.optim import lr_scheduler as s

    if isinstance(scheduler, s.OneCycleLR):
        return scheduler.total_steps
    if isinstance(scheduler, (s.CosineAnnealingLR,)):
        return scheduler.T_max
    if isinstance(scheduler, s.PolynomialLR):
        return scheduler.total_iters
    if isinstance(scheduler, s.SequentialLR):
        last = schedule_length(scheduler._schedulers[-1])
        return None if last is None else scheduler._milestones[-1] + last
    return None


class LRSchedule(Callback):
    """Step a torch LR scheduler after every optimisation step (``per="step"``) or every epoch.

    Per step is what warm-up, cosine and one-cycle schedules need: the learning rate moves smoothly
    within an epoch. ``ReduceLROnPlateau`` is stepped per epoch on the validation loss. ``lrs`` records the
    learning rate each step (or epoch) trained with. The schedule's length is checked against what training
    still needs just before the first step, once every callback has started (a resumed run included).
    """

    def __init__(self, scheduler, per: str = "step"):
        if per not in ("step", "epoch"):
            raise ValueError(f"per must be 'step' or 'epoch', got {per!r}")
        self.plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        if self.plateau and per != "epoch":
            raise ValueError("ReduceLROnPlateau watches the validation loss, which fit measures once per epoch: "
                             "use LRSchedule(scheduler, per='epoch')")
        self.scheduler, self.per = scheduler, per
        self.lrs: list[float] = []
        self.checked = False

    def on_fit_start(self, state: FitState) -> None:
        if self.scheduler.optimizer is not state.optimizer:
            raise ValueError("the scheduler was built for another optimizer than the one fit trains with")
        self.checked = False

    def _check_length(self, state: FitState) -> None:
        """Refuse, before the first step, a schedule that would end before training or never leave warm-up."""
        length = schedule_length(self.scheduler)
        steps = state.steps_per_epoch
        if self.per == "step" and steps is None and length is not None:
            raise ValueError("a per-step schedule of fixed length needs training data with a len()")
        epochs = state.epochs - state.start_epoch  # what this fit still trains (fewer when resuming)
        needed = epochs * (steps or 0) if self.per == "step" else epochs
        done = self.scheduler.last_epoch  # steps already taken (0 for a new scheduler)
        if length is None:
            return
        if self.per == "epoch" and steps and steps > 1 and length == state.epochs * steps:
            raise ValueError(f"the scheduler lasts {length} steps, as many as the training steps ({state.epochs} "
                             f"epochs x {steps}), but it would be stepped once per epoch and never get past its "
                             "start: pass it as callbacks=[LRSchedule(scheduler, per='step')]")
        if length - done < needed:
            resumed = f" ({done} of them already taken in the run being resumed)" if state.start_epoch else ""
            hint = ("the schedule belongs to the run; to train longer, start a new run (e.g. from best.pt) with a "
                    "schedule for the extra epochs" if state.start_epoch else
                    "build it with total_steps / T_max = epochs * len(train)" if self.per == "step" else
                    "build it with T_max / total_iters = epochs")
            raise ValueError(f"the scheduler ends after {length} {self.per}s{resumed} but training needs {needed} "
                             f"more ({epochs} epochs" + (f" x {steps} steps" if self.per == "step" else "")
                             + f"): {hint}")
        phases = getattr(self.scheduler, "_schedule_phases", None)  # OneCycleLR: warm-up, then annealing
        if isinstance(self.scheduler, torch.optim.lr_scheduler.OneCycleLR) and phases and phases[0]["end_step"] < 1:
            raise ValueError(f"this one-cycle schedule of {length} {self.per}s warms up for "
                             f"{phases[0]['end_step'] + 1:.2g} of them, so its first step trains at the initial lr "
                             "and its peak is never reached: use more steps or a larger pct_start")

    def state_dict(self) -> dict:
        return {"scheduler": self.scheduler.state_dict(), "lrs": list(self.lrs)}

    def load_state_dict(self, state: dict) -> None:
        self.scheduler.load_state_dict(state["scheduler"])
        self.lrs = list(state["lrs"])

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not self.checked:
            self._check_length(state)
            self.checked = True
        return X, y

    def _step(self, state: FitState) -> None:
        self.lrs.append(float(self.scheduler.optimizer.param_groups[0]["lr"]))
        if self.plateau:
            if not state.history.val_loss:
                raise ValueError("ReduceLROnPlateau needs the validation loss: pass val= to fit")
            self.scheduler.step(state.history.val_loss[-1])
        else:
            self.scheduler.step()

    def on_step_end(self, state: FitState) -> None:
        if self.per == "step":
            self._step(state)

    def on_epoch_end(self, state: FitState) -> None:
        if self.per == "epoch":
            self._step(state)


class BatchTransform(Callback):
    """Apply ``transform(X, y) -> (X, y)`` to every training batch on the device (augmentation, mixup).

    Validation batches are left alone: ``fit`` calls this hook only for training batches.
    """

    def __init__(self, transform: Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.transform = transform

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(X, y)


class EarlyStopping(Callback):
    """Stop when the validation accuracy has not improved for ``patience`` epochs; keep the best weights.

    At the end the model holds the weights of the best epoch (by validation accuracy), ``best_epoch``
    says which one it was (counted from 1).
    """

    def __init__(self, patience: int = 3, restore_best: bool = True):
        if patience < 1:
            raise ValueError(f"patience must be at least 1, got {patience}")
        self.patience, self.restore_best = patience, restore_best
        self.best_acc, self.best_epoch, self.best_state = -1.0, 0, None

    def on_epoch_end(self, state: FitState) -> None:
        if not state.history.val_acc:
            raise ValueError("EarlyStopping needs validation data: pass val= to fit")
        acc, epoch = state.history.val_acc[-1], len(state.history)
        if acc > self.best_acc:
            self.best_acc, self.best_epoch = acc, epoch
            self.best_state = snapshot(state.model)
        elif epoch - self.best_epoch >= self.patience:
            state.stop = True

    def state_dict(self) -> dict:
        return {"best_acc": self.best_acc, "best_epoch": self.best_epoch, "best_state": self.best_state}

    def load_state_dict(self, state: dict) -> None:
        self.best_acc, self.best_epoch, self.best_state = state["best_acc"], state["best_epoch"], state["best_state"]

    def on_fit_end(self, state: FitState) -> None:
        if self.restore_best and self.best_state is not None:
            state.model.load_state_dict(self.best_state)


def batch_statistics_accuracy(model: nn.Module, data: Batches) -> float:
    """Accuracy in training mode: each batch normalised with its own statistics (the model's running
    statistics move; pass a copy). One read of the count at the end, not one per batch."""
    device = next(model.parameters()).device
    model.train()
    correct = torch.zeros((), dtype=torch.long, device=device)
    with torch.no_grad():
        for X, y in data:
            correct += (model(X.to(device)).argmax(dim=1) == y.to(device)).sum()
    return correct.item() / len(data.labels)


class BNStatsProbe(Callback):
    """Chapter 9's probe: after each epoch, the validation accuracy with the running batch-norm statistics
    (``eval_acc``, what ``fit`` reports), with each batch's own statistics (``batch_acc``) and with statistics
    recomputed over ``train`` by ``update_bn`` (``recomputed_acc``). It measures copies; training is untouched."""

    def __init__(self, train: Batches, val: Batches):
        self.train, self.val = train, val
        self.eval_acc: list[float] = []
        self.batch_acc: list[float] = []
        self.recomputed_acc: list[float] = []

    def on_epoch_end(self, state: FitState) -> None:
        if not state.history.val_acc:
            raise ValueError("BNStatsProbe reads fit's validation accuracy: call fit(model, train, val, ...)")
        self.eval_acc.append(state.history.val_acc[-1])
        fresh = copy.deepcopy(state.model)
        device = next(fresh.parameters()).device
        # A pass over shuffled training batches draws random numbers: keep training's random stream as it was.
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            self.batch_acc.append(batch_statistics_accuracy(fresh, self.val))
            update_bn(self.train, fresh, device=device)  # training mode, no gradient steps
        self.recomputed_acc.append(evaluate(fresh, self.val)[1])


class LivePlotter(Callback):
    """Redraw the loss and accuracy curves in the notebook at every progress update and epoch end."""

    def on_fit_start(self, state: FitState) -> None:
        from .plot import LivePlot

        self.plot = LivePlot(epochs=state.epochs)

    def on_update(self, state: FitState) -> None:
        self.plot.update(state.history)

    def on_epoch_end(self, state: FitState) -> None:
        self.plot.update(state.history)

    def on_fit_end(self, state: FitState) -> None:
        if hasattr(self, "plot"):
            self.plot.close()



def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min" if seconds < 5400 else f"{seconds / 3600:.1f} h"


class TimeEstimate(Callback):
    """Say early how long training will take, measured on this run: after ``warmup`` steps, time the next
    ``steps`` (and at least ``seconds``), then print the estimate for the whole fit if it exceeds ``min_seconds``.

    ``fit`` adds one whenever it shows progress. ``hint`` says how to get a shorter run (quick mode by default).
    On CUDA the two timing points wait for the device, once each; nothing else does.
    """

    def __init__(self, warmup: int = 3, steps: int = 20, seconds: float = 2.0, min_seconds: float = 60.0,
                 hint: str = "for a shorter run, chapters with a long one offer the CPU setting: set "
                             "SETTING = \"cpu\" in their settings cell and run again (each says what it "
                             "changes and what it reaches); CNNLIB_QUICK=1 is the tests' quick mode"):
        self.warmup, self.steps, self.seconds, self.min_seconds, self.hint = warmup, steps, seconds, min_seconds, hint
        self.start: float | None = None
        self.estimate: float | None = None  #: seconds for every step of this fit, once measured

    @staticmethod
    def _now(state: FitState) -> float:
        if state.device.type == "cuda":
            torch.cuda.synchronize(state.device)
        return time.perf_counter()

    def on_fit_start(self, state: FitState) -> None:
        self.first_step = state.step

    def on_step_end(self, state: FitState) -> None:
        if self.estimate is not None or not state.steps_per_epoch:
            return
        done = state.step - self.first_step
        if done == self.warmup:
            self.start = self._now(state)
        elif (self.start is not None and done >= self.warmup + self.steps
              and time.perf_counter() - self.start >= self.seconds):
            per_step = (self._now(state) - self.start) / (done - self.warmup)
            epochs = state.epochs - state.start_epoch
            total = state.steps_per_epoch * epochs
            self.estimate = per_step * total
            if self.estimate >= self.min_seconds:
                print(f"Estimated training time: about {_duration(self.estimate)} for {epochs} epoch(s) on "
                      f"{device_name(state.device)}, measured over {done - self.warmup} steps (validation adds a "
                      f"little); {_duration(per_step * (total - done))} from now. Stop any time with the stop "
                      f"button or Ctrl-C: the finished epochs are kept. {self.hint[0].upper() + self.hint[1:]}.")
