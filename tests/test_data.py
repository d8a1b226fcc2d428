import pytest
import torch

import cnnlib
from cnnlib.data import TensorBatches


def test_data_dir_follows_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path))
    assert cnnlib.data_dir() == tmp_path
    monkeypatch.delenv("CNNLIB_DATA")
    assert cnnlib.data_dir().parts[-3:] == (".cache", "cnnlib", "data")


def test_fashion_mnist_is_the_real_dataset():
    train, val, test = cnnlib.fashion_mnist(batch_size=1000, device="cpu", val_size=None)
    assert val is None
    assert len(train.labels) == 60_000 and len(test.labels) == 10_000
    X, y = next(iter(test))
    assert X.shape == (1000, 1, 28, 28) and X.dtype == torch.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert train.classes[9] == "ankle boot"
    mean = train.images.float().mean().item() / 255
    assert abs(mean - 0.2860) < 1e-3  # the published training-set pixel mean


def test_fashion_mnist_subset_resize_and_shuffle():
    train, _, test = cnnlib.fashion_mnist(batch_size=64, resize=32, subset=200, device="cpu", val_size=None)
    assert len(train.labels) == 200 and len(test.labels) == 200
    assert len(train) == 4  # ceil(200 / 64)
    shapes = [X.shape for X, _ in train]
    assert shapes[0] == (64, 1, 32, 32) and shapes[-1] == (8, 1, 32, 32)
    torch.manual_seed(0)
    first = torch.cat([y for _, y in train])
    second = torch.cat([y for _, y in train])
    assert not torch.equal(first, second)  # a new order each epoch
    assert torch.equal(first.sort().values, second.sort().values)  # same examples
    assert torch.equal(torch.cat([y for _, y in test]), test.labels)  # test set in order


def test_validation_split_is_disjoint_seeded_and_sized():
    train, val, test = cnnlib.fashion_mnist(batch_size=500, device="cpu")
    assert (len(train.labels), len(val.labels), len(test.labels)) == (55_000, 5_000, 10_000)
    full, _, _ = cnnlib.fashion_mnist(batch_size=500, device="cpu", val_size=None)
    # every training image is in exactly one of the two parts: compare whole images as byte strings
    key = lambda images: {bytes(x.numpy()) for x in images.flatten(1)}  # noqa: E731
    train_keys, val_keys = key(train.images), key(val.images)
    assert train_keys.isdisjoint(val_keys) and train_keys | val_keys == key(full.images)
    assert not val.shuffle and train.shuffle
    torch.manual_seed(123)  # the global seed must not move the split
    again = cnnlib.fashion_mnist(batch_size=500, device="cpu").val
    assert torch.equal(again.labels, val.labels) and torch.equal(again.images, val.images)
    other = cnnlib.fashion_mnist(batch_size=500, device="cpu", split_seed=1).val
    assert not torch.equal(other.labels, val.labels)
    small = cnnlib.fashion_mnist(batch_size=50, subset=600, device="cpu", val_size=0.25)
    assert (len(small.train.labels), len(small.val.labels), len(small.test.labels)) == (450, 150, 600)


def test_split_rejects_sizes_that_leave_nothing():
    batches = TensorBatches(torch.zeros(10, 1, 2, 2, dtype=torch.uint8), torch.arange(10), batch_size=4)
    rest, val = batches.split(3)
    assert len(rest.labels) == 7 and len(val.labels) == 3 and rest.batch_size == 4
    with pytest.raises(ValueError, match="smaller than the training set"):
        batches.split(10)
    with pytest.raises(ValueError, match="no validation examples"):
        batches.split(0)
    with pytest.raises(ValueError, match="between 0 and 1"):
        batches.split(1.5)
    with pytest.raises(TypeError, match="val_size"):
        batches.split("10%")
    with pytest.raises(ValueError, match="only 600 training examples"):
        cnnlib.fashion_mnist(subset=600, device="cpu", val_size=5000)


@pytest.mark.parametrize("configured", [True, False])
def test_missing_data_message_shows_the_layout_under_the_folder_used(monkeypatch, tmp_path, configured):
    if configured:
        monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "mine"))
    else:
        monkeypatch.delenv("CNNLIB_DATA", raising=False)
        monkeypatch.setenv("HOME", str(tmp_path))
    root = cnnlib.data_dir()
    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive",
                        lambda *args, **kwargs: (_ for _ in ()).throw(OSError("offline")))
    with pytest.raises(FileNotFoundError) as error:
        cnnlib.data.hymenoptera_dir()
    message = str(error.value)
    assert f"not under {root} (" in message and "OSError: offline" in message
    assert f"{root}/hymenoptera_data/{{train,val}}/{{ants,bees}}/*.jpg" in message
    assert ("from $CNNLIB_DATA" if configured else "$CNNLIB_DATA is not set") in message


def test_bad_arguments_are_rejected():
    with pytest.raises(ValueError, match="subset"):
        cnnlib.fashion_mnist(subset=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        TensorBatches(torch.zeros(4, 8, 8), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="one label per image"):
        TensorBatches(torch.zeros(4, 1, 8, 8), torch.zeros(3), batch_size=2)


def test_image_folder_loader(tmp_path):
    from PIL import Image

    for cls in ("ants", "bees"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("RGB", (10, 12), color=(i * 40, 0, 0)).save(tmp_path / cls / f"{i}.jpg")
    from torchvision import transforms

    loader = cnnlib.data.image_folder(tmp_path, transform=transforms.ToTensor(), batch_size=4, num_workers=0)
    X, y = next(iter(loader))
    assert X.shape == (4, 3, 12, 10) and loader.dataset.classes == ["ants", "bees"]
    with pytest.raises(FileNotFoundError, match="no image folder"):
        cnnlib.data.image_folder(tmp_path / "missing")
