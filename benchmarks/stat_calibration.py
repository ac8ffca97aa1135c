"""Calibration of the psychophysics statistics by simulation (known truth).

1. Mixed model (``psychophysics.mixed_logistic.mixed_logit``, its defaults): ``--glmm-sets``
   null data sets (no group effect, no interaction) and as many with an effect, drawn by
   ``psychophysics.mixed_logistic.simulate_glmm_trials`` from the model itself. Design: 30
   participants in two groups of 15, 6 levels (1, 2, 5, 10, 20, 50 % revealed), 40 images each seen once per level
   by every participant (7,200 trials); ``logit P = -0.5 + 1.5 log10(level)`` plus participant
   intercepts (SD 0.5), participant slopes of log10(level) (SD 0.3) and image intercepts (SD
   0.5). Reported: the false-positive rate at alpha = 0.05 of the group and interaction terms
   with the exact binomial 99% interval around 0.05; the power at a group effect of
   ``--effect`` log-odds (at 1 % revealed) and an interaction of ``-effect / 2``; the coverage
   of the 95% Wald interval of every coefficient (null and effect sets together).
2. Psychometric intervals (``psychophysics.psychometric.psychometric_fit``, its defaults):
   ``--psy-sets`` data sets of 10 alike participants, 7 levels (1 .. 100 %, log-spaced), 16 trials per level
   each, a logistic with threshold 5 %, spread 0.25 log10 units and lapse 0.02; coverage of the
   95% threshold interval, against the participant bootstrap (``ci="participants"``).
3. Reference in the same run: the fit time of statsmodels' ``BinomialBayesMixedGLM.fit_map``
   (random intercepts only, its closest model) on the first data sets, and the ratio of its
   standard errors to ours on the same data.

Run: ``nice python benchmarks/stat_calibration.py [--glmm-sets 200 --psy-sets 200 --out DIR]``.
Prints the tables and the peak RSS; with ``--out`` writes ``glmm_calibration.csv``,
``glmm_fits.csv``, ``psychometric_coverage.csv``.
"""

from __future__ import annotations

import os

# the fits are small (3 to ~100 parameters): BLAS threads only add overhead, and on a shared
# machine their spinning makes scipy's L-BFGS-B ~10x slower
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from clickme_analysis.psychophysics.mixed_logistic import mixed_logit, simulate_glmm_trials  # noqa: E402
from clickme_analysis.psychophysics.psychometric import psychometric_fit, psychometric_function  # noqa: E402

TRUTH = {"Intercept": -0.5, "group[T.b]": 0.0, "log10_level": 1.5, "group[T.b]:log10_level": 0.0}
NULL_TERMS = ("group[T.b]", "group[T.b]:log10_level")


def binomial_interval(n: int, p: float = 0.05, level: float = 0.99) -> tuple[float, float]:
    """Central ``level`` interval of the rejection rate of a calibrated test over n sets."""
    low, high = stats.binom.interval(level, n, p)
    return low / n, high / n


def glmm_fits(n_sets: int, effect: float = 0.0, seed: int = 0, **design) -> pd.DataFrame:
    """``mixed_logit`` on ``n_sets`` simulated data sets; one row per data set x fixed term."""
    rows = []
    truth = dict(TRUTH, **{"group[T.b]": effect, "group[T.b]:log10_level": -effect / 2})
    coefficients = tuple(truth[t] for t in TRUTH)
    for k in range(n_sets):
        trials = simulate_glmm_trials(coefficients=coefficients, seed=[seed, k, int(effect * 1000)], **design)
        start = time.perf_counter()
        fit = mixed_logit(trials)
        seconds = time.perf_counter() - start
        fixed = fit[fit["effect"] == "fixed"]
        for row in fixed.itertuples(index=False):
            rows.append(
                {
                    "set": k,
                    "effect": effect,
                    "term": row.term,
                    "truth": truth[row.term],
                    "estimate": row.estimate,
                    "se": row.se,
                    "p": row.p,
                    "covered": row.ci_low <= truth[row.term] <= row.ci_high,
                    "formula": row.formula,
                    "converged": row.converged,
                    "seconds": seconds,
                }
            )
    return pd.DataFrame(rows)


def glmm_summary(fits: pd.DataFrame, alpha: float = 0.05) -> pd.DataFrame:
    """Rejection rate per term and effect size, with coverage, for the tables of the report."""
    out = (
        fits.groupby(["effect", "term"], sort=False)
        .agg(
            n_sets=("set", "size"),
            rejection_rate=("p", lambda p: float(np.mean(p < alpha))),
            coverage=("covered", "mean"),
            mean_estimate=("estimate", "mean"),
            mean_se=("se", "mean"),
            sd_estimate=("estimate", "std"),
            converged=("converged", "mean"),
        )
        .reset_index()
    )
    low, high = zip(*(binomial_interval(n) for n in out["n_sets"]))
    out["null_99_low"], out["null_99_high"] = low, high
    out["se_over_sd"] = out["mean_se"] / out["sd_estimate"]
    return out


PSYCHOMETRIC_LEVELS = tuple(np.logspace(0, 2, 7))


