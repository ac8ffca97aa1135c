"""Any PyTorch image model against humans: ClickMe alignment and model psychophysics.

Models (:func:`load_model`): a toolkit checkpoint, a timm architecture with a local weights file
(``timm.create_model(name, pretrained=False)``, then the state dict read with
``weights_only=True``) or a TorchScript file. Each carries its preprocessing
(:class:`Preprocessing`, from timm's ``resolve_data_config`` for timm models), recorded in the
outputs.

Alignment (:func:`score_alignment`), per image and importance-map method
(:data:`models.explain.METHODS`): the model explains the labelled class (its prediction when
the label is unknown) on the whole image resized to its input size; its map and the human map
are resized to ``score_size`` x ``score_size`` (antialiased bilinear), optionally Gaussian
blurred, and compared by Spearman's rho (:func:`clickme_analysis.reliability.spearman_rows`).
The mean rho over images, divided by the human ceiling, is the alignment (the paper's
"fraction of human ClickMe map variability"), with a percentile bootstrap interval over images;
top-1 / top-5 accuracy is taken on the same images. docs/models.md states where this follows
the Harmonization protocol (Fel et al. 2022) and where it differs.

Model psychophysics (:func:`model_psychophysics`): every stimulus of a ``clickme stimuli
build`` set through the model, a readout (:mod:`models.readout`) to P(animal), correct when
the decision matches the image's category; accuracy per map source and level and psychometric
fits come from :mod:`clickme_analysis.psychophysics`, with images in the role of participants
(their bootstrap resamples images).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.reliability import PAPER_CEILING, PAPER_NULL

#: Methods scored when none are named (plus ``gala`` for GALA networks).
DEFAULT_METHODS = ("saliency", "smoothgrad", "integrated_gradients")
_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}


# ----------------------------------------------------------------------------- models
@dataclass(frozen=True)
class Preprocessing:
    """How an image becomes a model input: resize the whole image, scale to [0, 1], normalise.

    ``crop_pct`` is the model's evaluation crop, recorded but not applied: maps must cover the
    whole image to be compared with the whole human map (the Harmonization protocol also
    resizes the whole ClickMe image).
    """

    input_size: tuple[int, int] = (224, 224)
    mean: tuple[float, ...] = (0.485, 0.456, 0.406)
    std: tuple[float, ...] = (0.229, 0.224, 0.225)
    interpolation: str = "bilinear"
    crop_pct: float | None = None
    source: str = "default"

    def apply(self, image: np.ndarray):
        """(H, W, 3) uint8 -> (3, h, w) float32 normalised tensor.

        Examples
        --------
        >>> Preprocessing((2, 2)).apply(np.zeros((4, 4, 3), np.uint8)).shape
        torch.Size([3, 2, 2])
        """
        import torch
        from PIL import Image

        pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        height, width = self.input_size
        if pil.size != (width, height):
            pil = pil.resize((width, height), _RESAMPLE.get(self.interpolation, 2))
        array = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[:, None, None]
        return (array - mean) / std

    def record(self) -> dict:
        return {**dataclasses.asdict(self), "applied": "whole image resized to input_size "
                "(crop_pct recorded, not applied), /255, (x - mean) / std"}


@dataclass
class LoadedModel:
    """A model ready to score: the module (eval mode), its name, kind and preprocessing."""

    name: str
    kind: str  # checkpoint | timm | torchscript
    module: object
    preprocessing: Preprocessing
    num_classes: int
    source: str
    gala: bool = False
    details: dict = field(default_factory=dict)

    def record(self) -> dict:
        return {"name": self.name, "kind": self.kind, "source": self.source,
                "num_classes": self.num_classes, "gala": self.gala,
                "preprocessing": self.preprocessing.record(), **self.details}


def _override_size(pre: Preprocessing, input_size: int | None, source: str) -> Preprocessing:
    if input_size is None:
        return pre
    if input_size < 8:
        raise InputError(f"expected an input size >= 8 pixels, got {input_size}", field="input_size")
    return dataclasses.replace(pre, input_size=(input_size, input_size),
                               source=f"{pre.source}; input size {input_size} from {source}")


def read_state_dict(path) -> dict:
    """A weights file as a flat state dict (``weights_only=True``: a file cannot run code).

    Accepts a bare state dict or one nested under ``state_dict`` / ``model`` / ``state_dict_ema``
    (common checkpoint layouts), and strips a ``module.`` (DataParallel) prefix.
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("weights file not found", path=path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types on a bad file
        raise InputError(f"cannot read weights (weights_only=True): {err}", path=path) from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
            break
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("expected a state dict (parameter name -> tensor)", path=path)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def load_weights(module, state: dict, path=None) -> None:
    """Load ``state`` strictly; a mismatch names the first missing, unexpected or misshapen keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
                 for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    problems = [(what, keys) for what, keys in (("missing from the file", missing),
                                                ("not in the model", unexpected),
                                                ("of another shape", misshapen)) if keys]
    if problems:
        text = "; ".join(f"{len(keys)} keys {what} (first: {', '.join(keys[:3])})"
                         for what, keys in problems)
        raise InputError(f"weights do not fit the architecture: {text}", path=path, field="weights")
    module.load_state_dict(state, strict=True)


def _timm_name(name: str) -> str:
    import timm

    if timm.is_model(name):
        return name
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise InputError(f"unknown timm model {name!r}{hint}", field="model")


def load_timm_model(name: str, weights, *, input_size: int | None = None, label: str | None = None,
                    **create_kwargs) -> LoadedModel:
    """A timm architecture with the user's weights (nothing is downloaded).

    Parameters
    ----------
    name : str
        A timm model name (``timm.list_models()``); unknown names list close matches.
    weights : path
        The state dict (read with ``weights_only=True``; see :func:`read_state_dict`).
    input_size : int, optional
        Override the configuration's input side (recorded).
    label : str, optional
        The ``model`` column (default ``name``).
    **create_kwargs
        Passed to ``timm.create_model`` (``num_classes``, ``img_size``, ...).
    """
    import timm
    from timm.data import resolve_data_config

    model = timm.create_model(_timm_name(name), pretrained=False, **create_kwargs)
    load_weights(model, read_state_dict(weights), weights)
    config = resolve_data_config({}, model=model)
    pre = Preprocessing(tuple(config["input_size"][1:]), tuple(config["mean"]), tuple(config["std"]),
                        config.get("interpolation", "bicubic"), config.get("crop_pct"),
                        "timm.data.resolve_data_config")
    return LoadedModel(label or name, "timm", model.eval(), _override_size(pre, input_size, "--input-size"),
                       int(model.num_classes), str(weights), details={"timm_name": name,
                                                                      "create_kwargs": create_kwargs})


def load_torchscript_model(path, *, input_size: int | None = None, label: str | None = None,
                           num_classes: int | None = None) -> LoadedModel:
    """A TorchScript file (``torch.jit.save``); ImageNet preprocessing at 224 unless overridden."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise InputError("TorchScript file not found", path=path)
    try:
        with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; users still have files
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise InputError(f"cannot read as TorchScript: {err}", path=path) from None
    pre = _override_size(Preprocessing(source="ImageNet defaults (TorchScript carries no data "
                                              "config)"), input_size, "--input-size")
    if num_classes is None:
        import torch

        with torch.no_grad():
            num_classes = int(module(torch.zeros(1, 3, *pre.input_size)).shape[1])
    return LoadedModel(label or path.stem, "torchscript", module.eval(), pre, num_classes, str(path))


def load_checkpoint_model(path, *, input_size: int | None = None,
                          label: str | None = None) -> LoadedModel:
    """A toolkit checkpoint (``clickme train``'s best.pt / last.pt) with its training resize."""
    from models.data import IMAGENET_MEAN, IMAGENET_STD
    from models.loss import attention_layers
    from models.train import model_from_checkpoint

    module, config = model_from_checkpoint(path)
    pre = Preprocessing((config.image_size, config.image_size), IMAGENET_MEAN, IMAGENET_STD,
                        "bilinear", config.image_size / config.resize, "checkpoint config (image_size, "
                        "ImageNet mean/std)")
    gala = any(type(m).__name__ == "GALA" for m in module.modules())
    try:
        attention_layers(module)
    except Exception:  # no attention layer: GALA maps unavailable
        gala = False
    return LoadedModel(label or Path(path).parent.name or Path(path).stem, "checkpoint", module,
                       _override_size(pre, input_size, "--input-size"), int(config.num_classes),
                       str(path), gala, {"arch": config.arch})


def load_model(kind: str, spec: str, *, input_size: int | None = None) -> LoadedModel:
    """Load from a CLI spec: ``checkpoint PATH``, ``timm NAME=WEIGHTS``, ``torchscript PATH``.

    A ``LABEL:`` prefix names the model column (``timm "r50 seed 1:resnet50=w.pth"``).
    """
    label = None
    if ":" in spec.split("=")[0] and not re.match(r"^[A-Za-z]:[\\/]", spec):
        label, _, spec = spec.partition(":")
    if kind == "timm":
        name, sep, weights = spec.partition("=")
        if not sep or not name or not weights:
            raise InputError(f"expected NAME=WEIGHTS (a timm name and a local weights file), got {spec!r}",
                             field="--timm")
        return load_timm_model(name.strip(), weights.strip(), input_size=input_size, label=label)
    if kind == "torchscript":
        return load_torchscript_model(spec, input_size=input_size, label=label)
    if kind == "checkpoint":
        return load_checkpoint_model(spec, input_size=input_size, label=label)
    raise InputError(f"unknown model kind {kind!r}", field="model")


# ----------------------------------------------------------------------------- labels
def _imagenet_lookup() -> dict[str, int]:
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    lookup = {}
    for i in range(info.num_classes()):
        lookup[info.index_to_label_name(i).lower()] = i
        for lemma in info.index_to_description(i).split(","):
            lookup.setdefault(lemma.strip().lower(), i)
    return lookup


def resolve_labels(labels: Mapping[str, str], num_classes: int, path=None,
                   lines: Mapping[str, int] | None = None) -> dict[str, int]:
    """Image id -> class index for a model with ``num_classes`` outputs.

    A label is a class index, or for 1000-class models an ImageNet WordNet id (``n02123045``)
    or class name (``tabby``); an empty label is unknown (left out of accuracy). Anything else,
    or an index outside ``0..num_classes-1``, is an :class:`InputError` naming the file and line.

    Examples
    --------
    >>> resolve_labels({"a": "1", "b": ""}, 2)
    {'a': 1}
    """
    out, lookup = {}, None
    for image_id, label in labels.items():
        text = str(label).strip()
        if not text:
            continue
        if re.fullmatch(r"-?\d+", text):
            index = int(text)
        elif num_classes == 1000:
            lookup = lookup or _imagenet_lookup()
            index = lookup.get(text.lower(), -1)
            if index < 0:
                raise InputError(f"label {text!r} of image {image_id!r} is no ImageNet class index, "
                                 "WordNet id or class name", path=path,
                                 line=(lines or {}).get(image_id), field="label")
        else:
            raise InputError(f"label {text!r} of image {image_id!r}: expected a class index "
                             f"0-{num_classes - 1}", path=path, line=(lines or {}).get(image_id),
                             field="label")
        if not 0 <= index < num_classes:
            raise InputError(f"label {index} of image {image_id!r} is outside the model's classes "
                             f"0-{num_classes - 1}", path=path, line=(lines or {}).get(image_id),
                             field="label")
        out[image_id] = index
    return out


def read_label_table(path) -> tuple[dict[str, str], dict[str, int]]:
    """``image_id, label`` CSV -> (id -> label text, id -> file line)."""
    from clickme_analysis.io import read_table

    table = read_table(path, ["image_id", "label"], "labels file", dtype=str, keep_default_na=False)
    ids = table["image_id"].astype(str)
    return dict(zip(ids, table["label"])), {i: n + 2 for n, i in enumerate(ids)}


# ----------------------------------------------------------------------------- scoring
@dataclass(frozen=True)
class AlignmentOptions:
    """Map comparison and attribution settings (defaults documented in docs/models.md)."""

    methods: tuple[str, ...] = DEFAULT_METHODS
    score_size: int = 64            # maps compared on a score_size x score_size grid
    model_blur: float = 0.0         # Gaussian sigma (score pixels) on model maps; 0: none
    human_blur: float = 0.0         # Gaussian sigma on human maps (archive maps are blurred)
    layer: str | None = None        # LayerGradCam / GALA layer
    n_samples: int = 50             # SmoothGrad / GradientShap samples
    noise_fraction: float = 0.15    # SmoothGrad noise SD / input range
    n_steps: int = 32               # integrated-gradients steps
    window: int | None = None       # occlusion window (default input side / 8)
    batch_size: int = 16            # images per batch; inputs per attribution pass
    n_boot: int = 1000
    seed: int = 0
    device: str = "auto"            # auto | cpu | cuda
    amp: str = "auto"               # auto (bf16 on CUDA, none on CPU) | none | bf16 | fp16
    progress: bool = True

    def resolved_device(self) -> str:
        import torch

        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        if self.device not in ("cpu", "cuda"):
            raise InputError(f"expected device auto, cpu or cuda, got {self.device!r}", field="device")
        return self.device

    def resolved_amp(self) -> str:
        if self.amp == "auto":
            return "bf16" if self.resolved_device() == "cuda" else "none"
        return self.amp


def _square(maps, size: int) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    tensor = torch.as_tensor(np.asarray(maps, dtype=np.float32))
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tuple(tensor.shape[-2:]) != (size, size):
        tensor = F.interpolate(tensor[:, None], size=(size, size), mode="bilinear",
                               align_corners=False, antialias=True)[:, 0]
    return tensor.numpy()


def _blur(maps: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return maps
    from scipy.ndimage import gaussian_filter

    return np.stack([gaussian_filter(m, sigma, mode="reflect") for m in maps]).astype(np.float32)


def compare_maps(model_maps, human_maps, score_size: int = 64, model_blur: float = 0.0,
                 human_blur: float = 0.0) -> np.ndarray:
    """Spearman rho per image between model and human maps, after the documented protocol.

    Both stacks are resized to ``score_size`` (antialiased bilinear), blurred with the given
    Gaussian sigmas (0: none) and ranked with average ties over pixels.

    Examples
    --------
    >>> human = np.arange(16.0).reshape(1, 4, 4)
    >>> compare_maps(2 * human, human, score_size=4).tolist()
    [1.0]
    """
    from clickme_analysis.reliability import spearman_rows

    a = _blur(_square(model_maps, score_size), model_blur)
    b = _blur(_square(human_maps, score_size), human_blur)
    if len(a) != len(b):
        raise InputError(f"expected as many model maps as human maps, got {len(a)} and {len(b)}")
    return spearman_rows(a.reshape(len(a), -1), b.reshape(len(b), -1))


def human_reference(clicks=None, image_ids=None, ceiling: float | None = None, seed: int = 0,
                    progress: bool = False) -> dict:
    """The ceiling and null the alignment is measured against, and where they come from.

    With a click table (``image_id, participant_id, x, y``), the inter-rater reliability of the
    scored images' participants (:func:`clickme_analysis.reliability.inter_rater_reliability`,
    the paper's method: two random participants per image, null across images); otherwise the
    paper's ImageNet values (``PAPER_CEILING``, ``PAPER_NULL``). An explicit ``ceiling`` wins.
    """
    if ceiling is not None:
        if not 0 < ceiling <= 1:
            raise InputError(f"expected a ceiling in (0, 1], got {ceiling}", field="ceiling")
        return {"ceiling": float(ceiling), "null": float("nan"), "source": "given (--ceiling)"}
    if clicks is None:
        return {"ceiling": PAPER_CEILING, "null": PAPER_NULL,
                "source": "paper (ImageNet ClickMe inter-rater rho, Linsley et al. 2019)"}
    from clickme_analysis.ids import match_ids
    from clickme_analysis.reliability import inter_rater_reliability

    keep = match_ids(clicks["image_id"].astype(str).unique(), list(image_ids), what="click-log images",
                     other="scored images", warn=False)
    table = inter_rater_reliability(clicks[clicks["image_id"].astype(str).isin(keep)], n_images=None,
                                    seed=seed, progress=progress)
    means = table.groupby("distribution")["rho"].mean()
    n = int((table["distribution"] == "human").sum())
    return {"ceiling": float(means["human"]), "null": float(means["null"]),
            "source": f"inter-rater reliability of the click logs ({n} images, two random "
                      "participants each; null: two different images)"}


def _methods_for(model: LoadedModel, methods: Sequence[str]) -> list[str]:
    from models.explain import method_name

    names = list(dict.fromkeys(method_name(m) for m in methods))
    if model.gala and "gala" not in names:
        names.append("gala")
    if not model.gala:
        names = [m for m in names if m != "gala"]
    return names


def score_alignment(models: Sequence[LoadedModel], images: Mapping[str, object], human_maps: Mapping,
                    labels: Mapping[str, str] | None = None, options: AlignmentOptions = AlignmentOptions(),
                    reference: dict | None = None, archive_dir=None, label_path=None,
                    label_lines: Mapping[str, int] | None = None,
                    labelled_models: Sequence[str] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Alignment of every model and method with the human maps, and accuracy on the same images.

    Parameters
    ----------
    models : sequence of LoadedModel
    images : Mapping image id -> image path or (H, W, 3) uint8 array
    human_maps : Mapping image id -> (H, W) map (e.g. :func:`clickme_analysis.archive.open_maps`)
    labels : Mapping image id -> label text, optional
        See :func:`resolve_labels` (empty: unknown).
    options : AlignmentOptions
    reference : dict, optional
        :func:`human_reference`'s output (default: the paper's values).
    labelled_models : sequence of str, optional
        Names of the models ``labels`` apply to (default all); the others explain their
        prediction and have no accuracy.
    archive_dir : path, optional
        Write each model and method's maps, resized to the human maps' shape and scaled to a
        maximum of 1, as ``<model>__<method>.npz`` map archives (``clickme metrics`` reads them).

    Returns
    -------
    per_image : DataFrame
        ``model, method, image_id, rho, label, target, prediction, top1_correct, top5_correct``.
    summary : DataFrame
        ``model, method, n_images, n_labelled, top1_accuracy, top5_accuracy, rho_mean,
        rho_ci_low, rho_ci_high, alignment, alignment_ci_low, alignment_ci_high, ceiling,
        null, null_alignment, ceiling_source``.
    """
    import torch

    from clickme_analysis.archive import MapWriter
    from clickme_analysis.ids import match_ids
    from models.data import read_image
    from models.explain import autocast, importance_maps

    if not models:
        raise InputError("expected at least one model", field="model")
    if options.score_size < 4:
        raise InputError(f"expected a score size >= 4, got {options.score_size}", field="score_size")
    reference = reference or human_reference()
    image_ids = match_ids(list(human_maps.keys()), list(images.keys()), what="human maps",
                          other="images")
    device, amp = options.resolved_device(), options.resolved_amp()
    rows = []
    for model in models:
        methods = _methods_for(model, options.methods)
        applies = labelled_models is None or model.name in labelled_models
        known = resolve_labels((labels or {}) if applies else {}, model.num_classes, label_path, label_lines)
        module = model.module.to(device).eval()
        writers = {}
        if archive_dir is not None:
            Path(archive_dir).mkdir(parents=True, exist_ok=True)
            writers = {m: MapWriter(Path(archive_dir) / f"{_safe(model.name)}__{m}.npz") for m in methods}
        try:
            batches = range(0, len(image_ids), options.batch_size)
            for start in progress_bar(batches, enabled=options.progress, desc=f"alignment {model.name}",
                                      unit="batch"):
                ids = image_ids[start:start + options.batch_size]
                pixels = [images[i] if isinstance(images[i], np.ndarray) else read_image(images[i]) for i in ids]
                inputs = torch.stack([model.preprocessing.apply(p) for p in pixels]).to(device)
                with torch.no_grad(), autocast(device, amp):
                    logits = module(inputs).float()
                k = min(5, logits.shape[1])
                top = logits.topk(k, 1).indices.cpu()
                label = torch.tensor([known.get(i, -1) for i in ids])
                target = torch.where(label >= 0, label, top[:, 0])
                humans = [np.asarray(human_maps[i], dtype=np.float32) for i in ids]
                squared = np.concatenate([_square(h, options.score_size) for h in humans])
                for method in methods:
                    maps = importance_maps(
                        module, inputs, method, target.to(device), layer=options.layer,
                        n_samples=options.n_samples, noise_fraction=options.noise_fraction,
                        n_steps=options.n_steps, window=options.window, batch_size=options.batch_size,
                        seed=options.seed, amp=amp, channels_last=True, fast=True).cpu().numpy()
                    rho = compare_maps(maps, squared, options.score_size, options.model_blur,
                                       options.human_blur)
                    for j, image_id in enumerate(ids):
                        rows.append((model.name, method, image_id, rho[j], int(label[j]), int(target[j]),
                                     int(top[j, 0]), bool(label[j] >= 0 and top[j, 0] == label[j]),
                                     bool(label[j] >= 0 and (top[j] == label[j]).any())))
                        if method in writers:
                            writers[method].write(image_id, _unit_max(_resize_to(maps[j], humans[j].shape)),
                                                  label=str((labels or {}).get(image_id, "")))
        except BaseException:
            for writer in writers.values():
                writer.abort()
            raise
        for writer in writers.values():
            writer.close()
    columns = ["model", "method", "image_id", "rho", "label", "target", "prediction", "top1_correct",
               "top5_correct"]
    per_image = pd.DataFrame(rows, columns=columns)
    return per_image, summarise_alignment(per_image, reference, options.n_boot, options.seed)


def _resize_to(saliency_map: np.ndarray, shape) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    tensor = torch.as_tensor(np.asarray(saliency_map, dtype=np.float32))[None, None]
    return F.interpolate(tensor, size=tuple(shape), mode="bilinear", align_corners=False)[0, 0].numpy()


def _unit_max(saliency_map: np.ndarray) -> np.ndarray:
    peak = float(saliency_map.max())
    return (saliency_map / peak if peak > 0 else saliency_map).astype(np.float32)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "model"


def summarise_alignment(per_image: pd.DataFrame, reference: dict, n_boot: int = 1000,
                        seed: int = 0) -> pd.DataFrame:
    """One row per model and method: accuracy, mean rho and alignment with bootstrap CIs.

    ``alignment = rho_mean / ceiling``; its interval is the percentile bootstrap interval of the
    mean rho over images (``n_boot`` resamples) divided by the ceiling (held fixed).

    Examples
    --------
    >>> rows = pd.DataFrame({"model": "m", "method": "saliency", "image_id": ["a", "b"],
    ...                      "rho": [0.2, 0.4], "label": [0, -1], "top1_correct": [True, False],
    ...                      "top5_correct": [True, False]})
    >>> s = summarise_alignment(rows, {"ceiling": 0.6, "null": 0.1, "source": "test"}, n_boot=10)
    >>> s[["top1_accuracy", "rho_mean", "alignment"]].round(3).values.tolist()
    [[1.0, 0.3, 0.5]]
    """
    from clickme_analysis.reliability import bootstrap_mean_ci

    ceiling, null = reference["ceiling"], reference["null"]
    out = []
    for (model, method), group in per_image.groupby(["model", "method"], sort=False):
        labelled = group["label"] >= 0
        mean, low, high = bootstrap_mean_ci(group["rho"], n_boot=n_boot, seed=seed)
        out.append({"model": model, "method": method, "n_images": len(group),
                    "n_labelled": int(labelled.sum()),
                    "top1_accuracy": group.loc[labelled, "top1_correct"].mean() if labelled.any() else np.nan,
                    "top5_accuracy": group.loc[labelled, "top5_correct"].mean() if labelled.any() else np.nan,
                    "rho_mean": mean, "rho_ci_low": low, "rho_ci_high": high,
                    "alignment": mean / ceiling, "alignment_ci_low": low / ceiling,
                    "alignment_ci_high": high / ceiling, "ceiling": ceiling, "null": null,
                    "null_alignment": null / ceiling, "ceiling_source": reference["source"]})
    return pd.DataFrame(out)


# ----------------------------------------------------------------------------- psychophysics
def _stimulus_table(stimulus_dir) -> tuple[Path, pd.DataFrame]:
    from clickme_analysis.io import read_table

    root = Path(stimulus_dir)
    manifest = root / "manifest.csv" if root.is_dir() else root
    table = read_table(manifest, ["image_id", "map_source", "level", "path", "target"], "stimulus manifest",
                       dtype={"image_id": str, "map_source": str, "path": str}, keep_default_na=False)
    target = table["target"].astype(str).str.strip().str.lower()
    bad = ~target.isin(["true", "false", "1", "0"])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected target true/false (animal or not; build the set with --labels), got "
                         f"{table['target'].iloc[i]!r}", path=manifest, line=i + 2, field="target")
    return manifest.parent, table.assign(target=target.isin(["true", "1"]))


def model_psychophysics(models: Sequence[LoadedModel], stimulus_dir, readouts: Mapping | None = None,
                        options: AlignmentOptions = AlignmentOptions()) -> pd.DataFrame:
    """Run every stimulus of a reveal set through each model: one row per model and stimulus.

    Parameters
    ----------
    models : sequence of LoadedModel
    stimulus_dir : path
        A ``clickme stimuli build`` folder (``manifest.csv`` with ``target`` from ``--labels``).
    readouts : Mapping model name -> callable, optional
        Logits (N, K) -> P(animal) (N,); default :func:`models.readout.default_readout`.

    Returns
    -------
    DataFrame
        ``model, readout, image_id, map_source, level, p_animal, decision, target, correct``.
    """
    import torch

    from models.data import read_image
    from models.explain import autocast
    from models.readout import default_readout

    root, table = _stimulus_table(stimulus_dir)
    device, amp = options.resolved_device(), options.resolved_amp()
    frames = []
    for model in models:
        readout = (readouts or {}).get(model.name) or default_readout(model.num_classes)
        module = model.module.to(device).eval()
        p_animal = []
        batches = range(0, len(table), options.batch_size * 4)
        for start in progress_bar(batches, enabled=options.progress, desc=f"psychophysics {model.name}",
                                  unit="batch"):
            part = table.iloc[start:start + options.batch_size * 4]
            inputs = torch.stack([model.preprocessing.apply(read_image(root / p)) for p in part["path"]])
            with torch.no_grad(), autocast(device, amp):
                p_animal.append(readout(module(inputs.to(device)).float()).cpu().numpy())
        p = np.concatenate(p_animal)
        frames.append(pd.DataFrame({
            "model": model.name, "readout": getattr(readout, "name", repr(readout)),
            "image_id": table["image_id"].to_numpy(), "map_source": table["map_source"].to_numpy(),
            "level": table["level"].astype(float).to_numpy(), "p_animal": p, "decision": p > 0.5,
            "target": table["target"].to_numpy(), "correct": (p > 0.5) == table["target"].to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def _as_trials(rows: pd.DataFrame) -> pd.DataFrame:
    """Model responses as psychophysics trials: images as participants, a group per map source.

    The intact image belongs to every map source's condition (as for the humans, whose groups
    each saw intact images), so its rows are repeated once per source.
    """
    from clickme_analysis.psychophysics import INTACT

    sources = sorted(set(rows["map_source"]) - {INTACT})
    revealed = rows[rows["map_source"] != INTACT].assign(group=lambda t: t["map_source"])
    intact = rows[rows["map_source"] == INTACT]
    parts = [revealed] + [intact.assign(group=s) for s in sources]
    trials = pd.concat(parts, ignore_index=True).rename(columns={"image_id": "participant"})
    return trials.assign(rt=np.nan, timed_out=False, excluded=False, exclusion="")


def psychophysics_tables(rows: pd.DataFrame, n_boot: int = 200, seed: int = 0,
                         progress: bool = False) -> dict[str, pd.DataFrame]:
    """Accuracy per map source and level, and a psychometric fit, for each model.

    Returns
    -------
    dict
        ``accuracy``: ``model, group, level, intact, accuracy, sem, n_images`` (the humans'
        ``accuracy.csv`` columns; S.E.M. over images); ``params``: ``model, group, threshold,
        threshold_ci_low, threshold_ci_high, alpha, beta, lapse, n_images, n_trials,
        threshold_in_range`` (logistic fit, image-bootstrap CIs; a threshold outside the levels
        tested, as a flat curve gives, is NaN); ``curve``: ``model, group, level, predicted,
        ci_low, ci_high``.
    """
    from clickme_analysis.psychophysics import accuracy_by_level, psychometric_fit

    accuracy, params, curves = [], [], []
    for model, group in rows.groupby("model", sort=False):
        trials = _as_trials(group)
        accuracy.append(accuracy_by_level(trials).assign(model=model))
        fit, curve = psychometric_fit(trials, n_boot=n_boot, seed=seed, progress=progress)
        # a flat curve (a model at chance, or at ceiling throughout) has no threshold: the fit
        # then puts it at a bound far outside the levels tested; report NaN instead
        revealed = trials.loc[trials["map_source"] != "intact", "level"]
        outside = ~fit["threshold"].between(revealed.min(), revealed.max())
        fit.loc[outside, ["threshold", "threshold_ci_low", "threshold_ci_high"]] = np.nan
        params.append(fit.assign(model=model, threshold_in_range=~outside))
        curves.append(curve.assign(model=model))

    def first(frames):
        frame = pd.concat(frames, ignore_index=True).rename(columns={"n_participants": "n_images"})
        return frame[["model"] + [c for c in frame.columns if c != "model"]]

    return {"accuracy": first(accuracy), "params": first(params), "curve": first(curves)}


def threshold_table(model_params: pd.DataFrame, human_params: pd.DataFrame | None = None) -> pd.DataFrame:
    """Psychometric thresholds of the models beside the humans' (``model`` = ``human``)."""
    columns = ["model", "group", "threshold", "threshold_ci_low", "threshold_ci_high"]
    frames = [model_params[columns]]
    if human_params is not None:
        frames.insert(0, human_params.assign(model="human")[columns])
    return pd.concat(frames, ignore_index=True)


# ----------------------------------------------------------------------------- files
def image_files(folder) -> dict[str, Path]:
    """Image id -> file for the images in ``folder`` (ids by :func:`clickme_analysis.ids.image_ids`)."""
    from clickme_analysis.fileio import collect_files
    from clickme_analysis.ids import image_ids
    from models.data import IMAGE_SUFFIXES

    files = collect_files(folder, IMAGE_SUFFIXES, what="images")
    return dict(zip(image_ids(files), files))


def run_alignment(models: Sequence[LoadedModel], out_dir, *, images=None, maps=None, labels=None,
                  clicks=None, ceiling: float | None = None, psychophysics=None, human=None,
                  readout: str | None = None, psychophysics_models: Sequence[str] | None = None,
                  labelled_models: Sequence[str] | None = None,
                  options: AlignmentOptions = AlignmentOptions()) -> list[Path]:
    """Score ``models`` and/or run them through a stimulus set; write the outputs to ``out_dir``.

    Writes (docs/outputs.md): ``alignment_per_image.csv``, ``alignment_summary.csv``,
    ``importance_maps/<model>__<method>.npz`` (with ``images`` and ``maps``);
    ``psychophysics_trials.csv``, ``psychophysics_accuracy.csv``, ``psychophysics_params.csv``,
    ``psychophysics_curve.csv`` and, with ``human`` (an experiment analysis folder),
    ``thresholds.csv`` (with ``psychophysics``); ``alignment_config.json`` always.
    ``psychophysics_models`` and ``labelled_models`` (names) limit the psychophysics and the
    labels to some of the models.

    Returns
    -------
    list of Path
        The files written.
    """
    from clickme_analysis.archive import open_maps
    from clickme_analysis.fileio import atomic_write_text

    if (images is None) != (maps is None):
        raise InputError("alignment needs both --images and --maps", field="--images" if images is None
                         else "--maps")
    if images is None and psychophysics is None:
        raise InputError("nothing to do: give --images and --maps (alignment), --psychophysics, or both",
                         field="--images")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    record = {"models": [m.record() for m in models], "options": dataclasses.asdict(options),
              "device": options.resolved_device(), "amp": options.resolved_amp()}
    if images is not None:
        files = image_files(images)
        text, lines = read_label_table(labels) if labels is not None else (None, None)
        click_table = None
        if clicks is not None:
            from clickme_analysis.io import read_clicks

            click_table = read_clicks(clicks).clicks
        with open_maps(maps) as human_maps, warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)  # partial id matches are recorded
            reference = human_reference(click_table, list(human_maps.keys()), ceiling, options.seed,
                                        options.progress)
            per_image, summary = score_alignment(models, files, human_maps, text, options, reference,
                                                 out / "importance_maps", labels, lines, labelled_models)
        per_image.to_csv(out / "alignment_per_image.csv", index=False)
        summary.to_csv(out / "alignment_summary.csv", index=False)
        written += [out / "alignment_per_image.csv", out / "alignment_summary.csv"]
        written += sorted((out / "importance_maps").glob("*.npz"))
        record.update(images=str(images), maps=str(maps), labels=str(labels) if labels else None,
                      clicks=str(clicks) if clicks else None, reference=reference,
                      n_images_scored=int(per_image["image_id"].nunique()),
                      protocol="whole image resized to each model's input size; model and human maps "
                               f"resized to {options.score_size}x{options.score_size} (antialiased "
                               f"bilinear), Gaussian blur sigma {options.model_blur} (model) / "
                               f"{options.human_blur} (human) score pixels, Spearman over pixels "
                               "(average ranks); alignment = mean rho / ceiling")
    if psychophysics is not None:
        from models.readout import readout_from_name

        chosen = [m for m in models if psychophysics_models is None or m.name in psychophysics_models]
        readouts = {m.name: readout_from_name(readout, m.num_classes) for m in chosen} if readout else None
        rows = model_psychophysics(chosen, psychophysics, readouts, options)
        tables = psychophysics_tables(rows, n_boot=min(200, options.n_boot), seed=options.seed,
                                      progress=options.progress)
        rows.to_csv(out / "psychophysics_trials.csv", index=False)
        for name in ("accuracy", "params", "curve"):
            tables[name].to_csv(out / f"psychophysics_{name}.csv", index=False)
        written += [out / f"psychophysics_{n}.csv" for n in ("trials", "accuracy", "params", "curve")]
        if human is not None:
            from clickme_analysis.io import read_table

            params = read_table(Path(human) / "psychometric_params.csv",
                                ["group", "threshold", "threshold_ci_low", "threshold_ci_high"],
                                "human psychometric parameters")
            threshold_table(tables["params"], params).to_csv(out / "thresholds.csv", index=False)
            written.append(out / "thresholds.csv")
        record.update(psychophysics=str(psychophysics), readouts=sorted(set(rows["readout"])),
                      decision="animal when P(animal) > 0.5",
                      psychometric="logistic, guess 0.5, images as participants (bootstrap over images)")
    atomic_write_text(out / "alignment_config.json", json.dumps(record, indent=2, default=str))
    return written + [out / "alignment_config.json"]


