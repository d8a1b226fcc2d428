"""Training on several processes (chapter 19): what ``fit`` does when ``torchrun`` starts the script.

``torchrun --nproc-per-node N script.py`` starts N copies of a script, each with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` in its environment. The script runs unchanged: batch sizes stay global (each process trains on its
1/N slice of every batch), ``fit`` wraps the model in PyTorch's ``DistributedDataParallel``, sums the metrics over
the processes, and only process 0 shows progress and writes checkpoints. The weights equal those of the
one-process run up to float rounding, as long as the model has no dropout and no batch norm in training mode
(each process normalises its own slice; ``nn.SyncBatchNorm`` on GPUs). Every process shares process 0's random
stream for shuffles and batch augmentations, which are then those of the one-process run; each training step
itself (dropout) draws from a stream of its own per process, so the slices never share dropout masks.
"""

from __future__ import annotations

import atexit
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DistributedSampler

from . import evaluation
from .fitstate import Batches, Callback, FitState


def setup() -> int:
    """Join the process group torchrun prepared (once: gloo for CPU tensors, NCCL for CUDA); return its size.

    Outside torchrun (no ``WORLD_SIZE`` above 1) it does nothing and returns 1.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 1
    if not dist.is_available():
        raise RuntimeError(f"WORLD_SIZE={world} asks for {world} processes, but this torch has no torch.distributed")
    missing = [name for name in ("RANK", "MASTER_ADDR", "MASTER_PORT") if name not in os.environ]
    if missing:
        raise RuntimeError(f"WORLD_SIZE={world} is set but {', '.join(missing)} is not: start the script with "
                           "torchrun --nproc-per-node N script.py, which sets all of them")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    gpu = torch.cuda.is_available() and local < torch.cuda.device_count()  # else CPU processes on a GPU machine
    if gpu:
        torch.cuda.set_device(local)
    dist.init_process_group("cpu:gloo,cuda:nccl" if gpu else "gloo")
    atexit.register(_leave)
    return world


def _leave() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


_TORCHRUN_VARIABLES = ("WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "GROUP_RANK", "MASTER_ADDR",
                       "MASTER_PORT", "TORCHELASTIC_RUN_ID")


def launch(script: str | os.PathLike, *args, processes: int = 1, threads: int = 1, cwd: str | os.PathLike | None = None,
           timeout: float | None = 3600) -> str:
    """Run ``python script args`` (``processes=1``) or ``torchrun --standalone --nproc-per-node processes script args``
    on this machine, with ``threads`` threads per process; return what the processes printed.

    A failed run raises ``RuntimeError`` with the end of its error output. Notebooks use it: starting processes
    from a notebook's kernel is fragile, a script run by torchrun is what a cluster job runs too.
    """
    if processes < 1 or threads < 1:
        raise ValueError(f"processes and threads must be at least 1, got {processes} and {threads}")
    command = [sys.executable] if processes == 1 else [
        sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={processes}"]
    command += [str(script), *map(str, args)]
    env = {k: v for k, v in os.environ.items() if k not in _TORCHRUN_VARIABLES}  # not those of a run around us
    here = str(Path(__file__).resolve().parents[1])  # the scripts import this cnnlib
    env.update(OMP_NUM_THREADS=str(threads), PYTHONPATH=os.pathsep.join(filter(None, [here, env.get("PYTHONPATH")])))
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed with exit code {result.returncode}:\n"
                           f"{result.stdout[-2000:]}{result.stderr[-4000:]}")
    return result.stdout


def world_size() -> int:
    """How many processes train together (1 unless started by torchrun)."""
    return setup()


def rank() -> int:
    """This process's number, from 0 (the main process) to ``world_size() - 1``."""
    return dist.get_rank() if setup() > 1 else 0


def is_main() -> bool:
    """Whether this is process 0, the one that shows progress, plots and writes files."""
    return rank() == 0


