"""Stochastic flood-fill: budgets, orders (exactness, equivalence, connectivity), levels, masks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from clickme_analysis.errors import InputError
from stimuli import reveal
from stimuli.reveal import keep_top_pixels, level_counts, reveal_budget, reveal_masks, reveal_order


def blob_map(shape=(40, 50), seed=0, zero_fraction=0.3):
    rng = np.random.default_rng(seed)
    m = ndimage.uniform_filter(rng.random(shape) ** 6, 7)
    m[m < np.quantile(m, zero_fraction)] = 0
    return m


def prefixes_connected(order, shape):
    """Every pixel after the first has an 8-neighbour earlier in the order."""
    rank = np.full(int(np.prod(shape)) + 1, np.iinfo(np.int64).max)
    rank[order] = np.arange(len(order))
    nbr_rank = rank[grid_neighbours(shape)[order[1:]]].min(axis=1)
    return bool(np.all(nbr_rank < np.arange(1, len(order))))


# --- input checks and budgets ---------------------------------------------------------------


@pytest.mark.parametrize(
    "bad, words",
    [
        (np.zeros((4, 4)), "all-zero"),
        (np.array([[1.0, np.nan], [0, 0]]), "1 NaN"),
        (np.array([[1.0, -1.0]]), "non-negative"),
        (np.ones(4), "2-D"),
        (np.array([["a"]]), "numeric"),
    ],
)
def test_bad_maps_are_refused(bad, words):
    with pytest.raises(InputError, match=words):
        reveal_order(bad, 1)


def test_budget_counts_nonzero_pixels_or_top_fraction():
    m = np.array([[0, 0.5, 0], [2, 0, 1e-9]])
    assert reveal_budget(m) == 3
    assert reveal_budget(m, top_fraction=0.5) == 3
    assert reveal_budget(m, top_fraction=0.01) == 1
    with pytest.raises(InputError, match="top_fraction"):
        reveal_budget(m, top_fraction=1.5)


def test_keep_top_pixels_breaks_ties_in_row_major_order():
    m = np.array([[1.0, 2.0, 2.0], [0.0, 3.0, 2.0]])
    np.testing.assert_array_equal(keep_top_pixels(m, 3), [[0, 2, 2], [0, 3, 0]])
    assert np.count_nonzero(keep_top_pixels(blob_map(), 500)) == 500
    with pytest.raises(InputError, match="budget"):
        keep_top_pixels(m, 7)


# --- the order ------------------------------------------------------------------------------


def test_order_starts_at_the_most_important_pixel_and_is_connected():
    m = blob_map()
    order = reveal_order(m, seed=3)
    assert order[0] == np.argmax(m)
    assert len(order) == np.count_nonzero(m) == len(np.unique(order))
    assert prefixes_connected(order, m.shape)


def test_same_seed_same_order_other_seed_other_order():
    m = blob_map()
    np.testing.assert_array_equal(reveal_order(m, seed=7), reveal_order(m, seed=7))
    assert not np.array_equal(reveal_order(m, seed=7), reveal_order(m, seed=8))


def test_numba_order_equals_heapq_reference_for_every_temperature():
    from stimuli._flood_numba import order_numba

    for temperature in [1.0, 0.1, 0.02, 0.002]:
        for seed in range(3):
            m = blob_map((30, 37), seed=seed)
            start = int(np.argmax(m))
            costs = reveal.race_costs(m, divmod(start, m.shape[1]), temperature=temperature, seed=seed)
            budget = np.count_nonzero(m)
            np.testing.assert_array_equal(order_numba(costs, start, budget), reveal._order_heapq(costs, start, budget))
        np.testing.assert_array_equal(
            reveal_order(m, seed=1, temperature=temperature),
            reveal_order(m, seed=1, temperature=temperature, method="heapq"),
        )


def grid_neighbours(shape):
    """(H*W, 8) row-major indices of each pixel's 8 neighbours; H*W stands for "outside"."""
    height, width = shape
    padded = np.pad(np.arange(height * width).reshape(shape), 1, constant_values=height * width)
    return np.stack(
        [padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width] for dy, dx in reveal.NEIGHBOURS], axis=-1
    ).reshape(height * width, len(reveal.NEIGHBOURS))


