"""Speed of ``clickme experiment power`` on the calibration design (docs/experiments.md).

Design: 30 participants in two groups of 15, 6 levels, 40 images each seen at every level
(7,200 trials), the calibration benchmark's model with its effects (0.6 group, -0.3
interaction). Measured in the same run:

1. reference: one ``mixed_logit`` fit from lme4's start (what ``experiment analyze`` and
   benchmarks/stat_calibration.py run), median of ``--reference`` data sets;
2. the same data sets fitted with the warm start from the generating values;
3. ``power.simulate_power`` over ``--sims`` data sets in ``--jobs`` processes (joblib), each a
   simulation plus a warm-started fit.

Prints fits/s, the ratio to the reference (fits/s x reference seconds: how many reference
fits' worth of work per second), the estimated time of 1,000 fits, the load average (the
machine may be shared: ratios are the figures to compare) and the peak RSS of this process
and of its workers.

Run: ``nice python benchmarks/power.py [--sims 40 --jobs 2 --reference 3]``.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small fits: BLAS threads only add overhead
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from joblib.externals.loky import get_reusable_executor  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clickme_analysis import power  # noqa: E402
from clickme_analysis.psychophysics.mixed_logistic import mixed_logit  # noqa: E402

TRUTH = power.Truth(group=0.6, interaction=-0.3)


def single_fits(n: int, seed: int) -> tuple[float, float]:
    """Median seconds of a cold and of a warm-started fit over ``n`` calibration data sets."""
    start = {"beta": TRUTH.beta, "participant": TRUTH.participant_cov, "image_id": TRUTH.image_sd**2}
    cold, warm = [], []
    for k in range(n):
        trials = power.simulate_trials(power.Design(), TRUTH, seed=[seed, 99, k])
        began = time.perf_counter()
        mixed_logit(trials)
        cold.append(time.perf_counter() - began)
        began = time.perf_counter()
        mixed_logit(trials, start=start)
        warm.append(time.perf_counter() - began)
    return float(np.median(cold)), float(np.median(warm))


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its reaped workers (load-independent, unlike wall time)."""
    own, workers = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sims", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--reference", type=int, default=3, help="data sets for the single-fit reference")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    load_before = os.getloadavg()
    cold, warm = single_fits(args.reference, args.seed)
    cpu_before, began = _cpu_seconds(), time.perf_counter()
    sims = power.simulate_power(power.Design(), TRUTH, [15], n_sims=args.sims, seed=args.seed, n_jobs=args.jobs)
    wall = time.perf_counter() - began
    get_reusable_executor().shutdown(wait=True)  # reap the workers: their CPU time and peak RSS are then counted
    cpu = (_cpu_seconds() - cpu_before) / args.sims
    rate = args.sims / wall
    table = power.power_table(sims)
    print(
        f"calibration design (7,200 trials per data set); load average before {load_before[0]:.1f}, "
        f"after {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (a shared machine: compare ratios)"
    )
    print(
        f"reference: one cold fit {cold:.2f} s (median of {args.reference}); warm-started {warm:.2f} s "
        f"({cold / warm:.2f}x faster)"
    )
    print(
        f"simulate_power: {args.sims} data sets in {wall:.1f} s with {args.jobs} jobs -> {rate:.3f} fits/s; "
        f"ratio to the reference {rate * cold:.2f} (cold fits' worth per second); "
        f"mean fit inside the workers {sims.groupby('sim')['seconds'].first().mean():.2f} s"
    )
    print(
        f"CPU seconds per data set (simulation + fit, this process and its workers, worker start-up included): "
        f"{cpu:.3f} s; 1,000 fits on 2 otherwise idle cores: {1000 * cpu / 2 / 60:.1f} min"
    )
    print(f"estimated time for 1,000 fits: {1000 / rate:.0f} s ({1000 / rate / 60:.1f} min; target <= 5 min)")
    print(table[["test", "n_sims", "power", "ci_low", "ci_high"]].round(3).to_string(index=False))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"peak RSS {own:.0f} MiB (this process), {workers:.0f} MiB (largest worker)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
