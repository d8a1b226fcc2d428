"""cnnlib.explain: feature maps, saliency, SmoothGrad, Integrated Gradients, Grad-CAM and occlusion, checked
against grad-cam and captum; deletion and insertion curves on a model where the right order is known."""

import numpy as np
import pytest
import skimage.data
import skimage.transform
import torch
from torch import nn

import cnnlib
from cnnlib.explain import feature_maps, grad_cam, layer_names, occlusion, overlay, saliency
from cnnlib.models import efficientnet_lite0
from cnnlib.models.efficientnet import LITE0_MEAN, LITE0_STD

CAT_CLASSES = {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"}


def small_cnn() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(), nn.Dropout(0.5),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 5))


def no_hooks(model: nn.Module) -> bool:
    return all(not m._forward_hooks for m in model.modules())


@pytest.fixture(scope="module")
def lite0() -> nn.Module:
    return efficientnet_lite0(weights="imagenet").eval()


def normalise(image: np.ndarray) -> torch.Tensor:
    """(H, W, 3) floats in [0, 1] -> a normalised (1, 3, H, W) batch for the pretrained Lite0."""
    x = torch.tensor(image, dtype=torch.float32).permute(2, 0, 1)
    return ((x - torch.tensor(LITE0_MEAN)[:, None, None]) / torch.tensor(LITE0_STD)[:, None, None])[None]


def cat_in_quadrant(quadrant: int, size: int = 224) -> torch.Tensor:
    """``skimage.data.chelsea`` downscaled to half the side, pasted into one quadrant of a grey canvas."""
    half = size // 2
    canvas = np.full((size, size, 3), 0.5)
    row, col = divmod(quadrant, 2)
    canvas[row * half:(row + 1) * half, col * half:(col + 1) * half] = skimage.transform.resize(
        skimage.data.chelsea(), (half, half), anti_aliasing=True)
    return normalise(canvas)


def quadrant_share(maps: torch.Tensor, quadrant: int) -> torch.Tensor:
    half = maps.shape[-1] // 2
    row, col = divmod(quadrant, 2)
    inside = maps[:, row * half:(row + 1) * half, col * half:(col + 1) * half].sum(dim=(1, 2))
    return inside / maps.sum(dim=(1, 2))


# ----------------------------------------------------------------------------------------------------------
# feature_maps, and what every method shares: hooks removed, modes restored, clear errors
# ----------------------------------------------------------------------------------------------------------

def test_feature_maps_shapes_and_values():
    model = small_cnn().eval()
    x = torch.randn(2, 3, 8, 8)
    maps = feature_maps(model, x, ["0", "3", "5"])
    assert {k: tuple(v.shape) for k, v in maps.items()} == {"0": (2, 4, 8, 8), "3": (2, 4, 4, 4), "5": (2, 6, 4, 4)}
    torch.testing.assert_close(maps["0"], model[0](x))
    assert not maps["5"].requires_grad and bool((maps["5"] >= 0).all())
    assert tuple(feature_maps(model, x, "3")) == ("3",)  # one name is enough
    assert no_hooks(model)


def test_layer_names_lists_every_sub_module():
    assert layer_names(small_cnn()) == [str(i) for i in range(10)]
    names = layer_names(efficientnet_lite0())
    assert names[:3] == ["stem", "stem.conv", "stem.bn"] and "stages.6.0.project_conv" in names


def test_train_mode_and_batch_norm_statistics_are_left_as_they_were():
    model = small_cnn().train()
    model[6].eval()  # a mixed model: each module keeps its own flag
    before = model[1].running_mean.clone()
    x = torch.randn(2, 3, 8, 8)
    feature_maps(model, x, "5")
    saliency(model, x, 1)
    grad_cam(model, x, "4", 1)
    occlusion(model, x, 1, patch=4, stride=4)
    assert [m.training for m in model] == [True] * 6 + [False] + [True] * 3
    torch.testing.assert_close(model[1].running_mean, before)  # eval mode: no statistics updated
    assert all(p.grad is None for p in model.parameters())  # no gradients left on the weights

    model.eval()
    saliency(model, x, 1)
    assert not any(m.training for m in model.modules())


