"""Weight averaging as a ``Callback``: an exponential moving average of the weights (EMA), or stochastic
weight averaging (SWA; Izmailov et al., 2018), kept beside the model by ``torch.optim.swa_utils.AveragedModel``."""

from __future__ import annotations

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn, update_bn

from .evaluation import evaluate
from .fitstate import Batches, Callback, FitState


def ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], decay: float) -> None:
    """One EMA step in place: ``a <- decay * a + (1 - decay) * w`` for each pair of tensors."""
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"decay must lie in [0, 1], got {decay}")
    if len(averaged) != len(current):
        raise ValueError(f"{len(averaged)} averaged tensors but {len(current)} current ones")
    with torch.no_grad():
        for a, w in zip(averaged, current):
            a.mul_(decay).add_(w.detach(), alpha=1 - decay)


class WeightAveraging(Callback):
    """Keep an averaged copy of the model's weights in ``averaged`` (an ``AveragedModel``) while ``fit`` trains.

    - ``kind="ema"``: after every ``every``-th step, ``a <- decay * a + (1 - decay) * w`` over the weights and
      the batch-norm buffers (``use_buffers=True``), so the copy is ready to evaluate at any time.
    - ``kind="swa"``: at the end of each epoch from ``start_epoch`` on (counted from 0), the plain mean of
      those epochs' weights. Batch-norm statistics do not average that way: give ``train`` and they are
      recomputed for the averaged weights at the end of fit (``update_bn``); else call it yourself.

    With ``val``, the averaged model's validation accuracy is recorded each epoch it exists (``val_acc``,
    ``epochs``; SWA recomputes its batch-norm statistics on ``train`` first, a pass over the training data).
    """

    def __init__(self, kind: str = "ema", decay: float = 0.999, every: int = 1, start_epoch: int = 0,
                 train: Batches | None = None, val: Batches | None = None):
        if kind not in ("ema", "swa"):
            raise ValueError(f"kind must be 'ema' or 'swa', got {kind!r}")
        if not 0.0 < decay < 1.0:
            raise ValueError(f"decay must lie strictly between 0 and 1, got {decay}")
        if not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive int, got {every!r}")
        if start_epoch < 0:
            raise ValueError(f"start_epoch must be >= 0, got {start_epoch}")
        if kind == "swa" and val is not None and train is None:
            raise ValueError("SWA needs train= to recompute the batch-norm statistics before validating")
        self.kind, self.decay, self.every, self.start_epoch = kind, decay, every, start_epoch
        self.train, self.val = train, val
        self.averaged: AveragedModel | None = None
        self.val_acc: list[float] = []
        self.epochs: list[int] = []  #: the epochs (from 1) of ``val_acc``

    def on_fit_start(self, state: FitState) -> None:
        if self.kind == "ema":
            self.averaged = AveragedModel(state.model, multi_avg_fn=get_ema_multi_avg_fn(self.decay), use_buffers=True)
        else:
            self.averaged = AveragedModel(state.model)
        self.val_acc, self.epochs = [], []

    def on_step_end(self, state: FitState) -> None:
        if self.kind == "ema" and state.step % self.every == 0:
            self.averaged.update_parameters(state.model)

    def _recompute_bn(self, state: FitState) -> None:
        device = next(self.averaged.parameters()).device
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # training's stream untouched
            update_bn(self.train, self.averaged, device=device)

    def on_epoch_end(self, state: FitState) -> None:
        if self.kind == "swa":
            if state.epoch < self.start_epoch:
                return
            self.averaged.update_parameters(state.model)
        if self.val is not None:
            if self.kind == "swa":
                self._recompute_bn(state)
            self.val_acc.append(evaluate(self.averaged, self.val)[1])
            self.epochs.append(state.epoch + 1)

    def on_fit_end(self, state: FitState) -> None:
        if self.kind == "swa" and self.train is not None and self.averaged is not None and self.averaged.n_averaged > 0:
            self._recompute_bn(state)
