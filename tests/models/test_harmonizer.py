"""The harmonizer loss against an independent float64 reference and hand-computed pyramids."""

import math

import pytest
import torch
from torch import nn

from clickme_analysis.errors import InputError
from models.loss import gaussian_pyramid, harmonization_term, harmonizer_loss

TAPS = [1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16]


def _tiny_timm(num_classes=3):
    import timm

    torch.manual_seed(0)
    return timm.create_model("test_resnet", num_classes=num_classes).eval()


def _batch(n=4, size=32, num_classes=3, dtype=torch.float32):
    generator = torch.Generator().manual_seed(1)
    images = torch.randn(n, 3, size, size, generator=generator, dtype=dtype)
    maps = torch.rand(n, size, size, generator=generator, dtype=dtype) ** 4
    labels = torch.arange(n) % num_classes
    has_map = torch.tensor([True, False, True, True][:n])
    return images, labels, maps, has_map


# --- the reference: one sample and one level at a time, every step written out ---------------
def _ref_axis(size):
    """The (out, size) matrix of one axis of a pyramid step: TF SAME zero padding, stride 2."""
    out = -(-size // 2)
    before = max((out - 1) * 2 + 5 - size, 0) // 2
    matrix = torch.zeros(out, size, dtype=torch.float64)
    for i in range(out):
        for a in range(5):
            source = 2 * i + a - before  # taps that fall on the padding read zeros
            if 0 <= source < size:
                matrix[i, source] += TAPS[a]
    return matrix


def _ref_downsample(level):
    """One pyramid step: the separable 5x5 binomial filter as two explicit matrices."""
    rows, cols = (_ref_axis(s).to(level.dtype) for s in level.shape)
    return rows @ level @ cols.T


def _ref_standardise(m):
    mean = m.sum() / m.numel()
    sd = torch.sqrt(((m - mean) ** 2).sum() / m.numel())
    return torch.clamp((m - mean) / (sd + 1e-5), min=0)


def _reference_loss(model, images, labels, maps, has_map, levels, lam, weight_decay, smoothing):
    n, k = len(labels), None
    harmonization, cross_entropy = 0.0, 0.0
    level_sums = [0.0] * levels
    for i in range(n):
        x = images[i : i + 1].clone().requires_grad_(True)
        logits = model(x)[0]
        k = len(logits)
        log_p = logits - torch.logsumexp(logits, 0)
        cross_entropy = cross_entropy - ((1 - smoothing) * log_p[labels[i]] + smoothing / k * log_p.sum())
        (grad,) = torch.autograd.grad(logits[labels[i]], x, create_graph=True)
        saliency = _ref_standardise(grad[0].mean(0))
        human = _ref_standardise(maps[i])
        human = human / (human.max() + 1e-6) * (saliency.max().detach() + 1e-6)
        for level in range(levels):
            if has_map[i]:
                level_sums[level] = level_sums[level] + ((saliency - human) ** 2).mean()
            saliency, human = _ref_downsample(saliency), _ref_downsample(human)
    harmonization = sum(total / n for total in level_sums) / levels
    decay = sum((m.weight**2).sum() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear)))
    return cross_entropy / n + weight_decay * decay / 2 + lam * harmonization, harmonization


def test_matches_the_float64_reference_value_and_gradients():
    model = _tiny_timm().double()
    images, labels, maps, has_map = _batch(dtype=torch.float64)
    parts = harmonizer_loss(model, images, labels, maps, has_map, lam=2.0, weight_decay=1e-3)
    grads = torch.autograd.grad(parts["loss"], list(model.parameters()))
    ref_loss, ref_h = _reference_loss(model, images, labels, maps, has_map, 5, 2.0, 1e-3, 0.1)
    ref_grads = torch.autograd.grad(ref_loss, list(model.parameters()))
    assert parts["harmonization"].item() > 0.01  # a real term, not a trivial zero
    assert abs(parts["loss"].item() - ref_loss.item()) < 1e-10  # measured 0 (issue asks 1e-6)
    assert abs(parts["harmonization"].item() - ref_h.item()) < 1e-10
    worst = max((g - r).abs().max().item() for g, r in zip(grads, ref_grads))
    assert worst < 1e-10  # measured 6e-17
    assert max(g.abs().max().item() for g in grads) > 1e-3  # gradients are not all zero


def test_training_mode_matches_pytorch_built_in_second_order_backward():
    """In training mode (batch norm on batch statistics) the loss's own double backward
    (models.second_order) gives PyTorch's built-in derivatives, written out here without it."""
    model = _tiny_timm().double().train()
    images, labels, maps, has_map = _batch(dtype=torch.float64)
    parts = harmonizer_loss(model, images, labels, maps, has_map, lam=2.0, weight_decay=0.0, label_smoothing=0.0)
    grads = torch.autograd.grad(parts["loss"], list(model.parameters()))
    x = images.clone().requires_grad_(True)
    logits = model(x)
    (saliency,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), x, create_graph=True)
    ref = nn.functional.cross_entropy(logits, labels) + 2.0 * harmonization_term(saliency.mean(1), maps, has_map)
    ref_grads = torch.autograd.grad(ref, list(model.parameters()))
    assert parts["loss"].item() == pytest.approx(ref.item(), rel=1e-12)
    scale = max(r.abs().max().item() for r in ref_grads)
    assert scale > 1e-3
    assert max((g - r).abs().max().item() for g, r in zip(grads, ref_grads)) < 1e-10 * scale


