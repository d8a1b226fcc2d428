"""The chapter 16 self-checks: right answers pass; wrong ones, stubs and the library's own function fail."""

import pytest
import torch

import cnnlib
from cnnlib import checks


def grad_cam_map(activations, gradients):
    weights = gradients.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * activations).sum(dim=1))


def occlusion_drop(model, x, target, top, left, patch, baseline=0.0):
    occluded = x.clone()
    occluded[:, :, top:top + patch, left:left + patch] = baseline
    with torch.no_grad():
        return model(x).softmax(dim=1)[:, target] - model(occluded).softmax(dim=1)[:, target]


def fails(check, fn) -> str:
    with pytest.raises(AssertionError) as info:
        check(fn)
    return str(info.value)


def test_check_grad_cam_map_passes_the_right_answer_and_names_the_mistakes(capsys):
    assert checks.check_grad_cam_map(grad_cam_map)
    assert "✓ grad_cam_map" in capsys.readouterr().out
    summed = lambda a, g: torch.relu((g.sum(dim=(2, 3), keepdim=True) * a).sum(dim=1))  # noqa: E731
    no_relu = lambda a, g: (g.mean(dim=(2, 3), keepdim=True) * a).sum(dim=1)  # noqa: E731
    per_pixel = lambda a, g: torch.relu((g * a).sum(dim=1))  # noqa: E731
    for wrong in (summed, no_relu, per_pixel):
        message = fails(checks.check_grad_cam_map, wrong)
        assert "smallest failing one" in message and "a = tensor of shape" in message
    assert "shape (1, 1, 2, 2), expected (1, 2, 2)" in fails(checks.check_grad_cam_map, lambda a, g: a * g)


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise: write your solution here")


@pytest.mark.parametrize("check", [checks.check_grad_cam_map, checks.check_occlusion_drop])
def test_a_stub_is_not_implemented_yet(check):
    assert "not implemented yet" in fails(check, stub)


def test_check_occlusion_drop_passes_the_right_answer_and_names_the_mistakes():
    assert checks.check_occlusion_drop(occlusion_drop)

    def logits(model, x, target, top, left, patch, baseline=0.0):  # scores instead of probabilities
        occluded = x.clone()
        occluded[:, :, top:top + patch, left:left + patch] = baseline
        return (model(x) - model(occluded))[:, target].detach()

    def zero_only(model, x, target, top, left, patch, baseline=0.0):  # ignores the baseline
        return occlusion_drop(model, x, target, top, left, patch, 0.0)

    def off_by_one(model, x, target, top, left, patch, baseline=0.0):
        return occlusion_drop(model, x, target, top, left, patch + 1, baseline)

    for wrong in (logits, zero_only, off_by_one):
        assert "smallest failing one" in fails(checks.check_occlusion_drop, wrong)


def test_check_occlusion_drop_cannot_be_passed_with_the_library_function():
    def library(model, x, target, top, left, patch, baseline=0.0):
        return cnnlib.occlusion(model, x, target, patch=patch, stride=patch, baseline=baseline)[:, top, left]

    message = fails(checks.check_occlusion_drop, library)
    assert message.startswith("library uses cnnlib.explain.occlusion: this exercise asks you to write it without it")
    assert cnnlib.occlusion is cnnlib.explain.occlusion and cnnlib.occlusion.__module__ == "cnnlib.explain"  # untouched
    assert cnnlib.occlusion.__code__.co_name == "occlusion" and cnnlib.occlusion.__defaults__  # its code is back


def test_check_grad_cam_map_cannot_be_passed_with_the_library():
    def library(activations, gradients):
        cnnlib.explain.grad_cam(torch.nn.Identity(), activations, "")  # any call into cnnlib.explain counts
        return grad_cam_map(activations, gradients)

    assert "library uses cnnlib.explain.grad_cam: this exercise" in fails(checks.check_grad_cam_map, library)
