"""Training speed of ``cnnlib.fit`` against a plain textbook loop, side by side in one run.

Both train the classic LeNet-5 (sigmoid, average pooling) on the real Fashion-MNIST with batch 256 and
SGD at lr 0.9, the settings of the seed books. The reference loop has the common textbook form: a
DataLoader over the torchvision dataset with ``ToTensor`` on the CPU, and two host syncs per step
(``loss.item()`` for the running loss and ``.item()`` for the correct count). Only training steps are
timed; each variant's first epoch is a warm-up and is not counted.

Variants of ``fit``: ``default`` (as the chapters call it; on CUDA each step is a CUDA graph replay),
``no-graph`` (``cuda_graph=False``), ``bf16`` (bf16 autocast) and ``fp16`` (fp16 autocast with a
gradient scaler, which rules out CUDA graphs).

    python benchmarks/lenet_fit_vs_reference.py [--epochs 3] [--device cuda] [--fit default no-graph bf16]
                                                 [--model resnet18]
"""

from __future__ import annotations

import argparse
import os
import time

import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

import cnnlib


def lenet() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, stride=2),
        nn.Conv2d(6, 16, kernel_size=5), nn.Sigmoid(), nn.AvgPool2d(2, stride=2), nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))


def resnet18_fashion() -> nn.Module:
    from torchvision.models import resnet18

    model = resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    return model


MODELS = {"lenet": (lenet, None, 0.9), "resnet18": (resnet18_fashion, 96, 0.05)}


def _after_warmup(rates: list[float]) -> float:
    """Mean examples/s over the epochs after the first (which includes warm-up), or the first if alone."""
    rates = rates[1:] or rates
    return sum(rates) / len(rates)


def reference_loop(model: nn.Module, epochs: int, device: torch.device, resize: int | None, lr: float) -> float:
    """Textbook loop; returns examples/s over the epochs after the first."""
    tf = [transforms.Resize(resize)] if resize else []
    dataset = datasets.FashionMNIST(str(cnnlib.data_dir()), train=True, transform=transforms.Compose(
        tf + [transforms.ToTensor()]), download=False)
    loader = DataLoader(dataset, batch_size=256, shuffle=True, num_workers=min(4, os.cpu_count() or 1))
    model.to(device)
    cnnlib.init_weights(model, "xavier")
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    rates = []
    for epoch in range(epochs):
        model.train()
        start, seen, total_loss, correct = time.perf_counter(), 0, 0.0, 0
        for X, y in loader:
            X, y = X.to(device), y.to(device)
            out = model(X)
            loss = loss_fn(out, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * y.shape[0]            # host sync 1
            correct += (out.argmax(1) == y).sum().item()      # host sync 2
            seen += y.shape[0]
        rates.append(seen / (time.perf_counter() - start))
        print(f"  reference epoch {epoch + 1}: loss {total_loss / seen:.3f}, acc {correct / seen:.3f}, "
              f"{rates[-1]:,.0f} ex/s", flush=True)
    return _after_warmup(rates)


FIT_VARIANTS = {"default": {}, "no-graph": {"cuda_graph": False}, "bf16": {"amp": "bf16"}, "fp16": {"amp": "fp16"}}


def cnnlib_fit(model: nn.Module, epochs: int, device: torch.device, resize: int | None, lr: float,
               variant: str) -> float:
    train, _, _ = cnnlib.fashion_mnist(batch_size=256, resize=resize, device=device, val_size=None)
    history = cnnlib.fit(model, train, None, epochs=epochs, lr=lr, device=device, init="xavier", progress=False,
                         live_plot=False, **FIT_VARIANTS[variant])
    return _after_warmup(history.examples_per_sec)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--device", default=None)
    parser.add_argument("--model", choices=sorted(MODELS), default="lenet")
    parser.add_argument("--fit", nargs="*", default=["default"], choices=sorted(FIT_VARIANTS),
                        help="variants of cnnlib.fit to time")
    args = parser.parse_args()

    cnnlib.seed_everything(0)
    device = cnnlib.get_device(args.device)
    build, resize, lr = MODELS[args.model]
    print(f"{args.model} on Fashion-MNIST, batch 256, {args.epochs} epochs (first is warm-up), "
          f"{cnnlib.device_name(device)}, torch {torch.__version__}", flush=True)
    reference = reference_loop(build(), args.epochs, device, resize, lr)
    results = [("reference loop (DataLoader + ToTensor, 2 syncs/step)", reference)]
    for variant in args.fit:
        rate = cnnlib_fit(build(), args.epochs, device, resize, lr, variant)
        results.append((f"cnnlib.fit ({variant})", rate))
    print(f"\n| loop | examples/s | ratio to reference |\n|---|---:|---:|")
    for name, rate in results:
        print(f"| {name} | {rate:,.0f} | {rate / reference:.2f}x |")


if __name__ == "__main__":
    main()
