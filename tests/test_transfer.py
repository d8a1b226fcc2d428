"""Transfer-learning helpers: folder audit, cached image tensors, per-image transforms, freezing, torchvision weights."""

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnlib
from cnnlib.data import TensorBatches
from cnnlib.transfer import (TransformedBatches, audit_image_folder, freeze, image_folder_tensors,
                             load_torchvision_model)


def _write_images(folder: Path, count: int, size=(40, 30), colour=(200, 30, 30)) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        Image.new("RGB", size, colour).save(folder / f"{i}.jpg")


@pytest.fixture
def messy_folder(tmp_path) -> Path:
    _write_images(tmp_path / "ants", 3)
    _write_images(tmp_path / "bees", 2, colour=(30, 30, 200))
    Image.new("RGB", (10, 10)).save(tmp_path / "ants" / "placeholder.gif")
    (tmp_path / "bees" / "notes.txt").write_text("not an image")
    (tmp_path / "bees" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    (tmp_path / "README").write_text("outside any class")
    return tmp_path


def test_audit_finds_skipped_and_unreadable_files(messy_folder):
    audit = audit_image_folder(messy_folder)
    assert audit.counts == {"ants": 3, "bees": 2}
    assert sorted(p.name for p in audit.skipped) == ["README", "notes.txt", "placeholder.gif"]
    assert [p.name for p, _ in audit.unreadable] == ["broken.jpg"]
    assert not audit.ok
    text = str(audit)
    assert "5 readable images in 2 classes" in text and "ants/placeholder.gif" in text and "bees/broken.jpg" in text


def test_audit_finds_empty_class_folders_and_broken_links(tmp_path):
    _write_images(tmp_path / "ants", 2)
    (tmp_path / "bees").mkdir()  # ImageFolder would stop on it: "Found no valid file for the classes bees"
    (tmp_path / "wasps").mkdir()
    (tmp_path / "wasps" / "notes.txt").write_text("no images here either")
    (tmp_path / "ants" / "gone.jpg").symlink_to(tmp_path / "elsewhere" / "gone.jpg")
    audit = audit_image_folder(tmp_path)
    assert audit.counts == {"ants": 2, "bees": 0, "wasps": 0} and not audit.ok
    assert audit.empty_classes == ["bees", "wasps"]
    assert [p.name for p in audit.broken_links] == ["gone.jpg"]
    text = str(audit)
    assert "empty class folder: bees" in text and "broken link: ants/gone.jpg ->" in text


def test_loaders_name_the_file_that_fails_to_decode(tmp_path):
    from torchvision import transforms

    _write_images(tmp_path / "ants", 2)
    (tmp_path / "ants" / "truncated.jpg").write_bytes((tmp_path / "ants" / "0.jpg").read_bytes()[:200])
    loader = cnnlib.data.image_folder(tmp_path, transform=transforms.ToTensor(), batch_size=8, num_workers=0)
    with pytest.raises(OSError, match=r"cannot read the image .*ants/truncated\.jpg"):
        next(iter(loader))
    with pytest.raises(OSError, match=r"cannot read the image .*ants/truncated\.jpg"):
        image_folder_tensors(tmp_path, size=16)


def test_audit_of_a_clean_folder_is_ok(tmp_path):
    _write_images(tmp_path / "a", 2)
    audit = audit_image_folder(tmp_path)
    assert audit.ok and audit.counts == {"a": 2}


def test_audit_rejects_missing_or_empty_folders(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image folder"):
        audit_image_folder(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="no class sub-folders"):
        audit_image_folder(tmp_path)


def test_image_folder_tensors_decodes_once_as_square_uint8(tmp_path):
    _write_images(tmp_path / "ants", 3, size=(60, 40))
    _write_images(tmp_path / "bees", 2, size=(30, 50), colour=(0, 0, 255))
    batches = image_folder_tensors(tmp_path, size=32, batch_size=2, device="cpu")
    assert isinstance(batches, TensorBatches) and batches.classes == ("ants", "bees")
    assert batches.images.shape == (5, 3, 32, 32) and batches.images.dtype == torch.uint8
    assert batches.labels.tolist() == [0, 0, 0, 1, 1]
    X, y = next(iter(batches))
    assert X.dtype == torch.float32 and 0 <= X.min() and X.max() <= 1
    blue = batches.images[-1].float().mean(dim=(1, 2))
    assert blue[2] > 200 and blue[0] < 30, "colours survive (JPEG is lossy, so only roughly)"


def test_image_folder_tensors_subset_is_fixed(tmp_path):
    _write_images(tmp_path / "a", 6)
    _write_images(tmp_path / "b", 6)
    first = image_folder_tensors(tmp_path, size=16, subset=5, device="cpu")
    second = image_folder_tensors(tmp_path, size=16, subset=5, device="cpu")
    assert len(first.labels) == 5 and torch.equal(first.labels, second.labels)
    assert len(image_folder_tensors(tmp_path, size=16, subset=100, device="cpu").labels) == 12
    with pytest.raises(ValueError, match="subset"):
        image_folder_tensors(tmp_path, size=16, subset=0)
    with pytest.raises(ValueError, match="size"):
        image_folder_tensors(tmp_path, size=0)
    with pytest.raises(FileNotFoundError):
        image_folder_tensors(tmp_path / "missing")


def test_transformed_batches_apply_the_transform_per_image():
    images = torch.arange(4 * 3 * 4 * 4, dtype=torch.float32).view(4, 3, 4, 4)
    base = TensorBatches(images, torch.tensor([0, 1, 0, 1]), batch_size=3, classes=("x", "y"))
    seen = []

    def transform(x):
        seen.append(x.shape)
        return x[:, :2, :2] * 2

    batches = TransformedBatches(base, transform)
    out = list(batches)
    assert len(batches) == 2 and batches.classes == ("x", "y")
    assert [tuple(X.shape) for X, _ in out] == [(3, 3, 2, 2), (1, 3, 2, 2)]
    assert torch.equal(out[0][0], images[:3, :, :2, :2] * 2) and out[1][1].tolist() == [1]
    assert seen == [(3, 4, 4)] * 4, "called once per image, not per batch"
    with pytest.raises(TypeError):
        TransformedBatches(base, "not callable")


def test_freeze_stops_gradients_and_batch_norm_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.Sequential(nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)))
    model[1].running_mean.fill_(0.5)
    x = torch.randn(8, 3, 6, 6)
    expected = model.eval()(x)
    freeze(model)
    model.train()  # as fit() does every epoch
    out = model(x)
    assert torch.allclose(out, expected, atol=1e-5), "a frozen model computes what it computed in eval mode"
    assert cnnlib.count_params(model, trainable_only=True) == 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in model.modules())
    assert torch.all(model[1].running_mean == 0.5)
    model.append(nn.Linear(4, 2))  # a head added afterwards is trainable
    assert cnnlib.count_params(model, trainable_only=True) == 10