# ----------------------------------------------------------------------------- demo
#: Demo labels (clickme_analysis.synthetic) that are not ImageNet class names, and the class used.
DEMO_IMAGENET_ALIASES = {"horse": "sorrel"}


def run_demo(root, seed: int = 0, progress: bool = True) -> list[Path]:
    """The demo's alignment stage: write ``root/alignment`` (docs/outputs.md).

    Scores a timm ResNet-18 with seeded random weights (saved to
    ``alignment/weights/resnet18_random.pth`` and loaded as a user's weights file would be: no
    download) and the models stage's GALA checkpoint (``models/runs/gala_clickme/best.pt``,
    trained on the synthetic task) against the demo's ClickMe maps, with the ceiling and null
    from the demo's click log; runs the ResNet-18 (ImageNet animal readout) and every 2-class
    toolkit checkpoint under ``models/runs`` (class readout) through the demo's stimuli, beside
    the simulated participants. Random weights make this a check of the machinery, not a result.
    """
    import torch

    root = Path(root)
    clickme, out = root / "clickme", root / "alignment"
    for path in (clickme / "images", clickme / "maps.npz"):
        if not path.exists():
            raise InputError("missing input of the alignment demo stage (run the clickme stage first)",
                             path=path)
    (out / "weights").mkdir(parents=True, exist_ok=True)
    import timm

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.save(timm.create_model("resnet18", pretrained=False).state_dict(),
                   out / "weights" / "resnet18_random.pth")
    models = [load_timm_model("resnet18", out / "weights" / "resnet18_random.pth", input_size=64,
                              label="resnet18 (random weights)")]
    psychophysics_models = [models[0].name]
    for checkpoint in sorted((root / "models" / "runs").glob("*/best.pt")):
        model = load_checkpoint_model(checkpoint, label=f"{checkpoint.parent.name} (toolkit)")
        if checkpoint.parent.name == "gala_clickme" or model.num_classes == 2:
            models.append(model)
        if model.num_classes == 2:
            psychophysics_models.append(model.name)
    labels = None
    if (clickme / "labels.csv").is_file():
        text, _ = read_label_table(clickme / "labels.csv")
        lookup = _imagenet_lookup()
        names = {i: DEMO_IMAGENET_ALIASES.get(v, v) for i, v in text.items()}
        labels = out / "imagenet_labels.csv"
        pd.DataFrame({"image_id": list(names), "label": [v if v.lower() in lookup else ""
                                                          for v in names.values()]}).to_csv(labels, index=False)
    options = AlignmentOptions(methods=("saliency", "smoothgrad", "integrated_gradients", "layer_gradcam"),
                               n_samples=8, n_steps=8, seed=seed, progress=progress)
    stimuli = root / "stimuli" / "manifest.csv"
    experiment = root / "experiment" / "psychometric_params.csv"
    # labels belong to the ImageNet model only: the toolkit checkpoints' classes are others
    return run_alignment(models, out, images=clickme / "images", maps=clickme / "maps.npz", labels=labels,
                         clicks=clickme / "clicks.csv" if (clickme / "clicks.csv").is_file() else None,
                         psychophysics=stimuli.parent if stimuli.is_file() else None,
                         human=experiment.parent if experiment.is_file() else None,
                         psychophysics_models=psychophysics_models, labelled_models=[models[0].name],
                         options=options)
