"""SmoothGrad via captum, gradient delta, panels."""

import copy

import numpy as np
import pytest
import torch
from PIL import Image

from clickme_analysis.errors import InputError
from models.explain import attention_maps, explain, gradient_delta, smoothgrad
from models.networks import build_network


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_network("tiny_gala_resnet", num_classes=3, tiny_width=4).eval()


def test_zero_noise_smoothgrad_is_the_plain_gradient(model):
    images = torch.randn(2, 3, 20, 20)
    target = torch.tensor([0, 2])
    grads = smoothgrad(model, images, target, noise_fraction=0.0, n_samples=3, batch_size=2)
    x = images.clone().requires_grad_(True)
    model(x).gather(1, target[:, None]).sum().backward()
    assert torch.allclose(grads, x.grad.abs().amax(1), atol=1e-6)


def test_noise_is_seeded_and_changes_the_map(model):
    images = torch.randn(1, 3, 20, 20)
    a = smoothgrad(model, images, 1, n_samples=4, seed=0)
    assert torch.equal(a, smoothgrad(model, images, 1, n_samples=4, seed=0))
    assert not torch.equal(a, smoothgrad(model, images, 1, n_samples=4, seed=1))
    assert not torch.equal(a, smoothgrad(model, images, 1, noise_fraction=0, n_samples=1))


def test_gradient_delta_is_the_difference_of_the_two_unit_max_smoothgrads(model):
    """By hand: each model's noise-free gradient map, max-normalized per image, subtracted."""
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.mul_(torch.linspace(0.5, 1.5, p.numel()).reshape(p.shape))
    images = torch.randn(2, 3, 20, 20)
    target = torch.tensor([1, 0])
    delta = gradient_delta(model, other, images, target=target, noise_fraction=0.0, n_samples=1)

    def by_hand(net):
        x = images.clone().requires_grad_(True)
        net.eval()(x).gather(1, target[:, None]).sum().backward()
        grad = x.grad.abs().amax(1)
        return grad / grad.flatten(1).amax(1)[:, None, None]

    expected = by_hand(model) - by_hand(other)
    assert delta.shape == (2, 20, 20) and expected.abs().max() > 0.05  # the two models differ
    assert torch.allclose(delta, expected, atol=1e-5)


def test_attention_maps_at_image_size(model):
    maps = attention_maps(model, torch.randn(2, 3, 20, 20))
    assert maps.shape == (2, 20, 20) and (maps >= 0).all()


def test_explain_writes_pngs(model, tmp_path):
    other = build_network("tiny_gala_resnet", num_classes=3, tiny_width=4)
    paths = explain(model, torch.randn(2, 3, 20, 20), tmp_path, torch.rand(2, 20, 20), other, n_samples=2)
    assert sorted(p.name for p in paths) == ["attention.png", "gradient_delta.png", "smoothgrad.png"]
    for path in paths:
        assert np.asarray(Image.open(path)).ndim == 3


def test_bad_input(model):
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        smoothgrad(model, torch.zeros(3, 20, 20))
    with pytest.raises(InputError, match="n_samples"):
        smoothgrad(model, torch.zeros(1, 3, 20, 20), n_samples=0)


def test_batched_smoothgrad_equals_captum_noise_tunnel_for_the_same_noise(model):
    from captum.attr import NoiseTunnel, Saliency

    images, target = torch.randn(3, 3, 20, 20), torch.tensor([0, 2, 1])
    torch.manual_seed(5)
    tunnel = NoiseTunnel(Saliency(model))
    reference = torch.stack(
        [
            tunnel.attribute(
                image[None],
                nt_type="smoothgrad",
                nt_samples=6,
                target=int(label),
                stdevs=0.15 * float(image.max() - image.min()),
            )[0]
            .abs()
            .amax(0)
            for image, label in zip(images, target)
        ]
    )
    same = smoothgrad(model, images, target, n_samples=6, batch_size=6, seed=5)
    assert torch.equal(same, reference)  # one image's samples per batch, as captum: bit for bit
    for batch_size, fast in ((4, False), (18, True), (1, True)):  # batches span images
        batched = smoothgrad(
            model, images, target, n_samples=6, batch_size=batch_size, seed=5, channels_last=fast, fuse=fast
        )
        torch.testing.assert_close(batched, reference, rtol=1e-5, atol=1e-9)


def test_integrated_gradients_of_a_linear_model_is_input_times_weight():
    from models.explain import importance_maps

    torch.manual_seed(0)
    linear = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 4 * 4, 2, bias=False))
    x = torch.randn(2, 3, 4, 4)
    maps = importance_maps(linear, x, "IntegratedGradients", target=1, n_steps=8)
    expected = (x * linear[1].weight[1].reshape(3, 4, 4)).abs().amax(1)
    torch.testing.assert_close(maps, expected, rtol=1e-4, atol=1e-6)
    saliency = importance_maps(linear, x, "Saliency", target=1)
    torch.testing.assert_close(saliency, linear[1].weight[1].reshape(3, 4, 4).abs().amax(0).expand(2, 4, 4))


def test_every_method_gives_non_negative_maps_at_input_size(model):
    from models.explain import METHODS, importance_maps

    images = torch.randn(2, 3, 16, 16)
    for method in METHODS:
        maps = importance_maps(model, images, method, target=0, n_samples=2, n_steps=2, n_baselines=2)
        assert maps.shape == (2, 16, 16) and (maps >= 0).all() and torch.isfinite(maps).all(), method
    with pytest.raises(InputError, match="unknown importance-map method"):
        importance_maps(model, images, "shapley")
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 16 * 16, 2))
    with pytest.raises(InputError, match="GALA"):
        importance_maps(plain, images, "gala")
