"""Faults, not bad arguments: SIGINT delivered to a training subprocess during training and during validation."""

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SCRIPT = textwrap.dedent("""
    import signal, sys, time, torch
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with SIGINT ignored
    from torch import nn
    import cnnlib
    from cnnlib.data import TensorBatches
    phase = sys.argv[1]
    torch.manual_seed(0)
    X, y = torch.randn(64, 1, 4, 4), torch.randint(0, 2, (64,))
    train, val = TensorBatches(X, y, batch_size=16), TensorBatches(X, y, batch_size=16)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2))

    class Stall(cnnlib.Callback):  # after two finished epochs, wait in the chosen phase for the signal
        def on_batch(self, state, X, y):
            if phase == "train" and state.epoch == 2:
                print("READY", flush=True); time.sleep(60)
            return X, y

    if phase == "val":
        real_forward = model.forward
        def slow_forward(x):
            if not model.training and len(hist_probe) == 2:
                print("READY", flush=True); time.sleep(60)
            return real_forward(x)
        model.forward = slow_forward

    class Probe(cnnlib.Callback):
        def on_epoch_end(self, state):
            hist_probe.append(1)
    hist_probe = []
    h = cnnlib.fit(model, train, val, epochs=5, progress=False, live_plot=False, callbacks=[Stall(), Probe()])
    print("LENGTHS", len(h.train_loss), len(h.train_acc), len(h.val_loss), len(h.val_acc), len(h.seconds),
          "INTERRUPTED", h.interrupted, "TRAINING", model.training, flush=True)
""")


@pytest.mark.parametrize("phase", ["train", "val"])
def test_sigint_leaves_consistent_history_and_train_mode(tmp_path, phase):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, str(script), phase], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    try:
        ready = False
        for line in proc.stdout:  # the script stalls (sleeps 60 s) right after READY, so this returns in time
            if line.strip() == "READY":
                ready = True
                break
        assert ready, "the training script ended before it reached the point to interrupt"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)  # generous: a loaded machine may take long to unwind
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "LENGTHS 2 2 2 2 2 INTERRUPTED True TRAINING True" in out, out + err
