"""Stochastic flood-fill: the order in which an attention map reveals an image's pixels.

The region starts at the map's most important pixel and grows one pixel at a time through its
8-neighbourhood. Each step picks a frontier pixel ``i`` at random with probability proportional
to its weight

    w_i = exp((importance_weight * m_i - distance_weight * d_i) / temperature)

where ``m_i`` is the map scaled to a maximum of 1 and ``d_i`` the Euclidean distance to the seed
divided by the image diagonal. Growing once to the full budget gives one order; every reveal level
is a prefix of it, so the masks are nested.

Exact fast sampling (an exponential race)
-----------------------------------------
Give each pixel a clock that starts when the pixel joins the frontier and rings after
``c_i = E_i / w_i`` with ``E_i ~ Exp(1)``; the region takes pixels in the order their clocks ring.
By the memorylessness of the exponential, the next clock to ring among the frontier is pixel ``i``
with probability ``w_i / sum(w)``: exactly the step-by-step process. A pixel joins when its first
neighbour is taken, so it rings at

    T_i = min over neighbours j of T_j  +  c_i,        T_seed = 0,

the node-weighted shortest-path distance from the seed (first-passage percolation). The order is
therefore Dijkstra's order on the 8-connected grid with node costs ``c``. :func:`reveal_order`
computes it with a heap loop compiled by numba (``method="numba"``, the default) or the same loop
in plain Python with :mod:`heapq` (``"heapq"``, the reference); both add the same float64 numbers
in the same order, so both return the same order for one seed.

Note that keeping one key ``E_i / w_i`` per pixel *without* the arrival time of the pixel's parent
(a watershed-like priority flood) is not the same process: it favours pixels that have just joined
the frontier.
"""

from __future__ import annotations

import heapq

import numpy as np

from clickme_analysis.errors import InputError

#: The 8-neighbourhood, as (row, column) offsets.
NEIGHBOURS = tuple((dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0))
METHODS = ("numba", "heapq")
#: Log-weights more than this far below the best pixel's are raised to it (weights below ~1e-11 of
#: the top weight): arrival times then stay resolvable in float64 (module docstring). The default
#: parameters span at most 20.
MAX_LOG_WEIGHT_RANGE = 25.0


def check_importance(importance, name: str = "importance") -> np.ndarray:
    """Validate an attention map: 2-D, finite, non-negative, not all zero; returns float64.

    Examples
    --------
    >>> check_importance([[0, 1], [2, 0]]).dtype
    dtype('float64')
    """
    array = np.asarray(importance)
    if array.ndim != 2 or min(array.shape, default=0) < 1:
        raise InputError(f"expected a 2-D (H, W) map, got shape {array.shape}", field=name)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InputError(f"expected a numeric map, got dtype {array.dtype}", field=name)
    array = array.astype(np.float64)
    n_bad = int(np.count_nonzero(~np.isfinite(array)))
    if n_bad:
        raise InputError(f"expected a finite map, got {n_bad} NaN or infinite pixels", field=name)
    if array.min() < 0:
        raise InputError(f"expected a non-negative map, got minimum {array.min():g}", field=name)
    if not array.any():
        raise InputError("expected a map with some non-zero pixels, got an all-zero map", field=name)
    return array


def reveal_budget(importance, top_fraction: float | None = None) -> int:
    """Number of pixels a map reveals at 100%.

    Parameters
    ----------
    importance : ndarray, shape (H, W)
        Non-negative attention map.
    top_fraction : float in (0, 1], optional
        If given, the budget is the map's top ``top_fraction`` of pixels (rounded, at least 1)
        instead of its non-zero pixels.

    Returns
    -------
    int

    Examples
    --------
    >>> reveal_budget([[0, 0.5], [2, 0]])
    2
    >>> reveal_budget(np.ones((10, 10)), top_fraction=0.25)
    25
    """
    importance = check_importance(importance)
    if top_fraction is None:
        return int(np.count_nonzero(importance))
    if not 0 < top_fraction <= 1:
        raise InputError(f"expected top_fraction in (0, 1], got {top_fraction}", field="top_fraction")
    return max(1, int(round(top_fraction * importance.size)))


