"""Paired image + human-map datasets for ClickMe training and scoring.

Samples come from :mod:`models.sources` (folders, manifests, TFRecords, packed folders read into
memory); :func:`data_source` streams a packed folder through :class:`models.shards.ShardStream`
instead. Items are *decoded*, not augmented: ``resize`` x ``resize`` uint8 images,
uint16-quantised maps and each image's crop, drawn from (seed, epoch, index).
:func:`models.augment.augment_batch` crops, flips, blurs and normalises whole batches on the
training device. :class:`PairedDataset` applies that same function to one item at a time
(evaluation, scoring, panels), and :func:`eval_transform` is the one evaluation transform of a
single image.
"""

from __future__ import annotations

import numpy as np
import torch

from clickme_analysis.errors import InputError
from models.augment import augment_batch, crop_params, quantise_map
from models.config import TrainConfig
from models.decode import decode_image, fit_image, fit_map, read_image
from models.shard_format import is_packed
from models.shards import ShardStream
from models.sources import Sample, load_samples
from models.synthetic import synthetic_samples

__all__ = ["SampleDataset", "PairedDataset", "eval_transform", "make_dataset", "data_source", "datasets_from_config"]


def decoded_item(
    image: np.ndarray | None,
    map_q: np.ndarray | None,
    map_offset: float,
    map_scale: float,
    label: int,
    index: int,
    *,
    resize: int,
    image_size: int,
    train: bool,
    seed: int,
    epoch: int,
    encoded: bytes | None = None,
) -> dict:
    """One decoded item (what a loader worker hands over): see :func:`collate_decoded`."""
    top, left, flip = crop_params(seed, epoch, index, resize, image_size, train=train)
    has_map = map_q is not None
    item = {
        "map_q": map_q if has_map else np.zeros((resize, resize), np.uint16),
        "map_offset": map_offset if has_map else 0.0,
        "map_scale": map_scale if has_map else 0.0,
        "has_map": has_map,
        "label": label,
        "index": index,
        "top": top,
        "left": left,
        "flip": flip,
    }
    if encoded is not None:
        item["encoded"] = encoded
    else:
        item["image"] = image
    return item


def quantised_fit(human: np.ndarray, resize: int) -> tuple[np.ndarray, float, float]:
    """A float map resized to ``resize`` and quantised (:func:`models.augment.quantise_map`)."""
    return quantise_map(fit_map(human, resize))


def collate_decoded(items: list[dict]) -> dict:
    """Stack decoded items into a batch of tensors (``encoded`` bytes stay a list)."""
    batch = {"map_q": torch.from_numpy(np.stack([i["map_q"] for i in items]))}
    if "image" in items[0]:
        batch["image"] = torch.from_numpy(np.stack([i["image"] for i in items]))
    else:
        batch["encoded"] = [i["encoded"] for i in items]
    for key, dtype in (
        ("map_offset", torch.float32),
        ("map_scale", torch.float32),
        ("has_map", torch.bool),
        ("label", torch.int64),
        ("index", torch.int64),
        ("top", torch.int64),
        ("left", torch.int64),
        ("flip", torch.bool),
    ):
        batch[key] = torch.tensor([i[key] for i in items], dtype=dtype)
    if "image_id" in items[0]:
        batch["image_id"] = [i["image_id"] for i in items]
    return batch


def _check_sizes(image_size: int, resize: int) -> None:
    if image_size > resize:
        raise InputError(f"image_size {image_size} exceeds resize {resize}", field="image_size")


class SampleDataset(torch.utils.data.Dataset):
    """In-memory / file samples as decoded items (small data; large sets stream from shards).

    Parameters
    ----------
    samples : list of Sample
    train : bool, default False
        Random crops and flips from (seed, epoch, index); otherwise the centre crop.
    image_size : int, default 224
    resize : int, default 256
        Images and maps are resized to ``resize`` x ``resize`` here; the crop is done later,
        on whole batches, by :func:`models.augment.augment_batch`.
    seed : int, default 0
    """

    def __init__(
        self, samples: list[Sample], train: bool = False, image_size: int = 224, resize: int = 256, seed: int = 0
    ):
        _check_sizes(image_size, resize)
        self.samples, self.train, self.image_size, self.resize = samples, train, image_size, resize
        self.seed, self.epoch = seed, 0

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops and flips are drawn."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        sample = self.samples[index]
        if isinstance(sample.image, str):
            image = read_image(sample.image)
        elif isinstance(sample.image, bytes | bytearray):
            image = decode_image(sample.image, where={"field": sample.image_id})
        else:
            image = np.asarray(sample.image)
        if image.ndim != 3 or image.shape[2] != 3:
            raise InputError(
                f"expected an (H, W, 3) image, got shape {image.shape}",
                path=sample.image if isinstance(sample.image, str) else None,
            )
        image = fit_image(np.asarray(image, dtype=np.uint8), self.resize)
        q, offset, scale = (None, 0.0, 0.0) if sample.map is None else quantised_fit(sample.map, self.resize)
        item = decoded_item(
            image,
            q,
            offset,
            scale,
            sample.label,
            index,
            resize=self.resize,
            image_size=self.image_size,
            train=self.train,
            seed=self.seed,
            epoch=self.epoch,
        )
        item["image_id"] = sample.image_id
        return item


