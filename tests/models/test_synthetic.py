"""The synthetic task (the multi-seed proof that maps help on it: tests/models/test_proof.py)."""

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from models.synthetic import GLYPHS, PART, synthetic_task


def test_task_structure():
    task = synthetic_task(20, image_size=30, n_classes=4, noise=0.0, seed=1)
    assert task["images"].shape == (20, 30, 30, 3) and task["images"].dtype == np.uint8
    for image, human, label, (top, left, bottom, right) in zip(
        task["images"], task["maps"], task["labels"], task["boxes"]
    ):
        assert human.sum() == PART * PART and human[top:bottom, left:right].all()
        part = image[top:bottom, left:right, 0].astype(float)
        ink = np.abs(part - part[1, 1]) > 0  # (1, 1) is the gap between frame and glyph
        assert ink[0].all() and ink[-1].all() and ink[:, 0].all() and ink[:, -1].all()  # frame
        assert np.array_equal(ink[2:-2, 2:-2], GLYPHS[label] > 0)  # the class's glyph
        outside = np.abs(image[..., 0].astype(float) - 127) > 60
        outside[top:bottom, left:right] = False  # every other glyph is drawn once, unframed
        assert outside.sum() == sum(GLYPHS[g].sum() for g in range(4) if g != label)


def test_same_seed_same_task():
    a, b = synthetic_task(3, seed=5), synthetic_task(3, seed=5)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["images"], synthetic_task(3, seed=6)["images"])


def test_bad_arguments():
    with pytest.raises(InputError, match="image_size"):
        synthetic_task(1, image_size=25)
    with pytest.raises(InputError, match="image_size"):
        synthetic_task(1, image_size=10, n_classes=4)
    with pytest.raises(InputError, match="n_classes"):
        synthetic_task(1, n_classes=7, image_size=30)