def test_float32_and_bf16_channels_last_agree_with_float64():
    model = _tiny_timm()
    images, labels, maps, has_map = _batch()
    exact = harmonizer_loss(model.double(), images.double(), labels, maps.double(), has_map)
    model = model.float()
    single = harmonizer_loss(model, images, labels, maps, has_map)
    assert single["loss"].item() == pytest.approx(exact["loss"].item(), rel=1e-4)
    model = model.to(memory_format=torch.channels_last)
    fast = harmonizer_loss(
        model,
        images.contiguous(memory_format=torch.channels_last),
        labels,
        maps,
        has_map,
        amp_context=torch.autocast("cpu", dtype=torch.bfloat16),
    )
    fast["loss"].backward()
    assert fast["loss"].dtype == torch.float32 and math.isfinite(fast["loss"].item())
    assert fast["harmonization"].item() == pytest.approx(exact["harmonization"].item(), rel=0.2)
    assert all(p.grad is None or torch.isfinite(p.grad).all() for p in model.parameters())


def test_a_vision_transformer_takes_the_second_order_backward():
    import timm

    torch.manual_seed(0)
    vit = timm.create_model("test_vit", num_classes=3, img_size=32, patch_size=8)
    images, labels, maps, has_map = _batch()
    parts = harmonizer_loss(vit, images, labels, maps, has_map)  # fused attention has no 2nd derivative
    parts["loss"].backward()
    assert vit.patch_embed.proj.weight.grad.abs().sum() > 0


def test_samples_without_maps_count_in_the_denominator():
    model = _tiny_timm()
    images, labels, maps, _ = _batch()
    first = harmonizer_loss(model, images[:1], labels[:1], maps[:1], None)["harmonization"]
    masked = torch.tensor([True, False, False, False])
    batch = harmonizer_loss(model, images, labels, maps, masked)["harmonization"]
    assert batch.item() == pytest.approx(first.item() / 4, rel=1e-5)  # eval mode: samples independent
    none = harmonizer_loss(model, images, labels, maps, torch.zeros(4, dtype=torch.bool))
    assert none["harmonization"].item() == 0.0


def test_lambda_zero_is_cross_entropy_plus_decay():
    model = _tiny_timm()
    images, labels, maps, has_map = _batch()
    parts = harmonizer_loss(model, images, labels, maps, has_map, lam=0.0)
    expected = nn.functional.cross_entropy(model(images), labels, label_smoothing=0.1)
    assert parts["cross_entropy"].item() == pytest.approx(expected.item(), rel=1e-6)
    assert parts["loss"].item() == pytest.approx((parts["cross_entropy"] + parts["weight_decay"]).item())
    assert parts["harmonization"].item() > 0  # still reported


def test_pyramid_hand_computed():
    delta = torch.zeros(1, 4, 4)
    delta[0, 0, 0] = 1
    level = gaussian_pyramid(delta, levels=2)[1]  # output (0, 0) reads rows -1..3: tap 1 on row 0
    assert torch.allclose(level, torch.tensor([[[1 / 16, 0.0], [0.0, 0.0]]]))
    odd = gaussian_pyramid(torch.ones(1, 5, 5), levels=2)[1][0]  # 2 before, 2 after
    edge = 11 / 16
    assert torch.allclose(
        odd, torch.tensor([[edge * edge, edge, edge * edge], [edge, 1, edge], [edge * edge, edge, edge * edge]])
    )
    shapes = [tuple(m.shape) for m in gaussian_pyramid(torch.zeros(2, 30, 30), levels=5)]
    assert shapes == [(2, 30, 30), (2, 15, 15), (2, 8, 8), (2, 4, 4), (2, 2, 2)]
    image = torch.rand(1, 9, 12)
    for ours, ref in zip(gaussian_pyramid(image, levels=4)[1:], _ref_pyramid(image[0], 4)[1:]):
        assert torch.allclose(ours[0], ref, atol=1e-6)


def _ref_pyramid(level, levels):
    out = [level]
    for _ in range(levels - 1):
        out.append(_ref_downsample(out[-1]))
    return out


def test_matching_maps_cost_nothing_and_shifted_maps_cost_more():
    human = torch.zeros(1, 16, 16)
    human[0, 4:8, 4:8] = 1
    one = torch.ones(1, dtype=torch.bool)
    assert harmonization_term(human * 3, human, one).item() == pytest.approx(0, abs=1e-6)
    near, far = human.roll(1, -1), human.roll(8, -1)
    assert 0 < harmonization_term(near, human, one) < harmonization_term(far, human, one)


def test_located_errors():
    model = _tiny_timm()
    images, labels, maps, has_map = _batch()
    with pytest.raises(InputError, match=r"maps of the images' size \(4, 32, 32\), got \(4, 16, 16\)"):
        harmonizer_loss(model, images, labels, maps[:, :16, :16], has_map)

    class Detached(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = model

        def forward(self, x):
            return self.inner(x.detach())

    with pytest.raises(InputError, match="no gradient path"):
        harmonizer_loss(Detached(), images, labels, maps, has_map)
    frozen = nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 3)).requires_grad_(False)
    with torch.no_grad(), pytest.raises(InputError, match="gradient path"):
        harmonizer_loss(frozen, images, labels, maps, has_map)
