"""ClickMe supervision: the attention term of Linsley et al. (ICLR 2019) Eq. 1, plus cross-entropy.

For each supervised layer l with attention volume ``A_l`` (B, C, h, w), the model map is the
column-wise L2 norm over channels ``R(A_l)`` (B, h, w); the human map is resized to (h, w); both
are L2-normalised per image and their L2 distance is summed over layers and scaled by lambda:

    L = CE(y, y_hat) + lambda * sum_l || R(A_l)/||R(A_l)|| - M_l/||M_l|| ||_2

Images without a human map (``has_map`` False) are masked out of the attention term, which is
averaged over the images that have one (partial supervision). The authors' released code
differs (mean of A^2 over channels, x / sqrt(sum x), half sum of squares, mean over layers);
each difference is a keyword here, the paper form is the default.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from clickme_analysis.errors import InputError
from models.layers import unwrap
from models.second_order import second_order_kernels

REDUCTIONS = ("l2", "mean_square")
NORMALIZATIONS = ("l2", "sqrt_sum")
DISTANCES = ("l2", "half_sum_squares")


def attention_map(volume: torch.Tensor, reduction: str = "l2") -> torch.Tensor:
    """Reduce an attention volume (B, C, h, w) to one map (B, h, w).

    ``"l2"`` is the paper's column-wise L2 norm over channels; ``"mean_square"`` the released
    code's mean of A^2.

    Examples
    --------
    >>> attention_map(torch.tensor([[[[3.]], [[4.]]]]))
    tensor([[[5.]]])
    """
    if volume.ndim != 4:
        raise InputError(f"expected an attention volume (B, C, h, w), got shape {tuple(volume.shape)}")
    volume = volume.float()
    if reduction == "l2":
        return torch.linalg.vector_norm(volume, dim=1)
    if reduction == "mean_square":
        return volume.pow(2).mean(1)
    raise InputError(f"expected reduction in {REDUCTIONS}, got {reduction!r}", field="reduction")


def resize_maps(maps: torch.Tensor, size: tuple[int, int], interpolation: str = "bicubic") -> torch.Tensor:
    """Resize human maps (B, H, W) to ``size`` (antialiased, clipped at 0)."""
    if maps.ndim != 3:
        raise InputError(f"expected human maps (B, H, W), got shape {tuple(maps.shape)}")
    if interpolation not in ("bicubic", "bilinear"):
        raise InputError(
            f"expected interpolation 'bicubic' or 'bilinear', got {interpolation!r}", field="interpolation"
        )
    maps = maps.float()
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    out = F.interpolate(maps[:, None], size=size, mode=interpolation, align_corners=False, antialias=True)[:, 0]
    return out.clamp_min(0)


def _normalize(maps: torch.Tensor, how: str, eps: float) -> torch.Tensor:
    flat = maps.flatten(1)
    if how == "l2":
        return flat / (torch.linalg.vector_norm(flat, dim=1, keepdim=True) + eps)
    if how == "sqrt_sum":
        return flat / torch.sqrt(flat.sum(1, keepdim=True) + eps)
    raise InputError(f"expected normalization in {NORMALIZATIONS}, got {how!r}", field="normalization")


def map_distance(
    volumes: Sequence[torch.Tensor],
    human_maps: torch.Tensor,
    *,
    interpolation: str = "bicubic",
    reduction: str = "l2",
    normalization: str = "l2",
    distance: str = "l2",
    combine: str = "sum",
    eps: float = 1e-8,
) -> torch.Tensor:
    """Per-image distance between model attention and human maps, combined over layers.

    Parameters
    ----------
    volumes : sequence of Tensor (B, C, h, w)
        Attention volumes (or activities) of the supervised layers.
    human_maps : Tensor (B, H, W)
    interpolation : {"bicubic", "bilinear"}, default "bicubic"
    reduction : {"l2", "mean_square"}, default "l2"
    normalization : {"l2", "sqrt_sum"}, default "l2"
    distance : {"l2", "half_sum_squares"}, default "l2"
    combine : {"sum", "mean"}, default "sum"
        Over layers.
    eps : float, default 1e-8

    Returns
    -------
    Tensor (B,)

    Examples
    --------
    >>> volume = torch.tensor([[[[3., 0.], [0., 0.]], [[4., 0.], [0., 0.]]]])
    >>> human = torch.tensor([[[0., 2.], [0., 0.]]])
    >>> map_distance([volume], human)  # |(1, 0) - (0, 1)| = sqrt(2)
    tensor([1.4142])
    """
    if not volumes:
        raise InputError("expected at least one supervised layer, got none", field="layers")
    per_layer = []
    for volume in volumes:
        if volume.shape[0] != human_maps.shape[0]:
            raise InputError(f"batch of {volume.shape[0]} attention volumes but {human_maps.shape[0]} human maps")
        model_map = attention_map(volume, reduction)
        human = resize_maps(human_maps, tuple(model_map.shape[-2:]), interpolation)
        diff = _normalize(model_map, normalization, eps) - _normalize(human, normalization, eps)
        if distance == "l2":
            per_layer.append(torch.sqrt(diff.pow(2).sum(1) + eps * eps))
        elif distance == "half_sum_squares":
            per_layer.append(0.5 * diff.pow(2).sum(1))
        else:
            raise InputError(f"expected distance in {DISTANCES}, got {distance!r}", field="distance")
    stacked = torch.stack(per_layer)
    if combine == "sum":
        return stacked.sum(0)
    if combine == "mean":
        return stacked.mean(0)
    raise InputError(f"expected combine 'sum' or 'mean', got {combine!r}", field="combine")


def clickme_loss(
    logits: torch.Tensor,
    labels: torch.Tensor,
    volumes: Sequence[torch.Tensor],
    human_maps: torch.Tensor,
    has_map: torch.Tensor | None = None,
    *,
    lam: float = 6.0,
    **distance_options,
) -> dict[str, torch.Tensor]:
    """Cross-entropy plus lambda times the masked attention term (paper Eq. 1).

    Parameters
    ----------
    logits : Tensor (B, K)
    labels : Tensor (B,) of int64
    volumes : sequence of Tensor (B, C, h, w)
    human_maps : Tensor (B, H, W)
    has_map : Tensor (B,) of bool, optional
        False for images without a human map; they add nothing to the attention term.
    lam : float, default 6
        Lambda; 0 trains on cross-entropy alone (the attention term is still reported).
    **distance_options
        Passed to :func:`map_distance`.

    Returns
    -------
    dict
        ``loss`` (scalar to minimise), ``cross_entropy``, ``attention`` (mean distance over the
        images with a map, unscaled) and ``distance`` (B,) detached per image.
    """
    if logits.ndim != 2 or labels.shape != logits.shape[:1]:
        raise InputError(f"expected logits (B, K) and labels (B,), got {tuple(logits.shape)} and {tuple(labels.shape)}")
    cross_entropy = F.cross_entropy(logits.float(), labels)
    if has_map is None:
        has_map = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    distance = map_distance(volumes, human_maps, **distance_options)
    weight = has_map.to(distance.dtype)
    attention = (distance * weight).sum() / weight.sum().clamp_min(1)
    return {
        "loss": cross_entropy + lam * attention,
        "cross_entropy": cross_entropy,
        "attention": attention,
        "distance": distance.detach(),
    }


# ----------------------------------------------------------------------------------------------
# the neural harmonizer (Fel, Felipe, Linsley & Serre, NeurIPS 2022)
# ----------------------------------------------------------------------------------------------
#: The pyramid's 5x5 binomial kernel is the outer product of these taps with themselves.
BINOMIAL_TAPS = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)
#: Parameter-name fragments that weight decay leaves out (embeddings and class tokens).
NO_DECAY_NAMES = ("embed", "token")


def _same_padding(size: int, kernel: int = 5, stride: int = 2) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis.

    Examples
    --------
    >>> _same_padding(32), _same_padding(15), _same_padding(1)
    ((1, 2), (2, 2), (2, 2))
    """
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def gaussian_pyramid(maps: torch.Tensor, levels: int = 5) -> list[torch.Tensor]:
    """The first ``levels`` levels of a Gaussian pyramid of maps (B, H, W), full resolution first.

    Each level is the previous one filtered with the 5x5 binomial kernel (outer product of
    [1, 4, 6, 4, 1] / 16) at stride 2 with TensorFlow "SAME" zero padding (1 before and 2 after
    on an even side, 2 and 2 on an odd one), as the harmonizer's release does.

    Examples
    --------
    >>> [tuple(level.shape) for level in gaussian_pyramid(torch.ones(1, 4, 4), levels=3)]
    [(1, 4, 4), (1, 2, 2), (1, 1, 1)]
    >>> gaussian_pyramid(torch.ones(1, 4, 4), levels=2)[1] * 256  # 15/16 and 11/16 per axis
    tensor([[[225., 165.],
             [165., 121.]]])
    """
    if maps.ndim != 3:
        raise InputError(f"expected maps (B, H, W), got shape {tuple(maps.shape)}")
    if levels < 1:
        raise InputError(f"expected at least one pyramid level, got {levels}", field="levels")
    taps = torch.tensor(BINOMIAL_TAPS, dtype=maps.dtype, device=maps.device)
    kernel = (taps[:, None] * taps[None, :])[None, None]
    pyramid, level = [maps], maps[:, None]
    for _ in range(levels - 1):
        (top, bottom), (left, right) = (_same_padding(s) for s in level.shape[-2:])
        level = F.conv2d(F.pad(level, (left, right, top, bottom)), kernel, stride=2)
        pyramid.append(level[:, 0])
    return pyramid


