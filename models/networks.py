"""Networks by name: the toolkit's ResNets and any timm model (``timm:<name>``), and their weights.

Every ResNet is timm's (:class:`timm.models.resnet.ResNet`, bottleneck blocks, torchvision's
"v1.5" layout and parameter names, so torchvision and timm state dicts load). The toolkit's
attention goes in timm's attention slot of a bottleneck, ``se`` (after ``bn3``, on the residual
branch before the shortcut add): SE in every block (Hu et al. 2018), GALA in the blocks of the
conv4 stage (``layer3``, 14x14 maps at 224 input) as in Linsley et al. 2019. The ``tiny_*``
networks are 3-stage, one-block-per-stage versions with a 3x3 stride-1 stem for 32x32 images.

``timm:<name>`` builds ``timm.create_model(name, pretrained=False, num_classes=...)`` (nothing is
downloaded; start from local weights with ``weights``). ``attention = "gala"`` gives a timm
ResNet the GALA block where the toolkit's GALA-ResNet-50 has it. ``timm:resnet50`` with GALA
(paper form, r = 4) has 30,298,670 parameters with 1,000 classes, as the toolkit's
``gala_resnet50``.

Checkpoints of the toolkit's own ResNet module (attention layers named ``attn``) load through
:func:`upgrade_state_dict`.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import torch
from torch import nn

from clickme_analysis.errors import InputError
from models.attention import GALA, SqueezeExcite, gala
from models.layers import unwrap
from models.registry import ARCHITECTURES, TIMM_PREFIX, check_arch, timm_name

#: Bottleneck width of each stage: ResNet-50's, and the tiny networks' first (doubling per stage).
RESNET50_WIDTHS = (64, 128, 256, 512)
_OLD_ATTENTION_KEY = re.compile(r"^(layer\d+\.\d+)\.attn\.")


def _stage_attention(stages: dict):
    """timm's ``attn_layer``: ``channels -> module`` for the stages whose output width is a key."""

    def attn_layer(channels: int, device=None, dtype=None):
        factory = stages.get(channels)
        return factory(channels) if factory is not None else None

    return attn_layer


def _default_attention_init(model: nn.Module) -> None:
    """Give the attention layers' convolutions PyTorch's default initialisation back (timm's
    ``init_weights`` draws every convolution from Kaiming-normal, meant for the trunk)."""
    for module in model.modules():
        if isinstance(module, (GALA, SqueezeExcite)):
            for conv in module.modules():
                if isinstance(conv, nn.Conv2d):
                    conv.reset_parameters()


def _small_stem(model: nn.Module, width: int) -> None:
    """A 3x3 stride-1 stem of ``width`` channels without max-pooling (32x32 images), and a
    3-stage network without ``layer4``; the new convolutions drawn as timm draws the trunk's."""
    first = model.layer1[0]
    model.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
    model.bn1 = nn.BatchNorm2d(width)
    model.maxpool = nn.Identity()
    first.conv1 = nn.Conv2d(width, first.conv1.out_channels, 1, bias=False)
    first.downsample[0] = nn.Conv2d(width, first.downsample[0].out_channels, 1, bias=False)
    model.layer4 = nn.Identity()
    for conv in (model.conv1, first.conv1, first.downsample[0]):
        nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")


