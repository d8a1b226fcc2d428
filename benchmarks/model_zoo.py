"""Train every chapter model on Fashion-MNIST in its chapter's full configuration; write one Markdown table.

Two recipes (``--recipe``): ``textbook`` uses the hyperparameters of each chapter (the settings of the
published reference runs): plain SGD, Xavier initialisation (Kaiming for chapter 04's modern LeNet), 10
epochs, the batch size, learning rate and input size below. ``chapter15`` keeps the model, batch size, peak learning rate and input size and trains
as chapter 15 does: SGD with Nesterov momentum 0.9, weight decay 5e-4, a one-cycle schedule stepped per
batch, random crop (2 px) and flip, label smoothing 0.1. ``both`` runs both, one column pair each.
Protocol: 5,000 training images are held out for validation (split seed 0); nothing is chosen on the
test set, which is evaluated once, after training. ``--seeds N`` trains each model with seeds 0 to N-1 and
reports each accuracy as mean ± std. Models run
cheapest first (by multiply-adds per image), and the table is rewritten after each model, so a run that
is stopped early still leaves the finished rows.

    python benchmarks/model_zoo.py                        # all models, 10 epochs, bf16 on CUDA where supported
    python benchmarks/model_zoo.py --models resnet18 densenet --epochs 2 --amp none
    python benchmarks/model_zoo.py --models lenet lenet-modern bn-lenet --recipe both --seeds 3   # CPU-sized
    python benchmarks/model_zoo.py --recipe both          # textbook and chapter 15 columns
    python benchmarks/model_zoo.py --quick                # smoke test: tiny subset, 1 epoch, small inputs
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import cnnlib
from cnnlib import models

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "model_zoo.md"


@dataclass(frozen=True)
class Spec:
    """A chapter model and its full-mode training settings."""

    key: str  # the name --models takes
    label: str
    chapter: str
    build: Callable[[], nn.Module]
    size: int  # input size in the chapter's full configuration
    batch_size: int
    lr: float
    quick_size: int  # the smallest convenient input size, for --quick
    init: str = "xavier"  # fit's init= (chapter 04's modern LeNet uses Kaiming's)


def _builder(name: str, *args, **kwargs) -> Callable[[], nn.Module]:
    """Look the builder up only when the model is built, so a missing one skips just that model."""
    def build() -> nn.Module:
        if not hasattr(models, name):
            raise RuntimeError(f"cnnlib.models has no {name!r} builder yet")
        return getattr(models, name)(*args, **kwargs)
    return build


SPECS: dict[str, Spec] = {spec.key: spec for spec in [
    Spec("lenet", "LeNet-5, classic (sigmoid, avg pool)", "04", _builder("lenet", "classic"), 28, 256, 0.9, 28),
    Spec("lenet-modern", "LeNet, modern (ReLU, max pool)", "04", _builder("lenet", "modern"), 28, 256, 0.1, 28,
         init="kaiming"),
    Spec("bn-lenet", "LeNet with nn.BatchNorm", "09", _builder("lenet", "classic", batch_norm=True), 28, 256, 1.0, 28),
    Spec("alexnet", "AlexNet", "05", _builder("alexnet", in_channels=1, num_classes=10, config="fashion"), 224, 128, 0.01, 96),
    Spec("vgg11", "VGG-11 (channels / 4)", "06", _builder("vgg", "vgg11-narrow", in_channels=1, num_classes=10),
         224, 128, 0.05, 32),
    Spec("nin", "NiN", "07", _builder("nin", in_channels=1, num_classes=10), 224, 128, 0.1, 96),
    Spec("googlenet", "GoogLeNet", "08", _builder("googlenet", in_channels=1, num_classes=10, variant="fashion-mnist"),
         96, 128, 0.1, 32),
    Spec("resnet18", "ResNet-18", "10", _builder("resnet18", in_channels=1, num_classes=10), 96, 256, 0.05, 32),
    Spec("densenet", "DenseNet", "11", _builder("densenet", "densenet-fashion-mnist", in_channels=1, num_classes=10),
         96, 256, 0.1, 32),
]}

RECIPES = ("textbook", "chapter15")
BASE_COLUMNS = ["model", "chapter", "parameters", "multiply-adds", "input", "batch, lr", "epochs"]
TAIL_COLUMNS = ["s/epoch", "examples/s", "amp", "hardware"]


def columns(recipes: tuple[str, ...]) -> list[str]:
    """The table's columns: train, validation and test accuracy for each recipe run."""
    per_recipe = [f"{metric}, {recipe}" for recipe in recipes for metric in ("train acc", "val acc", "test acc")]
    return BASE_COLUMNS + per_recipe + TAIL_COLUMNS


