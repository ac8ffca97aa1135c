"""Explanations: SmoothGrad gradient images (captum), gradient deltas, attention-map panels.

SmoothGrad (Smilkov et al. 2017) averages |d logit_target / d x| over ``n_samples`` copies of
the input with Gaussian noise of SD ``noise_fraction * (max - min)`` of that input; here it is
captum's ``NoiseTunnel(Saliency)``, with the samples batched. The "gradient delta" of the paper's
Fig. 4 is the difference of two models' max-normalised SmoothGrad maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from clickme_analysis.errors import InputError
from models.data import IMAGENET_MEAN, IMAGENET_STD
from models.loss import attention_layers, attention_map, record_layers


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise InputError(f"expected images as a (N, 3, H, W) tensor, got {shape}")
    return images.float()


def smoothgrad(model, images: torch.Tensor, target=None, noise_fraction: float = 0.15,
               n_samples: int = 25, batch_size: int = 25, seed: int = 0,
               progress: bool = False) -> torch.Tensor:
    """SmoothGrad maps (N, H, W): mean absolute gradient over noisy copies, max over channels.

    Parameters
    ----------
    model : nn.Module
    images : Tensor (N, 3, H, W)
        Model-ready (normalised) inputs.
    target : int or Tensor (N,), optional
        Class whose logit is explained; default the model's prediction.
    noise_fraction : float, default 0.15
        Noise SD as a fraction of each image's value range.
    n_samples : int, default 25
    batch_size : int, default 25
        Noisy copies evaluated at once (captum's ``nt_samples_batch_size``).
    seed : int, default 0

    Returns
    -------
    Tensor (N, H, W) float32
    """
    from captum.attr import NoiseTunnel, Saliency

    images = _check_images(images)
    if noise_fraction < 0 or n_samples < 1:
        raise InputError(f"expected noise_fraction >= 0 and n_samples >= 1, got "
                         f"{noise_fraction} and {n_samples}")
    model.eval()
    if target is None:
        with torch.no_grad():
            target = model(images).argmax(1)
    target = torch.as_tensor(target).expand(len(images))
    tunnel = NoiseTunnel(Saliency(model))
    out = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for image, label in tqdm(zip(images, target), total=len(images), desc="smoothgrad",
                                 disable=not progress):
            stdev = noise_fraction * float(image.max() - image.min())
            grad = tunnel.attribute(image[None], nt_type="smoothgrad", nt_samples=n_samples,
                                    nt_samples_batch_size=min(batch_size, n_samples),
                                    stdevs=stdev, target=int(label))
            out.append(grad[0].abs().amax(0).detach())
    return torch.stack(out)


def _unit_max(maps: torch.Tensor) -> torch.Tensor:
    peak = maps.flatten(1).amax(1).clamp_min(1e-12)
    return maps / peak[:, None, None]


def gradient_delta(model_a, model_b, images: torch.Tensor, **options) -> torch.Tensor:
    """Max-normalised SmoothGrad of ``model_a`` minus that of ``model_b`` (N, H, W), in [-1, 1].

    Both models explain the same target (``options["target"]``, default ``model_a``'s
    prediction) with the same noise (same ``seed``).
    """
    images = _check_images(images)
    if options.get("target") is None:
        with torch.no_grad():
            options["target"] = model_a.eval()(images).argmax(1)
    return _unit_max(smoothgrad(model_a, images, **options)) - _unit_max(
        smoothgrad(model_b, images, **options))


@torch.no_grad()
def attention_maps(model, images: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """Column-wise L2 norm of a layer's activity (default the last GALA gate), at image size."""
    images = _check_images(images)
    layer = layer or attention_layers(model)[-1]
    model.eval()
    with record_layers(model, [layer]) as seen:
        model(images)
    maps = attention_map(seen[layer])
    return F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear",
                         align_corners=False)[:, 0]


def display_images(images: torch.Tensor) -> np.ndarray:
    """Undo the ImageNet normalisation: (N, 3, H, W) tensor -> (N, H, W, 3) float in [0, 1]."""
    mean = torch.tensor(IMAGENET_MEAN)[:, None, None]
    std = torch.tensor(IMAGENET_STD)[:, None, None]
    return (images.detach().cpu() * std + mean).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def save_panels(path, images: np.ndarray, columns: dict, titles: list[str] | None = None) -> Path:
    """Write a grid PNG: one row per image, the image then one column per map.

    Parameters
    ----------
    path : str or os.PathLike
    images : ndarray (N, H, W, 3) in [0, 1]
    columns : dict of str to ndarray (N, H, W)
        Maps to show; names containing "delta" use a symmetric diverging colour map.
    titles : list of str, optional
        Row labels.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(n, 1 + len(columns), figsize=(2 * (1 + len(columns)), 2 * n),
                             squeeze=False)
    for row in range(n):
        axes[row, 0].imshow(images[row])
        axes[row, 0].set_ylabel(titles[row] if titles else "", fontsize=7)
        for col, (name, maps) in enumerate(columns.items(), 1):
            value = np.asarray(maps[row], dtype=float)
            if "delta" in name:
                bound = max(np.abs(value).max(), 1e-12)
                axes[row, col].imshow(value, cmap="coolwarm", vmin=-bound, vmax=bound)
            else:
                axes[row, col].imshow(value, cmap="magma")
            if row == 0:
                axes[row, col].set_title(name, fontsize=8)
        if row == 0:
            axes[row, 0].set_title("image", fontsize=8)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def explain(model, images: torch.Tensor, out_dir, human_maps: torch.Tensor | None = None,
            baseline=None, names: tuple[str, str] = ("model", "baseline"), layer: str | None = None,
            **smoothgrad_options) -> list[Path]:
    """Write ``smoothgrad.png``, ``attention.png`` and (with a ``baseline``) ``gradient_delta.png``.

    Parameters
    ----------
    model : nn.Module
    images : Tensor (N, 3, H, W)
    out_dir : str or os.PathLike
    human_maps : Tensor (N, H, W), optional
        Shown next to the model maps.
    baseline : nn.Module, optional
        Second model; its SmoothGrad is shown and subtracted ("gradient delta", paper Fig. 4).
    names : (str, str)
        Column titles of the two models.
    layer : str, optional
        Attention layer (default the last GALA gate / SE layer / conv4 block).
    **smoothgrad_options
        Passed to :func:`smoothgrad`.

    Returns
    -------
    list of Path
    """
    out_dir = Path(out_dir)
    shown = display_images(images)
    human = {} if human_maps is None else {"human map": human_maps.cpu().numpy()}
    grads = {f"SmoothGrad {names[0]}": smoothgrad(model, images, **smoothgrad_options).numpy()}
    paths = []
    if baseline is not None:
        options = dict(smoothgrad_options)
        with torch.no_grad():
            options["target"] = model.eval()(images).argmax(1)
        grads[f"SmoothGrad {names[1]}"] = smoothgrad(baseline, images, **options).numpy()
        delta = gradient_delta(model, baseline, images, **options).numpy()
        paths.append(save_panels(out_dir / "gradient_delta.png", shown,
                                 {**human, **grads, f"delta {names[0]} - {names[1]}": delta}))
    paths.append(save_panels(out_dir / "smoothgrad.png", shown, {**human, **grads}))
    attention = {f"attention {names[0]}": attention_maps(model, images, layer).numpy()}
    if baseline is not None:
        attention[f"attention {names[1]}"] = attention_maps(baseline, images).numpy()
    paths.append(save_panels(out_dir / "attention.png", shown, {**human, **attention}))
    return paths