class PairedDataset(torch.utils.data.Dataset):
    """Images with their human maps, cropped and flipped together, one item at a time.

    The same transforms as training (:func:`models.augment.augment_batch` on a batch of one):
    for evaluation, scoring and panels. Training uses :class:`SampleDataset` or
    :class:`models.shards.ShardStream` batches instead.

    Parameters
    ----------
    samples : list of Sample
    train : bool, default False
        Random ``image_size`` crop of the ``resize`` square and a random horizontal flip (same
        on image and map); otherwise the centre crop.
    image_size : int, default 224
    resize : int, default 256
    blur_size : int, default 49
        Box blur of the maps before cropping (0: none), as the paper.
    map_source : {"clickme", "bbox"}, default "clickme"
        ``"bbox"``: the bounding box of the map's pixels above ``bbox_threshold`` x its maximum
        instead of the map itself (not blurred).
    bbox_threshold : float, default 0.5
    seed : int, default 0

    Items are dicts: ``image`` (3, S, S) float32 normalised with the ImageNet statistics,
    ``map`` (S, S) float32 (zeros when missing), ``has_map`` bool, ``label`` int64, ``index``.
    """

    def __init__(
        self,
        samples: list[Sample],
        train: bool = False,
        image_size: int = 224,
        resize: int = 256,
        blur_size: int = 49,
        map_source: str = "clickme",
        bbox_threshold: float = 0.5,
        seed: int = 0,
    ):
        if map_source not in ("clickme", "bbox"):
            raise InputError(f"expected map_source 'clickme' or 'bbox', got {map_source!r}", field="map_source")
        self.decoded = SampleDataset(samples, train, image_size, resize, seed)
        self.samples, self.image_size = samples, image_size
        self.options = dict(
            image_size=image_size, blur_size=blur_size, map_source=map_source, bbox_threshold=bbox_threshold
        )

    def set_epoch(self, epoch: int) -> None:
        """Choose the epoch whose crops and flips are drawn."""
        self.decoded.set_epoch(epoch)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        batch = augment_batch(collate_decoded([self.decoded[index]]), **self.options)
        return {
            "image": batch["image"][0],
            "map": batch["map"][0],
            "has_map": bool(batch["has_map"][0]),
            "label": int(batch["label"][0]),
            "index": index,
        }


def eval_transform(image: np.ndarray, image_size: int = 224, resize: int = 256) -> torch.Tensor:
    """The evaluation transform of one (H, W, 3) uint8 image: resize, centre crop, normalise.

    The one transform every evaluation shares (validation, scoring, the game's model partner).

    Returns
    -------
    Tensor (3, image_size, image_size) float32

    Examples
    --------
    >>> x = eval_transform(np.zeros((40, 40, 3), np.uint8), image_size=28, resize=32)
    >>> tuple(x.shape), round(float(x[0, 0, 0]), 4)
    ((3, 28, 28), -2.1179)
    """
    _check_sizes(image_size, resize)
    image = fit_image(np.asarray(image, dtype=np.uint8), resize)
    item = decoded_item(
        image, None, 0.0, 0.0, -1, 0, resize=resize, image_size=image_size, train=False, seed=0, epoch=0
    )
    return augment_batch(collate_decoded([item]), image_size=image_size, blur_size=0)["image"][0]


# ----------------------------------------------------------------------------------------------
# the datasets of a training configuration
# ----------------------------------------------------------------------------------------------
def _packed(spec: str) -> bool:
    return bool(spec) and spec != "synthetic" and is_packed(spec)


def _samples(config: TrainConfig, spec: str, maps: str, train: bool):
    if spec == "synthetic":
        n = config.synthetic_train if train else config.synthetic_val
        return synthetic_samples(
            n, seed=config.seed * 1000 + (1 if train else 2), image_size=config.image_size, n_classes=config.num_classes
        )
    return load_samples(spec, maps or None, config.label_column)[0]


def make_dataset(config: TrainConfig, spec: str, maps: str = "", train: bool = False):
    """A :class:`PairedDataset` of ``spec`` with ``config``'s transforms.

    ``spec`` is a path (see :func:`models.sources.load_samples`; a packed folder is read into
    memory: for small evaluation sets) or ``"synthetic"`` (the synthetic task:
    ``synthetic_train`` training images, or ``synthetic_val`` held-out ones from another seed).
    """
    return PairedDataset(
        _samples(config, spec, maps, train),
        train,
        config.image_size,
        config.resize,
        config.blur_size,
        config.map_source,
        seed=config.seed,
    )


def data_source(config: TrainConfig, spec: str, maps: str = "", *, train: bool = False, rank: int = 0, world: int = 1):
    """Decoded batches of ``spec``: a :class:`models.shards.ShardStream` for a packed folder
    (streamed), else a :class:`SampleDataset` (in memory)."""
    if _packed(spec):
        if maps:
            raise InputError("a packed folder holds its maps; pack with --maps instead", path=maps, field="maps")
        return ShardStream(
            spec,
            config.batch_size,
            train=train,
            image_size=config.image_size,
            resize=config.resize,
            seed=config.seed,
            rank=rank if train else 0,
            world=world if train else 1,
            shuffle_buffer=config.shuffle_buffer,
            decode=config.decode == "workers",
        )
    return SampleDataset(_samples(config, spec, maps, train), train, config.image_size, config.resize, config.seed)


def datasets_from_config(config: TrainConfig, rank: int = 0, world: int = 1):
    """The (train, val) data of a configuration (val is None without ``config.val``).

    Train: a :class:`models.shards.ShardStream` (packed folder) or a
    :class:`SampleDataset`; val: a stream or a :class:`PairedDataset`.
    """
    if not config.train:
        raise InputError("expected a training set", field="train")
    val = None
    if config.val and _packed(config.val):
        val = data_source(config, config.val, config.val_maps or config.maps)
    elif config.val:
        val = make_dataset(config, config.val, config.val_maps or config.maps)
    return data_source(config, config.train, config.maps, train=True, rank=rank, world=world), val