def default_amp(device: torch.device) -> str | None:
    """bf16 on CUDA GPUs that support it, else full precision."""
    return "bf16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else None


def write_table(path: Path, rows: list[dict], notes: list[str], header: list[str],
                recipes: tuple[str, ...] = ("textbook",)) -> None:
    """Write (or rewrite) the Markdown table with the rows finished so far."""
    COLUMNS = columns(recipes)
    lines = [*header, "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "|".join("---:" if c not in ("model", "amp", "hardware", "chapter") else "---"
                            for c in COLUMNS) + "|"]
    lines += ["| " + " | ".join(str(row[c]) for c in COLUMNS) + " |" for row in rows]
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def recipe_kwargs(recipe: str, model: nn.Module, spec: Spec, epochs: int, steps_per_epoch: int) -> dict:
    """``fit`` arguments for one recipe: the chapter's plain SGD, or chapter 15's training recipe."""
    if recipe == "textbook":
        return {"lr": spec.lr}
    if recipe != "chapter15":
        raise ValueError(f"recipe must be one of {RECIPES}, got {recipe!r}")
    optimizer = torch.optim.SGD(model.parameters(), lr=spec.lr, momentum=0.9, nesterov=True, weight_decay=5e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=spec.lr, total_steps=epochs * steps_per_epoch,
                                                    cycle_momentum=False)  # momentum stays 0.9
    return {"optimizer": optimizer, "loss_fn": nn.CrossEntropyLoss(label_smoothing=0.1),
            "callbacks": [cnnlib.LRSchedule(scheduler, per="step"),
                          cnnlib.BatchTransform(cnnlib.augment.Augment(crop=2, flip=0.5))]}


def run_one(spec: Spec, size: int, epochs: int, subset: int | None, device: torch.device, amp: str | None,
            model: nn.Module, mult_adds: int, recipe: str = "textbook", seed: int = 0) -> dict:
    """Train one model with ``cnnlib.fit`` on the train split, evaluate the test set once; return its row."""
    cnnlib.seed_everything(seed)
    train, val, test = cnnlib.fashion_mnist(batch_size=spec.batch_size, resize=None if size == 28 else size,
                                            subset=subset, device=device, val_size=0.1 if subset else 5_000)
    model.to(device)
    kwargs = recipe_kwargs(recipe, model, spec, epochs, len(train))
    history = cnnlib.fit(model, train, val, epochs=epochs, device=device, init=spec.init, amp=amp,
                         progress=False, live_plot=False, **kwargs)
    test_acc = cnnlib.evaluate(model, test)[1]
    # The first epoch includes cuDNN autotuning and warm-up; report the mean of the others when there are any.
    timed = history.seconds[1:] or history.seconds
    rates = history.examples_per_sec[1:] or history.examples_per_sec
    return {
        "model": spec.label, "chapter": spec.chapter, "parameters": f"{cnnlib.count_params(model):,}",
        "multiply-adds": macs(mult_adds), "input": f"1x{size}x{size}",
        "batch, lr": f"{spec.batch_size}, {spec.lr:g}", "epochs": len(history),
        f"train acc, {recipe}": f"{history.train_acc[-1]:.3f}", f"val acc, {recipe}": f"{history.val_acc[-1]:.3f}",
        f"test acc, {recipe}": f"{test_acc:.3f}",
        "accuracies": (history.train_acc[-1], history.val_acc[-1], test_acc),  # for the mean over seeds
        "s/epoch": f"{sum(timed) / len(timed):.1f}", "examples/s": f"{sum(rates) / len(rates):,.0f}",
        "amp": amp or "off", "hardware": cnnlib.device_name(device),
    }


def macs(count: int) -> str:
    """Multiply-adds per image in G, or in M below 0.01 G (LeNet's 0.4 M would read 0.000 G)."""
    return f"{count / 1e9:.3f} G" if count >= 1e7 else f"{count / 1e6:.2f} M"


