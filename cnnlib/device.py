"""Device choice, seeding, quick mode, and what makes training fast on this machine."""

from __future__ import annotations

import os
import platform
import random
import sys

import numpy as np
import torch

DEVICE_ENV = "CNNLIB_DEVICE"
QUICK_ENV = "CNNLIB_QUICK"

_TRUE, _FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def _env_flag(name: str) -> bool:
    """The on/off environment variable ``name``: 1/true/yes/on or 0/false/no/off (any case); unset or empty is off."""
    value = os.environ.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"the environment variable {name}={os.environ[name]!r} is neither on (1, true, yes, on) "
                     "nor off (0, false, no, off, or empty)")


#: True when ``CNNLIB_QUICK`` is on (1/true/yes/on): notebooks then shrink data and epochs.
QUICK: bool = _env_flag(QUICK_ENV)

SETTING_ENV = "CNNLIB_SETTING"
SETTINGS = ("full", "cpu", "quick")


def _setting(quick: bool, value: str | None) -> str:
    """The run setting from quick mode and ``CNNLIB_SETTING``; a contradiction is an error, not a guess."""
    value = (value or "").strip().lower()
    if value and value not in SETTINGS:
        raise ValueError(f"the environment variable {SETTING_ENV}={value!r} is not one of {', '.join(SETTINGS)}")
    if quick and value not in ("", "quick"):
        raise ValueError(f"{QUICK_ENV} is on but {SETTING_ENV}={value!r}: set only one of them")
    return "quick" if quick else value or "full"


#: How long chapters run: "full" (the lesson as written, the default), "cpu" (a shorter run that still
#: teaches the lesson, in the chapters whose full run takes over 15 minutes on a 2-core CPU; set
#: ``CNNLIB_SETTING=cpu`` or ``SETTING = "cpu"`` in the chapter) or "quick" (``CNNLIB_QUICK=1``, for tests).
SETTING: str = _setting(QUICK, os.environ.get(SETTING_ENV))


def _mps_available() -> bool:
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def _available(kind: str) -> bool:
    if kind == "cuda":
        return torch.cuda.is_available()
    if kind == "mps":
        return _mps_available()
    return kind == "cpu"


def get_device(prefer: str | torch.device | None = None) -> torch.device:
    """Pick the device to train on: CUDA, then Apple MPS, then CPU.

    ``prefer`` (or the environment variable ``CNNLIB_DEVICE``) names one explicitly, e.g. ``"cpu"``
    or ``"cuda:1"``; asking for a device that is not there raises ``RuntimeError``, and a name torch does not
    know (``"tpu"``) a ``ValueError`` naming ``prefer`` or ``CNNLIB_DEVICE``.
    """
    wanted = prefer if prefer is not None else os.environ.get(DEVICE_ENV) or None
    if wanted is not None:
        source = "prefer" if prefer is not None else f"${DEVICE_ENV}"
        try:
            device = torch.device(wanted)
        except (RuntimeError, TypeError) as error:  # torch's message lists every backend, not the variable
            raise ValueError(f"{source}={wanted!r} is not a device name torch knows: use 'cpu', 'cuda', "
                             "'cuda:1' or 'mps'") from error
        if not _available(device.type):
            raise RuntimeError(f"{source} asks for device {str(device)!r}, but it is not available here")
        if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
            raise RuntimeError(f"there is no {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
        return _local_gpu(device)
    for kind in ("cuda", "mps"):
        if _available(kind):
            return _local_gpu(torch.device(kind))
    return torch.device("cpu")


def _local_gpu(device: torch.device) -> torch.device:
    """Under torchrun, plain ``cuda`` means this process's own GPU, ``cuda:LOCAL_RANK``."""
    if device.type == "cuda" and device.index is None and "LOCAL_RANK" in os.environ:
        local = int(os.environ["LOCAL_RANK"])
        if local >= torch.cuda.device_count():
            raise RuntimeError(f"torchrun started a process with LOCAL_RANK={local}, but this machine has "
                               f"{torch.cuda.device_count()} CUDA device(s): start at most one process per GPU "
                               "(--nproc-per-node), or train on the CPU with device='cpu'")
        return torch.device("cuda", local)
    return device


def device_name(device: torch.device | str | None = None) -> str:
    """A readable name for a device: the GPU's model, or the CPU's architecture."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    if device.type == "mps":
        return "Apple GPU (MPS)"
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"


def seed_everything(seed: int = 0, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (CPU, CUDA and MPS) so a run can be repeated.

    ``deterministic=True`` also asks torch for deterministic kernels (slower on GPUs).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if _mps_available():
        torch.mps.manual_seed(seed)
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)
    else:
        torch.use_deterministic_algorithms(False)


def cpu_threads() -> int:
    """The cores this process may run on (a container or ``taskset`` may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call
        return os.cpu_count() or 1


def _cpu_flags() -> set[str]:
    """The CPU's feature flags where the system lists them (Linux's /proc/cpuinfo, macOS's sysctl)."""
    if sys.platform.startswith("linux"):
        try:
            with open("/proc/cpuinfo") as f:
                return {flag for line in f if line.startswith(("flags", "Features")) for flag in line.split(":", 1)[1].split()}
        except OSError:
            return set()
    if sys.platform == "darwin":
        import subprocess

        result = subprocess.run(["sysctl", "-n", "hw.optional.arm.FEAT_BF16"], capture_output=True, text=True)
        return {"bf16"} if result.stdout.strip() == "1" else set()
    return set()


def native_bf16(device: torch.device | str | None = None) -> bool:
    """Whether ``device`` computes in bfloat16 natively: a CUDA GPU with bf16 support, or a CPU with
    AVX-512 BF16, AMX or Arm's BF16 extension. Elsewhere bf16 is emulated and slower than float32."""
    device = torch.device(device) if device is not None else get_device()
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(_cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"})
    return False
