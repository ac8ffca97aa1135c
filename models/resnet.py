"""ResNet-50 with a pluggable attention layer: plain, SE-ResNet-50 and GALA-ResNet-50.

He et al., "Deep residual learning for image recognition", CVPR 2016 (bottleneck, stride on the
3x3 convolution as in torchvision's "v1.5"). Parameter names follow torchvision's layout so its
state dicts load; the attention layer of a bottleneck is ``attn`` (after ``bn3``, on the residual
branch before the shortcut add). SE goes in every block (Hu et al. 2018); GALA in the six blocks
of the conv4 stage (``layer3``, 14x14 maps at 224 input) as in Linsley et al. 2019.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from clickme_analysis.errors import InputError
from models.attention import SqueezeExcite, gala
from models.registry import ARCHITECTURES

AttnFactory = Callable[[int], nn.Module] | None


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 bottleneck; ``attn_layer(out_channels)`` after ``bn3``."""

    expansion = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        attn_layer: AttnFactory = None,
    ):
        super().__init__()
        width = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, width, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.attn = attn_layer(width) if attn_layer is not None else nn.Identity()
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attn(self.bn3(self.conv3(out)))
        return self.relu(out + shortcut)


class ResNet(nn.Module):
    """Bottleneck ResNet; one class builds the plain, SE and GALA networks.

    Parameters
    ----------
    depths : sequence of int, default (3, 4, 6, 3)
        Blocks per stage (ResNet-50).
    widths : sequence of int, default (64, 128, 256, 512)
        Bottleneck width per stage (outputs are 4x wider).
    num_classes : int, default 1000
    attn_layers : sequence of factory or None
        One ``channels -> nn.Module`` factory (or None) per stage.
    small_input : bool, default False
        3x3 stride-1 stem without max-pooling, for 32x32 images (CPU demos and tests).

    Examples
    --------
    >>> net = ResNet(depths=(1, 1, 1), widths=(4, 8, 8), num_classes=3, small_input=True)
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 3])
    """

    def __init__(
        self,
        depths: Sequence[int] = (3, 4, 6, 3),
        widths: Sequence[int] = (64, 128, 256, 512),
        num_classes: int = 1000,
        attn_layers: Sequence[AttnFactory] | None = None,
        small_input: bool = False,
    ):
        super().__init__()
        if len(depths) != len(widths):
            raise InputError(f"depths and widths differ in length: {len(depths)} vs {len(widths)}", field="widths")
        attn_layers = list(attn_layers) if attn_layers is not None else [None] * len(depths)
        if len(attn_layers) != len(depths):
            raise InputError(f"expected {len(depths)} attn_layers, got {len(attn_layers)}", field="attn_layers")
        stem = widths[0]
        if small_input:
            self.conv1 = nn.Conv2d(3, stem, 3, 1, 1, bias=False)
            self.maxpool = nn.Identity()
        else:
            self.conv1 = nn.Conv2d(3, stem, 7, 2, 3, bias=False)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.bn1 = nn.BatchNorm2d(stem)
        self.relu = nn.ReLU(inplace=True)
        inplanes = stem
        for index, (depth, width, attn) in enumerate(zip(depths, widths, attn_layers)):
            stride = 1 if index == 0 else 2
            blocks = []
            for block in range(depth):
                downsample = None
                if block == 0 and (stride != 1 or inplanes != width * Bottleneck.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, width * Bottleneck.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(width * Bottleneck.expansion),
                    )
                blocks.append(Bottleneck(inplanes, width, stride if block == 0 else 1, downsample, attn))
                inplanes = width * Bottleneck.expansion
            setattr(self, f"layer{index + 1}", nn.Sequential(*blocks))
        self.num_stages = len(depths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(inplanes, num_classes)
        for module in self.modules():
            if isinstance(module, nn.Conv2d) and module.bias is None:  # attention convs keep theirs
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for index in range(self.num_stages):
            x = getattr(self, f"layer{index + 1}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_model(
    arch: str = "gala_resnet50",
    num_classes: int = 1000,
    gala_variant: str = "paper",
    gala_reduction: int = 4,
    tiny_width: int = 8,
) -> ResNet:
    """Build a named network.

    Parameters
    ----------
    arch : str
        One of :data:`ARCHITECTURES`. ``resnet50`` (25,557,032 parameters with 1,000 classes),
        ``se_resnet50`` (28,088,024), ``gala_resnet50`` (30,298,670 in the paper form);
        ``tiny_*`` are 3-stage, one-block-per-stage versions with a 32x32 stem.
    num_classes : int, default 1000
    gala_variant : {"paper", "authors"}, default "paper"
    gala_reduction : int, default 4
    tiny_width : int, default 8
        Bottleneck width of the tiny networks' first stage (doubles per stage).

    Returns
    -------
    ResNet

    Examples
    --------
    >>> sum(p.numel() for p in build_model("resnet50").parameters())
    25557032
    """
    if arch not in ARCHITECTURES:
        raise InputError(f"arch must be one of {tuple(ARCHITECTURES)}, got {arch!r}", field="arch")
    tiny, attention = ARCHITECTURES[arch]
    depths = (1, 1, 1) if tiny else (3, 4, 6, 3)
    widths = tuple(tiny_width * 2**i for i in range(3)) if tiny else (64, 128, 256, 512)
    attn: list[AttnFactory] = [None] * len(depths)
    if attention == "se":
        attn = [SqueezeExcite] * len(depths)
    elif attention == "gala":
        attn[2] = gala(gala_variant, reduction=gala_reduction)  # conv4 stage
    return ResNet(depths, widths, num_classes, attn, small_input=tiny)