def test_frozen_lite0_has_only_the_new_head_trainable():
    from cnnlib.models import efficientnet_lite0

    model = freeze(efficientnet_lite0())
    model.classifier = nn.Linear(1280, 2)
    assert cnnlib.count_params(model, trainable_only=True) == 2562
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 2)


class _FakeWeights:
    url = "https://example.invalid/models/fake-123.pth"

    def __str__(self) -> str:
        return "FakeWeights.DEFAULT"


def test_load_torchvision_model_returns_none_when_offline(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))

    def builder(weights):
        raise OSError("connection refused")  # what a download raises offline (URLError is an OSError)

    assert load_torchvision_model(builder, _FakeWeights()) is None
    assert "not available (no network" in capsys.readouterr().out


def test_load_torchvision_model_builds_when_weights_are_reachable():
    model = load_torchvision_model(lambda weights: nn.Linear(2, 2), _FakeWeights())
    assert isinstance(model, nn.Linear)


def test_load_torchvision_model_does_not_hide_programming_errors():
    def builder(weights):
        raise TypeError("bad argument")

    with pytest.raises(TypeError):
        load_torchvision_model(builder, _FakeWeights())


def test_hymenoptera_dir_finds_the_data_or_says_how(monkeypatch, tmp_path):
    from cnnlib.data import hymenoptera_dir

    (tmp_path / "hymenoptera_data" / "train").mkdir(parents=True)
    (tmp_path / "hymenoptera_data" / "val").mkdir()
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    assert hymenoptera_dir() == tmp_path / "hymenoptera_data"
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match=r"(?s)CNNLIB_DATA.*hymenoptera_data/\{train,val\}/\{ants,bees\}"):
        hymenoptera_dir(download=False)


def test_hymenoptera_download_failure_is_reported(monkeypatch, tmp_path):
    import torchvision.datasets.utils as utils

    from cnnlib.data import hymenoptera_dir

    def refuse(*args, **kwargs):
        raise OSError("no network here")

    monkeypatch.setattr(utils, "download_and_extract_archive", refuse)
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="no network here"):
        hymenoptera_dir()


def test_real_hymenoptera_counts_when_available():
    root = cnnlib.data_dir() / "hymenoptera_data"
    if not root.is_dir():
        pytest.skip("the ants/bees data is not under CNNLIB_DATA")
    audit = audit_image_folder(root / "train")
    assert audit.counts == {"ants": 123, "bees": 121}
    assert [p.name for p in audit.skipped] == ["imageNotFound.gif"] and not audit.unreadable
