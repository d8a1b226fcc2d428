"""Checkpoints: exact resume, atomic writes that survive a failed rename, damaged files named in the error."""

import os

import pytest
import torch
from torch import nn

from cnnlib import Checkpoint, EarlyStopping, LRSchedule, fit, load_checkpoint
from cnnlib.checkpoint import save_atomic
from cnnlib.data import TensorBatches


def _run(tmp_path, epochs, resume=False, fresh=True):
    torch.manual_seed(0)
    X, y = torch.randn(96, 1, 6, 6), torch.randint(0, 3, (96,))
    train = TensorBatches(X[:64], y[:64], batch_size=16, shuffle=True)
    val = TensorBatches(X[64:], y[64:], batch_size=16)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = LRSchedule(torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=4 * len(train)))
    stop = EarlyStopping(patience=10, restore_best=False)
    history = fit(model, train, val, epochs=epochs, optimizer=opt, progress=False, live_plot=False,
                  callbacks=[sched, stop, Checkpoint(tmp_path, resume=resume)])
    return history, model, sched


def test_resume_continues_exactly(tmp_path):
    straight, model_a, sched_a = _run(tmp_path / "a", 4)
    _run(tmp_path / "b", 2)
    resumed, model_b, sched_b = _run(tmp_path / "b", 4, resume=True)
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "running"):
        assert getattr(resumed, name) == getattr(straight, name), name
    assert len(resumed) == 4
    assert sched_b.lrs == sched_a.lrs
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)


def test_checkpoint_files_hold_plain_data(tmp_path):
    history, _, _ = _run(tmp_path, 2)
    data = torch.load(tmp_path / "last.pt", weights_only=True)
    assert data["epoch"] == 2 and data["history"]["val_acc"] == history.val_acc
    best = load_checkpoint(tmp_path / "best.pt")
    assert best["best_acc"] == max(history.val_acc)


def test_failed_rename_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "last.pt"
    save_atomic({"epoch": 1}, path)

    def broken(*args):
        raise OSError("disk gone")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk gone"):
        save_atomic({"epoch": 2}, path)
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]  # no temporary file left behind


def test_truncated_checkpoint_names_the_file(tmp_path):
    path = tmp_path / "last.pt"
    save_atomic({"w": torch.randn(100)}, path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(ValueError, match="last.pt.*damaged or truncated"):
        load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_checkpoint_rejects_bad_every(tmp_path):
    with pytest.raises(ValueError, match="every"):
        Checkpoint(tmp_path, every=0)
