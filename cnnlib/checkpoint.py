"""Checkpoints for ``fit``: save everything a run needs at each epoch end, and resume it exactly.

A checkpoint holds plain data only (tensors, numbers, lists, dicts), so it loads with
``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import dataclasses
import os
import random
import tempfile
import warnings
from pathlib import Path

import torch

from .distributed import is_main
from .fitstate import Callback, FitState, History


def save_atomic(obj, path: str | os.PathLike) -> None:
    """``torch.save`` to a temporary file in the same folder, flushed to disk, then renamed over ``path``.

    A crash at any moment leaves either the old file or the new one, never half of one.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Load a checkpoint written by ``Checkpoint`` (``weights_only=True``); a damaged file names itself."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise ValueError(f"checkpoint {path} is damaged or truncated and cannot be loaded ({error}); "
                         "use another checkpoint (best.pt / last.pt) or start again") from error


def _rng_state() -> dict:
    state = {"torch": torch.get_rng_state(), "python": list(random.getstate()[1]),
             "python_version": random.getstate()[0], "python_gauss": random.getstate()[2]}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np
        kind, keys, pos, has_gauss, gauss = np.random.get_state()
        state["numpy"] = [torch.from_numpy(keys.copy()), pos, has_gauss, gauss]
    except ImportError:
        pass
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate((state["python_version"], tuple(state["python"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np
        keys, pos, has_gauss, gauss = state["numpy"]
        np.random.set_state(("MT19937", keys.numpy(), pos, has_gauss, gauss))


def _settings(optimizer: torch.optim.Optimizer) -> list[tuple[str, object]]:
    """The optimizer's plain hyperparameters, group by group, as (name, value) pairs."""
    return [(f"group {i} {key}" if len(optimizer.param_groups) > 1 else key, value)
            for i, group in enumerate(optimizer.param_groups) for key, value in sorted(group.items())
            if isinstance(value, (int, float, bool, tuple)) and key not in ("initial_lr", "max_lr", "min_lr")]


def _history_dict(history: History) -> dict:
    data = dataclasses.asdict(history)
    data["running"] = [list(r) for r in history.running]
    return data


def _load_history(history: History, data: dict) -> None:
    for name, value in data.items():
        setattr(history, name, [tuple(r) for r in value] if name == "running" else value)


class Checkpoint(Callback):
    """Save ``last.pt`` (and ``best.pt``, by validation accuracy) in ``folder`` every ``every`` epochs.

    With ``resume=True`` and a ``last.pt`` in the folder, ``fit`` continues that run exactly: weights,
    optimizer, callbacks with a ``state_dict`` (LR schedules, early stopping), History, random states, epoch.
    It runs after the other callbacks (``order = 1``), so it saves what they did at the epoch's end.
    Under torchrun only process 0 writes; every process resumes from the same ``last.pt``.
    """

    order = 1

    def __init__(self, folder: str | os.PathLike, every: int = 1, keep_best: bool = True, resume: bool = False,
                 overwrite: bool = False):
        if every < 1:
            raise ValueError(f"every must be at least 1, got {every}")
        self.folder, self.every, self.keep_best, self.resume = Path(folder), every, keep_best, resume
        self.overwrite = overwrite
        self.best_acc = -1.0

    @property
    def last(self) -> Path:
        return self.folder / "last.pt"

    @property
    def best(self) -> Path:
        return self.folder / "best.pt"

    def on_fit_start(self, state: FitState) -> None:
        """Start a new run in an empty folder (or with ``overwrite=True``), or resume the one saved there.

        When resuming, what ``last.pt`` saved wins over what this call gives (weights, optimizer settings such as
        lr and momentum, callback states), so the run continues exactly; settings that differ are named."""
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(".*.pt.*.tmp"):  # left by a process killed while saving
            stale.unlink(missing_ok=True)
        existing = [p.name for p in (self.last, self.best) if p.exists()]
        if not self.resume or not self.last.exists():
            if existing and not self.overwrite:
                what = ("holds best.pt but no last.pt, so there is no run to resume exactly; load best.pt with "
                        "load_checkpoint to start from its weights," if self.resume else
                        f"already holds a run ({', '.join(existing)}): resume it with resume=True,")
                raise FileExistsError(f"{self.folder} {what} choose another folder, or pass overwrite=True to "
                                      "replace it")
            if self.resume and is_main():
                print(f"Checkpoint: nothing to resume in {self.folder}; starting a new run there.")
            return
        data = load_checkpoint(self.last)
        self._check_same_run(data, state)
        given = _settings(state.optimizer)
        state.model.load_state_dict(data["model"])
        state.optimizer.load_state_dict(data["optimizer"])
        for cb, saved in zip(self._stateful(state), data["callbacks"], strict=True):
            cb.load_state_dict(saved)
        _load_history(state.history, data["history"])
        state.start_epoch, state.step = data["epoch"], data["step"]
        self.best_acc = data["best_acc"]
        _set_rng_state(data["rng"])
        scheduled = any(type(cb).__name__ == "LRSchedule" for cb in state.callbacks)
        changed = [f"{key} {now!r} given now, {saved!r} saved" for (key, now), saved in
                   zip(given, (v for _, v in _settings(state.optimizer))) if now != saved
                   and not (scheduled and key.split()[-1] in ("lr", "momentum", "betas"))]  # what a schedule sets
        if changed:
            warnings.warn(f"resuming {self.last}: the saved settings win so that the run continues exactly "
                          f"({'; '.join(changed)}). To train with new settings, start a new run.", stacklevel=4)

    def _check_same_run(self, data: dict, state: FitState) -> None:
        """Refuse to resume into a different setup: more epochs done than asked for, another optimizer type,
        or another list of callbacks with a state (schedules, early stopping)."""
        if data["epoch"] > state.epochs:
            raise ValueError(f"{self.last} has finished {data['epoch']} epochs, more than epochs={state.epochs}: "
                             f"epochs counts from the start of the run, so ask for at least {data['epoch']}")
        saved, now = data.get("optimizer_type"), type(state.optimizer).__name__
        if saved is not None and saved != now:
            raise ValueError(f"{self.last} was trained with {saved}, this fit uses {now}: its optimizer state "
                             f"cannot carry over. Resume with {saved}, or start a new run (another folder, or "
                             "overwrite=True)")
        saved = data.get("callback_types", [None] * len(data["callbacks"]))
        now = [type(cb).__name__ for cb in self._stateful(state)]
        if len(saved) != len(now) or (None not in saved and saved != now):
            raise ValueError(f"{self.last} saved the state of the callbacks {saved}, but this fit has {now}: resume "
                             "with the same schedules and early stopping, in the same order, or start a new run")

    def _stateful(self, state: FitState) -> list[Callback]:
        return [cb for cb in state.callbacks if cb is not self and hasattr(cb, "state_dict")]

    def on_epoch_end(self, state: FitState) -> None:
        epoch = state.epoch + 1
        if epoch % self.every and epoch != state.epochs:
            return
        val_acc = state.history.val_acc[-1] if state.history.val_acc else None
        improved = val_acc is not None and val_acc > self.best_acc
        if improved:
            self.best_acc = val_acc
        if not is_main():
            return
        data = {"model": state.model.state_dict(), "optimizer": state.optimizer.state_dict(),
                "callbacks": [cb.state_dict() for cb in self._stateful(state)],
                "callback_types": [type(cb).__name__ for cb in self._stateful(state)],
                "optimizer_type": type(state.optimizer).__name__,
                "history": _history_dict(state.history), "epoch": epoch, "step": state.step,
                "best_acc": self.best_acc, "rng": _rng_state()}
        save_atomic(data, self.last)
        if self.keep_best and improved:
            save_atomic(data, self.best)
