"""Whole-batch augmentation on the training device: paired crop and flip, map blur, normalisation.

Loader workers only decode: they hand over batches of ``resize`` x ``resize`` uint8 images, maps
quantised to uint16 (``map_q``, with a per-image ``map_offset`` and ``map_scale``:
``map = offset + q * scale``) and the crop of each image (``top``, ``left``, ``flip``, drawn in
the worker from (seed, epoch, sample index)). :func:`augment_batch` does the rest on whatever
device trains: a box blur of the maps (or the bounding-box control), the same crop and
horizontal flip on image and map, the ImageNet normalisation. One gather per tensor, no
per-sample Python loop; on a GPU the batch never visits the CPU as floats.
"""

from __future__ import annotations

import numpy as np
import torch

from clickme_analysis.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAP_LEVELS = 65535  # uint16 quantisation: |error| <= (max - min) / (2 * 65535) per pixel


def quantise_map(human: np.ndarray, bits: int = 16) -> tuple[np.ndarray, float, float]:
    """Affine quantisation of a map: ``(q, offset, scale)`` with ``map ~ offset + q * scale``.

    ``q`` is uint16 (``bits`` 16) or uint8 (``bits`` 8); the error is at most
    ``scale / 2 = (max - min) / (2 (2^bits - 1))`` per pixel (a constant map is exact).

    Examples
    --------
    >>> q, offset, scale = quantise_map(np.array([[0.0, 1.0], [0.5, 2.0]]))
    >>> q.tolist(), offset, round(scale * 65535, 6)
    ([[0, 32768], [16384, 65535]], 0.0, 2.0)
    """
    human = np.asarray(human, dtype=np.float64)
    if human.ndim != 2 or not np.isfinite(human).all():
        raise InputError(f"expected a finite (H, W) map, got shape {human.shape}", field="map")
    if bits not in (8, 16):
        raise InputError(f"expected 8 or 16 map bits, got {bits}", field="map_bits")
    dtype, levels = (np.uint16, MAP_LEVELS) if bits == 16 else (np.uint8, 255)
    low = float(human.min()) if human.size else 0.0
    high = float(human.max()) if human.size else 0.0
    scale = (high - low) / levels if high > low else 0.0
    q = np.zeros(human.shape, dtype) if scale == 0 else np.round((human - low) / scale).astype(dtype)
    return q, low, scale


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser on uint64 arrays (a bijective 64-bit hash)."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def crop_params(seed: int, epoch: int, index, resize: int, image_size: int, *, train: bool):
    """``(top, left, flip)`` of images: random (a hash of (seed, epoch, index)) or the centre.

    ``index`` is one sample index (ints returned) or an array of them (arrays returned, as
    :class:`models.shards.ShardStream` draws a whole batch at once). The draw depends only on
    (seed, epoch, index), never on the batch, worker or process that makes it.

    Examples
    --------
    >>> crop_params(0, 0, 5, 256, 224, train=False)
    (16, 16, False)
    >>> crop_params(0, 0, 5, 256, 224, train=True) == crop_params(0, 0, 5, 256, 224, train=True)
    True
    >>> top, left, flip = crop_params(0, 0, [4, 5], 256, 224, train=True)
    >>> (int(top[1]), int(left[1]), bool(flip[1])) == crop_params(0, 0, 5, 256, 224, train=True)
    True
    """
    scalar = np.ndim(index) == 0
    index = np.atleast_1d(np.asarray(index, dtype=np.int64))
    if not train:
        offset = (resize - image_size) // 2
        top = left = np.full(index.shape, offset, np.int64)
        flip = np.zeros(index.shape, bool)
    else:
        with np.errstate(over="ignore"):
            key = _mix(_mix(np.array([seed % 2**64], np.uint64)) ^ np.uint64(epoch % 2**64))
            h = _mix(key ^ index.astype(np.uint64))
        span = np.uint64(resize - image_size + 1)
        top = (h % span).astype(np.int64)
        left = ((h >> np.uint64(21)) % span).astype(np.int64)
        flip = (h >> np.uint64(63)).astype(bool)
    if scalar:
        return int(top[0]), int(left[0]), bool(flip[0])
    return top, left, flip


def _symmetric_pad(x: torch.Tensor, before: int, after: int, dim: int) -> torch.Tensor:
    """Pad by mirroring with the edge repeated (scipy.ndimage "reflect")."""
    n = x.shape[dim]
    parts = []
    if before:
        parts.append(x.narrow(dim, 0, before).flip(dim))
    parts.append(x)
    if after:
        parts.append(x.narrow(dim, n - after, after).flip(dim))
    return torch.cat(parts, dim)


