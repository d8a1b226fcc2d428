"""Folders of real photos: a checked ``ImageFolder`` loader, and the ants/bees set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from .. import distributed
from .batches import check_batch_size
from .store import _download, _missing_data_message, data_dir


def _require_image_folder(path: str | Path) -> Path:
    """``path`` as a Path, if it is a folder whose sub-folders can all be listed.

    ``ImageFolder`` (through ``os.walk``) silently skips a folder it may not read, so it would look empty.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"no image folder at {path}: expected one sub-folder per class with images inside")
    errors: list[OSError] = []
    for _ in os.walk(path, onerror=errors.append, followlinks=True):
        if errors:
            break
    if errors:
        error = errors[0]
        denied = isinstance(error, PermissionError)
        why = f"permission denied: fix it with chmod -R u+rX {path}" if denied else f"{type(error).__name__}: {error}"
        raise (PermissionError if denied else OSError)(
            f"cannot read the folder {error.filename} ({why}); ImageFolder would take it for an empty folder"
        ) from error
    return path


def load_image(path: str):
    """Open an image as RGB with PIL, like torchvision's default loader, but with errors that name the file.

    16-bit greyscale images (PIL mode I;16, e.g. 16-bit PNGs) are scaled to 8 bits by 255/65535, so they
    come out in [0, 1] like any other image instead of saturating at 255; 32-bit ones (I, F) are refused.
    """
    from PIL import Image

    try:
        with open(path, "rb") as file:
            image = Image.open(file)
            if image.mode.startswith("I;16"):
                levels = np.asarray(image).astype(np.float64)  # 0..65535
                image = Image.fromarray(np.round(levels / 257).astype(np.uint8))  # 65535 / 255 = 257
            elif image.mode in ("I", "F"):
                raise ValueError(f"it is a 32-bit image (PIL mode {image.mode}), whose range is unknown: "
                                 "convert it to 8 or 16 bits")
            return image.convert("RGB")
    except Exception as error:  # PIL raises several kinds (OSError, SyntaxError, ...), most without the path
        raise OSError(f"cannot read the image {path} ({type(error).__name__}: {error}); "
                      "cnnlib.transfer.audit_image_folder lists every file that will not load") from error


def image_folder(path: str | Path, transform=None, batch_size: int = 32, shuffle: bool = False,
                 num_workers: int | None = None, device: torch.device | str | None = None) -> DataLoader:
    """A ``DataLoader`` over a ``torchvision.datasets.ImageFolder`` (one sub-folder per class).

    Used for datasets of real photos that do not fit in device memory; ``pin_memory`` is on for CUDA.
    Under torchrun each process loads its share through a ``DistributedSampler`` (``batch_size`` stays the
    global batch; ``fit`` calls ``set_epoch``), which repeats up to N-1 images so every share is equally long.
    """
    from torchvision.datasets import ImageFolder

    from ..device import get_device

    check_batch_size(batch_size)
    dataset = ImageFolder(str(_require_image_folder(path)), transform=transform, loader=load_image)
    if num_workers is None:
        num_workers = min(4, os.cpu_count() or 1)
    sampler, batch_size = distributed.sampler(dataset, batch_size, shuffle)  # (None, batch_size) in one process
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=num_workers,
                      pin_memory=get_device(device).type == "cuda", persistent_workers=num_workers > 0)


HYMENOPTERA_URL = "https://download.pytorch.org/tutorial/hymenoptera_data.zip"


def hymenoptera_dir(download: bool = True) -> Path:
    """The ants/bees transfer-learning set at ``data_dir()/hymenoptera_data`` (``train`` and ``val`` folders).

    Downloads and unpacks the PyTorch tutorial's zip there when it is missing and the network allows;
    otherwise raises ``FileNotFoundError`` saying how to lay the data out offline.
    """
    root = data_dir()
    path = root / "hymenoptera_data"
    missing = [f"hymenoptera_data/{part}" for part in ("train", "val") if not (path / part).is_dir()]
    if not missing:
        return path
    layout = f"  {path}/{{train,val}}/{{ants,bees}}/*.jpg  (the PyTorch tutorial's {HYMENOPTERA_URL})"
    if not download:
        raise FileNotFoundError(_missing_data_message("The ants/bees data set", root, layout, None))
    from torchvision.datasets.utils import download_and_extract_archive

    _download(root, lambda tmp: download_and_extract_archive(HYMENOPTERA_URL, download_root=str(tmp),
                                                             remove_finished=True),
              missing, "The ants/bees data set", layout)
    return path
