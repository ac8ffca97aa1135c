"""The heap flood of :func:`stimuli.reveal._order_heapq`, compiled with numba.

Same algorithm, same float64 sums, same (time, index) heap order, so the same order; it stops at
the budget. Imported on first use by :func:`stimuli.reveal.reveal_order` (numba is slow to import).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _before(time_a, pixel_a, time_b, pixel_b):
    return time_a < time_b or (time_a == time_b and pixel_a < pixel_b)


@numba.njit(cache=True, nogil=True)
def order_numba(costs, start, budget):  # pragma: no cover - compiled
    """Dijkstra pop order of the 8-connected grid with node costs ``costs`` from ``start``."""
    height, width = costs.shape
    clock = costs.ravel()
    queued = np.zeros(clock.size, np.bool_)
    times = np.empty(clock.size, np.float64)  # binary heap of (time, pixel)
    pixels = np.empty(clock.size, np.int64)
    times[0], pixels[0], size = 0.0, start, 1
    queued[start] = True
    order = np.empty(budget, np.intp)
    for k in range(budget):
        time, pixel = times[0], pixels[0]
        order[k] = pixel
        size -= 1
        last_time, last_pixel, hole = times[size], pixels[size], 0
        while 2 * hole + 1 < size:  # sift the last entry down from the root
            child = 2 * hole + 1
            if child + 1 < size and _before(times[child + 1], pixels[child + 1], times[child], pixels[child]):
                child += 1
            if not _before(times[child], pixels[child], last_time, last_pixel):
                break
            times[hole], pixels[hole], hole = times[child], pixels[child], child
        times[hole], pixels[hole] = last_time, last_pixel
        row, col = pixel // width, pixel % width
        for dy in range(-1, 2):
            for dx in range(-1, 2):
                r, c = row + dy, col + dx
                if (dy != 0 or dx != 0) and 0 <= r < height and 0 <= c < width and not queued[r * width + c]:
                    neighbour = r * width + c
                    queued[neighbour] = True
                    arrival, hole = time + clock[neighbour], size
                    size += 1
                    while hole > 0:  # sift up
                        parent = (hole - 1) // 2
                        if not _before(arrival, neighbour, times[parent], pixels[parent]):
                            break
                        times[hole], pixels[hole], hole = times[parent], pixels[parent], parent
                    times[hole], pixels[hole] = arrival, neighbour
    return order
