"""Any PyTorch image model, loaded to be scored: a toolkit checkpoint, a timm architecture, TorchScript.

Models (:func:`load_model`): a toolkit checkpoint (through :mod:`models.checkpoint`: nothing of
the training loop is imported), a timm architecture with a local weights file
(``timm.create_model(name, pretrained=False)``, then the state dict read with
``weights_only=True``) or a TorchScript file. Each carries its preprocessing
(:class:`Preprocessing`, from timm's ``resolve_data_config`` for timm models), recorded in the
outputs. :mod:`models.alignment_scoring` and :mod:`models.alignment_psychophysics` use them.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from clickme_analysis.errors import InputError
from models.augment import IMAGENET_MEAN, IMAGENET_STD
from models.checkpoint import model_from_checkpoint
from models.layers import attention_layers

_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}


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
        pil = Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")
        height, width = self.input_size
        if pil.size != (width, height):
            pil = pil.resize((width, height), _RESAMPLE.get(self.interpolation, 2))
        array = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)
        mean = torch.tensor(self.mean, dtype=torch.float32)[:, None, None]
        std = torch.tensor(self.std, dtype=torch.float32)[:, None, None]
        return (array - mean) / std

    def record(self) -> dict:
        return {
            **dataclasses.asdict(self),
            "applied": "whole image resized to input_size (crop_pct recorded, not applied), /255, (x - mean) / std",
        }


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
        return {
            "name": self.name,
            "kind": self.kind,
            "source": self.source,
            "num_classes": self.num_classes,
            "gala": self.gala,
            "preprocessing": self.preprocessing.record(),
            **self.details,
        }


def _override_size(pre: Preprocessing, input_size: int | None, source: str) -> Preprocessing:
    if input_size is None:
        return pre
    if input_size < 8:
        raise InputError(f"expected an input size >= 8 pixels, got {input_size}", field="input_size")
    return dataclasses.replace(
        pre, input_size=(input_size, input_size), source=f"{pre.source}; input size {input_size} from {source}"
    )


def read_state_dict(path) -> dict:
    """A weights file as a flat state dict (``weights_only=True``: a file cannot run code).

    Accepts a bare state dict or one nested under ``state_dict`` / ``model`` / ``state_dict_ema``
    (common checkpoint layouts), and strips a ``module.`` (DataParallel) prefix.
    """
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
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def load_weights(module, state: dict, path=None) -> None:
    """Load ``state`` strictly; a mismatch names the first missing, unexpected or misshapen keys."""
    own = module.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    misshapen = [
        f"{k} (file {tuple(state[k].shape)}, model {tuple(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    problems = [
        (what, keys)
        for what, keys in (
            ("missing from the file", missing),
            ("not in the model", unexpected),
            ("of another shape", misshapen),
        )
        if keys
    ]
    if problems:
        text = "; ".join(f"{len(keys)} keys {what} (first: {', '.join(keys[:3])})" for what, keys in problems)
        raise InputError(f"weights do not fit the architecture: {text}", path=path, field="weights")
    module.load_state_dict(state, strict=True)


def _timm_name(name: str) -> str:
    import timm

    if timm.is_model(name):
        return name
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    raise InputError(f"unknown timm model {name!r}{hint}", field="model")


def load_timm_model(
    name: str, weights, *, input_size: int | None = None, label: str | None = None, **create_kwargs
) -> LoadedModel:
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
    pre = Preprocessing(
        tuple(config["input_size"][1:]),
        tuple(config["mean"]),
        tuple(config["std"]),
        config.get("interpolation", "bicubic"),
        config.get("crop_pct"),
        "timm.data.resolve_data_config",
    )
    return LoadedModel(
        label or name,
        "timm",
        model.eval(),
        _override_size(pre, input_size, "--input-size"),
        int(model.num_classes),
        str(weights),
        details={"timm_name": name, "create_kwargs": create_kwargs},
    )


def load_torchscript_model(
    path, *, input_size: int | None = None, label: str | None = None, num_classes: int | None = None
) -> LoadedModel:
    """A TorchScript file (``torch.jit.save``); ImageNet preprocessing at 224 unless overridden."""
    path = Path(path)
    if not path.is_file():
        raise InputError("TorchScript file not found", path=path)
    try:
        with warnings.catch_warnings():  # torch 2.14 deprecates TorchScript; users still have files
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as err:
        raise InputError(f"cannot read as TorchScript: {err}", path=path) from None
    pre = _override_size(
        Preprocessing(source="ImageNet defaults (TorchScript carries no data config)"), input_size, "--input-size"
    )
    if num_classes is None:
        with torch.no_grad():
            num_classes = int(module(torch.zeros(1, 3, *pre.input_size)).shape[1])
    return LoadedModel(label or path.stem, "torchscript", module.eval(), pre, num_classes, str(path))


def load_checkpoint_model(path, *, input_size: int | None = None, label: str | None = None) -> LoadedModel:
    """A toolkit checkpoint (``clickme train``'s best.pt / last.pt) with its training resize."""
    module, config = model_from_checkpoint(path)
    pre = Preprocessing(
        (config.image_size, config.image_size),
        IMAGENET_MEAN,
        IMAGENET_STD,
        "bilinear",
        config.image_size / config.resize,
        "checkpoint config (image_size, ImageNet mean/std)",
    )
    gala = any(type(m).__name__ == "GALA" for m in module.modules())
    try:
        attention_layers(module)
    except Exception:  # no attention layer: GALA maps unavailable
        gala = False
    return LoadedModel(
        label or Path(path).parent.name or Path(path).stem,
        "checkpoint",
        module,
        _override_size(pre, input_size, "--input-size"),
        int(config.num_classes),
        str(path),
        gala,
        {"arch": config.arch},
    )


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
            raise InputError(
                f"expected NAME=WEIGHTS (a timm name and a local weights file), got {spec!r}", field="--timm"
            )
        return load_timm_model(name.strip(), weights.strip(), input_size=input_size, label=label)
    if kind == "torchscript":
        return load_torchscript_model(spec, input_size=input_size, label=label)
    if kind == "checkpoint":
        return load_checkpoint_model(spec, input_size=input_size, label=label)
    raise InputError(f"unknown model kind {kind!r}", field="model")