def keep_top_pixels(importance, n: int) -> np.ndarray:
    """Zero all but the ``n`` most important pixels (ties: earlier row-major pixels first).

    Used to give two map sources of one image the same budget: both reveal ``n`` pixels, each
    grown from its own top ``n``.

    Examples
    --------
    >>> keep_top_pixels([[3., 1.], [2., 2.]], 2)
    array([[3., 0.],
           [2., 0.]])
    """
    importance = check_importance(importance)
    if not 1 <= n <= importance.size:
        raise InputError(f"expected 1 <= n <= {importance.size}, got {n}", field="budget")
    flat = importance.ravel()
    top = np.argsort(-flat, kind="stable")[:n]
    out = np.zeros_like(flat)
    out[top] = flat[top]
    return out.reshape(importance.shape)


def race_costs(
    importance,
    seed_pixel: tuple[int, int],
    *,
    importance_weight: float = 1.0,
    distance_weight: float = 1.0,
    temperature: float = 0.1,
    seed=None,
) -> np.ndarray:
    """The clock of each pixel, ``c_i = E_i / w_i`` with ``E_i ~ Exp(1)`` (module docstring).

    Weights are divided by the largest one (this leaves the order unchanged) and their logs are
    floored at ``-MAX_LOG_WEIGHT_RANGE``; clocks are floored at the smallest positive float.

    Returns
    -------
    ndarray of float64, shape (H, W)
    """
    if not temperature > 0:
        raise InputError(f"expected temperature > 0, got {temperature}", field="temperature")
    importance = check_importance(importance)
    height, width = importance.shape
    distance = np.hypot(
        np.arange(height, dtype=np.float64)[:, None] - seed_pixel[0],
        np.arange(width, dtype=np.float64)[None, :] - seed_pixel[1],
    ) / np.hypot(height, width)
    log_weight = (importance_weight * importance / importance.max() - distance_weight * distance) / temperature
    log_weight -= log_weight.max()
    np.maximum(log_weight, -MAX_LOG_WEIGHT_RANGE, out=log_weight)
    clocks = np.random.default_rng(seed).standard_exponential(importance.shape) * np.exp(-log_weight)
    return np.maximum(clocks, np.finfo(np.float64).tiny, out=clocks)


def reveal_order(
    importance,
    budget: int | None = None,
    *,
    importance_weight: float = 1.0,
    distance_weight: float = 1.0,
    temperature: float = 0.1,
    seed=None,
    method: str = "numba",
) -> np.ndarray:
    """Stochastic flood-fill order of an attention map's pixels.

    Parameters
    ----------
    importance : ndarray, shape (H, W)
        Non-negative attention map with at least one non-zero pixel.
    budget : int, optional
        Number of pixels to order (default: the map's non-zero pixels, :func:`reveal_budget`).
    importance_weight, distance_weight : float
        ``a`` and ``b`` in ``w = exp((a * importance - b * distance) / temperature)``; importance
        is scaled to a maximum of 1, distance to the seed is in image diagonals.
    temperature : float
        Lower values follow the map more greedily; higher values grow more at random.
    seed : int, sequence of int or numpy.random.Generator, optional
        Seed of the exponential clocks.
    method : {"numba", "heapq"}
        ``"numba"`` (default): the heap loop compiled with numba; ``"heapq"``: the same loop in
        plain Python (the reference). Both give the same order.

    Returns
    -------
    ndarray of intp, shape (budget,)
        Row-major pixel indices in the order revealed; ``order[0]`` is the most important pixel
        (the first one in row-major order on ties). Every prefix is 8-connected.

    Examples
    --------
    >>> m = np.zeros((5, 5)); m[2, 2] = 1; m[2, 3] = 0.5
    >>> order = reveal_order(m, 3, seed=0)
    >>> int(order[0]), len(order), len(set(order.tolist()))
    (12, 3, 3)
    """
    if method not in METHODS:
        raise InputError(f"expected method in {METHODS}, got {method!r}", field="method")
    importance = check_importance(importance)
    budget = int(np.count_nonzero(importance)) if budget is None else int(budget)
    if not 1 <= budget <= importance.size:
        raise InputError(f"expected 1 <= budget <= {importance.size}, got {budget}", field="budget")
    start = int(np.argmax(importance))
    costs = race_costs(
        importance,
        divmod(start, importance.shape[1]),
        importance_weight=importance_weight,
        distance_weight=distance_weight,
        temperature=temperature,
        seed=seed,
    )
    if method == "numba":
        from stimuli._flood_numba import order_numba

        return order_numba(costs, start, budget)
    return _order_heapq(costs, start, budget)


