"""Attention-layer discovery: which layers carry a network's attention, and hooks that record them.

:func:`attention_layers` names the layers the ClickMe loss, the scores and the panels read by
default; :func:`record_layers` keeps their outputs during a forward pass (forward hooks, so any
``nn.Module`` works, wrapped by DistributedDataParallel or ``torch.compile`` or not:
:func:`unwrap`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from torch import nn

from clickme_analysis.errors import InputError
from models.attention import GALA, SqueezeExcite

__all__ = ["unwrap", "attention_layers", "record_layers"]


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside DistributedDataParallel / torch.compile wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def attention_layers(model: nn.Module) -> list[str]:
    """Names of the layers whose activity the ClickMe loss and the scores read by default.

    GALA blocks -> their ``gate`` (the attention volume A); SE blocks -> the SE layer's output
    (SE has no spatial attention of its own); a plain ResNet -> the blocks of the stage where
    GALA would sit (``layer3``), i.e. the "ResNet-50 w/ ClickMe" control.
    """
    model = unwrap(model)
    modules = dict(model.named_modules())
    gala = [f"{n}.gate" for n, m in modules.items() if isinstance(m, GALA)]
    if gala:
        return gala
    se = [n for n, m in modules.items() if isinstance(m, SqueezeExcite)]
    if se:
        return se
    return [n for n in modules if n.count(".") == 1 and n.startswith("layer3.")]


@contextlib.contextmanager
def record_layers(model: nn.Module, names: Sequence[str]) -> Iterator[dict]:
    """Context manager: forward hooks that keep the named modules' outputs in a dict.

    Examples
    --------
    >>> import torch
    >>> net = nn.Sequential(nn.Linear(2, 3), nn.ReLU())
    >>> with record_layers(net, ["0"]) as seen:
    ...     _ = net(torch.zeros(1, 2))
    >>> tuple(seen["0"].shape)
    (1, 3)
    """
    modules = dict(unwrap(model).named_modules())
    missing = [n for n in names if n not in modules]
    if missing:
        raise InputError(
            f"no layer named {missing[0]!r}; layers with attention: {attention_layers(model)}", field="layers"
        )
    seen: dict = {}
    handles = [modules[n].register_forward_hook(lambda _m, _i, out, name=n: seen.__setitem__(name, out)) for n in names]
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()
