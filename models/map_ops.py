"""Two small operations on stacks of maps shared by scoring, alignment and explanations."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def square_maps(maps, size: int) -> torch.Tensor:
    """Maps (N, H, W) or one (H, W), array or tensor, resized to float32 (N, size, size).

    Bilinear with antialiasing (the one resize of maps before a score); maps already that size
    are returned as they are.

    Examples
    --------
    >>> square_maps(np.ones((4, 6)), 2).shape
    torch.Size([1, 2, 2])
    """
    tensor = torch.as_tensor(np.asarray(maps, dtype=np.float32)) if not torch.is_tensor(maps) else maps.float()
    if tensor.ndim == 2:
        tensor = tensor[None]
    if tuple(tensor.shape[-2:]) == (size, size):
        return tensor
    return F.interpolate(tensor[:, None], size=(size, size), mode="bilinear", align_corners=False, antialias=True)[:, 0]


def unit_max(maps: torch.Tensor) -> torch.Tensor:
    """Each map (N, H, W) divided by its maximum; a map whose maximum is not positive is left as it is.

    Examples
    --------
    >>> unit_max(torch.tensor([[[1.0, 4.0]], [[0.0, 0.0]]])).tolist()
    [[[0.25, 1.0]], [[0.0, 0.0]]]
    """
    peak = maps.flatten(1).amax(1)
    return maps / torch.where(peak > 0, peak, torch.ones_like(peak))[:, None, None]