def psychometric_trials(
    seed, n_participants=10, levels=PSYCHOMETRIC_LEVELS, trials_per_level=16, threshold=5.0, beta=0.25, lapse=0.02
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    p = psychometric_function(np.asarray(levels), np.log10(threshold), beta, lapse)
    rows = []
    for j in range(n_participants):
        for level, pc in zip(levels, p):
            for c in rng.random(trials_per_level) < pc:
                rows.append((f"s{j}", "g", level, "revealed", c, 0.5, False))
    return pd.DataFrame(rows, columns=["participant", "group", "level", "map_source", "correct", "rt", "timed_out"])


def psychometric_coverage(n_sets: int, seed: int = 0, threshold: float = 5.0, ci: str = "parametric") -> dict:
    covered, widths, start = [], [], time.perf_counter()
    for k in range(n_sets):
        params, _ = psychometric_fit(psychometric_trials([seed, k], threshold=threshold), ci=ci, seed=k)
        row = params.iloc[0]
        covered.append(row["threshold_ci_low"] <= threshold <= row["threshold_ci_high"])
        widths.append(np.log10(row["threshold_ci_high"]) - np.log10(row["threshold_ci_low"]))
    low, high = stats.binomtest(int(np.sum(covered)), n_sets).proportion_ci(0.95)
    return {
        "ci": ci,
        "n_sets": n_sets,
        "coverage": float(np.mean(covered)),
        "coverage_95_low": low,
        "coverage_95_high": high,
        "median_width_log10": float(np.median(widths)),
        "seconds_per_set": (time.perf_counter() - start) / n_sets,
    }


def reference_statsmodels(n_sets: int, seed: int = 0) -> pd.DataFrame:
    """statsmodels ``fit_map`` vs ours (intercepts for participants and images, no slope)."""
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    rows = []
    for k in range(n_sets):
        trials = simulate_glmm_trials(seed=[seed, k, 0], slope_sd=0.0)
        data = trials.assign(correct=trials["correct"].astype(float), log10_level=np.log10(trials["level"]))
        start = time.perf_counter()
        ours = mixed_logit(trials, random_slopes=False)
        t_ours = time.perf_counter() - start
        start = time.perf_counter()
        model = BinomialBayesMixedGLM.from_formula(
            "correct ~ C(group) * log10_level", {"participant": "0 + C(participant)", "image": "0 + C(image_id)"}, data
        )
        result = model.fit_map()
        t_ref = time.perf_counter() - start
        se_ref = np.sqrt(np.diag(result.cov_params())[:4])
        rows.append(
            {
                "set": k,
                "seconds_ours": t_ours,
                "seconds_statsmodels_map": t_ref,
                "speed_ratio": t_ref / t_ours,
                "se_ratio_group": se_ref[1] / ours["se"].iloc[1],
                "se_ratio_interaction": se_ref[3] / ours["se"].iloc[3],
            }
        )
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--glmm-sets", type=int, default=200)
    parser.add_argument("--psy-sets", type=int, default=200)
    parser.add_argument("--reference-sets", type=int, default=5)
    parser.add_argument("--effect", type=float, default=0.6, help="group effect (log-odds) for the power sets")
    parser.add_argument(
        "--psy-ci",
        choices=("parametric", "participants"),
        action="append",
        default=None,
        help="psychometric interval methods to measure (default both)",
    )
    parser.add_argument("--skip", choices=("glmm", "psychometric"), action="append", default=[])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    pd.set_option("display.width", 200)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    if "glmm" not in args.skip:
        start = time.perf_counter()
        fits = pd.concat(
            [glmm_fits(args.glmm_sets, 0.0, args.seed), glmm_fits(args.glmm_sets, args.effect, args.seed)],
            ignore_index=True,
        )
        summary = glmm_summary(fits)
        print(
            f"mixed_logit calibration: {args.glmm_sets} null + {args.glmm_sets} effect sets "
            f"in {time.perf_counter() - start:.0f} s ({fits.groupby(['effect', 'set'])['seconds'].first().mean():.2f}"
            " s per fit)"
        )
        print(summary.round(4).to_string(index=False))
        print("models fitted:", fits.groupby("formula")["set"].size().to_dict())
        if args.out:
            fits.to_csv(args.out / "glmm_fits.csv", index=False)
            summary.to_csv(args.out / "glmm_calibration.csv", index=False)
        if args.reference_sets:
            ref = reference_statsmodels(args.reference_sets, args.seed)
            print("reference: statsmodels BinomialBayesMixedGLM.fit_map on the same data (intercepts only)")
            print(ref.round(3).to_string(index=False))
            print(f"speed ratio (statsmodels fit_map time / ours): {ref['speed_ratio'].median():.2f}")
    if "psychometric" not in args.skip:
        methods = args.psy_ci or ["parametric", "participants"]
        table = pd.DataFrame([psychometric_coverage(args.psy_sets, args.seed, ci=ci) for ci in methods])
        print("psychometric threshold 95% interval coverage (true threshold 5 %)")
        print(table.round(4).to_string(index=False))
        if len(table) == 2:
            print(
                f"time ratio parametric / participant bootstrap: "
                f"{table['seconds_per_set'].iloc[0] / table['seconds_per_set'].iloc[1]:.2f}"
            )
        if args.out:
            table.to_csv(args.out / f"psychometric_coverage_{'_'.join(methods)}.csv", index=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
