"""Explanations: importance maps by name (captum), batched SmoothGrad, gradient deltas, panels.

:func:`importance_maps` turns a model's decision on a batch of images into one non-negative map
per image with one of :data:`METHODS`: captum's ``Saliency``, ``IntegratedGradients``,
``GradientShap``, ``LayerGradCam`` and ``Occlusion``, SmoothGrad, and the GALA attention maps
of the toolkit's GALA networks. Pixel-space attributions (N, 3, H, W) become maps by the
absolute value and the maximum over colour channels (Simonyan et al. 2014; the Harmonization
benchmark's Saliency maps, Fel et al. 2022).

SmoothGrad (Smilkov et al. 2017) averages ``|d logit_target / d x|`` over ``n_samples`` copies of
the input with Gaussian noise of SD ``noise_fraction * (max - min)`` of that input. It draws
exactly the noise captum's ``NoiseTunnel(Saliency)`` draws for the same seed (one
``torch.normal`` per image, images in order), but evaluates the noisy copies of consecutive
images in batches of ``batch_size`` (bounded memory, whatever ``n_samples``), optionally in
channels-last memory and under autocast: for the same noise its maps equal NoiseTunnel's to
float32 round-off (tested), and ``benchmarks/alignment.py`` measures the speed. The "gradient
delta" of the paper's Fig. 4 is the difference of two models' max-normalised SmoothGrad maps.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as progress_bar
from models.augment import IMAGENET_MEAN, IMAGENET_STD
from models.layers import attention_layers, record_layers
from models.loss import attention_map
from models.map_ops import unit_max

#: Importance-map methods of :func:`importance_maps` (names as captum's classes, lower case).
METHODS = ("saliency", "smoothgrad", "integrated_gradients", "gradient_shap", "layer_gradcam", "occlusion", "gala")
_ALIASES = {
    "saliency": "saliency",
    "smoothgrad": "smoothgrad",
    "noisetunnel": "smoothgrad",
    "integratedgradients": "integrated_gradients",
    "ig": "integrated_gradients",
    "gradientshap": "gradient_shap",
    "layergradcam": "layer_gradcam",
    "gradcam": "layer_gradcam",
    "occlusion": "occlusion",
    "gala": "gala",
    "attention": "gala",
}
#: Methods whose forward passes may run under autocast (``amp``); the path-integral methods
#: (integrated gradients, gradient SHAP) sum many small gradients and stay in float32.
AMP_METHODS = ("saliency", "smoothgrad", "layer_gradcam", "occlusion", "gala")


def method_name(name: str) -> str:
    """The canonical method name of ``name`` (captum class names and short forms accepted).

    Examples
    --------
    >>> method_name("IntegratedGradients"), method_name("SmoothGrad"), method_name("GradCAM")
    ('integrated_gradients', 'smoothgrad', 'layer_gradcam')
    """
    key = "".join(c for c in str(name).lower() if c.isalnum())
    if key not in _ALIASES:
        raise InputError(
            f"unknown importance-map method {name!r}; expected one of {', '.join(METHODS)}", field="method"
        )
    return _ALIASES[key]


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise InputError(f"expected images as a (N, 3, H, W) tensor, got {shape}")
    return images.float()


def autocast(device, amp: str):
    """An autocast context for ``amp`` in ``none | bf16 | fp16`` on ``device``'s type."""
    if amp == "none":
        return contextlib.nullcontext()
    dtypes = {"bf16": torch.bfloat16, "fp16": torch.float16}
    if amp not in dtypes:
        raise InputError(f"expected amp 'none', 'bf16' or 'fp16', got {amp!r}", field="amp")
    return torch.autocast(torch.device(device).type, dtype=dtypes[amp])


@contextlib.contextmanager
def _memory_format(model, channels_last: bool):
    """Run ``model`` in channels-last memory inside the block (restored after)."""
    if not channels_last:
        yield False
        return
    try:
        model.to(memory_format=torch.channels_last)
    except (RuntimeError, TypeError, AttributeError):  # a TorchScript or odd module: leave it
        yield False
        return
    try:
        yield True
    finally:
        model.to(memory_format=torch.contiguous_format)