class Exploding(nn.Module):
    """A model whose forward pass raises after its first layer has run."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 2, 3)

    def forward(self, x):
        self.conv(x)
        raise RuntimeError("boom")


def test_hooks_are_removed_and_mode_restored_when_the_forward_pass_raises():
    model = Exploding().train()
    for call in (lambda: feature_maps(model, torch.randn(1, 3, 5, 5), "conv"),
                 lambda: grad_cam(model, torch.randn(1, 3, 5, 5), "conv")):
        with pytest.raises(RuntimeError, match="boom"):
            call()
        assert no_hooks(model) and model.training


def test_unknown_layer_names_the_valid_ones():
    model = small_cnn()
    with pytest.raises(KeyError, match=r"no layer named 'conv9'.*Valid names: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9"):
        feature_maps(model, torch.randn(1, 3, 8, 8), "conv9")
    with pytest.raises(KeyError, match=r"Did you mean 'stages.6'"):
        grad_cam(efficientnet_lite0(), torch.randn(1, 3, 32, 32), "stage.6")
    with pytest.raises(ValueError, match="at least one layer"):
        feature_maps(model, torch.randn(1, 3, 8, 8), [])
    assert no_hooks(model)


class WithASpareLayer(nn.Module):
    """A network with a registered layer that its forward pass never calls."""

    def __init__(self):
        super().__init__()
        self.net, self.spare = small_cnn(), nn.Conv2d(3, 3, 1)

    def forward(self, x):
        return self.net(x)


def test_a_layer_that_does_not_run_is_an_error():
    model = WithASpareLayer()
    with pytest.raises(ValueError, match=r"\['spare'\] did not run"):
        feature_maps(model, torch.randn(1, 3, 8, 8), ["net.0", "spare"])
    with pytest.raises(ValueError, match=r"'spare' did not run"):
        grad_cam(model, torch.randn(1, 3, 8, 8), "spare")
    assert no_hooks(model)


@pytest.mark.parametrize("method", [
    lambda m, x: feature_maps(m, x, "0"), lambda m, x: saliency(m, x, 0),
    lambda m, x: grad_cam(m, x, "4", 0), lambda m, x: occlusion(m, x, 0, patch=2, stride=2)])
def test_an_input_without_batch_dimension_is_an_error(method):
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(3, 8, 8\).*unsqueeze\(0\)"):
        method(small_cnn(), torch.randn(3, 8, 8))
    with pytest.raises(TypeError, match="must be a tensor"):
        method(small_cnn(), np.zeros((1, 3, 8, 8)))


@pytest.mark.parametrize("method", [saliency, lambda m, x, t: grad_cam(m, x, "4", t),
                                    lambda m, x, t: occlusion(m, x, t, patch=4, stride=4)])
def test_targets_are_checked(method):
    model, x = small_cnn(), torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"target class 5 is out of range: the model has 5 classes \(0 to 4\)"):
        method(model, x, 5)
    with pytest.raises(ValueError, match="target class -1 is out of range"):
        method(model, x, [0, -1])
    with pytest.raises(ValueError, match="3 targets for a batch of 2 images"):
        method(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="int class index"):
        method(model, x, 1.0)
    assert no_hooks(model)


def test_the_predicted_class_is_the_default_target():
    model, x = small_cnn().eval(), torch.randn(3, 3, 8, 8)
    predicted = model(x).argmax(dim=1).tolist()
    torch.testing.assert_close(saliency(model, x), saliency(model, x, predicted))
    torch.testing.assert_close(grad_cam(model, x, "4"), grad_cam(model, x, "4", torch.tensor(predicted)))


def test_a_model_that_does_not_return_class_scores_is_an_error():
    with pytest.raises(ValueError, match=r"class scores of shape \(N, classes\), got \(1, 4, 8, 8\)"):
        saliency(nn.Conv2d(3, 4, 3, padding=1), torch.randn(1, 3, 8, 8), 0)


# ----------------------------------------------------------------------------------------------------------
# saliency and occlusion against captum
# ----------------------------------------------------------------------------------------------------------

def test_saliency_equals_captum_and_the_gradient_by_hand(lite0):
    from captum.attr import Saliency

    x = cat_in_quadrant(0, 96).expand(2, -1, -1, -1).contiguous()
    ours = saliency(lite0, x, [281, 967])
    theirs = Saliency(lite0).attribute(x.clone().requires_grad_(True), target=[281, 967]).amax(dim=1)
    assert ours.shape == (2, 96, 96)
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-7)

    model = small_cnn().eval()
    x = torch.randn(1, 3, 8, 8, requires_grad=True)
    model(x)[0, 3].backward()
    torch.testing.assert_close(saliency(model, x.detach(), 3), x.grad.abs().amax(dim=1))
    assert x.grad is not None and not saliency(model, x, 3).requires_grad


@pytest.mark.parametrize("size, patch, stride", [((13, 11), 4, 3), ((8, 8), 4, 4), ((9, 7), 3, 1)])
def test_occlusion_equals_captum(size, patch, stride):
    from captum.attr import Occlusion

    model = small_cnn().eval()
    x = torch.randn(2, 3, *size)
    ours = occlusion(model, x, [1, 4], patch=patch, stride=stride, baseline=0.5, batch_size=5)
    theirs = Occlusion(lambda z: model(z).softmax(dim=1)).attribute(
        x, target=[1, 4], sliding_window_shapes=(3, patch, patch), strides=(3, stride, stride), baselines=0.5)
    assert ours.shape == (2, *size)
    torch.testing.assert_close(ours, theirs[:, 0], rtol=0, atol=1e-6)


class LooksAtASquare(nn.Module):
    """Class 1's score is the sum of the pixels in rows 4-7, columns 8-11; class 0's is always zero."""

    def forward(self, x):
        evidence = x[:, :, 4:8, 8:12].sum(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(evidence), evidence], dim=1)


def test_occlusion_is_highest_where_the_evidence_is():
    maps = occlusion(LooksAtASquare(), torch.full((1, 3, 16, 16), 0.1), 1, patch=4, stride=2)
    row, col = divmod(int(maps[0].argmax()), 16)
    assert 4 <= row < 8 and 8 <= col < 12
    outside = torch.ones(16, 16, dtype=torch.bool)
    outside[2:10, 6:14] = False  # beyond any patch that touches the square
    assert float(maps[0][outside].abs().max()) == 0.0 and float(maps[0].max()) > 0.1


@pytest.mark.parametrize("quadrant", [0, 3])
def test_occlusion_finds_the_cat(lite0, quadrant):
    x = cat_in_quadrant(quadrant)
    maps = occlusion(lite0, x, 285, patch=56, stride=56)
    half = 112
    row, col = divmod(quadrant, 2)
    cat = maps[0, row * half:(row + 1) * half, col * half:(col + 1) * half]
    assert float(cat.max()) == float(maps.max()) and float(cat.mean()) > float(maps.mean())


def test_occlusion_rejects_bad_settings():
    model, x = small_cnn(), torch.randn(1, 3, 8, 8)
    with pytest.raises(ValueError, match="patch 9 is larger than the input"):
        occlusion(model, x, 0, patch=9, stride=1)
    with pytest.raises(ValueError, match="stride 5 is larger than patch 4"):
        occlusion(model, x, 0, patch=4, stride=5)
    with pytest.raises(ValueError, match="patch must be a positive int"):
        occlusion(model, x, 0, patch=2.5, stride=1)
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        occlusion(model, x, 0, patch=4, stride=2, batch_size=0)


# ----------------------------------------------------------------------------------------------------------
# Grad-CAM against pytorch_grad_cam, and on a cat in one quadrant
# ----------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layer", ["stages.5", "head"])
def test_grad_cam_equals_the_grad_cam_package(lite0, layer):
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    x = torch.cat([cat_in_quadrant(1, 160), cat_in_quadrant(2, 160)])
    ours = grad_cam(lite0, x, layer, [281, 967])
    module = dict(lite0.named_modules())[layer]
    theirs = GradCAM(lite0, [module])(x, targets=[ClassifierOutputTarget(281), ClassifierOutputTarget(967)])
    assert ours.shape == (2, 160, 160)
    torch.testing.assert_close(ours, torch.from_numpy(theirs), rtol=0, atol=1e-5)


def test_grad_cam_by_hand_without_normalisation():
    model, x = small_cnn().eval(), torch.randn(2, 3, 8, 8)
    raw = grad_cam(model, x, "2", 2, normalize=False)
    activations = model[:3](x)
    (grads,) = torch.autograd.grad(model[3:](activations)[:, 2].sum(), activations)
    cam = torch.relu((grads.mean(dim=(2, 3), keepdim=True) * activations).sum(dim=1))
    torch.testing.assert_close(raw, cam.detach())  # the layer is at input resolution: no upsampling
    scaled = grad_cam(model, x, "4", 2)  # 4x4, upsampled to 8x8
    assert float(scaled.amax(dim=(1, 2)).min()) == pytest.approx(1.0, abs=1e-4) and float(scaled.min()) >= 0


def test_grad_cam_works_on_a_frozen_model():
    model = small_cnn().eval().requires_grad_(False)
    assert grad_cam(model, torch.randn(1, 3, 8, 8), "4", 0, normalize=False).sum() >= 0


def test_grad_cam_needs_a_convolutional_feature_map():
    model = small_cnn()
    with pytest.raises(ValueError, match=r"'9' outputs \(1, 5\), not a feature map"):
        grad_cam(model, torch.randn(1, 3, 8, 8), "9")
    pooled_first = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(3, 2, 3, padding=1), nn.Flatten(), nn.Linear(32, 3))
    with pytest.raises(ValueError, match="no convolution runs before layer '0'"):
        grad_cam(pooled_first, torch.randn(1, 3, 8, 8), "0")
    assert grad_cam(pooled_first, torch.randn(1, 3, 8, 8), "1", 0).shape == (1, 8, 8)  # the conv itself is fine
    assert no_hooks(model) and no_hooks(pooled_first)


def test_grad_cam_puts_the_cat_classes_on_the_cat(lite0):
    cats = [281, 282, 285]  # tabby, tiger cat, Egyptian cat: the top three for chelsea
    x = torch.cat([cat_in_quadrant(q) for q in range(4)])
    with torch.no_grad():
        assert set(lite0(x).topk(3).indices.flatten().tolist()) <= set(CAT_CLASSES)
    for target in cats:
        maps = grad_cam(lite0, x, "head", target, normalize=False)
        shares = torch.stack([quadrant_share(maps[q:q + 1], q)[0] for q in range(4)])
        assert bool((shares > 0.6).all()), f"{CAT_CLASSES[target]}: Grad-CAM mass in the cat's quadrant {shares}"


# ----------------------------------------------------------------------------------------------------------
# overlay
# ----------------------------------------------------------------------------------------------------------

def test_overlay_blends_a_heat_map_into_the_photo():
    photo = skimage.data.chelsea()[:40, :50]
    heat = torch.zeros(40, 50)
    heat[10:20, 10:20] = 3.0
    blended = overlay(photo, heat, alpha=0.4)
    assert blended.shape == (40, 50, 3) and 0 <= blended.min() and blended.max() <= 1
    np.testing.assert_allclose(overlay(photo, heat, alpha=0.0), photo / 255.0)
    as_tensor = overlay(torch.tensor(photo / 255.0).permute(2, 0, 1), heat.numpy(), alpha=0.4)
    np.testing.assert_allclose(as_tensor, blended)
    hot, cold = blended[15, 15], blended[30, 40]
    assert not np.allclose(hot, cold)


def test_overlay_rejects_bad_input():
    with pytest.raises(ValueError, match="does not match"):
        overlay(np.zeros((8, 8, 3)), np.zeros((4, 4)))
    with pytest.raises(ValueError, match="RGB image"):
        overlay(np.zeros((8, 8)), np.zeros((8, 8)))
    with pytest.raises(ValueError, match="alpha"):
        overlay(np.zeros((8, 8, 3)), np.zeros((8, 8)), alpha=1.5)


def test_the_public_names_are_re_exported():
    assert cnnlib.grad_cam is grad_cam and cnnlib.explain.occlusion is occlusion
    for name in ("smooth_grad", "integrated_gradients", "deletion_curve", "insertion_curve"):
        assert getattr(cnnlib, name) is getattr(cnnlib.explain, name) and name in cnnlib.__all__
    assert set(cnnlib.explain.__all__) <= set(dir(cnnlib.explain))


# ----------------------------------------------------------------------------------------------------------
# In-place activations, no_grad / inference_mode, modules that run twice
# ----------------------------------------------------------------------------------------------------------

def out_of_place_twin(model: nn.Module) -> nn.Module:
    """The same weights with every in-place activation made out of place: what the maps must equal."""
    import copy

    twin = copy.deepcopy(model)
    for module in twin.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
    return twin


def course_resnet() -> nn.Module:
    torch.manual_seed(0)
    model = cnnlib.models.resnet18(num_classes=5).eval()  # torchvision's layout: ReLU(inplace=True)
    assert any(getattr(m, "inplace", False) for m in model.modules())
    return model


@pytest.mark.parametrize("layer", ["stem.1", "layer1.0.bn1", "layer2.1.bn2", "layer3.0.conv1"])
def test_maps_after_an_in_place_relu_are_the_layers_own_output(layer):
    model, x = course_resnet(), torch.randn(2, 3, 64, 64)
    twin = out_of_place_twin(model)
    ours, truth = feature_maps(model, x, layer)[layer], feature_maps(twin, x, layer)[layer]
    torch.testing.assert_close(ours, truth, rtol=0, atol=0)
    assert float(truth.min()) < 0  # a batch norm's output has negative values; a ReLU'd copy would not
    torch.testing.assert_close(grad_cam(model, x, layer, 1, normalize=False),
                               grad_cam(twin, x, layer, 1, normalize=False), rtol=1e-5, atol=1e-6)


def test_grad_cam_on_in_place_relus_equals_the_grad_cam_package_on_the_out_of_place_twin():
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    model, x = course_resnet(), torch.randn(2, 3, 64, 64)
    twin = out_of_place_twin(model)
    module = dict(twin.named_modules())["layer2.0.bn2"]
    theirs = GradCAM(twin, [module])(x, targets=[ClassifierOutputTarget(0), ClassifierOutputTarget(3)])
    torch.testing.assert_close(grad_cam(model, x, "layer2.0.bn2", [0, 3]), torch.from_numpy(theirs), rtol=0, atol=1e-4)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_gradient_methods_work_under_no_grad_and_inference_mode(mode):
    model, x = small_cnn().eval(), torch.randn(2, 3, 8, 8)
    cam, sal = grad_cam(model, x, "4", 1), saliency(model, x, 1)
    with mode():
        torch.testing.assert_close(grad_cam(model, x, "4", 1), cam)
        torch.testing.assert_close(saliency(model, x, 1), sal)
    assert no_hooks(model)


def test_a_module_that_runs_twice_is_named_not_silently_reported_once():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), relu, nn.Conv2d(4, 4, 3, padding=1), relu,
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))
    x = torch.randn(1, 3, 8, 8)
    for method in (lambda: feature_maps(model, x, "1"), lambda: grad_cam(model, x, "1")):
        with pytest.raises(ValueError, match="layer '1' runs more than once in one forward pass"):
            method()
    assert no_hooks(model)
    assert feature_maps(model, x, "2")["2"].shape == (1, 4, 8, 8)  # a layer that runs once is fine


# ----------------------------------------------------------------------------------------------------------
# SmoothGrad and Integrated Gradients, checked against captum
# ----------------------------------------------------------------------------------------------------------

def same_range_batch(n: int = 3, size: int = 9) -> torch.Tensor:
    """Images whose range (max - min) is exactly 1, so that captum's one stdev is our per-image one."""
    torch.manual_seed(1)
    x = torch.rand(n, 3, size, size)
    x[:, 0, 0, 0], x[:, 0, 0, 1] = 0.0, 1.0
    return x


