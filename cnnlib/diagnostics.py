"""Callbacks that watch training from the inside (chapter 15's debugging workflow): the gradient norm, the
update-to-weight ratio, activation and gradient statistics per layer, and gradient clipping.

Each reads the device only on the steps it records (every ``every`` steps), so watching is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .fitstate import Callback, FitState


def _check_every(every: int) -> int:
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"every must be a positive int (record every that many steps), got {every!r}")
    return every


def global_grad_norm(model: nn.Module) -> torch.Tensor:
    """The Euclidean norm of all of ``model``'s gradients together, as a device tensor (0 if none)."""
    grads = [p.grad.detach() for p in model.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))


class GradNorm(Callback):
    """Record the global gradient norm after every ``every``-th optimisation step (``steps``, ``norms``)."""

    def __init__(self, every: int = 10):
        self.every = _check_every(every)
        self.steps: list[int] = []
        self.norms: list[float] = []

    def on_step_end(self, state: FitState) -> None:
        if state.step % self.every == 0:
            self.steps.append(state.step)
            self.norms.append(global_grad_norm(state.model).item())


class UpdateRatio(Callback):
    """Record, every ``every`` steps, each weight tensor's update-to-weight ratio ``|w_new - w_old| / |w_old|``
    (norms over the tensor). A rule of thumb puts a healthy ratio near 1e-3: far below, the layer barely
    learns; far above, the step is too large for it. ``ratios[name]`` is one list per parameter (weights of
    two or more dimensions only: biases and batch-norm scales start at 0 or 1 and say little)."""

    def __init__(self, every: int = 10):
        self.every = _check_every(every)
        self.steps: list[int] = []
        self.ratios: dict[str, list[float]] = {}
        self._before: dict[str, torch.Tensor] | None = None

    def _weights(self, model: nn.Module) -> dict[str, torch.Tensor]:
        return {name: p for name, p in model.named_parameters() if p.requires_grad and p.ndim > 1}

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if (state.step + 1) % self.every == 0:  # the step about to run is one we record
            self._before = {name: p.detach().clone() for name, p in self._weights(state.model).items()}
        return X, y

    def on_step_end(self, state: FitState) -> None:
        if self._before is None:
            return
        names = list(self._before)
        now = self._weights(state.model)
        ratios = torch.stack([torch.linalg.vector_norm(now[n].detach().float() - self._before[n].float())
                              / torch.linalg.vector_norm(self._before[n].float()).clamp_min(1e-12) for n in names])
        for name, r in zip(names, ratios.tolist()):  # one read of the device
            self.ratios.setdefault(name, []).append(r)
        self.steps.append(state.step)
        self._before = None


class ActivationStats(Callback):
    """Record, every ``every`` steps, the mean and standard deviation of each watched module's output, the
    fraction of it that is exactly zero (dead ReLU units), and the standard deviation of the loss gradient
    with respect to it. ``modules`` defaults to every ``nn.ReLU`` of the model; ``stats[name]`` holds one dict
    of lists per module (keys ``mean``, ``std``, ``zero``, ``grad_std``). Evaluation passes are not recorded."""

    KEYS = ("mean", "std", "zero", "grad_std")

    def __init__(self, every: int = 10, modules: Sequence[nn.Module] | None = None):
        self.every = _check_every(every)
        self.modules = list(modules) if modules is not None else None
        self.steps: list[int] = []
        self.stats: dict[str, dict[str, list[float]]] = {}
        self._handles: list = []
        self._recording = False
        self._pending: dict[str, list[torch.Tensor]] = {}

    def on_fit_start(self, state: FitState) -> None:
        named = {id(m): name for name, m in state.model.named_modules()}
        modules = self.modules if self.modules is not None else [m for m in state.model.modules()
                                                                  if isinstance(m, nn.ReLU)]
        if not modules:
            raise ValueError("no module to watch: the model has no nn.ReLU; pass modules=[...]")
        for m in modules:
            if id(m) not in named:
                raise ValueError(f"{m!r} is not a module of the model being trained")
            self._handles.append(m.register_forward_hook(self._hook(named[id(m)] or "model")))

    def _hook(self, name: str):
        def keep(module, inputs, output):
            if not (self._recording and module.training and torch.is_tensor(output)):
                return
            out = output.detach().float()
            self._pending[name] = [out.mean(), out.std(), (out == 0).float().mean()]
            if output.requires_grad:
                output.register_hook(lambda g: self._pending[name].append(g.detach().float().std()))
        return keep

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._recording = (state.step + 1) % self.every == 0
        return X, y

    def on_step_end(self, state: FitState) -> None:
        if not self._recording:
            return
        self._recording = False
        names = [n for n, v in self._pending.items() if len(v) == len(self.KEYS)]
        if names:
            values = torch.stack([torch.stack(self._pending[n]) for n in names]).tolist()  # one read
            for name, row in zip(names, values):
                entry = self.stats.setdefault(name, {k: [] for k in self.KEYS})
                for key, v in zip(self.KEYS, row):
                    entry[key].append(v)
            self.steps.append(state.step)
        self._pending = {}

    def on_fit_end(self, state: FitState) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []


class GradClip(Callback):
    """Clip the global gradient norm to ``max_norm`` before every optimiser step
    (``torch.nn.utils.clip_grad_norm_``, through the optimiser's step pre-hook), and keep each step's norm
    before clipping on the device: ``norms`` reads them (one wait), ``clipped_fraction`` says how often it
    acted. With fp16's gradient scaler the hook sees the unscaled gradients."""

    def __init__(self, max_norm: float):
        if not max_norm > 0:
            raise ValueError(f"max_norm must be positive, got {max_norm!r}")
        self.max_norm = float(max_norm)
        self._norms: list[torch.Tensor] = []
        self._handle = None

    def on_fit_start(self, state: FitState) -> None:
        params = [p for p in state.model.parameters() if p.requires_grad]

        def clip(optimizer, args, kwargs):
            self._norms.append(torch.nn.utils.clip_grad_norm_(params, self.max_norm).detach())

        self._handle = state.optimizer.register_step_pre_hook(clip)

    def on_fit_end(self, state: FitState) -> None:
        if self._handle is not None:
            self._handle.remove()
            self._handle = None

    @property
    def norms(self) -> list[float]:
        """The global gradient norm before clipping, one per optimiser step."""
        return torch.stack(self._norms).tolist() if self._norms else []

    @property
    def clipped_fraction(self) -> float:
        """The fraction of steps whose gradient was scaled down."""
        norms = self.norms
        return sum(n > self.max_norm for n in norms) / len(norms) if norms else 0.0
