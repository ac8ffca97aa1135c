"""Fixtures of the game tests: a few demo images on disk, a private Xvfb display."""

from __future__ import annotations

import pytest
from PIL import Image


@pytest.fixture(scope="session")
def demo_set(tmp_path_factory):
    """Four embedded demo images (two animal, two not) as ``images/<id>.png`` + ``labels.csv``, and their parts."""
    from clickme_analysis.synthetic import demo_images

    root = tmp_path_factory.mktemp("game_images")
    images, labels, parts = demo_images(per_category=2)
    (root / "images").mkdir()
    for image_id, pixels in images.items():
        Image.fromarray(pixels).save(root / "images" / f"{image_id}.png")
    labels.to_csv(root / "labels.csv", index=False)
    return root, parts


@pytest.fixture(scope="session")
def display():
    """A private Xvfb display for the session; skips only when no X server can start."""
    from experiments.display import virtual_display

    try:
        with virtual_display() as name:
            from psychopy import logging

            logging.console.setLevel(logging.ERROR)
            yield name
    except RuntimeError as err:
        pytest.skip(f"no X server: {err}")
