"""Training configuration: one frozen dataclass, read from TOML by the toolkit's config loader.

A TOML file may group keys under any of the tables ``[model]``, ``[data]``, ``[loss]``,
``[optim]``, ``[run]`` (for readability) or write them at top level; every key must be a field
of :class:`TrainConfig` (``lambda`` is accepted for ``lam``). Types, choices and ranges are
checked by :func:`clickme_analysis.config.load_config`: a bad value is an InputError naming the
file, the key, what was expected and what came. See docs/models.md and ``models/configs/``.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass, field
from typing import Literal

from clickme_analysis.config import check_value, config_fields
from clickme_analysis.config import load_config as _load_config
from clickme_analysis.errors import InputError
from models.registry import arch_check

SECTIONS = ("model", "data", "loss", "optim", "run")
ALIASES = {"lambda": "lam", "weights": "init_weights"}
#: Old (British) key names, still read with a FutureWarning.
DEPRECATED = {"normalisation": "normalization"}


def _min(value, **extra):
    return {"min": value, **extra}


@dataclass(frozen=True)
class TrainConfig:
    # [model]
    arch: str = field(default="gala_resnet50", metadata={"check": arch_check})  # a name of
    #   models.registry.ARCHITECTURES or "timm:<name>" (any timm model)
    num_classes: int = field(default=1000, metadata=_min(1))  # a timm model's head is built so
    attention: Literal["none", "gala"] = "none"  # gala: GALA in layer3 of a timm ResNet
    gala_variant: Literal["paper", "authors"] = "paper"  # authors: sigmoid, 5x5 conv, random a, m
    gala_reduction: int = field(default=4, metadata=_min(1))  # r
    tiny_width: int = field(default=8, metadata=_min(1))  # first-stage width of the tiny_* nets
    init_weights: str = ""  # "weights": a state dict file (tensors only); misfits named
    # [data]
    train: str = ""  # packed folder | folder | manifest.csv | *.tfrecord(s) | "synthetic"
    val: str = ""  # same forms; "" = no validation
    maps: str = ""  # map source for train (and val unless val_maps); not for packed folders
    val_maps: str = ""
    label_column: str = "label"
    image_size: int = field(default=224, metadata=_min(8))  # random crop (train) / centre crop (val)
    resize: int = field(default=256, metadata=_min(8))  # images and maps resized to resize x resize
    blur_size: int = field(default=49, metadata=_min(0))  # box blur of the maps (0: none)
    map_source: Literal["clickme", "bbox"] = "clickme"  # bbox: bounding-box control
    batch_size: int = field(default=32, metadata=_min(1))  # per process
    workers: int = field(default=4, metadata=_min(0))  # DataLoader workers per process
    shuffle_buffer: int = field(default=1000, metadata=_min(1))  # samples per worker (shards)
    decode: Literal["workers", "device"] = "workers"  # device: torchvision/nvJPEG in the trainer
    synthetic_train: int = field(default=2000, metadata=_min(1))
    synthetic_val: int = field(default=500, metadata=_min(1))
    # [loss]
    loss: Literal["auto", "clickme", "harmonizer", "none"] = "auto"  # auto: clickme if the model
    #   has attention layers, else harmonizer (models.harmonize)
    lam: float = field(default=6.0, metadata=_min(0))  # lambda of the map term (0: none);
    #   the harmonizer paper uses 1 (models/configs/harmonization)
    harmonizer_levels: int = field(default=5, metadata=_min(1))  # Gaussian pyramid levels
    label_smoothing: float = field(default=0.0, metadata=_min(0, max=1))  # harmonizer and none
    layers: list[str] = field(default_factory=list)  # supervised layers; [] = every GALA gate
    interpolation: Literal["bicubic", "bilinear"] = "bicubic"
    reduction: Literal["l2", "mean_square"] = "l2"  # l2 (paper) | mean_square (released code)
    normalization: Literal["l2", "sqrt_sum"] = "l2"
    distance: Literal["l2", "half_sum_squares"] = "l2"
    combine: Literal["sum", "mean"] = "sum"  # over layers
    # [optim]
    epochs: int = field(default=100, metadata=_min(1))
    lr: float = field(default=0.1, metadata=_min(0))  # per 256 images (x global batch / 256)
    momentum: float = field(default=0.9, metadata=_min(0, max=1))
    nesterov: bool = True
    weight_decay: float = field(default=1e-4, metadata=_min(0))  # not on GALA's a and m; the
    #   harmonizer's L2 term in its loss instead (not on norms, biases, embeddings)
    milestones: list[int] = field(default_factory=lambda: [30, 60, 80, 90])
    gamma: float = field(default=0.1, metadata={"gt": 0})
    warmup_epochs: float = field(default=0.0, metadata=_min(0))  # linear warm-up from 0
    # [run]
    out: str = "runs/clickme"
    seed: int = field(default=0, metadata=_min(0))
    amp: Literal["none", "bf16", "fp16"] = "none"  # fp16 uses a GradScaler (CUDA only)
    channels_last: bool = False
    deterministic: bool = False  # torch.use_deterministic_algorithms
    compile: bool = False  # torch.compile the model
    device: Literal["auto", "cpu", "cuda"] = "auto"
    log_every: int = field(default=10, metadata=_min(1))  # steps between rows of steps.csv
    progress: bool = True  # bars only on a terminal

    def replace(self, **changes) -> TrainConfig:
        """A copy with some fields changed (checked as TOML keys are)."""
        return config_from_dict({**dataclasses.asdict(self), **changes})


def config_from_dict(values: dict, path=None) -> TrainConfig:
    """Build a :class:`TrainConfig` from flat or sectioned keys (checked)."""
    if path is not None:
        return _load_config(TrainConfig, path, sections=SECTIONS, aliases=ALIASES, deprecated=DEPRECATED)
    return _load_config(TrainConfig, values, sections=SECTIONS, aliases=ALIASES, deprecated=DEPRECATED)


def load_train_config(path) -> TrainConfig:
    """Read a TOML training configuration.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
    >>> _ = p.write_text('[loss]\\nlambda = 3\\n[optim]\\nepochs = 2\\n')
    >>> c = load_train_config(p); c.lam, c.epochs
    (3.0, 2)
    """
    return _load_config(TrainConfig, path, sections=SECTIONS, aliases=ALIASES, deprecated=DEPRECATED)


def coerce(name: str, value, path=None):
    """Check one setting (``lambda`` names ``lam``); return ``(field name, checked value)``."""
    fields = config_fields(TrainConfig)
    name = ALIASES.get(name, name)
    if name not in fields:
        raise InputError(f"unknown setting; expected one of {sorted(fields)}", path=path, field=name)
    meta = fields[name].metadata
    return name, check_value(
        name,
        value,
        fields[name].type,
        path=path,
        min=meta.get("min"),
        max=meta.get("max"),
        gt=meta.get("gt"),
        choices=meta.get("choices"),
    )


def parse_sweep(text: str) -> tuple[str, list]:
    """Parse ``--sweep lambda=0,1,3`` into ``("lam", [0.0, 1.0, 3.0])``."""
    if "=" not in text:
        raise InputError(f"expected KEY=V1,V2,..., got {text!r}", field="sweep")
    key, _, values = text.partition("=")
    parsed = []
    for item in values.split(","):
        try:
            value = ast.literal_eval(item.strip())
        except (ValueError, SyntaxError):
            value = item.strip()
        parsed.append(coerce(key.strip(), value)[1])
    return coerce(key.strip(), parsed[0])[0], parsed
