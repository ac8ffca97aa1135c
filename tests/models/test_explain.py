"""SmoothGrad via captum, gradient delta, panels."""

import numpy as np
import pytest
import torch
from PIL import Image

from clickme_analysis.errors import InputError
from models.explain import attention_maps, explain, gradient_delta, smoothgrad
from models.resnet import build_model


@pytest.fixture
def model():
    torch.manual_seed(0)
    return build_model("tiny_gala_resnet", num_classes=3, tiny_width=4).eval()


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


def test_gradient_delta_of_a_model_with_itself_is_zero(model):
    images = torch.randn(2, 3, 20, 20)
    delta = gradient_delta(model, model, images, n_samples=2)
    assert delta.shape == (2, 20, 20) and delta.abs().max() == 0


def test_attention_maps_at_image_size(model):
    maps = attention_maps(model, torch.randn(2, 3, 20, 20))
    assert maps.shape == (2, 20, 20) and (maps >= 0).all()


def test_explain_writes_pngs(model, tmp_path):
    other = build_model("tiny_gala_resnet", num_classes=3, tiny_width=4)
    paths = explain(model, torch.randn(2, 3, 20, 20), tmp_path, torch.rand(2, 20, 20), other,
                    n_samples=2)
    assert sorted(p.name for p in paths) == ["attention.png", "gradient_delta.png", "smoothgrad.png"]
    for path in paths:
        assert np.asarray(Image.open(path)).ndim == 3


def test_bad_input(model):
    with pytest.raises(InputError, match=r"\(N, 3, H, W\)"):
        smoothgrad(model, torch.zeros(3, 20, 20))
    with pytest.raises(InputError, match="n_samples"):
        smoothgrad(model, torch.zeros(1, 3, 20, 20), n_samples=0)
