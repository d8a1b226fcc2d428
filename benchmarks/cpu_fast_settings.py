"""What ``fit(fast=True)`` buys on this CPU: each of its settings against today's ``fit``, in the same run.

Two of the course's networks train on real Fashion-MNIST (a training subset, validated on the 5,000 held-out
images): chapter 04's modern LeNet (ReLU, max pooling) and chapter 15's small batch-norm network. Variants:

- ``default``: ``fit`` as the chapters call it (float32, the usual NCHW memory layout);
- ``channels_last``: the model in channels_last layout;
- ``bf16``: bfloat16 autocast (``amp="bf16"``);
- ``fast``: ``fit(fast=True)``, which picks channels_last, bf16 only where the CPU computes it natively
  (``cnnlib.native_bf16``), and one thread per usable core.

Variants run in turns within each seed, so a slower or busier stretch of the machine hits all of them.
Speed is training examples per second over the epochs after the first (the first warms up); the accuracy
effect is the final validation accuracy, mean ± std over the seeds.

    python benchmarks/cpu_fast_settings.py [--images 10000] [--epochs 3] [--seeds 3]
"""

from __future__ import annotations

import argparse
import statistics

import torch
from torch import nn

import cnnlib

VARIANTS = ("default", "channels_last", "bf16", "fast")


def modern_lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10))


def conv_bn(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


def small_net() -> nn.Module:
    """Chapter 15's network."""
    return nn.Sequential(*conv_bn(1, 16), nn.MaxPool2d(2), *conv_bn(16, 32), *conv_bn(32, 32), nn.MaxPool2d(2),
                         *conv_bn(32, 64), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * 3 * 3, 10))


#: name: (builder, learning rate, momentum), each as its chapter trains it (chapter 04: plain SGD, Kaiming init).
MODELS = {"modern LeNet (ch04)": (modern_lenet, 0.1, 0.0), "small BN net (ch15)": (small_net, 0.05, 0.9)}


def run(variant: str, build, lr: float, momentum: float, train, val, epochs: int, seed: int) -> tuple[float, float]:
    """Train one fresh model; return (examples/s after the first epoch, final validation accuracy)."""
    threads = torch.get_num_threads()
    cnnlib.seed_everything(seed)
    model = build()
    cnnlib.init_weights(model, "kaiming")
    if variant == "channels_last":
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    history = cnnlib.fit(model, train, val, epochs=epochs, optimizer=optimizer, device="cpu", progress=False,
                         live_plot=False, amp="bf16" if variant == "bf16" else None, fast=variant == "fast")
    torch.set_num_threads(threads)  # fast=True may change it: every variant starts from the same setting
    rates = history.examples_per_sec[1:] or history.examples_per_sec
    return sum(rates) / len(rates), history.val_acc[-1]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000, help="training images (of the 55,000)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be at least 2: the first epoch is a warm-up and is not timed")

    data = cnnlib.fashion_mnist(batch_size=128, device="cpu")
    train = cnnlib.data.TensorBatches(data.train.images[:args.images], data.train.labels[:args.images], 128,
                                      shuffle=True, classes=data.train.classes)
    print(f"torch {torch.__version__}, {cnnlib.device_name('cpu')}, native bf16: {cnnlib.native_bf16('cpu')}; "
          f"{args.images:,} training images, {args.epochs} epochs, seeds 0-{args.seeds - 1}")
    for name, (build, lr, momentum) in MODELS.items():
        speed = {v: [] for v in VARIANTS}
        acc = {v: [] for v in VARIANTS}
        for seed in range(args.seeds):
            order = VARIANTS[seed % len(VARIANTS):] + VARIANTS[:seed % len(VARIANTS)]  # rotate who goes first
            for variant in order:
                rate, val_acc = run(variant, build, lr, momentum, train, data.val, args.epochs, seed)
                speed[variant].append(rate)
                acc[variant].append(val_acc)
        print(f"\n{name}")
        print(f"{'variant':<14} {'examples/s':>11} {'vs default':>11} {'val acc (mean ± std)':>22}")
        base = statistics.mean(speed["default"])
        for v in VARIANTS:
            sd = statistics.stdev(acc[v]) if len(acc[v]) > 1 else 0.0
            print(f"{v:<14} {statistics.mean(speed[v]):>11,.0f} {statistics.mean(speed[v]) / base:>10.2f}x "
                  f"{statistics.mean(acc[v]):>14.4f} ± {sd:.4f}")


if __name__ == "__main__":
    main()