def build_resnet(
    arch: str = "gala_resnet50",
    *,
    num_classes: int = 1000,
    gala_variant: str = "paper",
    gala_reduction: int = 4,
    tiny_width: int = 8,
) -> nn.Module:
    """Build one of the toolkit's ResNets (a key of :data:`models.registry.ARCHITECTURES`) as a
    timm ResNet.

    ``resnet50`` has 25,557,032 parameters with 1,000 classes, ``se_resnet50`` 28,088,024,
    ``gala_resnet50`` 30,298,670 in the paper form. Batch-norm weights start at one (timm's
    ``zero_init_last`` off), the trunk's convolutions Kaiming-normal, the attention layers'
    convolutions PyTorch's default.

    Examples
    --------
    >>> with torch.device("meta"):
    ...     net = build_resnet("se_resnet50")
    >>> sum(p.numel() for p in net.parameters())
    28088024
    """
    from timm.models.resnet import Bottleneck, ResNet

    if arch not in ARCHITECTURES:
        raise InputError(f"arch must be one of {tuple(ARCHITECTURES)}, got {arch!r}", field="arch")
    tiny, attention = ARCHITECTURES[arch]
    depths = (1, 1, 1) if tiny else (3, 4, 6, 3)
    widths = tuple(tiny_width * 2**i for i in range(3)) if tiny else RESNET50_WIDTHS
    outputs = [width * Bottleneck.expansion for width in widths]
    stages = {}
    if attention == "se":
        stages = dict.fromkeys(outputs, SqueezeExcite)
    elif attention == "gala":
        stages = {outputs[2]: gala(gala_variant, reduction=gala_reduction)}  # conv4 stage
    model = ResNet(
        Bottleneck,
        depths,
        num_classes=num_classes,
        channels=widths,
        zero_init_last=False,
        block_args={"attn_layer": _stage_attention(stages)},
    )
    _default_attention_init(model)
    if tiny:
        _small_stem(model, widths[0])
    return model


def upgrade_state_dict(state: dict) -> dict:
    """A state dict of the toolkit's former ResNet module in timm's layout: each bottleneck's
    attention layer ``layerS.B.attn.*`` is timm's ``layerS.B.se.*``; other keys (and the order)
    unchanged.

    Examples
    --------
    >>> list(upgrade_state_dict({"layer3.0.attn.a": 1, "fc.bias": 2}))
    ['layer3.0.se.a', 'fc.bias']
    """
    return {_OLD_ATTENTION_KEY.sub(r"\1.se.", key): value for key, value in state.items()}


def add_gala_to_timm_resnet(model, variant: str = "paper", reduction: int = 4):
    """Put a GALA block in the attention slot of every block of a timm ResNet's ``layer3``."""
    blocks = list(getattr(model, "layer3", []))
    if not blocks or not all(hasattr(b, "se") and hasattr(b, "bn3") for b in blocks):
        raise InputError(
            f"attention = 'gala' needs a timm ResNet with bottleneck blocks in "
            f"layer3 (resnet26/50/101/152 and their variants), got "
            f"{type(model).__name__}",
            field="attention",
        )
    factory = gala(variant, reduction=reduction)
    for block in blocks:
        block.se = factory(block.bn3.num_features)
    return model


def build_network(
    arch: str,
    *,
    num_classes: int = 1000,
    attention: str = "none",
    gala_variant: str = "paper",
    gala_reduction: int = 4,
    tiny_width: int = 8,
):
    """Build the network named ``arch`` with ``num_classes`` outputs.

    Parameters
    ----------
    arch : str
        A key of :data:`models.registry.ARCHITECTURES` (:func:`build_resnet`) or ``timm:<name>``.
    num_classes : int, default 1000
        Size of the classifier head (a timm model's head is built at this size).
    attention : {"none", "gala"}, default "none"
        For timm ResNets: ``gala`` adds GALA to ``layer3`` (:func:`add_gala_to_timm_resnet`).
    gala_variant : {"paper", "authors"}, default "paper"
    gala_reduction : int, default 4
    tiny_width : int, default 8
        Bottleneck width of the tiny networks' first stage (doubles per stage).

    Examples
    --------
    >>> with torch.device("meta"):  # parameters without memory: as gala_resnet50
    ...     net = build_network("timm:resnet50", attention="gala")
    >>> sum(p.numel() for p in net.parameters())
    30298670
    """
    check_arch(arch)
    if not arch.startswith(TIMM_PREFIX):
        if attention != "none":
            raise InputError(
                f"attention = {attention!r} is for timm ResNets; {arch!r} has its attention in its name",
                field="attention",
            )
        return build_resnet(
            arch,
            num_classes=num_classes,
            gala_variant=gala_variant,
            gala_reduction=gala_reduction,
            tiny_width=tiny_width,
        )
    import timm

    model = timm.create_model(timm_name(arch[len(TIMM_PREFIX) :]), pretrained=False, num_classes=num_classes)
    if attention == "gala":
        add_gala_to_timm_resnet(model, gala_variant, gala_reduction)
    elif attention != "none":
        raise InputError(f"expected attention 'none' or 'gala', got {attention!r}", field="attention")
    return model


