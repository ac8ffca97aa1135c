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

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from clickme_analysis.errors import InputError

REDUCTIONS = ("l2", "mean_square")
NORMALISATIONS = ("l2", "sqrt_sum")
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
        raise InputError(f"expected interpolation 'bicubic' or 'bilinear', got {interpolation!r}",
                         field="interpolation")
    maps = maps.float()
    if tuple(maps.shape[-2:]) == tuple(size):
        return maps
    out = F.interpolate(maps[:, None], size=size, mode=interpolation, align_corners=False,
                        antialias=True)[:, 0]
    return out.clamp_min(0)


def _normalise(maps: torch.Tensor, how: str, eps: float) -> torch.Tensor:
    flat = maps.flatten(1)
    if how == "l2":
        return flat / (torch.linalg.vector_norm(flat, dim=1, keepdim=True) + eps)
    if how == "sqrt_sum":
        return flat / torch.sqrt(flat.sum(1, keepdim=True) + eps)
    raise InputError(f"expected normalisation in {NORMALISATIONS}, got {how!r}", field="normalisation")


def map_distance(volumes: Sequence[torch.Tensor], human_maps: torch.Tensor,
                 interpolation: str = "bicubic", reduction: str = "l2",
                 normalisation: str = "l2", distance: str = "l2", combine: str = "sum",
                 eps: float = 1e-8) -> torch.Tensor:
    """Per-image distance between model attention and human maps, combined over layers.

    Parameters
    ----------
    volumes : sequence of Tensor (B, C, h, w)
        Attention volumes (or activities) of the supervised layers.
    human_maps : Tensor (B, H, W)
    interpolation : {"bicubic", "bilinear"}, default "bicubic"
    reduction : {"l2", "mean_square"}, default "l2"
    normalisation : {"l2", "sqrt_sum"}, default "l2"
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
            raise InputError(f"batch of {volume.shape[0]} attention volumes but "
                             f"{human_maps.shape[0]} human maps")
        model_map = attention_map(volume, reduction)
        human = resize_maps(human_maps, tuple(model_map.shape[-2:]), interpolation)
        diff = _normalise(model_map, normalisation, eps) - _normalise(human, normalisation, eps)
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


def clickme_loss(logits: torch.Tensor, labels: torch.Tensor, volumes: Sequence[torch.Tensor],
                 human_maps: torch.Tensor, has_map: torch.Tensor | None = None,
                 lam: float = 6.0, **distance_options) -> dict[str, torch.Tensor]:
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
        raise InputError(f"expected logits (B, K) and labels (B,), got {tuple(logits.shape)} "
                         f"and {tuple(labels.shape)}")
    cross_entropy = F.cross_entropy(logits.float(), labels)
    if has_map is None:
        has_map = torch.ones(len(labels), dtype=torch.bool, device=labels.device)
    distance = map_distance(volumes, human_maps, **distance_options)
    weight = has_map.to(distance.dtype)
    attention = (distance * weight).sum() / weight.sum().clamp_min(1)
    return {"loss": cross_entropy + lam * attention, "cross_entropy": cross_entropy,
            "attention": attention, "distance": distance.detach()}
