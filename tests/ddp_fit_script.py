"""A script that trains with ``cnnlib.fit`` and runs unchanged under ``python`` and under ``torchrun``
(tests/test_distributed.py runs it both ways and compares the weights).

A small GroupNorm network (no dropout, no batch norm) on seeded random data, with a global batch of 25 that
two processes split 13/12, a one-cycle schedule stepped per batch, momentum and a checkpoint every epoch.
"""

import argparse
import dataclasses
import json

import torch
from torch import nn

import cnnlib
import cnnlib.checkpoint
from cnnlib import Checkpoint, LRSchedule, distributed, fit
from cnnlib.data import TensorBatches, image_folder

saves = 0
_save_atomic = cnnlib.checkpoint.save_atomic


def counting_save(obj, path):
    """Count the checkpoint writes of this process."""
    global saves
    saves += 1
    _save_atomic(obj, path)


cnnlib.checkpoint.save_atomic = counting_save


class StopAfter(cnnlib.Callback):
    """Ctrl-C after ``epochs`` epochs, once the checkpoint is written (order 3 runs after Checkpoint)."""

    order = 3

    def __init__(self, epochs: int):
        self.epochs = epochs

    def on_epoch_end(self, state):
        if state.epoch + 1 == self.epochs:
            raise KeyboardInterrupt


class RecordOrder(cnnlib.Callback):
    """Record the image-folder sampler's order at the start of every epoch."""

    def __init__(self, loader):
        self.loader, self.orders = loader, []

    def on_batch(self, state, X, y):
        if state.step % state.steps_per_epoch == 0:
            self.orders.append(list(self.loader.sampler))
        return X, y


class RecordStream(cnnlib.Callback):
    """After every step (order 3: after DataParallel restored the shared stream), a fingerprint of torch's state."""

    order = 3

    def __init__(self):
        self.states = []

    def on_step_end(self, state):
        self.states.append(int(torch.get_rng_state().double().sum()))


def probe_image_folder(folder: str) -> None:
    """Train two epochs on an image folder, with dropout; save this process's sample order per epoch, its first
    dropout mask and its random stream after each step."""
    from torchvision.transforms import ToTensor

    loader = image_folder(folder, ToTensor(), batch_size=4, shuffle=True, num_workers=0)
    record, stream, masks = RecordOrder(loader), RecordStream(), []
    model = nn.Sequential(nn.Flatten(), nn.Dropout(0.5), nn.Linear(3 * 8 * 8, 2))
    model[1].register_forward_hook(lambda m, inputs, out: masks.append((out == 0).flatten().tolist()))
    fit(model, loader, epochs=2, lr=0.01, device="cpu", progress=False, live_plot=False, callbacks=[record, stream])
    with open(f"probe{distributed.rank()}.json", "w") as f:  # one file per process: printed lines could interleave
        json.dump({"orders": record.orders, "mask": masks[1], "stream": stream.states}, f)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", required=True, help="checkpoint folder")
    parser.add_argument("--out", help="where process 0 saves the final weights and History")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--interrupt", help="then train again in this folder and stop after epoch 1 (Ctrl-C)")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--probe-folder", help="an image folder to check DistributedSampler's shards on")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.probe_folder:
        probe_image_folder(args.probe_folder)
    history, model = train(args.folder, args.epochs, args.resume)
    print(f"saves rank={distributed.rank()} count={saves}", flush=True)
    if args.out and distributed.is_main():
        torch.save({"model": model.state_dict(), "history": dataclasses.asdict(history)}, args.out)
    if args.interrupt:
        train(args.interrupt, args.epochs, resume=False, stop_after=1)


def train(folder: str, epochs: int, resume: bool, stop_after: int = 0) -> tuple[cnnlib.History, nn.Module]:
    """The seeded run: data, model, optimizer, schedule and checkpoint are the same in every process."""
    cnnlib.seed_everything(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(260, 1, 10, 10, generator=g)
    y = (X[:, 0, :5].mean((1, 2)) > 0).long() * 2 + (X[:, 0, :, :5].mean((1, 2)) > 0).long()
    batches = TensorBatches(X[:210], y[:210], batch_size=25, shuffle=True)
    val = TensorBatches(X[210:], y[210:], batch_size=25)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.GroupNorm(4, 8), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(8 * 5 * 5, 4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=0.05, total_steps=epochs * len(batches))
    callbacks = [LRSchedule(schedule), Checkpoint(folder, resume=resume)]
    if stop_after:
        callbacks.append(StopAfter(stop_after))
    history = fit(model, batches, val, epochs=epochs, optimizer=optimizer, callbacks=callbacks, device="cpu",
                  progress=False, live_plot=False)
    return history, model


if __name__ == "__main__":
    main()
