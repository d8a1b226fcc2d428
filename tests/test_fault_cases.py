"""Small defects a fault probe found (issue 21, point 7): each now gets a clear error or the right answer."""

import os

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import cnnlib
from cnnlib import augment, ops
from cnnlib.data import TensorBatches, load_image
from cnnlib.explain import occlusion
from cnnlib.transfer import audit_image_folder, image_folder_tensors


def test_empty_val_is_refused_before_training(tiny_model, tiny_batches):
    seen = []

    class Count(cnnlib.Callback):
        def on_step_end(self, state):
            seen.append(state.step)

    with pytest.raises(ValueError, match=r"val is empty"):
        cnnlib.fit(tiny_model, tiny_batches, val=[], epochs=1, progress=False, callbacks=[Count()])
    assert seen == []  # not one training step was spent


def test_lr_find_restores_mode_and_gradients_and_refuses_an_instant_explosion(tiny_model, tiny_batches):
    tiny_model.eval()
    cnnlib.lr_find(tiny_model, tiny_batches, steps=12, device="cpu")
    assert not any(m.training for m in tiny_model.modules())
    assert all(p.grad is None for p in tiny_model.parameters())
    with pytest.raises(ValueError, match=r"exploded from the first step.*start=1000 is too high"):
        cnnlib.lr_find(tiny_model, tiny_batches, start=1e3, end=1e5, steps=12, device="cpu")


def test_model_output_of_wrong_rank_is_named_with_its_shape(tiny_batches):
    class Column(nn.Module):  # (N, 10, 1): one trailing dimension too many
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(64, 10)

        def forward(self, x):
            return self.linear(x.flatten(1)).unsqueeze(-1)

    with pytest.raises(ValueError, match=r"shape \(N, classes\).*\(1, 10, 1\)"):
        cnnlib.fit(Column(), tiny_batches, epochs=1, progress=False)


def test_unknown_device_name_names_the_variable(monkeypatch):
    monkeypatch.setenv("CNNLIB_DEVICE", "tpu")
    with pytest.raises(ValueError, match=r"CNNLIB_DEVICE='tpu'"):
        cnnlib.get_device()
    with pytest.raises(ValueError, match=r"prefer='tpu'"):
        cnnlib.get_device("tpu")


@pytest.mark.parametrize("bad", [2.5, True])
def test_batch_size_must_be_an_int_not_a_float_or_bool(bad, tmp_path):
    images, labels = torch.zeros(6, 1, 4, 4), torch.zeros(6, dtype=torch.long)
    with pytest.raises(TypeError, match=rf"batch_size must be a positive int, got {bad!r}"):
        TensorBatches(images, labels, batch_size=bad)
    with pytest.raises(TypeError, match="batch_size"):
        cnnlib.fashion_mnist(batch_size=bad, device="cpu")
    (tmp_path / "cats").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "cats" / "a.png")
    with pytest.raises(TypeError, match="batch_size"):
        image_folder_tensors(tmp_path, size=4, batch_size=bad, device="cpu")
    with pytest.raises(TypeError, match="batch_size"):
        cnnlib.data.image_folder(tmp_path, batch_size=bad, num_workers=0, device="cpu")


def test_data_variable_pointing_to_a_file_says_so(monkeypatch, tmp_path):
    file = tmp_path / "data.zip"
    file.write_bytes(b"not a folder")
    monkeypatch.setenv("CNNLIB_DATA", str(file))
    with pytest.raises(NotADirectoryError, match=r"CNNLIB_DATA=.*data\.zip' is a file, not a folder"):
        cnnlib.fashion_mnist(device="cpu")


def test_unreadable_class_folder_is_a_permission_error_not_empty(monkeypatch, tmp_path):
    for name in ("ants", "bees"):
        (tmp_path / name).mkdir()
        Image.new("RGB", (4, 4)).save(tmp_path / name / "a.png")
    locked, scandir = str(tmp_path / "bees"), os.scandir

    def denied(path="."):  # what listing a folder without read permission does (chmod is moot as root)
        if os.fspath(path) == locked:
            raise PermissionError(13, "Permission denied", locked)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(PermissionError, match=r"cannot read the folder .*bees \(permission denied"):
        audit_image_folder(tmp_path)
    with pytest.raises(PermissionError, match=r"bees \(permission denied"):
        image_folder_tensors(tmp_path, size=4, device="cpu")


def test_16_bit_png_is_scaled_not_saturated(tmp_path):
    levels = np.array([[0, 1000], [32768, 65535]], dtype=np.uint16)
    image = Image.fromarray(levels).convert("I;16")
    assert image.mode == "I;16"
    image.save(tmp_path / "deep.png")
    loaded = np.asarray(load_image(str(tmp_path / "deep.png")))
    assert loaded.shape == (2, 2, 3)
    np.testing.assert_array_equal(loaded[..., 0], np.round(levels / 257).astype(np.uint8))  # 1000 -> 4, not 255


def test_random_erasing_refuses_a_fraction_for_integer_images():
    X = torch.full((2, 1, 8, 8), 200, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"value=0.5 cannot be stored in torch.uint8"):
        augment.random_erasing(X, p=1.0, value=0.5)
    erased = augment.random_erasing(X, p=1.0, value=128)
    assert set(erased.unique().tolist()) == {128, 200}


@pytest.mark.parametrize("mix", [augment.mixup, augment.cutmix])
def test_mixup_and_cutmix_keep_bfloat16(mix):
    X, y = torch.rand(4, 3, 8, 8).bfloat16(), torch.arange(4) % 2
    mixed, target = mix(X, y, 2)
    assert mixed.dtype == torch.bfloat16 and target.dtype == torch.bfloat16
    torch.testing.assert_close(target.float().sum(1), torch.ones(4), atol=1e-2, rtol=0)


def test_ops_conv2d_and_pool2d_name_bad_channels_and_dtypes():
    with pytest.raises(ValueError, match=r"X \(1, 0, 5, 5\) has no channels"):
        ops.conv2d(torch.rand(1, 0, 5, 5), torch.rand(2, 0, 3, 3))
    with pytest.raises(TypeError, match=r"X must be a floating-point tensor, got torch.int64"):
        ops.conv2d(torch.ones(1, 1, 5, 5, dtype=torch.int64), torch.ones(2, 1, 3, 3))
    with pytest.raises(TypeError, match=r"X must hold real numbers, got torch.bool"):
        ops.pool2d(torch.ones(4, 4, dtype=torch.bool), 2)


def test_occlusion_of_no_images_is_an_empty_map(tiny_model):
    maps = occlusion(tiny_model, torch.rand(0, 1, 8, 8), patch=4, stride=4)
    assert maps.shape == (0, 8, 8) and maps.dtype == torch.float32