def network_from_config(config):
    """The untrained network of a :class:`models.config.TrainConfig` (:func:`build_network`)."""
    return build_network(
        config.arch,
        num_classes=config.num_classes,
        attention=config.attention,
        gala_variant=config.gala_variant,
        gala_reduction=config.gala_reduction,
        tiny_width=config.tiny_width,
    )


def has_attention_layers(model, arch: str = "") -> bool:
    """Whether the ClickMe loss can supervise ``model``: GALA or SE blocks, or a toolkit ResNet
    (``arch`` one of :data:`models.registry.ARCHITECTURES`: plain ones are supervised in conv4)."""
    return arch in ARCHITECTURES or any(isinstance(m, (GALA, SqueezeExcite)) for m in unwrap(model).modules())


def load_weights_file(model, path, field: str = "weights") -> None:
    """Load a state dict file (tensors only) into ``model``, naming every key that does not fit.

    Keys missing from the file or absent from the model are named in a warning (e.g. GALA blocks
    on top of plain ResNet weights); a classifier head of another size is left as built
    (``num_classes`` replaces the head) and named in the warning; any other tensor of the
    wrong shape is an :class:`InputError` naming it.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(
            "weights file not found; weights are read from a local state dict file "
            "and nothing is downloaded at run time (for timm's pretrained weights, "
            "save timm.create_model(name, pretrained=True).state_dict() with "
            "torch.save on a machine online, then give that file)",
            path=path,
            field=field,
        )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise InputError(f"cannot read the weights (tensors only): {str(err)[:300]}", path=path, field=field) from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = upgrade_state_dict(state["model"])  # a toolkit checkpoint
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise InputError("expected a state dict (parameter name -> tensor)", path=path, field=field)
    own = model.state_dict()
    head = _head_keys(model)
    wrong = {k: (tuple(v.shape), tuple(own[k].shape)) for k, v in state.items() if k in own and v.shape != own[k].shape}
    bad = {k: s for k, s in wrong.items() if k not in head}
    if bad:
        listed = "; ".join(f"{k}: file {a}, model {b}" for k, (a, b) in list(bad.items())[:5])
        raise InputError(
            f"{len(bad)} tensors have the wrong shape for this architecture ({listed})", path=path, field=field
        )
    fitting = {k: v for k, v in state.items() if k in own and k not in wrong}
    missing = [k for k in own if k not in fitting]
    unexpected = [k for k in state if k not in own]
    model.load_state_dict(fitting, strict=False)
    if missing or unexpected:
        warnings.warn(
            f"{path}: {len(missing)} model tensors not in the file "
            f"{_names(missing)}, {len(unexpected)} file tensors not in the model "
            f"{_names(unexpected)}" + (f"; head of another size kept as built: {sorted(wrong)}" if wrong else ""),
            stacklevel=2,
        )


def _head_keys(model) -> set[str]:
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else getattr(model, "fc", None)
    if head is None:
        return set()
    names = {id(p): n for n, p in model.named_parameters()}
    return {names[id(p)] for p in head.parameters() if id(p) in names}


def _names(keys: list[str], n: int = 4) -> str:
    return "(" + ", ".join(keys[:n]) + (", ..." if len(keys) > n else "") + ")" if keys else ""
