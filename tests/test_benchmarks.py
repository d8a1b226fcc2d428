"""The benchmark scripts run end to end in their tiny configurations (no times are asserted)."""

import re
import runpy
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_speedrun_tiny_prints_hardware_recipe_and_both_rows(capsys):
    script = runpy.run_path(str(BENCHMARKS / "fashion_speedrun.py"))
    script["main"](["--tiny", "--device", "cpu"])
    out = capsys.readouterr().out
    assert "torch " in out and "CPU" in out and "'schedule': 'onecycle'" in out
    rows = [line for line in out.splitlines() if line.startswith("| chapter 15 recipe |")
            or line.startswith("| plain recipe |")]
    assert len(rows) == 2
    accuracy = float(rows[0].split("|")[2].split("±")[0])
    assert 0.0 <= accuracy <= 1.0


def test_speedrun_net_takes_fashion_mnist_images():
    import torch

    script = runpy.run_path(str(BENCHMARKS / "fashion_speedrun.py"))
    net = script["speedrun_net"]((8, 16, 32))
    assert net(torch.zeros(2, 1, 28, 28)).shape == (2, 10)


def test_speedrun_refuses_a_one_cycle_schedule_too_short_to_warm_up():
    import pytest

    script = runpy.run_path(str(BENCHMARKS / "fashion_speedrun.py"))
    with pytest.raises(ValueError, match="one-cycle schedule needs more than 4 steps.*batch_size=1024"):
        script["main"](["--tiny", "--device", "cpu", "--batch-size", "1024", "--no-plain"])


def test_cpu_fast_settings_tiny_prints_every_variant_with_ratio_and_accuracy(capsys):
    script = runpy.run_path(str(BENCHMARKS / "cpu_fast_settings.py"))
    script["main"](["--images", "256", "--epochs", "2", "--seeds", "1"])
    out = capsys.readouterr().out
    assert "torch " in out and "native bf16:" in out
    for variant in script["VARIANTS"]:
        rows = [line for line in out.splitlines() if line.startswith(f"{variant} ")]
        assert len(rows) == len(script["MODELS"]), rows
        assert all(re.search(r" \d+\.\d\dx +0\.\d{4} ± 0\.\d{4}$", row) for row in rows), rows
    defaults = [line for line in out.splitlines() if line.startswith("default ")]
    assert all("1.00x" in row for row in defaults)  # the reference of each table is itself
