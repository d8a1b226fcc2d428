"""benchmarks/model_zoo.py: one column group per recipe, and the recipes' fit arguments."""

import importlib.util
import sys
from pathlib import Path

import pytest
from torch import nn

import cnnlib

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "model_zoo.py"
_spec = importlib.util.spec_from_file_location("model_zoo", _PATH)
zoo = importlib.util.module_from_spec(_spec)
sys.modules["model_zoo"] = zoo  # dataclasses look their module up while the file runs
_spec.loader.exec_module(zoo)


def test_columns_have_train_val_test_per_recipe():
    cols = zoo.columns(("textbook", "chapter15"))
    assert [c for c in cols if c.startswith("test acc")] == ["test acc, textbook", "test acc, chapter15"]
    assert "val acc, chapter15" in cols and cols[0] == "model" and cols[-1] == "hardware"


def test_chapter15_recipe_arguments():
    model = nn.Linear(4, 2)
    kwargs = zoo.recipe_kwargs("chapter15", model, zoo.SPECS["nin"], epochs=2, steps_per_epoch=3)
    group = kwargs["optimizer"].param_groups[0]
    assert group["nesterov"] and group["momentum"] == 0.9 and group["weight_decay"] == 5e-4
    assert kwargs["loss_fn"].label_smoothing == 0.1
    assert any(isinstance(c, cnnlib.LRSchedule) for c in kwargs["callbacks"])
    assert zoo.recipe_kwargs("textbook", model, zoo.SPECS["nin"], 2, 3) == {"lr": zoo.SPECS["nin"].lr}


def test_unknown_recipe_is_refused():
    with pytest.raises(ValueError, match="recipe must be one of"):
        zoo.recipe_kwargs("adam", nn.Linear(4, 2), zoo.SPECS["nin"], 2, 3)


def test_over_seeds_reports_mean_and_std():
    runs = [{"test acc, textbook": "0.800", "accuracies": (0.9, 0.8, 0.80)},
            {"test acc, textbook": "0.900", "accuracies": (0.9, 0.8, 0.90)}]
    row = zoo.over_seeds(runs, "textbook")
    assert row["test acc, textbook"] == "0.850 ± 0.071" and row["val acc, textbook"] == "0.800 ± 0.000"
    assert zoo.over_seeds(runs[:1], "textbook")["test acc, textbook"] == "0.800"  # one seed: as measured


def test_lenet_rows_train_with_several_seeds(tmp_path):
    out = tmp_path / "zoo.md"
    zoo.main(["--quick", "--models", "lenet-modern", "--seeds", "2", "--device", "cpu", "--out", str(out)])
    row = next(line for line in out.read_text().splitlines() if line.startswith("| LeNet, modern"))
    assert row.count(" ± ") == 3 and "| 04 |" in row and "61,706" in row
    assert zoo.SPECS["lenet-modern"].init == "kaiming" and zoo.SPECS["lenet"].init == "xavier"


def test_small_multiply_add_counts_stay_readable():
    assert zoo.macs(416_520) == "0.42 M" and zoo.macs(2_300_000_000) == "2.300 G"
