"""Device augmentation: shapes, per-example randomness, crops that stay inside the padded image, flips."""

import pytest
import torch

from cnnlib import augment


def numbered(n=64, c=2, h=6, w=5):
    """Images whose pixels are distinct positive numbers, so every output pixel says where it came from."""
    return (torch.arange(n * c * h * w, dtype=torch.float32) + 1).view(n, c, h, w)


def test_random_crop_is_a_shift_within_the_padding_filled_with_zeros():
    torch.manual_seed(0)
    X, p = numbered(), 2
    out = augment.random_crop(X, p)
    assert out.shape == X.shape
    shifts = set()
    for x, o in zip(X, out):
        matches = [(dy, dx) for dy in range(-p, p + 1) for dx in range(-p, p + 1)
                   if torch.equal(o, _shifted(x, dy, dx))]
        assert len(matches) == 1, "each output must be its input shifted by at most the padding"
        shifts.add(matches[0])
    assert len(shifts) > 10  # each example draws its own shift (25 are possible)


def _shifted(x, dy, dx):
    """x moved down by dy and right by dx, zeros where nothing moved in."""
    out = torch.zeros_like(x)
    H, W = x.shape[-2:]
    out[:, max(dy, 0):H + min(dy, 0), max(dx, 0):W + min(dx, 0)] = \
        x[:, max(-dy, 0):H + min(-dy, 0), max(-dx, 0):W + min(-dx, 0)]
    return out


def test_random_crop_never_reads_outside_the_padded_image():
    torch.manual_seed(1)
    X = numbered(n=2000, c=1, h=3, w=3)
    out = augment.random_crop(X, 2)  # the largest padding: the extreme windows hold one corner pixel
    pixels_kept = (out > 0).flatten(1).sum(1)
    assert pixels_kept.min() == 1 and pixels_kept.max() == 9
    assert set(out.unique().tolist()) <= set(X.unique().tolist()) | {0.0}  # nothing but image pixels and padding
    with pytest.raises(ValueError, match="padding=3 is not smaller than the 3x3 image"):
        augment.random_crop(X, 3)
    with pytest.raises(ValueError, match="padding must be a non-negative int"):
        augment.random_crop(X, -1)
    assert augment.random_crop(X, 0) is X


def test_flip_is_its_own_inverse_and_flips_about_half():
    torch.manual_seed(0)
    X = numbered(n=1000)
    torch.manual_seed(5)
    once = augment.random_flip(X)
    torch.manual_seed(5)
    twice = augment.random_flip(once)
    assert torch.equal(twice, X)
    flipped = (once != X).flatten(1).any(1).float().mean().item()
    assert 0.45 < flipped < 0.55
    assert torch.equal(augment.random_flip(X, p=1.0), X.flip(-1))
    assert torch.equal(augment.random_flip(X, p=0.0), X)
    with pytest.raises(ValueError, match="probability"):
        augment.random_flip(X, p=1.5)


def test_random_erasing_fills_one_rectangle_per_chosen_image():
    torch.manual_seed(0)
    X = torch.ones(500, 1, 20, 20)
    out = augment.random_erasing(X, p=0.5, scale=(0.1, 0.2), value=0.0)
    erased = (out == 0).squeeze(1)
    chosen = erased.flatten(1).any(1)
    assert 0.4 < chosen.float().mean().item() < 0.6
    for mask in erased[chosen][:50]:
        rows, cols = mask.any(1).nonzero().flatten(), mask.any(0).nonzero().flatten()
        box = mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]
        assert box.all()  # a full rectangle, nothing outside it
        assert box.numel() == mask.sum()
    areas = erased[chosen].flatten(1).float().mean(1)
    assert areas.min() > 0.03 and areas.max() < 0.3
    with pytest.raises(ValueError, match="scale"):
        augment.random_erasing(X, scale=(0.5, 0.1))


def test_mixup_and_cutmix_give_soft_targets_that_sum_to_one():
    torch.manual_seed(0)
    X, y = torch.rand(32, 1, 8, 8), torch.randint(0, 4, (32,))
    for mix in (augment.mixup, augment.cutmix):
        out, target = mix(X, y, num_classes=4)
        assert out.shape == X.shape and target.shape == (32, 4)
        torch.testing.assert_close(target.sum(1), torch.ones(32))
    with pytest.raises(ValueError, match="alpha"):
        augment.mixup(X, y, 4, alpha=0)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        augment.random_flip(torch.rand(3, 8, 8))


def test_cutmix_target_weights_are_the_pasted_area():
    torch.manual_seed(3)
    X = torch.zeros(16, 1, 10, 10)
    X[8:] = 1.0  # two kinds of images; the pasted share is visible in the pixel mean
    y = torch.tensor([0] * 8 + [1] * 8)
    out, target = augment.cutmix(X, y, num_classes=2)
    torch.testing.assert_close(out.flatten(1).mean(1), target[:, 1])


def test_augment_composes_and_checks_its_arguments():
    torch.manual_seed(0)
    X, y = numbered(), torch.zeros(64, dtype=torch.long)
    out, same_y = augment.Augment(crop=1, flip=0.5, erase=0.5)(X, y)
    assert out.shape == X.shape and same_y is y and not torch.equal(out, X)
    assert "crop=1" in repr(augment.Augment(crop=1))
    with pytest.raises(ValueError, match="crop"):
        augment.Augment(crop=1.5)
    with pytest.raises(ValueError, match="erase"):
        augment.Augment(erase=2)
