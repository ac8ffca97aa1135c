"""Fixtures of the game tests: a few demo images on disk (Xvfb: tests/conftest.py)."""

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