@pytest.mark.parametrize("absolute", [True, False])
def test_smooth_grad_equals_captum_noise_tunnel_with_the_same_seed(absolute):
    from captum.attr import NoiseTunnel, Saliency

    model, x, t = small_cnn().eval(), same_range_batch(), torch.tensor([1, 4, 2])
    ours = cnnlib.smooth_grad(model, x, t, samples=7, noise=0.2, seed=3, absolute=absolute, batch_size=4)
    torch.manual_seed(3)
    theirs = NoiseTunnel(Saliency(model)).attribute(x.clone().requires_grad_(True), nt_type="smoothgrad",
                                                    nt_samples=7, stdevs=0.2, target=t, abs=absolute)
    torch.testing.assert_close(ours, theirs.abs().amax(dim=1), rtol=1e-5, atol=1e-7)
    assert ours.shape == (3, 9, 9) and no_hooks(model)


def test_smooth_grad_without_noise_is_saliency_and_the_seed_fixes_the_noise():
    model, x = small_cnn(), torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(cnnlib.smooth_grad(model, x, 1, samples=3, noise=0.0), saliency(model, x, 1))
    one = cnnlib.smooth_grad(model, x, samples=4, seed=5)
    torch.testing.assert_close(cnnlib.smooth_grad(model, x, samples=4, seed=5), one, rtol=0, atol=0)
    assert not torch.allclose(cnnlib.smooth_grad(model, x, samples=4, seed=6), one)
    assert model.training  # the mode it was in


