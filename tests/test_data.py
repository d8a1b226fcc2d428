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
    train, test = cnnlib.fashion_mnist(batch_size=1000, device="cpu")
    assert len(train.labels) == 60_000 and len(test.labels) == 10_000
    X, y = next(iter(test))
    assert X.shape == (1000, 1, 28, 28) and X.dtype == torch.float32
    assert 0.0 <= X.min() and X.max() <= 1.0
    assert train.classes[9] == "ankle boot"
    mean = train.images.float().mean().item() / 255
    assert abs(mean - 0.2860) < 1e-3  # the published training-set pixel mean


def test_fashion_mnist_subset_resize_and_shuffle():
    train, test = cnnlib.fashion_mnist(batch_size=64, resize=32, subset=200, device="cpu")
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


def test_missing_data_offline_names_the_variable(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLIB_DATA", str(tmp_path / "empty"))

    def no_network(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.setattr("torchvision.datasets.utils.download_and_extract_archive", no_network)
    monkeypatch.setattr("torchvision.datasets.mnist.download_and_extract_archive", no_network)
    with pytest.raises(FileNotFoundError, match="CNNLIB_DATA") as error:
        cnnlib.fashion_mnist()
    assert "FashionMNIST/raw/train-images-idx3-ubyte" in str(error.value)


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
