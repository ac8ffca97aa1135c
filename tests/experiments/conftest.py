"""Fixtures of the experiment tests: a tiny stimulus set and a fast config (Xvfb: tests/conftest.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

LEVELS = (1.0, 10.0, 100.0)


def make_stimuli(folder, n_images: int = 12, levels=LEVELS, sources=("clickme", "saliency"), size: int = 16):
    """PNG stimuli + manifest.csv (revealed levels per source and the intact image)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_images):
        target = i % 2 == 0
        variants = [(s, lv) for s in sources for lv in levels] + [("intact", 100.0)]
        for source, level in variants:
            name = f"img{i}_{source}_{level:g}.png"
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / name)
            rows.append((f"img{i}", "animal" if target else "non-animal", target, source, level, 0, 0, name))
    manifest = pd.DataFrame(
        rows, columns=["image_id", "category", "target", "map_source", "level", "pixels_revealed", "seed", "path"]
    )
    manifest.to_csv(folder / "manifest.csv", index=False)
    return folder / "manifest.csv"


FAST_CONFIG = """
manifest = "stim/manifest.csv"
n_training = 2
n_blocks = 2
trials_per_block = 4
fixation_min = 0.05
fixation_max = 0.1
too_slow_duration = 0.05
training_feedback_duration = 0.05
block_feedback_max = 0.2
fullscreen = false
screen_size = [320, 240]
image_size = 64
"""


@pytest.fixture
def config_file(tmp_path):
    """A fast experiment config (2 training + 2 blocks x 4 trials) over a 12-image stimulus set."""
    make_stimuli(tmp_path / "stim")
    path = tmp_path / "experiment.toml"
    path.write_text(FAST_CONFIG, encoding="utf-8")
    return path