def arrival_times(costs, order):
    """Arrival time of each pixel of a heap order: earliest earlier neighbour's time + own clock."""
    shape = costs.shape
    times = np.full(costs.size + 1, np.inf)
    times[order[0]] = 0.0
    for pixel in order[1:]:
        times[pixel] = times[grid_neighbours(shape)[pixel]].min() + costs.flat[pixel]
    return times[order]


def test_numba_order_equals_heapq_when_float_rounding_ties_arrival_times():
    """Clocks so small against their parent's arrival that the sums round back to it."""
    from stimuli._flood_numba import order_numba as fast_order

    # hand case: sorting by (time, index) would put pixel 0 second, not connected to pixel 3
    costs = np.array([[1e-20, 1e-20, 1e30, 1.0], [1e-20, 1e-20, 1e30, 1e30]])
    np.testing.assert_array_equal(reveal._order_heapq(costs, 3, 8), [3, 2, 1, 0, 4, 5, 6, 7])
    np.testing.assert_array_equal(fast_order(costs, 3, 8), [3, 2, 1, 0, 4, 5, 6, 7])
    np.testing.assert_array_equal(fast_order(costs, 3, 3), [3, 2, 1])
    rng = np.random.default_rng(0)
    n_with_ties = 0
    for _ in range(60):
        h, w = rng.integers(2, 12, size=2)
        costs = np.exp(rng.normal(0, 12, size=(h, w)))
        costs[rng.random((h, w)) < 0.25] = 1e30
        start, budget = int(rng.integers(h * w)), int(rng.integers(1, h * w + 1))
        ref = reveal._order_heapq(costs, start, budget)
        fast = fast_order(costs, start, budget)
        np.testing.assert_array_equal(fast, ref)
        assert prefixes_connected(fast, (h, w))
        times = arrival_times(costs, ref)
        n_with_ties += bool(np.any(times[1:] == times[:-1]))
    assert n_with_ties > 10


def test_order_follows_the_sequential_sampling_probabilities():
    """Frequencies of whole orders on a 1x4 map match the step-by-step process computed by hand."""
    m = np.array([[0.2, 1.0, 0.5, 0.9]])
    temperature = 0.5
    distance = np.abs(np.arange(4) - 1) / np.hypot(1, 4)
    weight = np.exp((m[0] - distance) / temperature)

    exact = {}

    def grow(order, p):
        if len(order) == 4:
            exact[tuple(order)] = p
            return
        frontier = sorted({j for i in order for j in (i - 1, i + 1) if 0 <= j < 4} - set(order))
        total = weight[frontier].sum()
        for j in frontier:
            grow(order + [j], p * weight[j] / total)

    grow([1], 1.0)
    n = 3000
    counts = dict.fromkeys(exact, 0)
    for seed in range(n):
        counts[tuple(reveal_order(m, 4, temperature=temperature, seed=seed, method="heapq").tolist())] += 1
    # a priority flood with fixed per-pixel keys would give (1, 2, 0, 3) about 0.09 instead of 0.18
    for order, p in exact.items():
        assert abs(counts[order] / n - p) < 0.035, (order, counts[order] / n, p)


def test_bad_order_arguments():
    m = blob_map()
    with pytest.raises(InputError, match="method"):
        reveal_order(m, method="fast")
    with pytest.raises(InputError, match="budget"):
        reveal_order(m, m.size + 1)
    with pytest.raises(InputError, match="temperature"):
        reveal_order(m, temperature=0)


# --- levels and masks -----------------------------------------------------------------------


def test_level_counts_hand_computed():
    np.testing.assert_array_equal(level_counts(200, np.logspace(0, 2, 11)), [2, 3, 5, 8, 13, 20, 32, 50, 80, 126, 200])
    np.testing.assert_array_equal(level_counts(10, [1, 100]), [1, 10])  # at least one pixel
    with pytest.raises(InputError, match="levels"):
        level_counts(10, [0, 50])


def test_masks_are_nested_with_exact_counts():
    m = blob_map()
    order = reveal_order(m, seed=1)
    counts = level_counts(len(order), np.logspace(0, 2, 11))
    masks = reveal_masks(order, m.shape, counts)
    np.testing.assert_array_equal(masks.sum(axis=(1, 2)), counts)
    assert np.all(masks[:-1] <= masks[1:])
    for mask in masks:
        assert ndimage.label(mask, structure=np.ones((3, 3)))[1] == 1
    with pytest.raises(InputError, match="counts"):
        reveal_masks(order, m.shape, [len(order) + 1])