def box_blur(maps: torch.Tensor, size: int) -> torch.Tensor:
    """``size`` x ``size`` mean filter of (B, H, W) maps, borders as scipy's "reflect".

    Running sums (two cumulative sums), so the cost does not grow with ``size``; equal to
    ``scipy.ndimage.uniform_filter(map, size, mode="reflect")`` to float32 precision (tested).

    Examples
    --------
    >>> box_blur(torch.tensor([[[0., 0., 3.]]]), 3)
    tensor([[[0., 1., 2.]]])
    """
    if size <= 1:
        return maps
    before, after = size // 2, size - 1 - size // 2
    if max(before, after) > min(maps.shape[-2:]):
        raise InputError(
            f"expected a blur size below twice the map side {min(maps.shape[-2:])}, got {size}", field="blur_size"
        )
    out = maps.float()
    for dim in (-1, -2):
        sums = _symmetric_pad(out, before, after, dim).cumsum(dim)
        n = out.shape[dim]
        window = torch.empty_like(out)  # window[i] = sums[i + size - 1] - sums[i - 1]
        window.narrow(dim, 0, 1).copy_(sums.narrow(dim, size - 1, 1))
        torch.sub(sums.narrow(dim, size, n - 1), sums.narrow(dim, 0, n - 1), out=window.narrow(dim, 1, n - 1))
        out = window
    out.div_(size * size)
    return out.clamp_min_(0) if bool((maps >= 0).all()) else out


