"""Is a data file the one it claims to be? MD5 sums and header checks, with the verdict cached.

A file is hashed the first time it is used; the verdict is kept per file path, size and modification time,
in memory and, where the folder is writable, in a small JSON file beside the data (``.cnnlib-verified.json``),
so later processes skip the hashing too. Nothing is written into a read-only data folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

CACHE_NAME = ".cnnlib-verified.json"
_verified: set[tuple[str, int, int, str]] = set()  # (path, size, mtime_ns, md5) of files that passed


class CorruptDataError(RuntimeError):
    """A data file is present but its content is wrong: truncated, overwritten, or another file."""


def corrupt(path: Path, reason: str, restore: str) -> CorruptDataError:
    """The error for a corrupt file: which file, what is wrong with it, and how to get a good copy."""
    return CorruptDataError(f"{path} is corrupt (it is there, not missing): {reason}.\n{restore}")


def file_md5(path: str | Path) -> str:
    """The MD5 sum of a file, read in 1 MiB chunks."""
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def _read_cache(folder: Path) -> dict:
    try:
        return json.loads((folder / CACHE_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(folder: Path, entries: dict) -> None:
    """Replace the folder's cache file atomically; skip quietly where the folder cannot be written."""
    if not os.access(folder, os.W_OK):
        return
    tmp_name = None
    try:
        handle, tmp_name = tempfile.mkstemp(dir=folder, prefix=CACHE_NAME, suffix=".tmp")
        with os.fdopen(handle, "w") as tmp:
            json.dump(entries, tmp, indent=1, sort_keys=True)
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; the data folder's other readers may use it too
        os.replace(tmp_name, folder / CACHE_NAME)
    except OSError:
        if tmp_name:
            Path(tmp_name).unlink(missing_ok=True)


def verify_md5(path: str | Path, md5: str, restore: str) -> None:
    """Raise ``CorruptDataError`` unless the file's MD5 sum is ``md5``; hash it only once per size and mtime."""
    given = Path(path)
    path = given.resolve()  # the cache belongs beside the real file, also when ``given`` is a link
    size, mtime = _stamp(path)
    key = (str(path), size, mtime, md5)
    if key in _verified:
        return
    entries = _read_cache(path.parent)
    if entries.get(path.name) == {"size": size, "mtime_ns": mtime, "md5": md5}:
        _verified.add(key)
        return
    actual = file_md5(path)
    if actual != md5:
        raise corrupt(given, f"its MD5 sum is {actual}, not the published {md5} ({size:,} bytes)", restore)
    _verified.add(key)
    entries = _read_cache(path.parent)  # again: another process may have added entries meanwhile
    entries[path.name] = {"size": size, "mtime_ns": mtime, "md5": md5}
    _write_cache(path.parent, entries)


IDX_TYPES = {0x08: 1, 0x09: 1, 0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}  # idx type code -> bytes per value


def check_idx(path: str | Path, restore: str) -> None:
    """Raise ``CorruptDataError`` unless the file is a complete idx file (MNIST's format): the magic number,
    the dimensions in its header and its length must agree."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        raise corrupt(path, "it is empty (0 bytes)", restore)
    with open(path, "rb") as file:
        header = file.read(4)
        if len(header) < 4 or header[:2] != b"\0\0" or header[2] not in IDX_TYPES or header[3] == 0:
            raise corrupt(path, f"it does not start like an idx file (first bytes {header.hex()}, "
                                "expected 0000 then a type code and a dimension count)", restore)
        dims_bytes = file.read(4 * header[3])
    if len(dims_bytes) < 4 * header[3]:
        raise corrupt(path, f"it ends inside its header ({size} bytes)", restore)
    count = IDX_TYPES[header[2]]
    for i in range(header[3]):
        count *= int.from_bytes(dims_bytes[4 * i:4 * i + 4], "big")
    expected = 4 + 4 * header[3] + count
    if size != expected:
        what = "truncated" if size < expected else "longer than its header says"
        raise corrupt(path, f"it is {what}: {size:,} bytes, but its header describes {expected:,}", restore)
