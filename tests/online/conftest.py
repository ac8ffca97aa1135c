"""Fixtures of the online-collection tests: a tiny stimulus set, game images, configs, servers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

IMAGES = (("a0", True, "cat"), ("a1", True, "dog"), ("n0", False, "car"), ("n1", False, "cup"))
LEVELS = (10.0, 50.0)


def _png(path: Path, seed: int, size: int) -> None:
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size // 8, size // 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    Image.fromarray(pixels).save(path)


@pytest.fixture(scope="session")
def online_files(tmp_path_factory) -> dict:
    """Stimuli (4 images x 2 sources x 2 levels + intact), an experiment TOML (2 training, 1 block
    of 4 trials), game images + labels and a game TOML (2 s rounds, 2 rounds)."""
    root = tmp_path_factory.mktemp("online")
    stim = root / "stimuli"
    stim.mkdir()
    rows = ["image_id,category,target,map_source,level,path"]
    k = 0
    for image_id, target, _label in IMAGES:
        category = "animal" if target else "non-animal"
        for source in ("clickme", "saliency"):
            for level in LEVELS:
                name = f"{image_id}_{source}_{level:g}.png"
                _png(stim / name, k, 32)
                rows.append(f"{image_id},{category},{str(target).lower()},{source},{level},{name}")
                k += 1
        _png(stim / f"{image_id}_intact.png", k, 32)
        rows.append(f"{image_id},{category},{str(target).lower()},intact,100,{image_id}_intact.png")
        k += 1
    (stim / "manifest.csv").write_text("\n".join(rows) + "\n")
    experiment = root / "experiment.toml"
    experiment.write_text(
        'manifest = "stimuli/manifest.csv"\nn_training = 2\nn_blocks = 1\ntrials_per_block = 4\n'
        "too_slow_duration = 0.2\ntraining_feedback_duration = 0.2\nblock_feedback_max = 0.5\nimage_size = 128\n")
    images = root / "images"
    images.mkdir()
    for i, (image_id, _, _label) in enumerate(IMAGES):
        _png(images / f"{image_id}.png", 100 + i, 256)
    labels = root / "labels.csv"
    labels.write_text("image_id,label\n" + "".join(f"{i},{lab}\n" for i, _, lab in IMAGES))
    game = root / "game.toml"
    game.write_text("round_seconds = 2.0\nn_rounds = 2\n")
    return {"root": root, "experiment": experiment, "images": images, "labels": labels, "game": game}


@pytest.fixture(scope="session")
def postgres_url():
    """A throwaway PostgreSQL for the session; skips saying why when none can start."""
    from tests.online.helpers import postgres_cluster

    try:
        with postgres_cluster() as url:
            yield url
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as err:
        pytest.skip(f"no PostgreSQL: {err}")
