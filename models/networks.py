"""Networks by name: the toolkit's ResNets and any timm model (``timm:<name>``), and their weights.

``timm:<name>`` builds ``timm.create_model(name, pretrained=False, num_classes=...)`` (nothing is
downloaded; start from local weights with ``weights``). ``attention = "gala"`` gives a timm
ResNet the GALA block where the toolkit's GALA-ResNet-50 has it: in each bottleneck of the conv4
stage (``layer3``), after ``bn3`` on the residual branch (timm's attention slot, ``se``).
``timm:resnet50`` with GALA (paper form, r = 4) has 30,298,670 parameters with 1,000 classes, as
the toolkit's ``gala_resnet50``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from clickme_analysis.errors import InputError
from models.registry import TIMM_PREFIX, check_arch, timm_name


def add_gala_to_timm_resnet(model, variant: str = "paper", reduction: int = 4):
    """Put a GALA block in the attention slot of every block of a timm ResNet's ``layer3``."""
    from models.attention import gala

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
        A key of :data:`models.registry.ARCHITECTURES` or ``timm:<name>``.
    num_classes : int, default 1000
        Size of the classifier head (a timm model's head is built at this size).
    attention : {"none", "gala"}, default "none"
        For timm ResNets: ``gala`` adds GALA to ``layer3`` (:func:`add_gala_to_timm_resnet`).
    gala_variant, gala_reduction, tiny_width
        As in :func:`models.resnet.build_model`.

    Examples
    --------
    >>> import torch
    >>> with torch.device("meta"):  # parameters without memory: as gala_resnet50
    ...     net = build_network("timm:resnet50", attention="gala")
    >>> sum(p.numel() for p in net.parameters())
    30298670
    """
    from models.resnet import build_model

    check_arch(arch)
    if not arch.startswith(TIMM_PREFIX):
        if attention != "none":
            raise InputError(
                f"attention = {attention!r} is for timm ResNets; {arch!r} has its attention in its name",
                field="attention",
            )
        return build_model(arch, num_classes, gala_variant, gala_reduction, tiny_width)
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


def has_attention_layers(model) -> bool:
    """Whether the ClickMe loss can supervise ``model``: GALA or SE blocks, or a toolkit ResNet."""
    from models.attention import GALA, SqueezeExcite
    from models.layers import unwrap
    from models.resnet import ResNet

    model = unwrap(model)
    return isinstance(model, ResNet) or any(isinstance(m, (GALA, SqueezeExcite)) for m in model.modules())


def load_weights_file(model, path, field: str = "weights") -> None:
    """Load a state dict file (tensors only) into ``model``, naming every key that does not fit.

    Keys missing from the file or absent from the model are named in a warning (e.g. GALA blocks
    on top of plain ResNet weights); a classifier head of another size is left as built
    (``num_classes`` replaces the head) and named in the warning; any other tensor of the
    wrong shape is an :class:`InputError` naming it.
    """
    import torch

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
        state = state["model"]  # a toolkit checkpoint
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