def test_smooth_grad_is_smoother_than_saliency():
    """Its point: the map of a noisy-gradient model varies less from pixel to pixel than the plain gradient."""
    model = efficientnet_lite0(weights="imagenet").eval()
    x = cat_in_quadrant(0, size=64)
    plain, smooth = saliency(model, x)[0], cnnlib.smooth_grad(model, x, samples=16)[0]

    def roughness(m):  # mean jump between neighbours, relative to the map's mean
        return ((m[1:] - m[:-1]).abs().mean() + (m[:, 1:] - m[:, :-1]).abs().mean()) / m.mean()

    assert roughness(smooth) < 0.8 * roughness(plain)


@pytest.mark.parametrize("method", cnnlib.explain.IG_METHODS)
def test_integrated_gradients_equals_captum(method):
    from captum.attr import IntegratedGradients

    model, x, t = small_cnn().eval(), torch.randn(3, 3, 8, 8), torch.tensor([0, 3, 2])
    baseline = torch.rand(1, 3, 8, 8)
    ours = cnnlib.integrated_gradients(model, x, t, baseline=baseline, steps=9, method=method, batch_size=4)
    theirs = IntegratedGradients(model).attribute(x, baselines=baseline, target=t, n_steps=9, method=method)
    if method == "riemann_trapezoid":
        # captum 0.9 gives every interval 1/n with the ends halved, so its weights sum to 1 - 1/n, not 1:
        # its attributions are (n - 1)/n of the trapezoid rule's (see the linear-model test below).
        theirs = theirs * 9 / 8
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-7)
    assert ours.shape == x.shape and no_hooks(model)


