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
def reflect_table(n, size):  # pragma: no cover - compiled
    """Source index of each position of a line of ``n`` padded by a ``size`` window, reflected."""
    before = size // 2
    table = np.empty(n + size - 1, dtype=np.int64)
    for j in range(n + size - 1):
        table[j] = _reflect(j - before, n)
    return table


@numba.njit(cache=True, nogil=True)
def box_window_sums(counts, size, out):  # pragma: no cover - compiled
    """Exact window sums of an integer grid over size x size windows, borders reflected."""
    height, width = counts.shape
    across, down = reflect_table(width, size), reflect_table(height, size)
    rows = np.empty((height + size - 1, width), dtype=np.int64)
    for r in range(height):  # horizontal running sums of each row
        total = 0
        for j in range(size):
            total += counts[r, across[j]]
        rows[r, 0] = total
        for c in range(1, width):
            total += counts[r, across[c + size - 1]] - counts[r, across[c - 1]]
            rows[r, c] = total
    for c in range(width):  # vertical running sums, row by row for contiguous access
        out[0, c] = 0
    for j in range(size):
        source = down[j]
        for c in range(width):
            out[0, c] += rows[source, c]
    for r in range(1, height):
        enter, leave = down[r + size - 1], down[r - 1]
        for c in range(width):
            out[r, c] = out[r - 1, c] + rows[enter, c] - rows[leave, c]


@numba.njit(cache=True, nogil=True)
def delta_shuffle(numerator):  # pragma: no cover - compiled
    """The ``delta-ratio`` chunk bytes before deflate: int32 differences along both axes, as
    HDF5's shuffle filter lays them out (byte plane k holds byte k of every value)."""
    height, width = numerator.shape
    n = height * width
    out = np.empty(4 * n, dtype=np.uint8)
    for r in range(height):
        for c in range(width):
            value = np.int64(numerator[r, c])
            if r > 0:
                value -= numerator[r - 1, c]
            if c > 0:
                value -= numerator[r, c - 1]
                if r > 0:
                    value += numerator[r - 1, c - 1]
            v = np.uint32(value & 0xFFFFFFFF)
            k = r * width + c
            out[k] = v & 0xFF
            out[n + k] = (v >> 8) & 0xFF
            out[2 * n + k] = (v >> 16) & 0xFF
            out[3 * n + k] = (v >> 24) & 0xFF
    return out


@numba.njit(cache=True, nogil=True, parallel=True)
def paint_box_batch(x, y, starts, height, width, stamp, size, blur, numerators, outside):  # pragma: no cover
    """Per image of the batch: painted counts, then (``blur``) their exact window sums, into
    ``numerators[i]`` (int32); clicks outside the grid into ``outside[i]``."""
    n = starts.size - 1
    for i in numba.prange(n):
        counts = np.zeros((height, width), dtype=np.int64)
        outside[i] = paint_counts(
            x[starts[i] : starts[i + 1]], y[starts[i] : starts[i + 1]], height, width, stamp, counts
        )
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
