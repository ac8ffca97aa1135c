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
    return TrainConfig(arch="tiny_gala_resnet", num_classes=3, tiny_width=4, train="synthetic",
                       val="synthetic", synthetic_train=32, synthetic_val=16, image_size=30,
                       resize=30, blur_size=3, batch_size=8, workers=0, epochs=2, lr=0.2,
                       milestones=[1], out=str(tmp_path / "run"), progress=False, log_every=1)
