"""Training glue of the neural harmonizer: which loss a run uses, its step and its validation.

``[loss] loss`` chooses the objective of ``clickme train``: ``clickme`` (the GALA paper's
attention loss, :func:`models.loss.clickme_loss`; the default, ``auto``, for networks with
attention layers: the toolkit's ResNets and timm ResNets given GALA), ``harmonizer``
(:func:`models.loss.harmonizer_loss`; the ``auto`` choice for any other timm model) or ``none``
(cross-entropy alone). The harmonizer's L2 term is part of its loss (``weight_decay`` of the
configuration, over :func:`models.loss.decay_parameters`), so its optimiser has no decay of its
own. A harmonized model's map is its gradient saliency: validation scores ``|d logit / d image|``
(max over colour channels, the alignment benchmark's saliency) against the human maps.
"""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import torch
import torch.nn.functional as F

from clickme_analysis.errors import InputError
from models.loss import harmonizer_loss
from models.networks import has_attention_layers
from models.score import map_alignment

LOSSES = ("auto", "clickme", "harmonizer", "none")


def resolve_loss(loss: str, model, arch: str = "") -> str:
    """The loss a run uses: ``auto`` -> ``clickme`` for models with attention layers, else
    ``harmonizer``; ``clickme`` on a model without attention layers is an InputError."""
    if loss not in LOSSES:
        raise InputError(f"expected loss in {LOSSES}, got {loss!r}", field="loss")
    attention = has_attention_layers(model, arch)
    if loss == "auto":
        return "clickme" if attention else "harmonizer"
    if loss == "clickme" and not attention:
        raise InputError(
            f"loss = 'clickme' supervises attention layers (GALA or SE blocks, or a "
            f"toolkit ResNet's conv4 stage), and {arch or type(model).__name__!r} has "
            "none: use loss = 'harmonizer' (any differentiable model), or "
            "attention = 'gala' on a timm ResNet",
            field="loss",
        )
    return loss


def plain_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> dict:
    """Cross-entropy alone (``loss = "none"``), in the keys the trainer logs."""
    cross_entropy = F.cross_entropy(logits.float(), labels, label_smoothing=label_smoothing)
    return {"loss": cross_entropy, "cross_entropy": cross_entropy, "attention": torch.zeros((), device=logits.device)}


def harmonizer_step_loss(net, batch: dict, config, amp_context) -> dict:
    """The harmonizer loss of one training batch, in the keys the trainer logs (the map term
    under ``attention``)."""
    parts = harmonizer_loss(
        net,
        batch["image"],
        batch["label"],
        batch["map"],
        batch["has_map"],
        levels=config.harmonizer_levels,
        lam=config.lam,
        weight_decay=config.weight_decay,
        label_smoothing=config.label_smoothing,
        amp_context=amp_context,
    )
    return {**parts, "attention": parts["harmonization"]}


def saliency_maps(model, images: torch.Tensor, labels: torch.Tensor, amp_context=None) -> torch.Tensor:
    """``|d logit_label / d image|``, max over colour channels: (B, H, W) float32, detached."""
    images = images.detach().requires_grad_(True)
    with torch.enable_grad(), amp_context if amp_context is not None else contextlib.nullcontext():
        logits = model(images)
        (grad,) = torch.autograd.grad(logits.gather(1, labels[:, None]).sum(), images)
    return grad.detach().float().abs().amax(1)


def validate_saliency(model, batches, config, device, *, amp_context) -> dict:
    """Cross-entropy, accuracy, harmonization term and saliency alignment (mean Spearman of the
    saliency with the human map, over the images that have one) of ``model`` on ``batches``."""
    was_training = model.training
    model.eval()
    totals = {"cross_entropy": 0.0, "attention": 0.0, "correct": 0.0, "n": 0}
    rhos = []
    try:
        for batch in batches:
            images, labels = batch["image"].to(device), batch["label"].to(device)
            has_map = batch["has_map"].to(device)
            parts = harmonizer_loss(
                model,
                images,
                labels,
                batch["map"].to(device),
                has_map,
                levels=config.harmonizer_levels,
                lam=0.0,
                weight_decay=0.0,
                label_smoothing=config.label_smoothing,
                amp_context=amp_context,
            )
            n = len(labels)
            totals["cross_entropy"] += parts["cross_entropy"].item() * n
            totals["attention"] += parts["harmonization"].item() * n
            totals["correct"] += (parts["logits"].argmax(1) == labels).sum().item()
            totals["n"] += n
            if has_map.any():
                maps = saliency_maps(model, images[has_map], labels[has_map], amp_context)
                rhos.append(map_alignment(maps.cpu().numpy(), batch["map"][has_map.cpu()].numpy()))
    finally:
        model.train(was_training)
    if not totals["n"]:
        raise InputError("no validation images", field="val")
    n = totals["n"]
    rho = np.concatenate(rhos) if rhos else np.array([np.nan])
    ce, term = totals["cross_entropy"] / n, totals["attention"] / n
    return {
        "loss": ce + config.lam * term,
        "cross_entropy": ce,
        "attention": term,
        "accuracy": totals["correct"] / n,
        "map_alignment": float(np.nanmean(rho)) if np.isfinite(rho).any() else float("nan"),
    }


def warn_without_maps(maps_seen: float, loss: str, lam: float, where: str) -> None:
    """Warn (once per run, after its first epoch) that a map-supervised run saw no map."""
    if maps_seen == 0 and loss in ("clickme", "harmonizer") and lam > 0:
        warnings.warn(
            f"{where}: no training image of the first epoch has a human map (has_map is "
            f"0 throughout), so the {loss} term has nothing to learn from: check that "
            "the maps' ids match the images' (clickme_analysis.ids)",
            stacklevel=2,
        )
