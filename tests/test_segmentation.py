"""The garment scenes, the segmentation metrics against a direct count, FCN and U-Net, and fit on masks."""

import pytest
import torch
import torch.nn.functional as F

import cnnlib
from cnnlib.models import FCN, UNet, bilinear_kernel, fcn, unet
from cnnlib.scenes import SCENE_CLASSES, compose_scenes, fashion_scenes, scene_batches
from cnnlib.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy


def garments(n=6, seed=0):
    """Small fake garments: a bright block inside each 6x6 image (values 0, 20 or 200), labels 0..n-1."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 1, 6, 6, dtype=torch.uint8)
    images[:, :, 1:5, 1:5] = 200
    images[:, :, 0, :] = 20  # faint: below the default threshold, so not the garment's own pixel
    return images, torch.randperm(n, generator=g)


def test_compose_scenes_masks_come_from_the_garments_own_pixels():
    images, labels = garments()
    X, masks = compose_scenes(images, labels, count=5, size=12, per_scene=(2, 3), seed=1)
    assert X.shape == (5, 1, 12, 12) and masks.shape == (5, 12, 12)
    assert X.dtype == masks.dtype == torch.uint8
    # a pixel is labelled exactly where a garment painted it: bright pixels, and only those
    assert torch.equal(masks > 0, X[:, 0] == 200)
    assert set(masks.unique().tolist()) <= {0, *(labels + 1).tolist()}
    for n in range(5):  # 2 or 3 garments, each a 4x4 block of 16 pixels (later ones may cover earlier ones)
        assert 16 <= int((masks[n] > 0).sum()) <= 48
    again = compose_scenes(images, labels, count=5, size=12, per_scene=(2, 3), seed=1)
    assert torch.equal(again[0], X) and torch.equal(again[1], masks)
    assert not torch.equal(compose_scenes(images, labels, 5, 12, (2, 3), seed=2)[1], masks)


@pytest.mark.parametrize("kwargs, match", [
    (dict(size=4), "canvas"), (dict(per_scene=(3, 2)), "per_scene"), (dict(count=0), "count"),
    (dict(threshold=0), "threshold"),
])
def test_compose_scenes_rejects_bad_settings(kwargs, match):
    images, labels = garments()
    settings = dict(count=2, size=12) | kwargs
    with pytest.raises(ValueError, match=match):
        compose_scenes(images, labels, **settings)
    with pytest.raises(ValueError, match="uint8"):
        compose_scenes(images.float(), labels, 2)


def test_fashion_scenes_are_real_garments_split_like_fashion_mnist():
    splits = fashion_scenes(batch_size=8, n_train=60, n_test=20, size=40, device="cpu", val_size=10)
    assert len(splits.train.labels) == 50 and len(splits.val.labels) == 10 and len(splits.test.labels) == 20
    assert splits.train.classes == SCENE_CLASSES and SCENE_CLASSES[0] == "background"
    X, y = next(iter(splits.test))
    assert X.shape == (8, 1, 40, 40) and X.dtype == torch.float32 and y.shape == (8, 40, 40)
    assert y.dtype == torch.int64 and 0 <= y.min() and y.max() <= 10
    assert 0.0 <= X.min() and X.max() <= 1.0 and (y > 0).any()
    again = fashion_scenes(batch_size=8, n_train=60, n_test=20, size=40, device="cpu", val_size=10)
    assert torch.equal(again.test.images, splits.test.images)
    # validation scenes were carved out of the training scenes, with their own seed
    assert not any(torch.equal(v, t) for v in splits.val.images[:3] for t in splits.train.images)
    with pytest.raises(ValueError, match="n_train"):
        fashion_scenes(n_train=0)


def direct_counts(pred, target, num_classes):
    """IoU per class and pixel accuracy by counting pixels one class at a time."""
    ious = []
    for c in range(num_classes):
        inter = ((pred == c) & (target == c)).sum().item()
        union = ((pred == c) | (target == c)).sum().item()
        ious.append(inter / union if union else float("nan"))
    return torch.tensor(ious, dtype=torch.float64), (pred == target).sum().item() / pred.numel()


def test_metrics_equal_a_direct_count():
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        target = torch.randint(0, 5, (3, 7, 9), generator=g)
        pred = torch.where(torch.rand(target.shape, generator=g) < 0.6, target, torch.randint(0, 5, target.shape,
                                                                                              generator=g))
        pred[pred == 4] = 3  # class 4 is never predicted: IoU 0
        expected_iou, expected_acc = direct_counts(pred, target, 6)  # class 5 is nowhere: NaN
        got = iou_per_class(pred, target, 6)
        torch.testing.assert_close(got, expected_iou, equal_nan=True)
        assert torch.isnan(got[5]) and got[4] == 0
        assert mean_iou(pred, target, 6) == pytest.approx(expected_iou[:5].mean().item())
        assert pixel_accuracy(pred, target) == pytest.approx(expected_acc)
        cm = confusion_matrix(pred, target, 6)
        assert cm.sum() == target.numel() and cm[2, 3] == ((target == 2) & (pred == 3)).sum()


def test_metrics_small_worked_example():
    target = torch.tensor([[0, 0, 1, 1]])
    pred = torch.tensor([[0, 1, 1, 1]])
    # class 0: 1 pixel in both, 2 in either -> 1/2; class 1: 2 in both, 3 in either -> 2/3
    assert iou_per_class(pred, target, 2).tolist() == pytest.approx([0.5, 2 / 3])
    assert mean_iou(pred, target, 2) == pytest.approx((0.5 + 2 / 3) / 2)
    assert pixel_accuracy(pred, target) == 0.75


@pytest.mark.parametrize("call, error, match", [
    (lambda: mean_iou(torch.zeros(2, 2), torch.zeros(2, 2, dtype=torch.long), 2), TypeError, "argmax"),
    (lambda: mean_iou(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long), 2), ValueError,
     "same shape"),
    (lambda: mean_iou(torch.full((2,), 3), torch.zeros(2, dtype=torch.long), 2), ValueError, "outside 0..1"),
    (lambda: mean_iou(torch.zeros(2, dtype=torch.long), torch.zeros(2, dtype=torch.long), 0), ValueError,
     "num_classes"),
    (lambda: confusion_matrix(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 2), ValueError,
     "empty"),
])
def test_metrics_reject_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("build", [fcn, unet])
def test_segmentation_models_keep_the_input_size(build):
    model = build(in_channels=1, num_classes=11)
    assert model(torch.randn(2, 1, 32, 48)).shape == (2, 11, 32, 48)
    with pytest.raises(ValueError, match="multiples of"):
        model(torch.randn(1, 1, 30, 32))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        model(torch.randn(1, 3, 32, 32))
    with pytest.raises(ValueError, match="widths"):
        build(widths=())


def test_model_structure_and_parameter_counts():
    model = unet(widths=(16, 32, 64))
    assert [type(m).__name__ for m in model.up] == ["ConvTranspose2d", "ConvTranspose2d"]
    assert model.decoder[0][0].in_channels == 64  # 32 upsampled + 32 from the skip connection
    # counted by hand: encoder 2,512 + 13,952 + 55,552; up 8,224 + 2,064; decoder 27,776 + 6,976; classifier 187
    by_hand = 2512 + 13952 + 55552 + 8224 + 2064 + 27776 + 6976 + 187
    assert sum(p.numel() for p in model.parameters()) == 117_243 == by_hand
    assert isinstance(fcn(), FCN) and isinstance(model, UNet)
    with pytest.raises(ValueError, match="two levels"):
        unet(widths=(8,))


def test_fcn_upsampling_starts_as_bilinear_interpolation():
    model = fcn(widths=(4, 8))  # scale 4
    scores = torch.randn(1, 11, 6, 6)
    up = model.upsample(scores)
    expected = F.interpolate(scores, scale_factor=4, mode="bilinear", align_corners=False)
    torch.testing.assert_close(up[..., 4:-4, 4:-4], expected[..., 4:-4, 4:-4])  # away from the zero-padded border
    assert bilinear_kernel(2, 4)[0, 1].abs().sum() == 0  # each channel upsamples only itself


def test_fit_and_evaluate_train_a_segmentation_model_without_a_second_loop():
    torch.manual_seed(0)
    images, labels = garments(n=8)
    X, masks = compose_scenes(images, labels, count=48, size=16, per_scene=(1, 2), seed=0)
    data = scene_batches(X, masks, batch_size=16, shuffle=True)
    model = unet(num_classes=11, widths=(8, 16))
    before = cnnlib.evaluate(model, scene_batches(X, masks, 16), device="cpu")
    history = cnnlib.fit(model, data, epochs=6, optimizer=torch.optim.Adam(model.parameters(), lr=0.02),
                         device="cpu", progress=False)
    loss, acc = cnnlib.evaluate(model, scene_batches(X, masks, 16), device="cpu")
    assert loss < before[0] and history.train_loss[-1] < history.train_loss[0]
    pred, target = cnnlib.predict(model, scene_batches(X, masks, 16), device="cpu")
    assert pred.shape == target.shape == (48, 16, 16)
    # evaluate's accuracy is the pixel accuracy (every scene has the same number of pixels)
    assert acc == pytest.approx(pixel_accuracy(pred, target), abs=1e-6)
    assert 0.0 <= history.train_acc[-1] <= 1.0


def test_fit_names_a_mask_shape_mismatch():
    images, labels = garments(n=8)
    X, masks = compose_scenes(images, labels, count=8, size=16, seed=0)
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 11, 3, padding=1), torch.nn.MaxPool2d(2))  # half size
    with pytest.raises(ValueError, match=r"must return scores of shape \(N, classes, 16, 16\)"):
        cnnlib.fit(model, scene_batches(X, masks, 4), epochs=1, device="cpu", progress=False)
    with pytest.raises(ValueError, match="masks must have shape"):
        scene_batches(X, masks[:, :8])
