"""Train a small CNN on Fashion-MNIST with cnnlib.fit. The same file runs in one process or in several:
    python ddp_fashion.py --threads 2
    torchrun --standalone --nproc-per-node 2 ddp_fashion.py
"""
import argparse
import contextlib
import time

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel

import cnnlib
from cnnlib import distributed

parser = argparse.ArgumentParser()
parser.add_argument("--examples", type=int, default=10_000)
parser.add_argument("--epochs", type=int, default=2)
parser.add_argument("--batch-size", type=int, default=128)  # the global batch, whatever the number of processes
parser.add_argument("--threads", type=int, default=1)
parser.add_argument("--device", default="cpu")
parser.add_argument("--out", default="weights.pt")
args = parser.parse_args()
torch.set_num_threads(args.threads)
cnnlib.seed_everything(0)
data = cnnlib.fashion_mnist(batch_size=args.batch_size, subset=args.examples, device=args.device)
model = nn.Sequential(
    nn.Conv2d(1, 16, 3, padding=1), nn.GroupNorm(4, 16), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(16, 32, 3, padding=1), nn.GroupNorm(8, 32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
history = cnnlib.fit(model, data.train, data.val, epochs=args.epochs, optimizer=optimizer, device=args.device,
                     progress=False, cuda_graph=False)  # DDP cannot replay CUDA graphs: compare like with like

# How much of a training step is communication: time steps with DDP's gradient all-reduce and without it.
world = distributed.world_size()
share = 0.0
if world > 1:
    ddp = DistributedDataParallel(model)
    X, y = next(iter(data.train))
    X, y = distributed.shard(X, y, distributed.rank(), world)

    def seconds_per_step(sync: bool, steps: int = 20) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            with contextlib.nullcontext() if sync else ddp.no_sync():  # no_sync: keep the gradients local
                F.cross_entropy(ddp(X), y).backward()
        if X.is_cuda:
            torch.cuda.synchronize()
        return (time.perf_counter() - start) / steps

    seconds_per_step(True, 3)  # warm-up
    synced, local = seconds_per_step(True), seconds_per_step(False)
    share = max(0.0, 1 - local / synced)
if distributed.is_main():
    print(f"RESULT processes={world} threads={args.threads} examples_per_sec={history.examples_per_sec[-1]:.0f} "
          f"val_acc={history.val_acc[-1]:.4f} communication={share:.3f}")
    torch.save(model.state_dict(), args.out)
