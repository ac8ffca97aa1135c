"""Centring shift, pixel shifts and composites."""

from __future__ import annotations

import numpy as np
import pytest

from clickme_analysis.errors import InputError
from stimuli.compose import centering_shift, composite, shift_image


def test_centering_shift_hand_computed():
    mask = np.zeros((6, 7), bool)
    mask[0:2, 4:7] = True  # box rows 0-1, cols 4-6; image centre (2.5, 3)
    assert centering_shift(mask) == (2, -2)
    moved = shift_image(mask, centering_shift(mask), fill=False)
    rows, cols = np.nonzero(moved)
    assert (rows.min(), rows.max(), cols.min(), cols.max()) == (2, 3, 2, 4)


def test_centering_keeps_every_pixel_and_centres_the_box():
    rng = np.random.default_rng(0)
    for _ in range(200):
        h, w = rng.integers(1, 30, size=2)
        mask = rng.random((h, w)) < rng.uniform(0.01, 0.5)
        if not mask.any():
            mask[rng.integers(h), rng.integers(w)] = True
        moved = shift_image(mask, centering_shift(mask), fill=False)
        assert moved.sum() == mask.sum()
        rows, cols = np.nonzero(moved)
        assert abs((rows.min() + rows.max()) / 2 - (h - 1) / 2) <= 0.5
        assert abs((cols.min() + cols.max()) / 2 - (w - 1) / 2) <= 0.5


def test_shift_image_does_not_wrap():
    a = np.arange(1, 10).reshape(3, 3)
    np.testing.assert_array_equal(shift_image(a, (1, -1)), [[0, 0, 0], [2, 3, 0], [5, 6, 0]])
    np.testing.assert_array_equal(shift_image(a, (5, 0)), np.zeros((3, 3)))
    rgb = np.ones((2, 2, 3))
    assert shift_image(rgb, (0, 1))[:, 0].sum() == 0


def test_composite_hard_and_feathered():
    image, background = np.ones((9, 9)), np.zeros((9, 9))
    mask = np.zeros((9, 9), bool)
    mask[3:6, 3:6] = True
    np.testing.assert_array_equal(composite(image, background, mask), mask.astype(float))
    soft = composite(image, background, mask, feather=1.0)
    assert 0 < soft[3, 3] < 1 and 0 < soft[2, 4] < soft[4, 4]
    rgb = composite(np.ones((9, 9, 3)), np.zeros((9, 9, 3)), mask)
    np.testing.assert_array_equal(rgb[..., 1], mask)


def test_compose_bad_input():
    with pytest.raises(InputError, match="empty"):
        centering_shift(np.zeros((3, 3), bool))
    with pytest.raises(InputError, match="size"):
        composite(np.ones((3, 3)), np.ones((3, 4)), np.ones((3, 3), bool))
    with pytest.raises(InputError, match="feather"):
        composite(np.ones((3, 3)), np.ones((3, 3)), np.ones((3, 3), bool), feather=-1)
