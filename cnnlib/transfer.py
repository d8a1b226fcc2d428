"""Transfer learning helpers: audit an image folder, cache it as tensors, augment batches, freeze a backbone.

Also ``load_torchvision_model``, which builds a torchvision model with pretrained weights when they are
cached or can be downloaded, and returns ``None`` (quickly, with a message) when they cannot.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from .data import TensorBatches, check_batch_size, load_image
from .data.folders import _require_image_folder


@dataclass
class ImageFolderAudit:
    """What ``torchvision.datasets.ImageFolder`` will load from a folder, and what it will not."""

    root: Path
    counts: dict[str, int] = field(default_factory=dict)   # class -> images ImageFolder loads and PIL can read
    skipped: list[Path] = field(default_factory=list)      # files ImageFolder ignores (extension, outside a class)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)  # accepted by name, but PIL fails to decode
    broken_links: list[Path] = field(default_factory=list)  # symbolic links whose target is gone
    empty_classes: list[str] = field(default_factory=list)  # class folders without one readable image

    @property
    def ok(self) -> bool:
        return not (self.skipped or self.unreadable or self.broken_links or self.empty_classes)

    def __str__(self) -> str:
        lines = [f"{self.root}: {sum(self.counts.values())} readable images in {len(self.counts)} classes "
                 + ", ".join(f"{name} {n}" for name, n in self.counts.items())]
        lines += [f"  skipped by ImageFolder: {p.relative_to(self.root)}" for p in self.skipped]
        lines += [f"  unreadable: {p.relative_to(self.root)} ({error})" for p, error in self.unreadable]
        lines += [f"  broken link: {p.relative_to(self.root)} -> {p.readlink()}" for p in self.broken_links]
        lines += [f"  empty class folder: {name} (no readable images)" for name in self.empty_classes]
        return "\n".join(lines)


def audit_image_folder(path: str | Path) -> ImageFolderAudit:
    """Check every file under an ImageFolder root: which are skipped by extension, which fail to decode,
    which are links to nothing, and which class folders hold no readable image. A folder that cannot be
    listed (no read permission) raises ``PermissionError`` rather than passing for empty."""
    from PIL import Image
    from torchvision.datasets.folder import IMG_EXTENSIONS

    root = _require_image_folder(path)
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise FileNotFoundError(f"{root} has no class sub-folders")
    audit = ImageFolderAudit(root=root)
    audit.skipped += sorted(p for p in root.iterdir() if p.is_file())  # files outside any class folder
    for class_dir in class_dirs:
        audit.counts[class_dir.name] = 0
        audit.broken_links += sorted(p for p in class_dir.rglob("*") if p.is_symlink() and not p.exists())
        for file in sorted(p for p in class_dir.rglob("*") if p.is_file()):
            if not file.name.lower().endswith(IMG_EXTENSIONS):
                audit.skipped.append(file)
                continue
            try:
                with Image.open(file) as image:
                    image.convert("RGB")  # a full decode: truncated files fail here, not only at open
                audit.counts[class_dir.name] += 1
            except Exception as error:  # PIL raises several kinds (OSError, SyntaxError, ...)
                audit.unreadable.append((file, f"{type(error).__name__}: {error}"))
        if audit.counts[class_dir.name] == 0:
            audit.empty_classes.append(class_dir.name)
    return audit


def image_folder_tensors(path: str | Path, size: int = 256, batch_size: int = 32, shuffle: bool = False,
                         subset: int | None = None, device: torch.device | str | None = None) -> TensorBatches:
    """Decode an ImageFolder once into uint8 tensors (shorter side resized to ``size``, centre-cropped square).

    Returns ``TensorBatches`` (images in [0, 1] per batch, ``.classes`` the folder names), so later epochs
    skip JPEG decoding; augment with ``TransformedBatches``. ``subset`` keeps that many images, drawn at
    random with a fixed seed (the same ones on every run).
    """
    from torchvision.datasets import ImageFolder
    from torchvision.transforms import v2

    from .device import get_device

    if size < 1:
        raise ValueError(f"size must be positive, got {size}")
    check_batch_size(batch_size)  # before decoding every image
    path = _require_image_folder(path)
    to_tensor = v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size)])
    dataset = ImageFolder(str(path), transform=to_tensor, loader=load_image)
    if len(dataset) == 0:
        raise ValueError(f"{path} holds no images that ImageFolder accepts")
    if subset is not None and subset < 1:
        raise ValueError(f"subset must be a positive number of images, got {subset}")
    indices = list(range(len(dataset)))
    if subset is not None and subset < len(dataset):
        indices = sorted(torch.randperm(len(dataset), generator=torch.Generator().manual_seed(0))[:subset].tolist())
    images = torch.stack([dataset[i][0] for i in indices])
    labels = torch.tensor([dataset.targets[i] for i in indices])
    device = get_device(device)
    return TensorBatches(images.to(device), labels.to(device), batch_size, shuffle=shuffle,
                         classes=tuple(dataset.classes))


class TransformedBatches:
    """Batches from another iterable of ``(images, labels)`` with ``transform`` applied to each image.

    Use it for augmentation (a fresh random crop per image and epoch) and normalisation on tensors.
    """

    def __init__(self, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], transform: Callable):
        if not callable(transform):
            raise TypeError(f"transform must be callable, got {type(transform).__name__}")
        self.batches, self.transform = batches, transform

    @property
    def classes(self) -> tuple[str, ...]:
        return getattr(self.batches, "classes", ())

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        for X, y in self.batches:
            yield torch.stack([self.transform(x) for x in X]), y


def freeze(module: nn.Module) -> nn.Module:
    """Stop ``module`` from learning: no gradients, and batch norms fixed to their running statistics.

    ``requires_grad_(False)`` alone is not enough: in training mode a batch norm still normalises with
    batch statistics and updates its running averages. Here each one becomes a ``FrozenBatchNorm2d``.
    """
    from torchvision.ops import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.weight.copy_(child.weight.detach())
            frozen.bias.copy_(child.bias.detach())
            frozen.running_mean.copy_(child.running_mean)
            frozen.running_var.copy_(child.running_var)
            setattr(module, name, frozen.to(child.weight.device))
        else:
            freeze(child)
    module.requires_grad_(False)
    return module


def load_torchvision_model(builder: Callable[..., nn.Module], weights, timeout: float = 10.0) -> nn.Module | None:
    """``builder(weights=weights)`` if the weights are in torch's cache or can be downloaded, else ``None``.

    Offline it prints one line and returns ``None`` instead of raising; network waits are capped at
    ``timeout`` seconds.
    """
    cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(timeout)
    try:
        return builder(weights=weights)
    except (OSError, RuntimeError, EOFError) as error:  # URLError, timeouts, SSL errors, a bad cached file
        where = "a corrupt cached file" if cached.exists() else "no network"
        print(f"{weights} is not available ({where}: {type(error).__name__}); the cells that need it are skipped.")
        return None
    finally:
        socket.setdefaulttimeout(previous)
