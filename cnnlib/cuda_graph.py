"""Replay a training step as a CUDA graph, and when that is safe."""

from __future__ import annotations

import warnings

import torch


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

    def __init__(self, step):  # the _TrainStep of cnnlib.train, which imports this module
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
