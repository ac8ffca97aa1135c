"""Shared tiny settings for the models tests (CPU, seconds)."""

import pytest
import torch

from models.config import TrainConfig


@pytest.fixture(autouse=True)
def _two_threads():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: threads only contend on the shared cores
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def tiny_config(tmp_path):
    """A 2-epoch, 4-steps-per-epoch run of the tiny GALA network on the synthetic task."""
    return TrainConfig(
        arch="tiny_gala_resnet",
        num_classes=3,
        tiny_width=4,
        train="synthetic",
        val="synthetic",
        synthetic_train=32,
        synthetic_val=16,
        image_size=30,
        resize=30,
        blur_size=3,
        batch_size=8,
        workers=0,
        epochs=2,
        lr=0.2,
        milestones=[1],
        out=str(tmp_path / "run"),
        progress=False,
        log_every=1,
    )


@pytest.fixture
def packed(tmp_path):
    """The tiny synthetic task as PNG files + a map archive, packed into 8 shards of 4."""
    from PIL import Image

    from clickme_analysis.archive import save_maps
    from models.shards import pack
    from models.synthetic import synthetic_task

    task = synthetic_task(32, image_size=30, n_classes=3, seed=1)
    for i, (image, label) in enumerate(zip(task["images"], task["labels"])):
        (tmp_path / "images" / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(tmp_path / "images" / str(label) / f"s{i}.png")
    save_maps(tmp_path / "maps.npz", {f"s{i}": m for i, m in enumerate(task["maps"])})
    pack(tmp_path / "images", tmp_path / "shards", maps=tmp_path / "maps.npz", shard_size=4, progress=False)
    return tmp_path / "shards"