def bounding_boxes(maps: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """The bounding-box control per map: 1 inside the box of pixels above ``threshold`` x max.

    Examples
    --------
    >>> m = torch.zeros(1, 4, 5); m[0, 1, 1] = m[0, 2, 3] = 1
    >>> bounding_boxes(m).int()[0].tolist()
    [[0, 0, 0, 0, 0], [0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [0, 0, 0, 0, 0]]
    """
    peak = maps.amax(dim=(1, 2), keepdim=True)
    inside = maps > threshold * peak
    rows, cols = inside.any(2), inside.any(1)
    h, w = maps.shape[1:]
    r = torch.arange(h, device=maps.device)
    c = torch.arange(w, device=maps.device)
    top, bottom = rows.int().argmax(1), h - 1 - rows.flip(1).int().argmax(1)
    left, right = cols.int().argmax(1), w - 1 - cols.flip(1).int().argmax(1)
    box = (
        (r[None, :, None] >= top[:, None, None])
        & (r[None, :, None] <= bottom[:, None, None])
        & (c[None, None, :] >= left[:, None, None])
        & (c[None, None, :] <= right[:, None, None])
    )
    return (box & rows.any(1)[:, None, None]).float()


def crop_batch(x: torch.Tensor, top, left, flip, *, size: int) -> torch.Tensor:
    """Per-image ``size`` x ``size`` crops of (B, H, W, ...) at (top, left), mirrored where ``flip``.

    Examples
    --------
    >>> x = torch.arange(16).reshape(1, 4, 4)
    >>> crop_batch(x, [1], [0], [True], size=2).tolist()
    [[[5, 4], [9, 8]]]
    """
    crops = torch.stack([x[i, y : y + size, x0 : x0 + size] for i, (y, x0) in enumerate(zip(top, left))])
    flip = torch.as_tensor(flip, dtype=torch.bool, device=x.device)
    if bool(flip.any()):
        shape = (-1,) + (1,) * (crops.ndim - 1)
        crops = torch.where(flip.view(shape), crops.flip(2), crops)
    return crops


def decode_on_device(encoded: list, resize: int, device) -> torch.Tensor:
    """Decode image bytes (JPEG batched through nvJPEG on CUDA) to (B, resize, resize, 3) uint8."""
    import torchvision.io as tio

    data = [torch.frombuffer(bytearray(raw), dtype=torch.uint8) for raw in encoded]
    jpeg = [i for i, raw in enumerate(encoded) if raw[:2] == b"\xff\xd8"]
    images: list = [None] * len(encoded)
    if jpeg:
        decoded = tio.decode_jpeg([data[i] for i in jpeg], mode=tio.ImageReadMode.RGB, device=torch.device(device))
        for i, image in zip(jpeg, decoded):
            images[i] = image
    for i, image in enumerate(images):
        if image is None:
            images[i] = tio.decode_image(data[i], mode=tio.ImageReadMode.RGB).to(device)
    out = []
    for image in images:  # (3, H, W)
        if tuple(image.shape[-2:]) != (resize, resize):
            image = (
                torch.nn.functional.interpolate(
                    image[None].float(), size=(resize, resize), mode="bilinear", antialias=True, align_corners=False
                )[0]
                .round_()
                .clamp_(0, 255)
                .to(torch.uint8)
            )
        out.append(image.permute(1, 2, 0))
    return torch.stack(out)


def _dequantised_maps(batch: dict, device, map_source: str, blur_size: int, bbox_threshold) -> torch.Tensor:
    """The batch's float32 maps on ``device`` (offset + q * scale), blurred or boxed."""
    maps = batch["map_q"].to(device, non_blocking=True).to(torch.float32)
    maps = (
        batch["map_offset"].to(device).float()[:, None, None]
        + maps * batch["map_scale"].to(device).float()[:, None, None]
    )
    if map_source == "bbox":
        return bounding_boxes(maps, bbox_threshold)
    return box_blur(maps, blur_size) if blur_size > 1 else maps


def _normalised(crops: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 crops (B, S, S, 3) -> ImageNet-normalised float32 (B, 3, S, S)."""
    std = torch.tensor(IMAGENET_STD, device=crops.device).view(1, 3, 1, 1)
    mean = torch.tensor(IMAGENET_MEAN, device=crops.device).view(1, 3, 1, 1)
    planes = crops.permute(0, 3, 1, 2)  # channels_last strides
    if not channels_last:
        planes = planes.contiguous()  # the uint8 copy is the cheap one
    # (x / 255 - mean) / std as one multiply and one add, in place
    return planes.float().mul_(1 / (255 * std)).add_(-mean / std)


def augment_batch(
    batch: dict,
    *,
    image_size: int,
    blur_size: int = 49,
    map_source: str = "clickme",
    bbox_threshold: float = 0.5,
    device="cpu",
    channels_last: bool = False,
) -> dict:
    """Crop, flip, blur and normalise a decoded batch on ``device``.

    Parameters
    ----------
    batch : dict
        ``image`` (B, R, R, 3) uint8 (or ``encoded``, a list of image bytes, decoded here with
        :func:`decode_on_device`), ``map_q`` (B, R, R) uint16-valued, ``map_offset`` and
        ``map_scale`` (B,), ``has_map`` (B,) bool, ``label`` (B,), ``top``, ``left``, ``flip``
        (B,), plus anything else (passed through).
    image_size : int
        Side of the crop.
    blur_size : int, default 49
        Box blur of the maps before the crop (0 or 1: none).
    map_source : {"clickme", "bbox"}
        ``"bbox"``: the bounding box of the pixels above ``bbox_threshold`` x max instead.
    device : str or torch.device
    channels_last : bool
        Return images in channels_last memory format (free: the gather produces that layout).

    Returns
    -------
    dict
        ``image`` (B, 3, S, S) float32 normalised, ``map`` (B, S, S) float32 (zeros where
        ``has_map`` is False), ``has_map``, ``label`` on ``device``; other keys unchanged.

    Examples
    --------
    >>> batch = {"image": torch.full((1, 4, 4, 3), 255, dtype=torch.uint8),
    ...          "map_q": torch.zeros(1, 4, 4), "map_offset": torch.zeros(1),
    ...          "map_scale": torch.zeros(1), "has_map": torch.tensor([False]),
    ...          "label": torch.tensor([0]), "top": torch.tensor([1]), "left": torch.tensor([1]),
    ...          "flip": torch.tensor([False])}
    >>> out = augment_batch(batch, image_size=2, blur_size=0)
    >>> tuple(out["image"].shape), round(float(out["image"][0, 0, 0, 0]), 4)
    ((1, 3, 2, 2), 2.2489)
    """
    if map_source not in ("clickme", "bbox"):
        raise InputError(f"expected map_source 'clickme' or 'bbox', got {map_source!r}", field="map_source")
    device = torch.device(device)
    images = batch["image"] if "image" in batch else None
    if images is None:
        images = decode_on_device(batch["encoded"], batch["map_q"].shape[-1], device)
    images = images.to(device, non_blocking=True)
    if images.shape[1] < image_size or images.shape[2] < image_size:
        raise InputError(
            f"expected images of at least {image_size} px, got {tuple(images.shape[1:3])}", field="image_size"
        )
    has_map = batch["has_map"].to(device, non_blocking=True).bool()
    maps = _dequantised_maps(batch, device, map_source, blur_size, bbox_threshold) * has_map[:, None, None]
    top, left = batch["top"].tolist(), batch["left"].tolist()
    flip = batch["flip"].to(device)
    crops = crop_batch(images, top, left, flip, size=image_size)  # (B, S, S, 3) uint8
    normalised = _normalised(crops, channels_last)
    out = {k: v for k, v in batch.items() if k not in ("image", "encoded", "map_q", "map_offset", "map_scale")}
    out.update(
        image=normalised,
        map=crop_batch(maps, top, left, flip, size=image_size),
        has_map=has_map,
        label=batch["label"].to(device, non_blocking=True).long(),
    )
    return out
