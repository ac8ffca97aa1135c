"""Training configuration: one dataclass, read from TOML.

A TOML file may group keys under any of the tables ``[model]``, ``[data]``, ``[loss]``,
``[optim]``, ``[run]`` (for readability) or write them at top level; every key must be a field
of :class:`TrainConfig` (``lambda`` is accepted for ``lam``). See docs/models.md.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.io import read_toml

SECTIONS = ("model", "data", "loss", "optim", "run")


@dataclass
class TrainConfig:
    # [model]
    arch: str = "gala_resnet50"      # resnet50 | se_resnet50 | gala_resnet50 | tiny_resnet | tiny_se_resnet | tiny_gala_resnet
    num_classes: int = 1000
    gala_variant: str = "paper"      # paper | authors (released TF code: sigmoid, 5x5 conv, random a, m)
    gala_reduction: int = 4          # r
    tiny_width: int = 8              # first-stage width of the tiny_* networks
    init_weights: str = ""           # optional state dict (e.g. torchvision ResNet-50), loaded non-strictly
    # [data]
    train: str = ""                  # folder | manifest.csv | *.tfrecord(s) | "synthetic"
    val: str = ""                    # same forms; "" = no validation
    maps: str = ""                   # map archive (.npz) for train (and val unless val_maps)
    val_maps: str = ""
    label_column: str = "label"
    image_size: int = 224            # random crop (train) / centre crop (val)
    resize: int = 256                # images and maps are resized to resize x resize first
    blur_size: int = 49              # box blur of the maps before training (0: none)
    map_source: str = "clickme"      # clickme | bbox (bounding-box control)
    batch_size: int = 32             # per process
    workers: int = 4                 # DataLoader workers per process
    synthetic_train: int = 2000      # images of the synthetic task (train = "synthetic")
    synthetic_val: int = 500
    # [loss]
    lam: float = 6.0                 # lambda of Eq. 1 (0: cross-entropy only)
    layers: list = field(default_factory=list)  # supervised layers; [] = every GALA gate
    interpolation: str = "bicubic"   # bicubic | bilinear (human map -> layer size)
    reduction: str = "l2"            # l2 (paper) | mean_square (released code)
    normalisation: str = "l2"        # l2 (paper) | sqrt_sum (released code)
    distance: str = "l2"             # l2 (paper) | half_sum_squares (released code)
    combine: str = "sum"             # sum (paper) | mean (released code) over layers
    # [optim]
    epochs: int = 100
    lr: float = 0.1                  # per 256 images (scaled by global batch / 256)
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4       # not applied to GALA's a and m
    milestones: list = field(default_factory=lambda: [30, 60, 80, 90])
    gamma: float = 0.1
    warmup_epochs: float = 0.0       # linear warm-up from 0
    # [run]
    out: str = "runs/clickme"
    seed: int = 0
    amp: str = "none"                # none | bf16 | fp16 (fp16 uses a GradScaler)
    channels_last: bool = False
    compile: bool = False            # torch.compile the model
    device: str = "auto"             # auto | cpu | cuda
    log_every: int = 10              # steps between rows of steps.csv
    progress: bool = True

    def replace(self, **changes) -> "TrainConfig":
        """A copy with some fields changed (checked as TOML keys are)."""
        return config_from_dict({**dataclasses.asdict(self), **changes})


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def coerce(name: str, value, path=None):
    """Check one configuration value against its field's type (ints are accepted as floats)."""
    fields = _fields()
    if name == "lambda":
        name = "lam"
    if name not in fields:
        raise InputError(f"unknown setting; expected one of {sorted(fields)}", path=path, field=name)
    default = fields[name].default if fields[name].default is not dataclasses.MISSING \
        else fields[name].default_factory()
    kind = type(default)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InputError(f"expected {kind.__name__}, got {value!r}", path=path, field=name)
    return name, value


def config_from_dict(values: dict, path=None) -> TrainConfig:
    """Build a :class:`TrainConfig` from flat or sectioned keys."""
    flat = {}
    for key, value in values.items():
        if key in SECTIONS and isinstance(value, dict):
            flat.update(value)
        else:
            flat[key] = value
    return TrainConfig(**dict(coerce(k, v, path) for k, v in flat.items()))


def load_config(path) -> TrainConfig:
    """Read a TOML training configuration.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.toml"
    >>> _ = p.write_text('[loss]\\nlambda = 3\\n[optim]\\nepochs = 2\\n')
    >>> c = load_config(p); c.lam, c.epochs
    (3.0, 2)
    """
    path = Path(path)
    return config_from_dict(read_toml(path, "configuration file"), path)


def parse_sweep(text: str) -> tuple[str, list]:
    """Parse ``--sweep lambda=0,1,3`` into ``("lam", [0.0, 1.0, 3.0])``."""
    import ast

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