def _order_heapq(costs: np.ndarray, start: int, budget: int) -> np.ndarray:
    """Reference: Dijkstra with a :mod:`heapq` of (arrival time, pixel index), one push per pixel."""
    height, width = costs.shape
    clock = costs.ravel().tolist()
    queued = bytearray(costs.size)
    queued[start] = 1
    frontier = [(0.0, start)]
    order = []
    while len(order) < budget:
        time, pixel = heapq.heappop(frontier)
        order.append(pixel)
        row, col = divmod(pixel, width)
        for dy, dx in NEIGHBOURS:
            r, c = row + dy, col + dx
            if 0 <= r < height and 0 <= c < width:
                neighbour = r * width + c
                if not queued[neighbour]:
                    queued[neighbour] = 1
                    heapq.heappush(frontier, (time + clock[neighbour], neighbour))
    return np.array(order, dtype=np.intp)


def level_counts(budget: int, levels) -> np.ndarray:
    """Pixels revealed at each level: ``round(level / 100 * budget)``, at least 1.

    Examples
    --------
    >>> level_counts(1000, np.logspace(0, 2, 5))
    array([  10,   32,  100,  316, 1000])
    """
    levels = np.asarray(levels, dtype=np.float64)
    if levels.ndim != 1 or levels.size == 0:
        raise InputError(f"expected a 1-D sequence of levels, got shape {levels.shape}", field="levels")
    if np.any(~np.isfinite(levels)) or levels.min() <= 0 or levels.max() > 100:
        raise InputError(f"expected levels in (0, 100] percent, got {levels.tolist()}", field="levels")
    return np.maximum(1, np.rint(levels / 100 * budget)).astype(np.int64)


def reveal_masks(order, shape: tuple[int, int], counts) -> np.ndarray:
    """Boolean masks of the first ``counts[k]`` pixels of ``order``.

    Parameters
    ----------
    order : ndarray of int, shape (N,)
        Row-major pixel indices (:func:`reveal_order`).
    shape : tuple of int
        (H, W).
    counts : sequence of int
        Pixels per level, each at most N.

    Returns
    -------
    ndarray of bool, shape (len(counts), H, W)
        Nested when ``counts`` increases.

    Examples
    --------
    >>> reveal_masks([4, 1, 0], (2, 3), [1, 3]).astype(int)
    array([[[0, 0, 0],
            [0, 1, 0]],
    <BLANKLINE>
           [[1, 1, 0],
            [0, 1, 0]]])
    """
    order = np.asarray(order)
    counts = np.asarray(counts, dtype=np.int64)
    if counts.size and (counts.min() < 0 or counts.max() > order.size):
        raise InputError(f"expected counts in [0, {order.size}], got {counts.tolist()}", field="counts")
    rank = np.full(int(np.prod(shape)), order.size, dtype=np.int64)
    rank[order] = np.arange(order.size)
    return (rank[None, :] < counts[:, None]).reshape(len(counts), *shape)
