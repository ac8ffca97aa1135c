"""The shipped paper recipes (models/configs/) load and hold the paper's settings."""

from pathlib import Path

import pytest

import models
from models.config import load_train_config
from models.train import learning_rate

CONFIGS = Path(models.__file__).resolve().parent / "configs"
TABLE3 = {  # paper Table 3 row -> (arch, lambda, map_source)
    "se_resnet50": ("se_resnet50", 0.0, "clickme"),
    "resnet50": ("resnet50", 0.0, "clickme"),
    "resnet50_clickme": ("resnet50", 6.0, "clickme"),
    "gala_bbox": ("gala_resnet50", 6.0, "bbox"),
    "gala": ("gala_resnet50", 0.0, "clickme"),
    "gala_clickme": ("gala_resnet50", 6.0, "clickme"),
}


def test_every_shipped_config_loads():
    paths = sorted(CONFIGS.rglob("*.toml"))
    assert len(paths) == 14
    for path in paths:
        load_train_config(path)


@pytest.mark.parametrize("row", sorted(TABLE3))
def test_table3_rows_follow_the_clickme_recipe(row):
    config = load_train_config(CONFIGS / "clickme" / f"{row}.toml")
    assert (config.arch, config.lam, config.map_source) == TABLE3[row]
    assert (config.batch_size, config.epochs, config.milestones, config.gamma) == (32, 100, [30, 60, 80, 90], 0.1)
    assert config.nesterov and config.momentum == 0.9 and config.weight_decay == 1e-4
    assert (config.image_size, config.resize, config.blur_size) == (224, 256, 49)
    assert config.gala_variant == "paper" and config.out.endswith(row)


def test_ilsvrc12_recipe_is_a_global_batch_of_1024_over_8_processes():
    config = load_train_config(CONFIGS / "ilsvrc12" / "gala_clickme.toml")
    assert config.batch_size * 8 == 1024 and config.arch == "gala_resnet50" and config.lam == 6.0
    assert learning_rate(config, 0, world=8) == pytest.approx(0.4)
    assert learning_rate(config, 95, world=8) == pytest.approx(0.4e-4)


HARMONIZED = {
    "resnet50": "resnet50",
    "vgg16": "vgg16",
    "efficientnet_b0": "efficientnet_b0",
    "convnext_tiny": "convnext_tiny",
    "vit_b16": "vit_base_patch16_224",
    "levit": "levit_128",
    "maxvit": "maxvit_tiny_tf_224",
}


@pytest.mark.parametrize("key", sorted(HARMONIZED))
def test_harmonization_recipes_follow_the_paper_loss(key):
    import timm

    config = load_train_config(CONFIGS / "harmonization" / f"{key}.toml")
    name = HARMONIZED[key]
    assert config.arch == f"timm:{name}" and timm.is_model(name)
    assert (config.loss, config.lam, config.harmonizer_levels, config.label_smoothing, config.weight_decay) == (
        "harmonizer",
        1.0,
        5,
        0.1,
        1e-5,
    )
    assert config.init_weights == f"weights/{name}.pth" and config.num_classes == 1000
    assert config.out.endswith(key) and config.amp == "bf16"