def test_integrated_gradients_defaults_are_captums():
    from captum.attr import IntegratedGradients

    model, x = small_cnn().eval(), torch.randn(2, 3, 8, 8)
    target = model(x).argmax(dim=1)
    torch.testing.assert_close(cnnlib.integrated_gradients(model, x),
                               IntegratedGradients(model).attribute(x, target=target), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("method", cnnlib.explain.IG_METHODS)
def test_integrated_gradients_of_a_linear_model_is_weight_times_difference(method):
    """For a linear score every rule is exact: completeness holds to float precision, whatever the steps."""
    from captum.attr import IntegratedGradients

    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).double()
    x, base = torch.randn(2, 3, 2, 2, dtype=torch.float64), torch.randn(2, 3, 2, 2, dtype=torch.float64)
    ours = cnnlib.integrated_gradients(model, x, 1, baseline=base, steps=4, method=method)
    torch.testing.assert_close(ours, (x - base) * model[1].weight[1].view(3, 2, 2))
    gap = (model(x) - model(base))[:, 1]
    torch.testing.assert_close(ours.sum(dim=(1, 2, 3)), gap)
    theirs = IntegratedGradients(model).attribute(x, baselines=base, target=1, n_steps=4, method=method)
    expected = gap * (3 / 4 if method == "riemann_trapezoid" else 1)  # captum's trapezoid misses 1/n of it
    torch.testing.assert_close(theirs.sum(dim=(1, 2, 3)), expected)


