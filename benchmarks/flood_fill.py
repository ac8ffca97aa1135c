"""Stochastic flood-fill speed: compiled orders vs the plain-Python heapq reference.

``numba`` (the heap loop compiled, the default method) against ``heapq`` (the same loop in plain
Python). Both compute the same reveal order (checked here) on 256x256 ClickMe-like maps (blurred
bubble maps from random clicks, budget = non-zero pixels) and on a map that is non-zero
everywhere (budget = the whole image). Prints per-map times and the overall ratios. Run:
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


def main(n_maps: int = 6, repeats: int = 3) -> dict[str, float]:
    maps = clickme_like_maps(n_maps)
    maps.append(blur_map(np.random.default_rng(1).random((256, 256)), "box", 49))  # full budget
    methods = ["numba"]
    start = time.perf_counter()  # compile (or load the cached compilation) outside the timings
    reveal_order(maps[0][:8, :8] + 1, method="numba")
    print(f"numba compile / cache load: {time.perf_counter() - start:.2f} s")
    totals = dict.fromkeys(methods + ["heapq"], 0.0)
    print(f"{'map':>4} {'budget':>7} " + " ".join(f"{m + ' ms':>11}" for m in totals))
    for k, importance in enumerate(maps):
        ref_s, ref = _time(lambda m=importance, k=k: reveal_order(m, seed=k, method="heapq"), repeats)
        row = {"heapq": ref_s}
        for method in methods:
            row[method], order = _time(
                lambda m=importance, k=k, method=method: reveal_order(m, seed=k, method=method), repeats
            )
            if not np.array_equal(order, ref):
                raise AssertionError(f"map {k}: {method} and heapq orders differ")
        for method, seconds in row.items():
            totals[method] += seconds
        print(f"{k:>4} {ref.size:>7} " + " ".join(f"{row[m] * 1e3:>11.1f}" for m in totals))
    ratios = {m: totals["heapq"] / totals[m] for m in methods}
    print(
        f"flood-fill on 256x256 maps, {len(maps)} maps, best of {repeats}, identical orders; "
        f"speed-up over plain-Python heapq: " + ", ".join(f"{m} {r:.1f}x" for m, r in ratios.items())
    )
    return ratios


if __name__ == "__main__":
    main()