def standardize_cut(maps: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Per map: subtract the mean, divide by the population SD + ``eps``, then ReLU.

    Examples
    --------
    >>> standardize_cut(torch.tensor([[[0., 2.]]]))
    tensor([[[0.0000, 1.0000]]])
    """
    mean = maps.mean((-2, -1), keepdim=True)
    sd = maps.std((-2, -1), correction=0, keepdim=True)
    return torch.relu((maps - mean) / (sd + eps))


def decay_parameters(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The parameters the harmonizer's L2 term covers: weights of convolutions and linear layers.

    Left out: every parameter of a normalisation layer (batch, layer, group, instance norm and
    timm's variants, recognised as modules whose class name contains "Norm"), every parameter
    of one dimension or less (biases, norm scales, per-channel scalars) or named ``*bias*`` (e.g.
    relative-position bias tables), and every parameter whose name contains ``embed`` or
    ``token`` (position and patch embeddings, class and distillation tokens), as the release
    leaves out names with "norm", "bn", "embed" and "class_token".

    Examples
    --------
    >>> [name for name, _ in decay_parameters(nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)))]
    ['0.weight']
    """
    skip = {
        id(p)
        for m in unwrap(model).modules()
        if "norm" in type(m).__name__.lower()
        for p in m.parameters(recurse=False)
    }
    return [
        (name, p)
        for name, p in unwrap(model).named_parameters()
        if p.requires_grad
        and id(p) not in skip
        and p.ndim > 1
        and "bias" not in name.rsplit(".", 1)[-1]
        and not any(part in name.lower() for part in NO_DECAY_NAMES)
    ]


class _SumOfSquares(torch.autograd.Function):
    """``sum_i sum(p_i ** 2)`` in two fused passes (``torch._foreach_norm``, then ``2 g p_i`` in
    the backward) instead of one autograd node per parameter and operation."""

    @staticmethod
    def forward(ctx, *params):
        ctx.save_for_backward(*params)
        return torch.stack([_wide(n) for n in torch._foreach_norm(params)]).square().sum()

    @staticmethod
    def backward(ctx, grad):
        return tuple(torch._foreach_mul(ctx.saved_tensors, 2 * grad))


def sum_of_squares(params: Sequence[torch.Tensor]) -> torch.Tensor:
    """Differentiable sum of the squares of every element of ``params`` (the L2 term).

    Examples
    --------
    >>> w = torch.tensor([1.0, 2.0], requires_grad=True)
    >>> total = sum_of_squares([w, torch.tensor([[3.0]])])
    >>> total.backward(); float(total.detach()), w.grad.tolist()
    (14.0, [2.0, 4.0])
    """
    if not params:
        return torch.zeros(())
    return _SumOfSquares.apply(*params)


def _wide(tensor: torch.Tensor) -> torch.Tensor:
    """float16 / bfloat16 -> float32; float32 and float64 kept (the float64 reference test)."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def input_saliency(
    logits: torch.Tensor, images: torch.Tensor, labels: torch.Tensor, create_graph: bool = True
) -> torch.Tensor:
    """Gradient of each image's true-class logit with respect to the image, mean over channels.

    Returns (B, H, W) (float32, or float64 for float64 images), signed, differentiable with
    respect to the model's parameters when ``create_graph``. ``logits`` must come from
    ``images`` (which must require grad); one backward pass serves the whole batch (the sum of
    the true-class logits).
    """
    if not logits.requires_grad:
        raise InputError(
            "the model's output does not depend on its input through anything "
            "differentiable (no gradient path from the logits to the images); the "
            "harmonizer needs d logit / d image: run the forward pass with grad "
            "enabled and images.requires_grad_()",
            field="loss",
        )
    target = logits.gather(1, labels[:, None]).sum()
    (grad,) = torch.autograd.grad(target, images, create_graph=create_graph, retain_graph=True, allow_unused=True)
    if grad is None:
        raise InputError(
            "the model's output has no gradient path to its input image (d logit / "
            "d image is undefined): is the input detached, quantised or replaced "
            "inside the model? The harmonizer needs a differentiable model",
            field="loss",
        )
    return _wide(grad).mean(1)


def harmonization_term(
    saliency: torch.Tensor, maps: torch.Tensor, has_map: torch.Tensor, levels: int = 5
) -> torch.Tensor:
    """The harmonizer's pyramidal MSE between saliency and human maps (B, H, W) -> scalar.

    Both maps are standardised and cut (:func:`standardize_cut`); the human map is rescaled to
    the saliency map's maximum (+1e-6 on both maxima; no gradient through the saliency max);
    the squared error is averaged over the pixels of each of the first ``levels`` pyramid
    levels, weighted by ``has_map`` per sample, summed over samples and divided by the **whole
    batch size** (images without a map add nothing to the numerator but count in the
    denominator, as the release averages), then averaged over levels.

    Examples
    --------
    >>> same = torch.zeros(1, 8, 8); same[0, 2:4, 2:4] = 1
    >>> float(harmonization_term(same, same, torch.ones(1)))
    0.0
    """
    saliency = standardize_cut(_wide(saliency))
    human = standardize_cut(_wide(maps).to(saliency.dtype))
    peak = saliency.detach().amax((-2, -1), keepdim=True) + 1e-6
    human = human / (human.amax((-2, -1), keepdim=True) + 1e-6) * peak
    weight = has_map.to(saliency.dtype)
    per_level = [
        (weight * (s - h).pow(2).mean((-2, -1))).sum() / len(weight)
        for s, h in zip(gaussian_pyramid(saliency, levels), gaussian_pyramid(human, levels))
    ]
    return torch.stack(per_level).mean()


def harmonizer_loss(
    model: nn.Module,
    images: torch.Tensor,
    labels: torch.Tensor,
    maps: torch.Tensor,
    has_map: torch.Tensor | None,
    *,
    levels: int = 5,
    lam: float = 1.0,
    weight_decay: float = 1e-5,
    label_smoothing: float = 0.1,
    amp_context=None,
) -> dict[str, torch.Tensor]:
    """The neural harmonizer's training loss (Fel et al. 2022) for any differentiable model.

    ``loss = CE(labels, logits; label_smoothing) + weight_decay * sum(w^2) / 2
    + lam * harmonization``, where the harmonization term compares the gradient saliency of
    the true-class logit with the human maps (:func:`harmonization_term`; samples without a
    map count in its denominator: it averages over the whole batch, as the release does).
    One forward pass gives the logits; the saliency's backward keeps its graph
    (``create_graph=True``) so that ``loss.backward()`` is the second-order backward. The
    saliency is taken in whatever mode the model is in (the trainer uses training mode, as the
    release does). Scaled dot-product attention runs on its math backend during the forward
    pass (the fused kernels have no second derivative), so transformers (ViT, LeViT, MaxViT)
    train too. With ``lam == 0`` the saliency is still computed (no graph kept) so that the
    term is reported.

    Parameters
    ----------
    model : nn.Module
        Images (B, 3, H, W) -> logits (B, K).
    images : Tensor (B, 3, H, W)
        Normalised images (any memory format); a copy that requires grad is made if needed.
    labels : Tensor (B,) of int64
    maps : Tensor (B, H, W)
        Human maps at the images' resolution.
    has_map : Tensor (B,) of bool, or None (every image has a map)
    levels : int, default 5
        Pyramid levels of the harmonization term, full resolution first.
    lam : float, default 1.0
    weight_decay : float, default 1e-5
        Coefficient of the L2 term over :func:`decay_parameters` (0 leaves it out).
    label_smoothing : float, default 0.1
    amp_context : context manager, optional
        Entered around the forward pass (e.g. bf16 autocast); maps are compared in float32.

    Returns
    -------
    dict of scalar Tensors
        Scalars ``loss``, ``cross_entropy``, ``harmonization`` (unscaled) and
        ``weight_decay`` (scaled); also ``logits`` (B, K), detached, for accuracy.
    """
    _check_harmonizer_inputs(images, labels, maps, has_map)
    if has_map is None:
        has_map = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    private = not images.requires_grad  # our own copy: its gradient is needed for the saliency only
    if private:
        images = images.detach().requires_grad_(True)
    logits = _twice_differentiable_logits(model, images, amp_context, private=private)
    saliency = input_saliency(logits, images, labels, create_graph=lam > 0)
    harmonization = harmonization_term(saliency, maps, has_map, levels)
    cross_entropy = F.cross_entropy(_wide(logits), labels, label_smoothing=label_smoothing)
    decay = torch.zeros((), dtype=harmonization.dtype, device=logits.device)
    if weight_decay > 0:
        decay = weight_decay * 0.5 * sum_of_squares([p for _, p in decay_parameters(model)]).to(decay.dtype)
    loss = cross_entropy + decay + (lam * harmonization if lam > 0 else 0.0)
    return {
        "loss": loss,
        "cross_entropy": cross_entropy,
        "harmonization": harmonization,
        "weight_decay": decay,
        "logits": logits.detach(),
    }


def _twice_differentiable_logits(model: nn.Module, images: torch.Tensor, amp_context, *, private: bool) -> torch.Tensor:
    """``model(images)`` (B, K) made for a saliency's second-order backward: scaled dot-product
    attention on its math backend (the fused kernels have no second derivative) and
    convolutions with an efficient double backward (:mod:`models.second_order`); ``private``:
    the images are the loss's own copy, so the final backward skips their gradient."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    batch = len(images)
    amp = amp_context if amp_context is not None else contextlib.nullcontext()
    with amp, sdpa_kernel([SDPBackend.MATH]), second_order_kernels(wrt=(images,), wrt_once=private):
        logits = model(images)
    if logits.ndim != 2 or logits.shape[0] != batch:
        raise InputError(
            f"expected the model to return logits (B, K) for B = {batch}, got shape {tuple(logits.shape)}",
            field="model",
        )
    return logits


def _check_harmonizer_inputs(images, labels, maps, has_map) -> None:
    if images.ndim != 4:
        raise InputError(f"expected images (B, 3, H, W), got shape {tuple(images.shape)}", field="image")
    b, _, h, w = images.shape
    if labels.shape != (b,):
        raise InputError(f"expected labels ({b},) for {b} images, got {tuple(labels.shape)}", field="label")
    if tuple(maps.shape) != (b, h, w):
        raise InputError(
            f"expected human maps of the images' size ({b}, {h}, {w}), got "
            f"{tuple(maps.shape)}: resize or crop maps with their images",
            field="map",
        )
    if has_map is not None and tuple(has_map.shape) != (b,):
        raise InputError(f"expected has_map ({b},), got {tuple(has_map.shape)}", field="has_map")
