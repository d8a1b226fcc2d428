import random

import numpy as np
import pytest
import torch

import cnnlib
from cnnlib import device as device_module


def test_get_device_prefers_cuda_then_mps_then_cpu(monkeypatch):
    monkeypatch.delenv("CNNLIB_DEVICE", raising=False)
    monkeypatch.setattr(device_module, "_available", lambda kind: kind in ("mps", "cpu"))
    assert cnnlib.get_device() == torch.device("mps")
    monkeypatch.setattr(device_module, "_available", lambda kind: True)
    assert cnnlib.get_device() == torch.device("cuda")
    monkeypatch.setattr(device_module, "_available", lambda kind: kind == "cpu")
    assert cnnlib.get_device() == torch.device("cpu")


def test_environment_variable_overrides(monkeypatch):
    monkeypatch.setattr(device_module, "_available", lambda kind: True)
    monkeypatch.setenv("CNNLIB_DEVICE", "cpu")
    assert cnnlib.get_device() == torch.device("cpu")
    assert cnnlib.get_device("mps") == torch.device("mps")  # an explicit argument wins


def test_unavailable_device_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(device_module, "_available", lambda kind: kind == "cpu")
    with pytest.raises(RuntimeError, match="'cuda'.*not available"):
        cnnlib.get_device("cuda")
    monkeypatch.setenv("CNNLIB_DEVICE", "mps")
    with pytest.raises(RuntimeError, match=r"\$CNNLIB_DEVICE"):
        cnnlib.get_device()


def test_seed_everything_repeats_python_numpy_and_torch():
    def draw():
        return random.random(), np.random.rand(), torch.rand(1).item()

    cnnlib.seed_everything(3)
    first = draw()
    cnnlib.seed_everything(3)
    assert draw() == first
    cnnlib.seed_everything(4)
    assert draw() != first


def test_seed_everything_deterministic_switch():
    cnnlib.seed_everything(0, deterministic=True)
    assert torch.are_deterministic_algorithms_enabled()
    cnnlib.seed_everything(0)
    assert not torch.are_deterministic_algorithms_enabled()


def test_env_info_reports_versions_device_data_and_quick_mode(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    info = cnnlib.env_info()
    printed = capsys.readouterr().out
    assert info["torch"] == torch.__version__
    assert info["data directory"] == str(tmp_path)
    assert info["quick mode"] in ("on", "off")
    for key in ("python", "torchvision", "device", "device name"):
        assert key in info and info[key] in printed


@pytest.mark.parametrize("value, expected", [("1", True), ("TRUE", True), ("yes", True), (" On ", True),
                                             ("0", False), ("False", False), ("no", False), ("OFF", False),
                                             ("", False)])
def test_quick_flag_parses_on_and_off_words(monkeypatch, value, expected):
    monkeypatch.setenv("CNNLIB_QUICK", value)
    assert device_module._env_flag("CNNLIB_QUICK") is expected


def test_quick_flag_unset_is_off_and_other_words_are_errors(monkeypatch):
    monkeypatch.delenv("CNNLIB_QUICK", raising=False)
    assert device_module._env_flag("CNNLIB_QUICK") is False
    for value in ("2", "quick", "enabled"):
        monkeypatch.setenv("CNNLIB_QUICK", value)
        with pytest.raises(ValueError, match=f"CNNLIB_QUICK='{value}'"):
            device_module._env_flag("CNNLIB_QUICK")


def test_quick_off_really_is_off_on_import(monkeypatch):
    """``CNNLIB_QUICK=off`` used to turn quick mode on; a word that is neither stops the import."""
    import importlib

    try:
        monkeypatch.setenv("CNNLIB_QUICK", "off")
        assert importlib.reload(device_module).QUICK is False
        monkeypatch.setenv("CNNLIB_QUICK", "sometimes")
        with pytest.raises(ValueError, match="CNNLIB_QUICK='sometimes'"):
            importlib.reload(device_module)
    finally:
        monkeypatch.undo()
        importlib.reload(device_module)


@pytest.mark.parametrize("flags, expected", [({"avx2", "avx512f"}, False), ({"avx512f", "avx512_bf16"}, True),
                                             ({"amx_bf16", "amx_tile"}, True), (set(), False)])
def test_native_bf16_on_cpu_needs_the_bf16_instructions(monkeypatch, flags, expected):
    """AVX-512 alone emulates bf16 (slower than float32); only AVX-512 BF16, AMX or Arm's BF16 count."""
    monkeypatch.setattr(cnnlib.device, "_cpu_flags", lambda: flags)
    assert cnnlib.native_bf16("cpu") is expected


def test_cpu_threads_is_at_least_one_and_at_most_the_machine():
    import os

    assert 1 <= cnnlib.device.cpu_threads() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("quick, value, expected", [
    (False, None, "full"), (False, "", "full"), (False, "cpu", "cpu"), (False, " CPU ", "cpu"),
    (False, "full", "full"), (True, None, "quick"), (True, "quick", "quick")])
def test_setting_from_quick_mode_and_the_environment(quick, value, expected):
    from cnnlib.device import _setting

    assert _setting(quick, value) == expected


def test_setting_refuses_unknown_or_contradicting_values():
    from cnnlib.device import _setting

    with pytest.raises(ValueError, match=r"CNNLIB_SETTING='laptop' is not one of full, cpu, quick"):
        _setting(False, "laptop")
    with pytest.raises(ValueError, match="CNNLIB_QUICK is on but CNNLIB_SETTING='cpu': set only one"):
        _setting(True, "cpu")
