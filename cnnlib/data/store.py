"""Where datasets live on disk, how missing files are fetched, and their MD5 checks."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..checksums import check_idx, verify_md5

DATA_ENV = "CNNLIB_DATA"


def data_dir() -> Path:
    """Where datasets live: ``$CNNLIB_DATA`` if set, else ``~/.cache/cnnlib/data``. A file there is an error."""
    configured = os.environ.get(DATA_ENV)
    root = Path(configured).expanduser() if configured else Path.home() / ".cache" / "cnnlib" / "data"
    if root.exists() and not root.is_dir():  # else every dataset would be reported missing
        why = f"${DATA_ENV}={configured!r}" if configured else f"the default data folder ({DATA_ENV} is not set)"
        raise NotADirectoryError(f"{why} is a file, not a folder: point {DATA_ENV} to the folder that holds "
                                 "the datasets")
    return root


def _missing_data_message(name: str, root: Path, layout: str, cause: BaseException | None) -> str:
    """Say which folder was searched (and why that one), what belongs in it, and how to choose another."""
    why = f"from ${DATA_ENV}" if os.environ.get(DATA_ENV) else f"the default, as ${DATA_ENV} is not set"
    return (f"{name} is not under {root} ({why}) and could not be downloaded"
            + (f" ({type(cause).__name__}: {cause})" if cause else "") + ".\n"
            f"Put the files there, laid out as\n{layout}\n"
            f"or set the environment variable {DATA_ENV} to another folder laid out the same way.")


# MD5 sums of the decompressed idx files that torchvision extracts from the archives listed, with their own
# sums, in torchvision.datasets.MNIST.resources and FashionMNIST.resources. CIFAR-10's come straight from
# torchvision.datasets.CIFAR10 (its sums cover the extracted batch files), filled in on first use.
MD5: dict[str, dict[str, str]] = {
    "MNIST": {
        "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
        "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
        "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
        "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
    },
    "FashionMNIST": {
        "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
        "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
        "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
    },
}


def _md5_sums(dataset: str) -> dict[str, str]:
    if dataset == "CIFAR10" and dataset not in MD5:
        from torchvision.datasets import CIFAR10

        MD5[dataset] = {name: md5 for name, md5 in CIFAR10.train_list + CIFAR10.test_list}
        MD5[dataset][CIFAR10.meta["filename"]] = CIFAR10.meta["md5"]
    return MD5[dataset]


def _download(root: Path, fetch: Callable[[Path], object], paths: list[str], name: str, layout: str) -> None:
    """Download with ``fetch(folder)`` into a temporary folder, then move ``paths`` (relative) under ``root``.

    Only a finished download creates anything under ``root``: offline, nothing is left behind.
    """
    try:
        with tempfile.TemporaryDirectory(prefix="cnnlib-download-") as tmp:
            fetch(Path(tmp))
            for relative in paths:
                (root / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(Path(tmp) / relative), str(root / relative))
    except Exception as error:  # no network, no permission, ...
        raise FileNotFoundError(_missing_data_message(name, root, layout, error)) from error


def _verified_folder(dataset: str, name: str, folder: str, fetch: Callable[[Path], object]) -> Path:
    """``data_dir()/folder``, holding every file of ``dataset`` with its published MD5 sum.

    Missing files are downloaded first; a file that is there but wrong raises ``CorruptDataError``.
    """
    root = data_dir()
    where, sums = root / folder, _md5_sums(dataset)
    layout = "\n".join(f"  {where / file}" for file in sums)
    missing = [f"{folder}/{file}" for file in sums if not (where / file).is_file()]
    if missing:
        _download(root, fetch, missing, name, layout)
    for file, md5 in sums.items():
        restore = (f"To restore it, delete it and load {name} again online (torchvision downloads a fresh copy), "
                   f"or copy a good {file} into {where}.")
        if file.endswith("-ubyte"):
            check_idx(where / file, restore)
        verify_md5(where / file, md5, restore)
    return where
