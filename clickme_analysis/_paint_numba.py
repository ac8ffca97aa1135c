"""Compiled painting of ClickMe maps: clicks -> bubble counts -> exact box-blurred integer sums.

For a batch of images whose clicks lie sorted in one array (image ``i`` owns
``clicks[starts[i]:starts[i + 1]]``), :func:`paint_box_batch` paints every click's bubble (a
0/1 stamp) onto the image's count grid and takes its window sums over ``size`` x ``size``
windows with the borders reflected as ``scipy.ndimage``'s "reflect" mode. The integers are the
box-blurred sum of the participants' maps times ``size**2``, exactly (see
:func:`clickme_analysis.maps.box_sums`). Images are painted in parallel (numba threads).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True, inline="always")
def _reflect(i, n):  # pragma: no cover - compiled
    """Index ``i`` reflected into [0, n) as scipy's "reflect" (d c b a | a b c d | d c b a)."""
    period = 2 * n
    i = i % period
    if i < 0:
        i += period
    return i if i < n else period - 1 - i


@numba.njit(cache=True, nogil=True)
def paint_counts(x, y, height, width, stamp, out):  # pragma: no cover - compiled
    """Add one bubble per click (centre floor(x), floor(y); stamp centred as paint_clicks) to
    ``out``; return the clicks whose centre lies outside the grid (not painted)."""
    size = stamp.shape[0]
    half = size // 2
    outside = 0
    for k in range(x.size):
        if not (np.isfinite(x[k]) and np.isfinite(y[k])):
            outside += 1
            continue
        col = int(np.floor(x[k]))
        row = int(np.floor(y[k]))
        if col < 0 or col >= width or row < 0 or row >= height:
            outside += 1
            continue
        r0, c0 = row - half, col - half
        for dr in range(size):
            r = r0 + dr
            if r < 0 or r >= height:
                continue
            for dc in range(size):
                c = c0 + dc
                if 0 <= c < width and stamp[dr, dc] != 0:
                    out[r, c] += stamp[dr, dc]
    return outside


@numba.njit(cache=True, nogil=True)
def box_window_sums(counts, size, out):  # pragma: no cover - compiled
    """Exact window sums of an integer grid over size x size windows, borders reflected."""
    height, width = counts.shape
    before = size // 2
    rows = np.zeros((height, width), dtype=np.int64)
    line = np.empty(width + size, dtype=np.int64)
    for r in range(height):  # horizontal running sums
        total = 0
        for j in range(width + size - 1):
            line[j] = counts[r, _reflect(j - before, width)]
        for j in range(size):
            total += line[j]
        rows[r, 0] = total
        for c in range(1, width):
            total += line[c + size - 1] - line[c - 1]
            rows[r, c] = total
    column = np.empty(height + size, dtype=np.int64)
    for c in range(width):  # vertical running sums
        for j in range(height + size - 1):
            column[j] = rows[_reflect(j - before, height), c]
        total = 0
        for j in range(size):
            total += column[j]
        out[0, c] = total
        for r in range(1, height):
            total += column[r + size - 1] - column[r - 1]
            out[r, c] = total


@numba.njit(cache=True, nogil=True, parallel=True)
def paint_box_batch(x, y, starts, height, width, stamp, size, blur, numerators, outside):  # pragma: no cover
    """Per image of the batch: painted counts, then (``blur``) their exact window sums, into
    ``numerators[i]`` (int32); clicks outside the grid into ``outside[i]``."""
    n = starts.size - 1
    for i in numba.prange(n):
        counts = np.zeros((height, width), dtype=np.int64)
        outside[i] = paint_counts(x[starts[i]:starts[i + 1]], y[starts[i]:starts[i + 1]], height, width,
                                  stamp, counts)
        if blur:
            sums = np.empty((height, width), dtype=np.int64)
            box_window_sums(counts, size, sums)
            for r in range(height):
                for c in range(width):
                    numerators[i, r, c] = sums[r, c]
        else:
            for r in range(height):
                for c in range(width):
                    numerators[i, r, c] = counts[r, c]


@numba.njit(cache=True, nogil=True)
def count_outside(x, y, height, width):  # pragma: no cover - compiled
    """Clicks whose centre falls outside a height x width grid."""
    outside = 0
    for k in range(x.size):
        if not (np.isfinite(x[k]) and np.isfinite(y[k])):
            outside += 1
            continue
        col = np.floor(x[k])
        row = np.floor(y[k])
        if col < 0 or col >= width or row < 0 or row >= height:
            outside += 1
    return outside