def over_seeds(runs: list[dict], recipe: str) -> dict:
    """One row from the runs of several seeds: seed 0's row, with each accuracy as mean ± std over the seeds."""
    row = dict(runs[0])
    if len(runs) > 1:
        for metric, values in zip(("train acc", "val acc", "test acc"), zip(*(run["accuracies"] for run in runs))):
            values = torch.tensor(values, dtype=torch.float64)
            row[f"{metric}, {recipe}"] = f"{values.mean():.3f} ± {values.std():.3f}"
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", choices=sorted(SPECS), default=sorted(SPECS),
                        help="which models to train (default: all)")
    parser.add_argument("--epochs", type=int, default=None, help="epochs per model (default 10; 1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke test: 512 train/test examples, 1 epoch, small inputs; NOT results")
    parser.add_argument("--recipe", choices=[*RECIPES, "both"], default="textbook",
                        help="textbook (the chapters' settings), chapter15 (chapter 15's recipe) or both")
    parser.add_argument("--seeds", type=int, default=1,
                        help="train each model with seeds 0..N-1 and report mean ± std (default 1: seed 0)")
    parser.add_argument("--amp", choices=["auto", "none", "bf16", "fp16"], default="auto",
                        help="mixed precision (default auto: bf16 on CUDA where supported)")
    parser.add_argument("--device", default=None, help="e.g. cuda, cpu (default: the best available)")
    parser.add_argument("--out", type=Path, default=None,
                        help="Markdown file to write (default benchmarks/results/model_zoo.md; "
                             "with --quick, model_zoo_quick.md in the temporary directory)")
    args = parser.parse_args(argv)
    recipes = RECIPES if args.recipe == "both" else (args.recipe,)

    device = cnnlib.get_device(args.device)
    amp = {"auto": default_amp(device), "none": None}.get(args.amp, args.amp)
    epochs = args.epochs if args.epochs is not None else (1 if args.quick else 10)
    if epochs < 1:
        parser.error(f"--epochs must be at least 1, got {epochs}")
    if args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    subset = 512 if args.quick else None
    out = args.out or (Path(tempfile.gettempdir()) / "model_zoo_quick.md" if args.quick else DEFAULT_OUT)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True

    # Build every model once and order them by multiply-adds per image: cheapest first.
    planned = []
    notes = []
    for key in args.models:
        spec = SPECS[key]
        size = spec.quick_size if args.quick else spec.size
        try:
            model = spec.build()
            mult_adds = cnnlib.summary(model, (1, 1, size, size), device="cpu").total_mult_adds
        except Exception as error:  # a missing builder or a model that rejects the size: skip it, say why
            notes.append(f"{spec.label} skipped: {type(error).__name__}: {error}")
            print(f"skip {spec.label}: {error}", flush=True)
            continue
        planned.append((mult_adds, key, spec, size, model))
    planned.sort(key=lambda item: item[0])

    command = "python benchmarks/model_zoo.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    title = "# Model zoo on Fashion-MNIST" + (" (QUICK SMOKE TEST: tiny subset, not results)" if args.quick else "")
    header = [title, "",
              f"Command: `{command.strip()}`  ",
              f"Date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}  ",
              f"torch {torch.__version__}, device {cnnlib.device_name(device)}, "
              f"{'subset ' + str(subset) + ' train/test examples' if subset else 'full data (60,000 train, 10,000 test)'}, "
              f"recipe(s): {', '.join(recipes)}; Xavier init (Kaiming for the modern LeNet), "
              f"{'seed 0' if args.seeds == 1 else f'seeds 0-{args.seeds - 1}, accuracies as mean ± std'}; 5,000 training images held out for validation "
              "(10% with --quick), test set evaluated once after training. s/epoch and examples/s count training only and leave out "
              "the first (warm-up) epoch when there are more.", ""]
    print(f"{len(planned)} model(s), {epochs} epoch(s) each, on {cnnlib.device_name(device)}, amp {amp or 'off'}; "
          f"writing {out}", flush=True)
    rows: list[dict] = []
    write_table(out, rows, notes, header, recipes)
    start = time.perf_counter()
    for mult_adds, key, spec, size, model in planned:
        print(f"[{time.perf_counter() - start:6.0f} s] {spec.label}: {size} px, batch {spec.batch_size}, "
              f"lr {spec.lr:g}, {macs(mult_adds)} multiply-adds per image", flush=True)
        row: dict = {}
        for recipe in recipes:
            try:
                runs = [run_one(spec, size, epochs, subset, device, amp,
                                model if (recipe, seed) == (recipes[0], 0) else spec.build(), mult_adds, recipe, seed)
                        for seed in range(args.seeds)]
                result = over_seeds(runs, recipe)
            except Exception as error:
                notes.append(f"{spec.label} ({recipe}) failed: {type(error).__name__}: {error}")
                print(f"  {recipe} failed: {error}", flush=True)
                result = {f"{m}, {recipe}": "failed" for m in ("train acc", "val acc", "test acc")}
            else:
                print(f"  {recipe}: test acc {result[f'test acc, {recipe}']}, {result['s/epoch']} s/epoch", flush=True)
            row = {**result, **row}  # the first recipe that ran gives the shared columns (size, timing)
        if "model" in row:  # at least one recipe ran
            rows.append(row)
        write_table(out, rows, notes, header, recipes)
        del model
        if device.type == "cuda":
            torch.cuda.empty_cache()
    print(f"[{time.perf_counter() - start:6.0f} s] done: {out}", flush=True)


if __name__ == "__main__":
    main()
