"""Training batches: each epoch's order (seeded, split across ranks, resumable mid-epoch), the
DataLoader of decoded batches, and their augmentation on the device."""

from __future__ import annotations

import math

import numpy as np
import torch

from models.augment import augment_batch
from models.config import TrainConfig
from models.data import collate_decoded


class EpochSampler(torch.utils.data.Sampler):
    """The indices of one epoch: a permutation drawn from (seed, epoch), this rank's share
    (padded to equal length across ranks), from batch ``start`` on."""

    def __init__(
        self, n: int, seed: int, epoch: int, rank: int = 0, world: int = 1, start: int = 0, batch_size: int = 1
    ):
        order = np.random.default_rng([seed, epoch]).permutation(n)
        per_rank = math.ceil(n / world)
        order = np.resize(order, per_rank * world)[rank::world]
        self.indices = order[start * batch_size :].tolist()

    def __iter__(self):
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)


def decoded_source(dataset):
    """The decoded-batch source of a dataset (a PairedDataset is unwrapped)."""
    return getattr(dataset, "decoded", dataset)


def label_range(dataset) -> tuple[int, int]:
    """(lowest, highest) class label of a dataset (a packed one: from its index)."""
    if hasattr(dataset, "index"):
        return tuple(dataset.index.get("label_range", (-1, -1)))
    labels = [sample.label for sample in dataset.samples]
    return min(labels), max(labels)


def epoch_loader(
    dataset,
    config: TrainConfig,
    device,
    *,
    epoch: int = 0,
    start: int = 0,
    rank: int = 0,
    world: int = 1,
    train: bool = True,
):
    """A DataLoader of decoded batches for one epoch, from batch ``start`` on."""
    pin = device.type == "cuda"
    if hasattr(dataset, "shards"):  # ShardStream
        dataset.set_epoch(epoch, start)
        workers = min(config.workers, dataset.max_workers())
        return torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers, pin_memory=pin)
    dataset.set_epoch(epoch)
    sampler = EpochSampler(len(dataset), config.seed, epoch, rank, world, start, config.batch_size) if train else None
    return torch.utils.data.DataLoader(
        dataset,
        batch_size=config.batch_size,
        sampler=sampler,
        num_workers=config.workers,
        pin_memory=pin,
        collate_fn=collate_decoded,
    )


def steps_per_epoch(dataset, config: TrainConfig, world: int) -> int:
    """Batches per epoch on each of ``world`` ranks."""
    if hasattr(dataset, "steps_per_epoch"):
        return dataset.steps_per_epoch()
    return math.ceil(math.ceil(len(dataset) / world) / config.batch_size)


def augmented(loader, config: TrainConfig, device):
    """Batches of ``loader`` cropped, flipped, blurred and normalised on ``device``."""
    for batch in loader:
        yield augment_batch(
            batch,
            image_size=config.image_size,
            blur_size=config.blur_size,
            map_source=config.map_source,
            device=device,
            channels_last=config.channels_last,
        )
