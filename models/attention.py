"""Attention layers: the GALA block and squeeze-and-excitation.

GALA (global-and-local attention) is the module of Linsley, Shiebler, Eberhardt & Serre,
"Learning what and where to attend", ICLR 2019, Section 3. Squeeze-and-excitation (SE) is Hu,
Shen & Sun, "Squeeze-and-excitation networks", CVPR 2018. Both take a feature map ``U`` of shape
(B, C, H, W) and return ``U * A`` for an attention volume ``A``; GALA's volume passes through
``self.gate`` (an identity) so that a forward hook on ``<name>.gate`` reads it for the ClickMe
loss and for visualisation.
"""

from __future__ import annotations

import functools

import torch
from torch import nn

from clickme_analysis.errors import InputError

#: The two GALA forms: the equations of the paper (default) and the authors' released TF code.
GALA_VARIANTS = {
    "paper": dict(squash="tanh", local_conv5=False, global_relu=False, random_init=False),
    "authors": dict(squash="sigmoid", local_conv5=True, global_relu=True, random_init=True),
}


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round ``value`` to the nearest multiple of ``divisor`` without losing more than 10 %."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class GALA(nn.Module):
    """Global-and-local attention (paper Eq. 2-4).

    ``G = W_expand(ReLU(W_shrink(mean_hw(U))))`` (global, per channel),
    ``S = V_collapse(ReLU(V_shrink(U)))`` (local, per location, 1x1 convolutions),
    ``A = tanh(a * (G + S) + m * (G * S))`` with learned per-channel ``a`` and ``m``,
    output ``U * A``.

    Parameters
    ----------
    channels : int
        C, the channels of ``U``.
    reduction : int, default 4
        r: both paths shrink C to C / r.
    squash : {"tanh", "sigmoid"}, default "tanh"
        Output non-linearity; the paper's equations use tanh, the released code a sigmoid.
    local_conv5 : bool, default False
        Insert the released code's extra 5x5 convolution (C/r -> C/r, ReLU) in the local path.
    global_relu : bool, default False
        Apply the released code's ReLU to the global path's output.
    random_init : bool, default False
        Draw ``a`` and ``m`` from N(0, 1) as the released code does; otherwise ``a = 1``,
        ``m = 0`` so that training starts from ``A = tanh(G + S)``.

    Examples
    --------
    >>> block = GALA(64)
    >>> block(torch.zeros(2, 64, 14, 14)).shape
    torch.Size([2, 64, 14, 14])
    >>> sum(p.numel() for p in GALA(1024).parameters())
    790273
    """

    def __init__(
        self,
        channels: int,
        reduction: int = 4,
        squash: str = "tanh",
        local_conv5: bool = False,
        global_relu: bool = False,
        random_init: bool = False,
    ):
        super().__init__()
        if squash not in ("tanh", "sigmoid"):
            raise InputError(f"squash must be 'tanh' or 'sigmoid', got {squash!r}", field="squash")
        hidden = max(1, channels // reduction)
        self.shrink = nn.Conv2d(channels, hidden, 1)  # W_shrink
        self.expand = nn.Conv2d(hidden, channels, 1)  # W_expand
        local = [nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True)]  # V_shrink
        if local_conv5:
            local += [nn.Conv2d(hidden, hidden, 5, padding=2), nn.ReLU(inplace=True)]
        local.append(nn.Conv2d(hidden, 1, 1))  # V_collapse
        self.local = nn.Sequential(*local)
        self.global_relu = global_relu
        self.squash = torch.tanh if squash == "tanh" else torch.sigmoid
        init = torch.randn if random_init else torch.ones
        self.a = nn.Parameter(init(1, channels, 1, 1))
        self.m = nn.Parameter(torch.randn(1, channels, 1, 1) if random_init else torch.zeros(1, channels, 1, 1))
        self.gate = nn.Identity()  # hook point: its output is the attention volume A

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        g = self.expand(torch.relu(self.shrink(u.mean((2, 3), keepdim=True))))
        if self.global_relu:
            g = torch.relu(g)
        s = self.local(u)
        a = self.gate(self.squash(self.a * (g + s) + self.m * (g * s)))
        return u * a


def gala(variant: str = "paper", **overrides):
    """Return a ``channels -> GALA`` factory for the named variant ("paper" or "authors").

    The factory is a :func:`functools.partial` of :class:`GALA` (picklable, and its options are
    readable as ``.keywords``).

    Examples
    --------
    >>> gala("authors")(64).local[2]
    Conv2d(16, 16, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    """
    if variant not in GALA_VARIANTS:
        raise InputError(f"GALA variant must be one of {sorted(GALA_VARIANTS)}, got {variant!r}", field="gala_variant")
    options = {**GALA_VARIANTS[variant], **overrides}
    return functools.partial(GALA, **options)


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: ``U * sigmoid(W2 ReLU(W1 mean_hw(U)))``, reduction 16.

    Parameters
    ----------
    channels : int
        C.
    reduction : int, default 16
        Hidden width is C / reduction rounded to a multiple of ``divisor``.
    divisor : int, default 8

    Examples
    --------
    >>> sum(p.numel() for p in SqueezeExcite(256).parameters())
    8464
    """

    def __init__(self, channels: int, reduction: int = 16, divisor: int = 8):
        super().__init__()
        hidden = make_divisible(channels / reduction, divisor)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)
        self.gate = nn.Identity()

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        s = self.fc2(torch.relu(self.fc1(u.mean((2, 3), keepdim=True))))
        return u * self.gate(torch.sigmoid(s))
