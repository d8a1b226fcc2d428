"""Training on several processes (chapter 19): the same script under ``python`` and under
``torchrun --nproc-per-node 2`` (gloo on the CPU, loopback only) gives the same weights; process 0 alone writes;
image folders are shared out by ``DistributedSampler`` and reshuffled each epoch; a 2-process run interrupted
after its first epoch resumes from its checkpoint and ends where the uninterrupted run ends."""

import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from cnnlib import distributed, evaluate
from cnnlib.data import TensorBatches

SCRIPT = Path(__file__).with_name("ddp_fit_script.py")


def _run(args: list[str], tmp: Path, processes: int = 1) -> str:
    """Run the script in ``tmp``, with ``python`` or with torchrun; return its output."""
    return distributed.launch(SCRIPT, *args, processes=processes, cwd=tmp, timeout=120)


def _image_folder(root: Path, n: int = 11) -> Path:
    g = torch.Generator().manual_seed(0)
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (torch.rand(8, 8, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(pixels).save(folder / f"{i:02d}.png")
    return root


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One run in a single process; one with torchrun, which then trains again and stops after epoch 1; and
    a fresh torchrun that resumes the stopped run from its checkpoint."""
    tmp = tmp_path_factory.mktemp("ddp")
    images = _image_folder(tmp / "images")
    out = {"single": _run(["--folder", "single", "--out", "single.pt"], tmp),
           "two": _run(["--folder", "two", "--out", "two.pt", "--probe-folder", str(images),
                        "--interrupt", "resumed"], tmp, processes=2),
           "resumed": _run(["--folder", "resumed", "--out", "resumed.pt", "--resume"], tmp, processes=2)}
    return tmp, out


def _load(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def test_two_processes_train_like_one(runs):
    tmp, _ = runs
    one, two = _load(tmp / "single.pt"), _load(tmp / "two.pt")
    torch.testing.assert_close(two["model"], one["model"])
    for name in ("train_loss", "train_acc", "val_loss", "val_acc"):  # metrics summed over both processes
        torch.testing.assert_close(two["history"][name], one["history"][name], msg=name)
    assert len(two["history"]["train_loss"]) == 3
    assert two["history"]["device"].startswith("2 processes x ")
    assert not torch.equal(two["model"]["0.weight"], _initial_conv_weight())  # it trained


def _initial_conv_weight() -> torch.Tensor:
    torch.manual_seed(0)
    return nn.Conv2d(1, 8, 3, padding=1).weight.detach()


def test_only_process_zero_writes(runs):
    tmp, out = runs
    saves = dict(re.findall(r"saves rank=(\d) count=(\d+)", out["two"]))
    assert saves["1"] == "0" and int(saves["0"]) >= 3  # last.pt each epoch, best.pt when val acc improved
    assert {p.name for p in (tmp / "two").iterdir()} == {"last.pt", "best.pt"}


def _probe(tmp: Path, rank: int) -> dict:
    return json.loads((tmp / f"probe{rank}.json").read_text())


def test_image_folder_is_shared_out_and_reshuffled(runs):
    tmp, _ = runs
    orders = {rank: _probe(tmp, rank)["orders"] for rank in (0, 1)}
    for epoch in (0, 1):
        a, b = orders[0][epoch], orders[1][epoch]
        assert len(a) == len(b) == 6  # 11 images: DistributedSampler repeats one so both shares are equal
        assert set(a) | set(b) == set(range(11))  # the shares cover the data ...
        assert len(set(a) & set(b)) <= 1  # ... and overlap only by the one repeated image
    assert orders[0][0] != orders[0][1] and orders[1][0] != orders[1][1]  # set_epoch reshuffled


def test_processes_share_the_shuffles_but_not_the_dropout_masks(runs):
    tmp, _ = runs
    probes = {rank: _probe(tmp, rank) for rank in (0, 1)}
    assert probes[0]["stream"] == probes[1]["stream"]  # the stream for shuffles and augmentations: process 0's
    assert len(probes[0]["mask"]) == len(probes[1]["mask"]) == 2 * 3 * 8 * 8
    assert probes[0]["mask"] != probes[1]["mask"]  # each process draws its own dropout masks


def test_interrupted_run_resumes_exactly(runs):
    tmp, out = runs
    assert out["two"].count("Interrupted: returning the history of the 1 finished epoch(s).") == 1  # process 0
    straight, resumed = _load(tmp / "two.pt"), _load(tmp / "resumed.pt")
    torch.testing.assert_close(resumed["model"], straight["model"], rtol=0, atol=0)
    assert resumed["history"]["val_acc"] == straight["history"]["val_acc"]
    assert resumed["history"]["train_loss"] == straight["history"]["train_loss"]


# ---- the pieces, in one process ----

def test_shard_splits_a_batch_into_disjoint_covering_slices():
    X, y = torch.arange(7).view(7, 1).float(), torch.arange(7)
    parts = [distributed.shard(X, y, r, 3) for r in range(3)]
    assert [p[1].tolist() for p in parts] == [[0, 1, 2], [3, 4], [5, 6]]
    assert all(torch.equal(p[0].view(-1).long(), p[1]) for p in parts)  # images and labels stay paired
    with pytest.raises(ValueError, match="rank must lie in"):
        distributed.shard(X, y, 3, 3)
    with pytest.raises(ValueError, match="cannot give each of the 8 processes one"):
        distributed.shard(X, y, 0, 8)


def test_sampler_shares_out_the_data_and_needs_a_divisible_batch():
    assert distributed.sampler(range(10), 32, True) == (None, 32)  # one process: DataLoader's own sampling
    shares = [distributed.sampler(range(10), 4, True, rank=r, world=2) for r in range(2)]
    assert [b for _, b in shares] == [2, 2]
    first = [list(s) for s, _ in shares]
    assert sorted(first[0] + first[1]) == list(range(10))
    shares[0][0].set_epoch(1)
    assert list(shares[0][0]) != first[0]
    with pytest.raises(ValueError, match="must be divisible by the 3 processes"):
        distributed.sampler(range(10), 4, True, rank=0, world=3)


def test_one_process_outside_torchrun(monkeypatch, tiny_model, tiny_batches):
    for name in ("WORLD_SIZE", "RANK"):
        monkeypatch.delenv(name, raising=False)
    assert (distributed.setup(), distributed.rank(), distributed.is_main()) == (1, 0, True)
    assert distributed.totals(torch.tensor(3.0), torch.tensor(2.5), 4) == (3.0, 2.5, 4)
    ordered = TensorBatches(tiny_batches.images, tiny_batches.labels, 16)
    assert distributed.evaluate(tiny_model, ordered) == evaluate(tiny_model, ordered)
    assert not distributed.is_sharded(tiny_batches)
    with pytest.raises(RuntimeError, match="start the script with torchrun"):
        distributed.DataParallel(tiny_model, tiny_batches, nn.CrossEntropyLoss(), torch.device("cpu"))


def test_launch_reports_a_failing_script(tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import sys\nprint('partial output')\nsys.exit('something broke')\n")
    with pytest.raises(RuntimeError, match="(?s)exit code 1.*partial output.*something broke"):
        distributed.launch(script)
    with pytest.raises(ValueError, match="at least 1"):
        distributed.launch(script, processes=0)


def test_world_size_without_the_rest_of_torchruns_variables(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.delenv("MASTER_ADDR", raising=False)
    with pytest.raises(RuntimeError, match="torchrun --nproc-per-node N"):
        distributed.setup()


def test_plain_cuda_means_this_processes_gpu_under_torchrun(monkeypatch):
    from cnnlib.device import _local_gpu

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert _local_gpu(torch.device("cuda")) == torch.device("cuda", 1)
    assert _local_gpu(torch.device("cuda", 0)) == torch.device("cuda", 0)  # an explicit GPU stays
    assert _local_gpu(torch.device("cpu")) == torch.device("cpu")
    monkeypatch.setenv("LOCAL_RANK", "2")
    with pytest.raises(RuntimeError, match="LOCAL_RANK=2, but this machine has 2 CUDA device"):
        _local_gpu(torch.device("cuda"))
    monkeypatch.delenv("LOCAL_RANK")
    assert _local_gpu(torch.device("cuda")) == torch.device("cuda")


def test_is_sharded_sees_a_distributed_sampler():
    from torch.utils.data import DataLoader, DistributedSampler

    data = list(range(8))
    assert distributed.is_sharded(DataLoader(data, sampler=DistributedSampler(data, 2, 0)))
    assert not distributed.is_sharded(DataLoader(data, shuffle=True))
    assert not distributed.is_sharded(TensorBatches(torch.zeros(4, 1, 2, 2), torch.zeros(4), 2))


def test_the_chapter_writes_the_benchmark_script():
    """Chapter 19 writes benchmarks/ddp_fashion.py, which tools/gpu_check.sh runs on every GPU: the same file."""
    import nbformat

    root = SCRIPT.parents[1]
    nb = nbformat.read(root / "notebooks" / "19_several_devices.ipynb", as_version=4)
    written = [c.source.split("\n", 1)[1] for c in nb.cells
               if c.cell_type == "code" and c.source.startswith("%%writefile {WORK}/ddp_fashion.py")]
    assert written == [(root / "benchmarks" / "ddp_fashion.py").read_text()]
