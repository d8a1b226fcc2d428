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


@pytest.mark.parametrize("check", [checks.check_grad_cam_map, checks.check_occlusion_drop, checks.check_ig_trapezoid])
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
    assert cnnlib.occlusion is cnnlib.explain.occlusion  # untouched
    assert cnnlib.occlusion.__module__ == "cnnlib.explain.maps"
    assert cnnlib.occlusion.__code__.co_name == "occlusion" and cnnlib.occlusion.__defaults__  # its code is back


def test_check_grad_cam_map_cannot_be_passed_with_the_library():
    def library(activations, gradients):
        cnnlib.explain.grad_cam(torch.nn.Identity(), activations, "")  # any call into cnnlib.explain counts
        return grad_cam_map(activations, gradients)

    assert "library uses cnnlib.explain.grad_cam: this exercise" in fails(checks.check_grad_cam_map, library)


def ig_trapezoid(model, x, target, baseline, steps):
    start = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
    total = torch.zeros_like(x)
    for k in range(steps):
        point = (start + k / (steps - 1) * (x - start)).requires_grad_(True)
        (grad,) = torch.autograd.grad(model(point)[:, target].sum(), point)
        total += grad * (0.5 if k in (0, steps - 1) else 1.0) / (steps - 1)
    return (x - start) * total


def test_check_ig_trapezoid_passes_the_right_answer_and_names_the_mistakes(capsys):
    assert checks.check_ig_trapezoid(ig_trapezoid)
    assert checks.check_ig_trapezoid(ig_trapezoid, n_random=8, seed=1603)
    assert "✓ ig_trapezoid" in capsys.readouterr().out
    assert "not implemented yet" in fails(checks.check_ig_trapezoid, stub)

    def captums_weights(model, x, target, baseline, steps):  # 1/steps per point, ends halved: sums to 1 - 1/steps
        return ig_trapezoid(model, x, target, baseline, steps) * (steps - 1) / steps

    def right_sum(model, x, target, baseline, steps):  # the gradient at the right ends only
        start = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
        total = torch.zeros_like(x)
        for k in range(1, steps + 1):
            point = (start + k / steps * (x - start)).requires_grad_(True)
            total += torch.autograd.grad(model(point)[:, target].sum(), point)[0] / steps
        return (x - start) * total

    def no_difference(model, x, target, baseline, steps):  # the average gradient, not times (x - baseline)
        start = torch.as_tensor(baseline, dtype=x.dtype).expand_as(x)
        return ig_trapezoid(model, x, target, baseline, steps) / torch.where(x == start, 1.0, x - start)

    def probability(model, x, target, baseline, steps):  # the softmax probability instead of the logit
        def prob(z):
            return model(z).softmax(dim=1)
        return ig_trapezoid(prob, x, target, baseline, steps)

    for wrong in (captums_weights, right_sum, no_difference, probability):
        assert "smallest failing one" in fails(checks.check_ig_trapezoid, wrong), wrong.__name__


def test_check_ig_trapezoid_refuses_the_finished_versions():
    import cnnlib

    def library(model, x, target, baseline, steps):
        return cnnlib.integrated_gradients(model, x, target, baseline=baseline, steps=steps, method="riemann_trapezoid")

    assert "integrated_gradients" in fails(checks.check_ig_trapezoid, library)
    from captum.attr import IntegratedGradients

    def captum(model, x, target, baseline, steps):
        out = IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=steps,
                                                   method="riemann_trapezoid")
        return out * steps / (steps - 1)

    assert "IntegratedGradients" in fails(checks.check_ig_trapezoid, captum)
