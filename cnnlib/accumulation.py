"""Gradient accumulation as a ``Callback``: train with a large batch that does not fit in memory, as ``k``
micro-batches whose gradients add up before one optimiser step."""

from __future__ import annotations

import torch

from .fitstate import Callback, FitState


class GradAccumulation(Callback):
    """Step the optimiser once every ``k`` training batches, on the mean of their gradients.

    ``fit`` calls ``optimizer.zero_grad()`` before and ``optimizer.step()`` after every batch; this callback
    replaces both on the optimiser object for the length of the fit: gradients are cleared only at the start
    of a group of ``k`` batches, and the step divides the summed gradients by ``k`` and runs only at its end.
    With equal micro-batches and no batch norm this is one step on a ``k`` times larger batch (batch norm
    still normalises each micro-batch on its own). A group left unfinished when fit ends is dropped.
    ``state.step`` and per-step schedules (``LRSchedule``) count micro-batches. Not for CUDA graphs or fp16's
    gradient scaler: pass ``fit(..., cuda_graph=False)``, and use bf16 or fp32.
    """

    def __init__(self, k: int):
        if not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int (micro-batches per optimiser step), got {k!r}")
        self.k = k
        self.micro = 0  #: micro-batches seen in this fit
        self.optimizer_steps = 0  #: real optimiser steps taken in this fit

    def on_fit_start(self, state: FitState) -> None:
        opt = state.optimizer
        if getattr(opt.step, "_grad_accumulation", False):
            raise ValueError("this optimizer already accumulates gradients: pass one GradAccumulation callback")
        # An LR scheduler may have wrapped step on the object already (to track calls): keep what was there.
        self._saved = {name: vars(opt)[name] for name in ("step", "zero_grad") if name in vars(opt)}
        step, zero_grad = opt.step, opt.zero_grad
        self.micro = self.optimizer_steps = 0

        def grouped_zero_grad(set_to_none: bool = True) -> None:
            if self.micro % self.k == 0:
                zero_grad(set_to_none=set_to_none)

        def grouped_step(closure=None):
            if torch.cuda.is_available() and torch.cuda.is_current_stream_capturing():
                raise RuntimeError("GradAccumulation decides in Python whether to step, which a CUDA graph "
                                   "cannot record: pass fit(..., cuda_graph=False)")
            self.micro += 1
            opt._opt_called = True  # what an LR scheduler's wrapper records: the loop called step()
            if self.micro % self.k:
                return None
            with torch.no_grad():
                for group in opt.param_groups:
                    for p in group["params"]:
                        if p.grad is not None:
                            p.grad.div_(self.k)
            self.optimizer_steps += 1
            return step(closure) if closure is not None else step()

        grouped_step._grad_accumulation = True
        if hasattr(step, "_wrapped_by_lr_sched"):  # a scheduler's call tracking stays in place, underneath
            grouped_step._wrapped_by_lr_sched = True
        opt.zero_grad, opt.step = grouped_zero_grad, grouped_step

    def on_fit_end(self, state: FitState) -> None:
        for name in ("step", "zero_grad"):  # back to what the optimizer had before this fit
            vars(state.optimizer).pop(name, None)
            if name in getattr(self, "_saved", {}):
                setattr(state.optimizer, name, self._saved[name])
        self._saved = {}
