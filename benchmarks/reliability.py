"""Vectorised Spearman reliability vs a ``scipy.stats.spearmanr`` loop, measured in one run.

Maps: simulated participant maps (256x256, 60 clicks each) blurred with the paper's 49x49 box, as
``inter_rater_reliability`` holds them: exact int32 window sums (``box_sums``, the blurred map
times 49**2, so the same ranks and the same rho), correlated by the compiled counting kernel.
``--float`` times float32 blurred maps instead (the path for Gaussian and disc kernels). Two workloads on the same maps:

1. ``reliability``: 2,000 map pairs as ``inter_rater_reliability`` draws them: 1,000 images x
   two participants (the human pairs) plus 1,000 null pairs of participants on different
   images. The vectorised path (``paired_rank_correlations`` on chunks of 64 images) ranks each
   of the 2,000 maps once and reuses the ranks for both distributions; the reference calls
   spearmanr per pair.
2. ``distinct pairs``: 2,000 pairs of 4,000 distinct maps, nothing to reuse (each map ranked
   once in both paths): the raw ranking speed.

Prints the time of each path and their ratio. Usage: ``python benchmarks/reliability.py [--pairs N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from scipy import stats

from clickme_analysis.maps import blur_map, box_sums, paint_clicks
from clickme_analysis.ranks import paired_rank_correlations, spearman_rows


def simulated_maps(n: int, seed: int = 0, as_float: bool = False) -> np.ndarray:
    rng = np.random.default_rng(seed)
    maps = np.empty((n, 256 * 256), dtype=np.float32 if as_float else np.int32)
    for i in range(n):
        centre = rng.uniform(64, 192, 2)
        painted, _ = paint_clicks(rng.normal(centre[0], 25, 60), rng.normal(centre[1], 25, 60))
        maps[i] = (blur_map(painted) if as_float else box_sums(painted.astype(np.int64), 49)).ravel()
    return maps


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=2000)
    parser.add_argument("--jobs", type=int, default=1, help="ranking threads (-1: all cores)")
    parser.add_argument("--float", action="store_true", help="float32 blurred maps (sort path)")
    args = parser.parse_args()
    n = args.pairs
    print(f"building {2 * n} simulated 256x256 maps ...", flush=True)
    maps = simulated_maps(2 * n, as_float=args.float)

    # 1. reliability workload: human pairs (a[i], b[i]) + null pairs (a[i], b[partner[i]])
    half = n // 2
    a, b = maps[:half], maps[half : 2 * half]
    chunk = 64  # as inter_rater_reliability: images ranked together, null partners within a chunk

    def vectorised():
        out = [
            paired_rank_correlations(a[s : s + chunk], b[s : s + chunk], seed=s, n_jobs=args.jobs)
            for s in range(0, half, chunk)
        ]
        return np.concatenate([o[0] for o in out] + [o[1] for o in out]), [o[2] for o in out]

    (fast, partners) = vectorised()  # warm-up, and the null partners the reference must reuse

    def reference():
        human = [stats.spearmanr(x, y)[0] for x, y in zip(a, b)]
        null = [
            stats.spearmanr(a[s + i], b[s + j])[0]
            for s, partner in zip(range(0, half, chunk), partners)
            for i, j in enumerate(partner)
        ]
        return np.array(human + null)

    (fast, _), t_fast = timed(vectorised)
    slow, t_slow = timed(reference)
    assert np.allclose(fast, slow, atol=1e-9), "vectorised and scipy values differ"
    print(
        f"reliability    ({2 * half} pairs of {2 * half} maps): scipy loop {t_slow:7.2f} s, "
        f"vectorised {t_fast:6.2f} s, ratio {t_slow / t_fast:5.1f}x"
    )

    # 2. distinct pairs: nothing to reuse
    a, b = maps[:n], maps[n : 2 * n]
    fast, t_fast = timed(lambda: spearman_rows(a, b, n_jobs=args.jobs))
    slow, t_slow = timed(lambda: np.array([stats.spearmanr(x, y)[0] for x, y in zip(a, b)]))
    assert np.allclose(fast, slow, atol=1e-9), "vectorised and scipy values differ"
    print(
        f"distinct pairs ({n} pairs of {2 * n} maps): scipy loop {t_slow:7.2f} s, "
        f"vectorised {t_fast:6.2f} s, ratio {t_slow / t_fast:5.1f}x"
    )


if __name__ == "__main__":
    main()