def shard(X: torch.Tensor, y: torch.Tensor, rank: int, world: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Process ``rank``'s contiguous slice of a global batch split ``world`` ways (sizes differ by at most one)."""
    if not 0 <= rank < world:
        raise ValueError(f"rank must lie in [0, {world - 1}] for {world} processes, got {rank}")
    if X.shape[0] < world:
        raise ValueError(f"a batch of {X.shape[0]} examples cannot give each of the {world} processes one: choose "
                         "a batch size and data size whose last batch holds at least as many examples as processes")
    return X.tensor_split(world)[rank], y.tensor_split(world)[rank]


def is_sharded(data: Batches) -> bool:
    """Whether ``data`` already serves this process's share only (a DataLoader with a ``DistributedSampler``)."""
    return isinstance(getattr(data, "sampler", None), DistributedSampler)


def sampler(dataset, batch_size: int, shuffle: bool, rank: int | None = None, world: int | None = None
            ) -> tuple[DistributedSampler | None, int]:
    """A ``DistributedSampler`` for this process and its share of the global ``batch_size``; ``(None, batch_size)``
    in a single process. The shuffle seed is process 0's ``torch.initial_seed()``, the same everywhere."""
    world = world_size() if world is None else world
    if world == 1:
        return None, batch_size
    if batch_size % world:
        raise ValueError(f"the global batch size {batch_size} must be divisible by the {world} processes, so that "
                         "each trains on the same number of examples")
    seed = torch.tensor([torch.initial_seed() % 2**62])
    if rank is None:  # the real process group: process 0's seed wins
        rank = dist.get_rank()
        dist.broadcast(seed, 0)
    return DistributedSampler(dataset, world, rank, shuffle=shuffle, seed=int(seed)), batch_size // world


class _Shares:
    """Iterate over this process's share of ``data`` (slicing global batches unless already sharded), counting it."""

    def __init__(self, data: Batches, rank: int, world: int):
        self.data, self.rank, self.world, self.count = data, rank, world, 0
        self.sliced = not is_sharded(data)

    def __iter__(self):
        for X, y in self.data:
            if self.sliced:
                X, y = X.tensor_split(self.world)[self.rank], y.tensor_split(self.world)[self.rank]
            if len(y):
                self.count += len(y)
                yield X, y


def evaluate(model: nn.Module, data: Batches, device: torch.device | str | None = None, loss_fn=None
             ) -> tuple[float, float]:
    """``cnnlib.evaluate`` shared out over the processes: each measures its share, the sums are added up."""
    world = world_size()
    if world == 1:
        return evaluation.evaluate(model, data, device, loss_fn)
    share = _Shares(data, rank(), world)
    try:
        loss, acc = evaluation.evaluate(model, share, device, loss_fn)
    except ValueError:
        if share.count:
            raise
        loss, acc = 0.0, 0.0  # this process's share is empty (a tiny data set); the others carry the sums
    totals = torch.tensor([loss * share.count, acc * share.count, share.count], dtype=torch.float64)
    dist.all_reduce(totals)
    if totals[2] == 0:
        raise ValueError("evaluate got no batches")
    return (totals[0] / totals[2]).item(), (totals[1] / totals[2]).item()


def totals(loss_sum: torch.Tensor, correct: torch.Tensor, count: int) -> tuple[float, float, int]:
    """The summed loss, correct count (a fraction per image for masks) and example count over every process
    (one all-reduce); in one process, these three as numbers."""
    values = torch.tensor([loss_sum.item(), correct.item(), count], dtype=torch.float64)
    if world_size() > 1:
        dist.all_reduce(values)
    loss, correct, count = values.tolist()
    return loss, correct, int(count)


def _sync_random_state() -> None:
    """Give every process process 0's torch random state (CPU and current GPU): the same shuffles and augmentations."""
    state = torch.get_rng_state()
    dist.broadcast(state, 0)
    torch.set_rng_state(state)
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state = torch.cuda.get_rng_state()
        dist.broadcast(state, 0)
        torch.cuda.set_rng_state(state)


def _rng_states() -> tuple[torch.Tensor, torch.Tensor | None]:
    cuda = torch.cuda.get_rng_state() if torch.cuda.is_available() and torch.cuda.is_initialized() else None
    return torch.get_rng_state(), cuda


def _set_rng_states(states: tuple[torch.Tensor, torch.Tensor | None]) -> None:
    torch.set_rng_state(states[0])
    if states[1] is not None:
        torch.cuda.set_rng_state(states[1])


def _seed_per_process(states: tuple[torch.Tensor, torch.Tensor | None], rank: int) -> None:
    """Seed torch from the shared random state and this process's rank: different draws on every process."""
    digest = hashlib.blake2b(states[0].numpy().tobytes() + rank.to_bytes(4, "little"), digest_size=8).digest()
    torch.manual_seed(int.from_bytes(digest, "little") >> 1)


def _weighted_allreduce(parallel: DataParallel, bucket):  # returns a Future; DDP refuses a string annotation
    """DDP's communication hook: sum every process's gradient weighted by its share of the global batch, so
    the result is the gradient of the global batch's mean loss even when the slices differ in size."""
    grads = bucket.buffer().mul_(parallel.weight)
    return dist.all_reduce(grads, async_op=True).get_future().then(lambda fut: fut.value()[0])


class DataParallel(Callback):
    """What ``fit`` adds under torchrun: wraps the model in ``DistributedDataParallel`` (``module`` is what trains),
    gives each process its slice of every global batch, and keeps the processes' data order in step.

    It runs after the other callbacks (``order = 2``): ``Checkpoint`` has restored a resumed run, and batch
    transforms (augmentation) see the whole global batch, as in one process.
    """

    order = 2

    def __init__(self, model: nn.Module, train: Batches, loss_fn, device: torch.device):
        self.world, self.rank = world_size(), rank()
        if self.world == 1:
            raise RuntimeError("DataParallel needs several processes: start the script with torchrun")
        self.module = DistributedDataParallel(model, device_ids=[device] if device.type == "cuda" else None)
        self.module.register_comm_hook(self, _weighted_allreduce)
        self.train, self.sharded = train, is_sharded(train)
        self.mean = getattr(loss_fn, "reduction", "mean") == "mean"  # a summed loss adds gradients up instead
        self.weight = 1.0 / self.world

    def _set_epoch(self, epoch: int) -> None:
        if self.sharded:
            self.train.sampler.set_epoch(epoch)  # else every epoch repeats the first one's order

    def on_fit_start(self, state: FitState) -> None:
        _sync_random_state()
        self._set_epoch(state.start_epoch)
        if not state.history.device.startswith(f"{self.world} processes"):
            state.history.device = f"{self.world} processes x {state.history.device}"
        dist.barrier()  # every process has read the checkpoint before process 0 may write one

    def on_batch(self, state: FitState, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.sharded:  # DistributedSampler gives every process equal slices
            self.weight = 1.0 / self.world if self.mean else 1.0
        else:
            n = X.shape[0]
            X, y = shard(X, y, self.rank, self.world)
            self.weight = X.shape[0] / n if self.mean else 1.0
        self.shared = _rng_states()  # the stream every process shares: shuffles, augmentations
        _seed_per_process(self.shared, self.rank)  # the step (dropout) draws differently on each process
        return X, y

    def on_step_end(self, state: FitState) -> None:
        _set_rng_states(self.shared)

    def on_epoch_end(self, state: FitState) -> None:
        self._set_epoch(state.epoch + 1)
        _sync_random_state()  # in case a callback drew random numbers on some processes only

    def on_fit_end(self, state: FitState) -> None:
        self.module = None  # DDP's gradient hooks go with it: the plain model trains alone again
