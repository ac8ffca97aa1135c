"""Stochastic flood-fill speed: scipy's compiled Dijkstra vs the plain-Python heapq reference.

Both compute the same reveal order (checked here) on 256x256 ClickMe-like maps (blurred bubble
maps from random clicks, budget = non-zero pixels) and on a map that is non-zero everywhere
(budget = the whole image). Prints per-map times and the overall ratio. Run:
``.venv/bin/python benchmarks/flood_fill.py``.
"""

from __future__ import annotations

import time

import numpy as np

from clickme_analysis.maps import blur_map, paint_clicks
from stimuli.reveal import reveal_order


def clickme_like_maps(n: int, size: int = 256, seed: int = 0) -> list[np.ndarray]:
    """Blurred bubble maps of 3-8 simulated players clicking around 1-3 object parts."""
    rng = np.random.default_rng(seed)
    maps = []
    for _ in range(n):
        parts = rng.uniform(0.2 * size, 0.8 * size, size=(rng.integers(1, 4), 2))
        total = np.zeros((size, size))
        for _ in range(rng.integers(3, 9)):
            centre = parts[rng.integers(len(parts), size=rng.integers(20, 60))]
            xy = centre + rng.normal(0, size / 12, size=centre.shape)
            total += paint_clicks(xy[:, 0], xy[:, 1], (size, size))[0]
        maps.append(blur_map(total, "box", 49))
    return maps


def _time(fn, repeats: int) -> tuple[float, np.ndarray]:
    best, result = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def main(n_maps: int = 6, repeats: int = 3) -> float:
    maps = clickme_like_maps(n_maps)
    maps.append(blur_map(np.random.default_rng(1).random((256, 256)), "box", 49))  # full budget
    total_fast = total_ref = 0.0
    print(f"{'map':>4} {'budget':>7} {'csgraph ms':>11} {'heapq ms':>9} {'ratio':>6}")
    for k, importance in enumerate(maps):
        fast_s, fast = _time(lambda: reveal_order(importance, seed=k, method="csgraph"), repeats)
        ref_s, ref = _time(lambda: reveal_order(importance, seed=k, method="heapq"), repeats)
        if not np.array_equal(fast, ref):
            raise AssertionError(f"map {k}: csgraph and heapq orders differ")
        total_fast += fast_s
        total_ref += ref_s
        print(f"{k:>4} {fast.size:>7} {fast_s * 1e3:>11.1f} {ref_s * 1e3:>9.1f} {ref_s / fast_s:>6.1f}")
    ratio = total_ref / total_fast
    print(f"flood-fill 256x256, {len(maps)} maps (best of {repeats}): csgraph {total_fast * 1e3:.1f} ms, "
          f"heapq {total_ref * 1e3:.1f} ms, ratio {ratio:.1f}x (identical orders)")
    return ratio


if __name__ == "__main__":
    main()