def fuse_batchnorm(model):
    """An eval-mode copy of ``model`` with each BatchNorm folded into the conv before it.

    Uses ``torch.fx.experimental.optimization.fuse`` (the same function of the input, to float32
    round-off, with fewer passes over memory); a model torch.fx cannot trace, a TorchScript
    module or one without BatchNorm is returned as it is.
    """
    if isinstance(model, torch.jit.ScriptModule) or not any(
        isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()
    ):
        return model
    from torch.fx.experimental.optimization import fuse

    try:
        return fuse(model.eval())
    except Exception:  # untraceable control flow, unsupported layers: keep the model
        return model


def _targets(model, images: torch.Tensor, target) -> torch.Tensor:
    if target is None:
        with torch.no_grad():
            return model(images).argmax(1)
    return torch.as_tensor(target, device=images.device).long().expand(len(images))


def _input_gradients(model, inputs: torch.Tensor, target: torch.Tensor, amp: str) -> torch.Tensor:
    """d logit_target / d input for each row (captum ``Saliency``'s gradient)."""
    inputs = inputs.detach().requires_grad_(True)
    with autocast(inputs.device, amp):
        logits = model(inputs)
    chosen = logits.gather(1, target[:, None]).sum()
    return torch.autograd.grad(chosen, inputs)[0]


def _check_smoothgrad(noise_fraction: float, n_samples: int, batch_size: int) -> None:
    if noise_fraction < 0 or n_samples < 1 or batch_size < 1:
        raise InputError(
            f"expected noise_fraction >= 0, n_samples >= 1 and batch_size >= 1, got "
            f"{noise_fraction}, {n_samples} and {batch_size}"
        )


def _noisy_copies(image: torch.Tensor, noise_fraction: float, n_samples: int) -> torch.Tensor:
    """``n_samples`` noisy copies of one image: captum NoiseTunnel._add_noise_to_input's draw."""
    stdev = noise_fraction * float(image.max() - image.min())
    scale = torch.tensor(stdev, device=image.device).repeat((n_samples,) + image.shape)
    return image[None] + torch.normal(0, scale)