def test_integrated_gradients_completeness_improves_with_steps():
    model = small_cnn().double().eval()
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64)
    with torch.no_grad():
        gap = model(x)[:, 2] - model(torch.zeros_like(x))[:, 2]
    errors = [(cnnlib.integrated_gradients(model, x, 2, steps=s, method="riemann_right").sum(dim=(1, 2, 3)) - gap)
              .abs().max().item() for s in (4, 64)]
    assert errors[1] < errors[0] / 4
    fine = cnnlib.integrated_gradients(model, x, 2, steps=64).sum(dim=(1, 2, 3))  # Gauss-Legendre
    torch.testing.assert_close(fine, gap, rtol=1e-2, atol=1e-6)  # ReLUs: a piecewise constant integrand


def test_path_weights():
    for method in cnnlib.explain.IG_METHODS:
        alphas, weights = cnnlib.explain.path_weights(6, method)
        assert alphas.shape == weights.shape == (6,) and 0 <= alphas.min() and alphas.max() <= 1
        torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    alphas, weights = cnnlib.explain.path_weights(3, "gausslegendre")  # exact up to degree 5: the integral of a^5
    torch.testing.assert_close((weights * alphas ** 5).sum(), torch.tensor(1 / 6, dtype=torch.float64))
    torch.testing.assert_close(cnnlib.explain.path_weights(4, "riemann_left")[0],
                               torch.tensor([0, 0.25, 0.5, 0.75], dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown method 'simpson'"):
        cnnlib.explain.path_weights(4, "simpson")
    with pytest.raises(ValueError, match="steps >= 2"):
        cnnlib.explain.path_weights(1, "riemann_trapezoid")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        cnnlib.explain.path_weights(0)


def test_smooth_grad_and_integrated_gradients_reject_bad_input():
    model, x = small_cnn(), torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="samples must be a positive int"):
        cnnlib.smooth_grad(model, x, samples=0)
    with pytest.raises(ValueError, match="noise must be a number >= 0"):
        cnnlib.smooth_grad(model, x, noise=-0.1)
    with pytest.raises(ValueError, match="add a batch dimension"):
        cnnlib.smooth_grad(model, x[0])
    with pytest.raises(ValueError, match="does not broadcast"):
        cnnlib.integrated_gradients(model, x, baseline=torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="out of range"):
        cnnlib.integrated_gradients(model, x, target=5)
    assert model.training and no_hooks(model)


@pytest.mark.parametrize("mode", [torch.no_grad, torch.inference_mode])
def test_smooth_grad_and_integrated_gradients_work_under_no_grad(mode):
    model, x = small_cnn().eval(), torch.randn(2, 3, 8, 8)
    sg, ig = cnnlib.smooth_grad(model, x, 1, samples=2), cnnlib.integrated_gradients(model, x, 1, steps=3)
    with mode():
        torch.testing.assert_close(cnnlib.smooth_grad(model, x, 1, samples=2), sg)
        torch.testing.assert_close(cnnlib.integrated_gradients(model, x, 1, steps=3), ig)


# ----------------------------------------------------------------------------------------------------------
# Deletion and insertion curves, on a model where the right order is known
# ----------------------------------------------------------------------------------------------------------

class Evidence(nn.Module):
    """Class 1's logit is ``sum(w * x)`` over a 4x4 single-channel image, class 0's is 0: p1 = sigmoid(w . x)."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.w = nn.Parameter(w.double())

    def forward(self, x):
        score = (self.w * x).sum(dim=(1, 2, 3))
        return torch.stack([torch.zeros_like(score), score], dim=1)


def test_deletion_and_insertion_curves_follow_the_evidence():
    w = torch.arange(16.0).view(1, 4, 4) / 10            # pixel i carries evidence i / 10
    model, x = Evidence(w), torch.ones(1, 1, 4, 4, dtype=torch.float64)
    truth = w.clone()                                     # the right map: delete the strongest evidence first
    deletion = cnnlib.explain.deletion_curve(model, x, truth, target=1, steps=4)
    left = [w.flatten().sort().values[:16 - k].sum() for k in (0, 4, 8, 12, 16)]  # what is not deleted yet
    torch.testing.assert_close(deletion[0], torch.sigmoid(torch.stack(left)).double())
    insertion = cnnlib.explain.insertion_curve(model, x, truth, target=1, steps=4)
    inserted = [w.flatten().sort(descending=True).values[:k].sum() for k in (0, 4, 8, 12, 16)]
    torch.testing.assert_close(insertion[0], torch.sigmoid(torch.stack(inserted)).double())
    # The right map beats the reversed one on both curves, and a random order falls between them.
    auc = cnnlib.explain.area_under_curve
    reverse = -truth
    noise = torch.rand(1, 4, 4, generator=torch.Generator().manual_seed(0))
    d = [auc(cnnlib.explain.deletion_curve(model, x, m, 1, steps=16)).item() for m in (truth, noise, reverse)]
    i = [auc(cnnlib.explain.insertion_curve(model, x, m, 1, steps=16)).item() for m in (truth, noise, reverse)]
    assert d[0] < d[1] < d[2] and i[0] > i[1] > i[2]


def test_curves_start_and_end_at_the_image_and_the_baseline():
    model, x = small_cnn().eval(), torch.randn(2, 3, 8, 8)
    blurred = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    heat = torch.rand(2, 8, 8)
    with torch.no_grad():
        p_x, p_b = model(x).softmax(dim=1)[:, 4], model(blurred).softmax(dim=1)[:, 4]
    deletion = cnnlib.explain.deletion_curve(model, x, heat, 4, steps=5, baseline=blurred)
    insertion = cnnlib.explain.insertion_curve(model, x, heat, 4, steps=5, baseline=blurred)
    assert deletion.shape == insertion.shape == (2, 6)
    torch.testing.assert_close(deletion[:, 0], p_x)
    torch.testing.assert_close(deletion[:, -1], p_b)
    torch.testing.assert_close(insertion[:, 0], p_b)
    torch.testing.assert_close(insertion[:, -1], p_x)
    assert model.training is False and no_hooks(model)


def test_pixel_order_breaks_ties_at_random_and_reproducibly():
    flat = torch.zeros(1, 8, 8)
    flat[0, 5, 6] = 1.0
    one, two = cnnlib.explain.pixel_order(flat, seed=0), cnnlib.explain.pixel_order(flat, seed=1)
    assert one[0, 0] == two[0, 0] == 5 * 8 + 6                     # the most important pixel first
    assert sorted(one[0].tolist()) == list(range(64))               # a permutation of the pixels
    assert not torch.equal(one, two) and torch.equal(one, cnnlib.explain.pixel_order(flat, seed=0))
    assert one[0, 1:33].float().mean() > 10                          # not top-left first: a tie is shuffled


def test_area_under_curve():
    curves = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.5, 0.0], [0.0, 0.0, 1.0]])
    torch.testing.assert_close(cnnlib.explain.area_under_curve(curves), torch.tensor([1.0, 0.5, 0.25]))
    with pytest.raises(ValueError, match="steps >= 1"):
        cnnlib.explain.area_under_curve(torch.ones(2, 1))


def test_curves_reject_bad_input():
    model, x = small_cnn(), torch.randn(2, 3, 8, 8)
    with pytest.raises(ValueError, match="one \\(H, W\\) map per image"):
        cnnlib.explain.deletion_curve(model, x, torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="one \\(H, W\\) map per image"):
        cnnlib.explain.insertion_curve(model, x, torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="steps must be a positive int"):
        cnnlib.explain.deletion_curve(model, x, torch.rand(2, 8, 8), steps=0)
    with pytest.raises(ValueError, match="does not broadcast"):
        cnnlib.explain.deletion_curve(model, x, torch.rand(2, 8, 8), baseline=torch.zeros(5, 8, 8))
    with pytest.raises(ValueError, match="NaN"):
        cnnlib.explain.pixel_order(torch.full((1, 2, 2), float("nan")))
    assert model.training
