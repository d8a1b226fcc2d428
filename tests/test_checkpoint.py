"""Checkpoints: exact resume, atomic writes that survive a failed rename, damaged files named in the error."""

import os

import pytest
import torch
from torch import nn

from cnnlib import Checkpoint, EarlyStopping, LRSchedule, fit, load_checkpoint
from cnnlib.checkpoint import save_atomic
from cnnlib.data import TensorBatches


def _setup():
    """Seeded data, a model with dropout (random numbers to resume exactly) and SGD with momentum."""
    torch.manual_seed(0)
    X, y = torch.randn(96, 1, 6, 6), torch.randint(0, 3, (96,))
    train = TensorBatches(X[:64], y[:64], batch_size=16, shuffle=True)
    val = TensorBatches(X[64:], y[64:], batch_size=16)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))
    return train, val, model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)


def _run(tmp_path, epochs, resume=False, fresh=True):
    train, val, model, opt = _setup()
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


# ----------------------------------------------------------------------------------------------------------
# Resume with every kind of schedule the course uses, in either callback order, and with changed epochs
# ----------------------------------------------------------------------------------------------------------

SCHEDULES = {  # name: (per, build(optimizer, steps per epoch, epochs)); per None means fit(scheduler=...)
    "one-cycle per step": ("step", lambda opt, n, e: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.2, total_steps=e * n)),
    "cosine per step": ("step", lambda opt, n, e: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=e * n)),
    "cosine, fit(scheduler=)": (None, lambda opt, n, e: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=e)),
    "step decay per epoch": ("epoch", lambda opt, n, e: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)),
    "plateau per epoch": ("epoch", lambda opt, n, e: torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0, factor=0.5)),
}


def _scheduled_run(folder, epochs, schedule, checkpoint_first, resume=False, planned=4):
    train, val, model, opt = _setup()
    per, build = SCHEDULES[schedule]
    scheduler = build(opt, len(train), planned)
    checkpoint = Checkpoint(folder, resume=resume)
    callbacks = [] if per is None else [LRSchedule(scheduler, per=per)]
    callbacks = [checkpoint, *callbacks] if checkpoint_first else [*callbacks, checkpoint]
    history = fit(model, train, val, epochs=epochs, optimizer=opt, progress=False, live_plot=False, callbacks=callbacks,
                  scheduler=scheduler if per is None else None)
    return history, model, opt


@pytest.mark.parametrize("checkpoint_first", [True, False], ids=["checkpoint first", "schedule first"])
@pytest.mark.parametrize("schedule", SCHEDULES)
def test_resume_continues_exactly_with_every_schedule_in_either_order(tmp_path, schedule, checkpoint_first):
    straight, model_a, opt_a = _scheduled_run(tmp_path / "a", 4, schedule, checkpoint_first)
    _scheduled_run(tmp_path / "b", 2, schedule, checkpoint_first)
    resumed, model_b, opt_b = _scheduled_run(tmp_path / "b", 4, schedule, checkpoint_first, resume=True)
    for name in ("train_loss", "train_acc", "val_loss", "val_acc", "running"):
        assert getattr(resumed, name) == getattr(straight, name), name
    assert opt_b.param_groups[0]["lr"] == opt_a.param_groups[0]["lr"]
    for a, b in zip(model_a.state_dict().values(), model_b.state_dict().values()):
        assert torch.equal(a, b)


def test_resuming_past_the_end_of_a_fixed_schedule_is_refused_at_the_start(tmp_path):
    _scheduled_run(tmp_path, 4, "one-cycle per step", True)  # a finished 4-epoch one-cycle run
    before = load_checkpoint(tmp_path / "last.pt")["model"]
    with pytest.raises(ValueError, match=r"ends after 16 steps \(16 of them already taken in the run being resumed\)"
                                         r" but training needs 8 more.*start a new run"):
        _scheduled_run(tmp_path, 6, "one-cycle per step", True, resume=True)
    after = load_checkpoint(tmp_path / "last.pt")["model"]
    assert all(torch.equal(before[k], after[k]) for k in before)  # nothing trained, nothing saved


def test_resuming_with_fewer_epochs_than_already_trained_is_refused(tmp_path):
    _scheduled_run(tmp_path, 4, "step decay per epoch", True)
    with pytest.raises(ValueError, match="has finished 4 epochs, more than epochs=2"):
        _scheduled_run(tmp_path, 2, "step decay per epoch", True, resume=True)