def smoothgrad(
    model,
    images: torch.Tensor,
    target=None,
    *,
    noise_fraction: float = 0.15,
    n_samples: int = 25,
    batch_size: int = 25,
    seed: int = 0,
    amp: str = "none",
    channels_last: bool = False,
    fuse: bool = False,
    progress: bool = False,
) -> torch.Tensor:
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
        Noisy copies evaluated at once (copies of consecutive images share a batch).
    seed : int, default 0
        The noise is that of ``torch.manual_seed(seed)`` followed by captum's
        ``NoiseTunnel(Saliency(model)).attribute(image[None], nt_type="smoothgrad",
        nt_samples=n_samples, stdevs=noise_fraction * (image.max() - image.min()))`` for each
        image in order (the global generator is left as it was).
    amp : {"none", "bf16", "fp16"}
        Autocast for the forward passes (then maps differ from float32 ones by round-off).
    channels_last : bool
        Channels-last memory for the passes (faster convolutions; same maps to round-off).
    fuse : bool
        Fold BatchNorm into the convolutions first (:func:`fuse_batchnorm`; same maps to
        round-off).
    progress : bool
        Progress bar over images.

    Returns
    -------
    Tensor (N, H, W) float32

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    >>> smoothgrad(net, torch.zeros(1, 3, 2, 2), target=0, n_samples=4).shape
    torch.Size([1, 2, 2])
    """
    images = _check_images(images)
    _check_smoothgrad(noise_fraction, n_samples, batch_size)
    model.eval()
    target = _targets(model, images, target)
    if fuse:
        model = fuse_batchnorm(model)
    n = len(images)
    out = torch.empty((n,) + images.shape[-2:], device=images.device)
    with (
        torch.random.fork_rng(devices=[images.device] if images.is_cuda else []),
        _memory_format(model, channels_last) as channels_on,
    ):
        torch.manual_seed(seed)
        batcher = _SampleBatcher(model, target, amp, batch_size, n_samples, channels_on, out)
        for i in progress_bar(range(n), enabled=progress, desc="smoothgrad", unit="image"):
            noisy = _noisy_copies(images[i], noise_fraction, n_samples)
            batcher.pending.append((noisy, torch.full((n_samples,), i, device=images.device)))
            batcher.run(final=False)
        batcher.run(final=True)
    return out.detach()


class _SampleBatcher:
    """SmoothGrad's noisy samples in batches of ``batch_size`` across images; each image's mean
    |gradient| (max over channels) goes to ``out[i]`` once its ``n_samples`` are done."""

    def __init__(self, model, target, amp, batch_size: int, n_samples: int, channels_on: bool, out: torch.Tensor):
        self.model, self.target, self.amp, self.out = model, target, amp, out
        self.batch_size, self.n_samples, self.channels_on = batch_size, n_samples, channels_on
        self.parts: dict[int, list[torch.Tensor]] = {}  # |gradients| of an image's samples, until complete
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []  # (noisy inputs, their image index)

    def run(self, final: bool) -> None:
        size, pending = self.batch_size, self.pending
        while pending and (final or sum(len(x) for x, _ in pending) >= size):
            inputs, owners = torch.cat([x for x, _ in pending]), torch.cat([o for _, o in pending])
            pending.clear()
            if len(inputs) > size:  # keep the remainder for the next batch
                pending.append((inputs[size:], owners[size:]))
                inputs, owners = inputs[:size], owners[:size]
            if self.channels_on:
                inputs = inputs.contiguous(memory_format=torch.channels_last)
            grads = _input_gradients(self.model, inputs, self.target[owners], self.amp).abs().float().contiguous()
            for i in owners.unique().tolist():
                self.parts.setdefault(i, []).append(grads[owners == i])
                if sum(len(g) for g in self.parts[i]) == self.n_samples:  # the mean as captum takes it
                    self.out[i] = (torch.cat(self.parts.pop(i))[None].sum(1) / self.n_samples)[0].amax(0)


def _captum_attributions(method: str, model, images, target, options: dict) -> torch.Tensor:
    """(N, 3, H, W) or (N, 1, h, w) attributions of a captum method."""
    import captum.attr as ca

    if method == "saliency":
        return ca.Saliency(model).attribute(images.detach().requires_grad_(True), target=target, abs=True)
    if method == "integrated_gradients":
        return ca.IntegratedGradients(model).attribute(
            images,
            baselines=torch.zeros_like(images),
            target=target,
            n_steps=options["n_steps"],
            internal_batch_size=max(options["batch_size"], len(images)),
        )
    if method == "gradient_shap":
        with torch.random.fork_rng(devices=[images.device] if images.is_cuda else []):
            torch.manual_seed(options["seed"])
            baselines = torch.cat(
                [
                    torch.zeros_like(images[:1]),
                    torch.randn((options["n_baselines"] - 1,) + images.shape[1:], device=images.device),
                ]
            )
            return ca.GradientShap(model).attribute(
                images,
                baselines=baselines,
                target=target,
                n_samples=options["n_samples"],
                stdevs=options["noise_fraction"],
            )
    if method == "occlusion":
        side = options["window"] or max(2, images.shape[-1] // 8)
        stride = max(1, side // 2)
        return ca.Occlusion(model).attribute(
            images,
            sliding_window_shapes=(3, side, side),
            strides=(3, stride, stride),
            baselines=0,
            target=target,
            perturbations_per_eval=max(1, options["batch_size"] // len(images)),
        )
    raise AssertionError(method)  # pragma: no cover


def layer_names(model, images: torch.Tensor) -> list[tuple[str, tuple]]:
    """Named modules with the shape of their output on ``images`` (execution order)."""
    shapes: dict[str, tuple] = {}

    def record(name):
        def hook(_module, _inputs, out) -> None:
            shapes.setdefault(name, tuple(out.shape) if isinstance(out, torch.Tensor) else ())

        return hook

    hooks = [module.register_forward_hook(record(name)) for name, module in model.named_modules() if name]
    try:
        with torch.no_grad():
            model(images[:1])
    finally:
        for hook in hooks:
            hook.remove()
    return list(shapes.items())


def _gradcam_layer(model, images: torch.Tensor, layer: str | None):
    """The module of ``layer`` (default: the last container with an (N, C, H, W) output)."""
    modules = dict(model.named_modules())
    seen = layer_names(model, images)
    spatial = [name for name, shape in seen if len(shape) == 4]
    blocks = [n for n in spatial if any(True for _ in modules[n].children())]
    listed = ", ".join(blocks[-30:] or spatial[-30:]) or "none"
    if layer is None:
        wide = [n for n in blocks if dict(seen)[n][-1] > 1]
        if not blocks:
            raise InputError(
                "LayerGradCam needs a layer with an (N, C, H, W) output and this model "
                f"has no such block; name one with --layer (such layers: {listed})",
                field="layer",
            )
        return modules[(wide or blocks)[-1]], (wide or blocks)[-1]
    if layer not in modules or not layer:
        raise InputError(
            f"no layer {layer!r} in this model; blocks with an (N, C, H, W) output: "
            f"{listed} (every layer: models.explain.layer_names)",
            field="layer",
        )
    shape = dict(seen).get(layer, ())
    if len(shape) != 4:
        raise InputError(
            f"layer {layer!r} outputs shape {shape}, LayerGradCam needs (N, C, H, W); such blocks: {listed}",
            field="layer",
        )
    return modules[layer], layer


def importance_maps(
    model,
    images: torch.Tensor,
    method: str,
    target=None,
    *,
    layer: str | None = None,
    n_samples: int = 50,
    noise_fraction: float = 0.15,
    n_steps: int = 32,
    n_baselines: int = 8,
    window: int | None = None,
    batch_size: int = 16,
    seed: int = 0,
    amp: str = "none",
    channels_last: bool = False,
    fast: bool = False,
    progress: bool = False,
) -> torch.Tensor:
    """One non-negative importance map per image, at the input's size, by ``method``.

    Parameters
    ----------
    model : nn.Module
        In eval mode (set here); must return logits (N, K).
    images : Tensor (N, 3, H, W)
        Model-ready (normalised) inputs.
    method : str
        One of :data:`METHODS` (or a captum class name, see :func:`method_name`):

        - ``saliency``: ``|gradient|`` (captum ``Saliency``);
        - ``smoothgrad``: :func:`smoothgrad` with ``n_samples`` and ``noise_fraction``;
        - ``integrated_gradients``: captum, ``n_steps`` steps from the all-zero input (the mean
          image after normalisation);
        - ``gradient_shap``: captum, ``n_samples`` draws, baselines the zero input and
          ``n_baselines - 1`` seeded N(0, 1) inputs, input noise SD ``noise_fraction``;
        - ``layer_gradcam``: captum ``LayerGradCam`` on ``layer`` (default the last container
          module with an (N, C, H, W) output, e.g. ``layer4`` of a ResNet), ReLU, bilinear
          upsampling;
        - ``occlusion``: captum, a zero ``window`` x ``window`` patch (default side / 8) moved by
          half a window;
        - ``gala``: the column-wise L2 norm of the last GALA attention volume (or ``layer``),
          for the toolkit's GALA networks.
    target : int or Tensor (N,), optional
        Class explained; default the model's prediction.
    batch_size : int
        Inputs per forward pass (noisy copies, path steps, occluded copies).
    seed : int
        Noise and baseline seed.
    amp : {"none", "bf16", "fp16"}
        Autocast, for the methods of :data:`AMP_METHODS` (others run in float32).
    channels_last, fast : bool
        Channels-last memory and BatchNorm folding for SmoothGrad (same maps to round-off).

    Returns
    -------
    Tensor (N, H, W) float32, non-negative

    Examples
    --------
    >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(12, 2))
    >>> importance_maps(net, torch.ones(2, 3, 2, 2), "saliency", target=1).shape
    torch.Size([2, 2, 2])
    """
    method = method_name(method)
    images = _check_images(images)
    model.eval()
    target = _targets(model, images, target)
    amp = amp if method in AMP_METHODS else "none"
    common = dict(n_samples=n_samples, noise_fraction=noise_fraction, batch_size=batch_size, seed=seed)
    if method == "smoothgrad":
        return smoothgrad(
            model, images, target, **common, amp=amp, channels_last=channels_last, fuse=fast, progress=progress
        )
    if method == "gala":
        return _gala_maps(model, images, layer, amp)
    if method == "layer_gradcam":
        return _gradcam_maps(model, images, target, layer, amp)
    options = dict(common, n_steps=n_steps, n_baselines=max(2, n_baselines), window=window)
    return _captum_maps(method, model, images, target, options, amp)


def _captum_maps(method: str, model, images: torch.Tensor, target, options: dict, amp: str) -> torch.Tensor:
    """|attribution| of a captum method, max over colour channels (B, H, W) float32."""
    with autocast(images.device, amp):
        attributions = _captum_attributions(method, model, images, target, options)
    return attributions.detach().float().abs().amax(1)


def _gala_maps(model, images: torch.Tensor, layer: str | None, amp: str) -> torch.Tensor:
    """The ``gala`` method: the attention map of the last GALA / SE layer (or ``layer``)."""
    names = attention_layers(model) if layer is None else [layer]
    if not names or not any(True for n, _ in model.named_modules() if n == names[-1]):
        raise InputError(
            "the 'gala' method needs a toolkit GALA / SE network (no attention layer found)", field="method"
        )
    with autocast(images.device, amp):
        return attention_maps(model, images, names[-1]).float()


def _gradcam_maps(model, images: torch.Tensor, target: torch.Tensor, layer: str | None, amp: str) -> torch.Tensor:
    """The ``layer_gradcam`` method: captum LayerGradCam, ReLU, bilinear upsampling to the input."""
    import captum.attr as ca

    module, _ = _gradcam_layer(model, images, layer)
    with autocast(images.device, amp):
        cam = ca.LayerGradCam(model, module).attribute(images, target=target, relu_attributions=True)
    cam = cam.float().sum(1, keepdim=True) if cam.ndim == 4 else cam.float()
    return F.interpolate(cam, size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0].detach()


def gradient_delta(model_a, model_b, images: torch.Tensor, **options) -> torch.Tensor:
    """Max-normalised SmoothGrad of ``model_a`` minus that of ``model_b`` (N, H, W), in [-1, 1].

    Both models explain the same target (``options["target"]``, default ``model_a``'s
    prediction) with the same noise (same ``seed``).
    """
    images = _check_images(images)
    if options.get("target") is None:
        with torch.no_grad():
            options["target"] = model_a.eval()(images).argmax(1)
    return unit_max(smoothgrad(model_a, images, **options)) - unit_max(smoothgrad(model_b, images, **options))


@torch.no_grad()
def attention_maps(model, images: torch.Tensor, layer: str | None = None) -> torch.Tensor:
    """Column-wise L2 norm of a layer's activity (default the last GALA gate), at image size."""
    images = _check_images(images)
    layer = layer or attention_layers(model)[-1]
    model.eval()
    with record_layers(model, [layer]) as seen:
        model(images)
    maps = attention_map(seen[layer].float())
    return F.interpolate(maps[:, None], size=images.shape[-2:], mode="bilinear", align_corners=False)[:, 0]


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
        Maps to show, each with a colour bar (its own scale); names containing "delta" use a
        symmetric diverging colour map.
    titles : list of str, optional
        Row labels.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    n = len(images)
    fig, axes = plt.subplots(n, 1 + len(columns), figsize=(2 * (1 + len(columns)), 2 * n), squeeze=False)
    for row in range(n):
        axes[row, 0].imshow(images[row])
        axes[row, 0].set_ylabel(titles[row] if titles else "", fontsize=7)
        for col, (name, maps) in enumerate(columns.items(), 1):
            value = np.asarray(maps[row], dtype=float)
            if "delta" in name:
                bound = max(np.abs(value).max(), 1e-12)
                shown = axes[row, col].imshow(value, cmap="coolwarm", vmin=-bound, vmax=bound)
            else:
                shown = axes[row, col].imshow(value, cmap="magma")
            # each panel has its own colour scale: a bar beside it says what the colours mean
            fig.colorbar(shown, ax=axes[row, col], fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
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


def explain(
    model,
    images: torch.Tensor,
    out_dir,
    human_maps: torch.Tensor | None = None,
    baseline=None,
    *,
    names: tuple[str, str] = ("model", "baseline"),
    layer: str | None = None,
    **smoothgrad_options,
) -> list[Path]:
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
        paths.append(
            save_panels(
                out_dir / "gradient_delta.png", shown, {**human, **grads, f"delta {names[0]} - {names[1]}": delta}
            )
        )
    paths.append(save_panels(out_dir / "smoothgrad.png", shown, {**human, **grads}))
    attention = {f"attention {names[0]}": attention_maps(model, images, layer).numpy()}
    if baseline is not None:
        attention[f"attention {names[1]}"] = attention_maps(baseline, images).numpy()
    paths.append(save_panels(out_dir / "attention.png", shown, {**human, **attention}))
    return paths