def test_a_per_step_schedule_passed_as_scheduler_is_refused_with_the_hint():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    train = TensorBatches(torch.randn(32, 1, 2, 2), torch.randint(0, 2, (32,)), batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    one_cycle = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=3 * len(train))
    with pytest.raises(ValueError, match=r"stepped once per epoch and never get past its start.*per='step'"):
        fit(model, train, epochs=3, optimizer=opt, scheduler=one_cycle, progress=False)


def test_a_one_cycle_warm_up_of_zero_steps_is_refused():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    train = TensorBatches(torch.randn(16, 1, 2, 2), torch.randint(0, 2, (16,)), batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    short = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=2, pct_start=0.3)
    with pytest.raises(ValueError, match="warms up for .* its peak is never reached"):
        fit(model, train, epochs=1, optimizer=opt, callbacks=[LRSchedule(short)], progress=False)


def test_reduce_on_plateau_needs_validation_and_steps_per_epoch():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    train = TensorBatches(torch.randn(16, 1, 2, 2), torch.randint(0, 2, (16,)), batch_size=8)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
    with pytest.raises(ValueError, match="per='epoch'"):
        LRSchedule(plateau)
    with pytest.raises(ValueError, match="needs the validation loss: pass val="):
        fit(model, train, epochs=1, optimizer=opt, scheduler=plateau, progress=False)


# ----------------------------------------------------------------------------------------------------------
# Resume across changed settings; never overwrite another run; stale temporary files
# ----------------------------------------------------------------------------------------------------------

def _tiny_fit(folder, epochs=2, optimizer="sgd", lr=0.1, callbacks=(), **checkpoint):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    train = TensorBatches(torch.randn(32, 1, 6, 6), torch.randint(0, 3, (32,)), batch_size=8)
    opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9) if optimizer == "sgd"
           else torch.optim.Adam(model.parameters(), lr=lr))
    return fit(model, train, train, epochs=epochs, optimizer=opt, progress=False,
               callbacks=[*callbacks, Checkpoint(folder, **checkpoint)])


def test_resuming_into_another_optimizer_type_is_refused(tmp_path):
    _tiny_fit(tmp_path, epochs=1)
    with pytest.raises(ValueError, match="was trained with SGD, this fit uses Adam"):
        _tiny_fit(tmp_path, epochs=2, optimizer="adam", resume=True)


def test_resuming_with_other_stateful_callbacks_is_refused_with_both_lists(tmp_path):
    _tiny_fit(tmp_path, epochs=1)
    with pytest.raises(ValueError, match=r"saved the state of the callbacks \[\], but this fit has \['EarlyStopping'\]"):
        _tiny_fit(tmp_path, epochs=2, callbacks=[EarlyStopping()], resume=True)


def test_resuming_says_that_the_saved_settings_win(tmp_path):
    _tiny_fit(tmp_path, epochs=1, lr=0.1)
    with pytest.warns(UserWarning, match=r"saved settings win.*lr 0.05 given now, 0.1 saved"):
        _tiny_fit(tmp_path, epochs=2, lr=0.05, resume=True)


def test_a_new_run_never_overwrites_another_runs_files(tmp_path):
    _tiny_fit(tmp_path, epochs=1)
    saved = (tmp_path / "last.pt").read_bytes()
    with pytest.raises(FileExistsError, match=r"already holds a run \(last.pt, best.pt\): resume it with resume=True"):
        _tiny_fit(tmp_path, epochs=1)
    assert (tmp_path / "last.pt").read_bytes() == saved
    _tiny_fit(tmp_path, epochs=1, overwrite=True)  # the explicit choice


def test_resume_with_only_best_pt_is_refused_and_an_empty_folder_starts_a_new_run(tmp_path, capsys):
    _tiny_fit(tmp_path / "run", epochs=1)
    (tmp_path / "run" / "last.pt").unlink()
    with pytest.raises(FileExistsError, match="holds best.pt but no last.pt"):
        _tiny_fit(tmp_path / "run", epochs=2, resume=True)
    _tiny_fit(tmp_path / "empty", epochs=1, resume=True)
    assert "nothing to resume" in capsys.readouterr().out


def test_stale_temporary_files_of_a_killed_save_are_removed(tmp_path):
    tmp_path.mkdir(exist_ok=True)
    stale = tmp_path / ".last.pt.abc123.tmp"
    stale.write_bytes(b"half a checkpoint")
    _tiny_fit(tmp_path, epochs=1)
    assert not stale.exists() and (tmp_path / "last.pt").exists()
