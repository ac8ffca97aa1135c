"""Psychometric functions: logistic or Weibull in log level, fitted per group with bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import optimize

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as bar
from clickme_analysis.psychophysics.exclusions import flag_exclusions
from clickme_analysis.psychophysics.trials import mark_intact


def psychometric_function(
    level, alpha: float, beta: float, lapse: float, *, model: str = "logistic", guess: float = 0.5
):
    """P(correct) at ``level`` (% revealed): guess + (1 - guess - lapse) F((log10 level - alpha) / beta).

    ``logistic``: F(x) = 1 / (1 + e^-x); ``weibull``: F(x) = 1 - exp(-e^x) (a Weibull in level,
    i.e. a Gumbel in log level: threshold 10**alpha, shape 1 / (beta ln 10)).

    Examples
    --------
    >>> float(psychometric_function(10.0, alpha=1.0, beta=0.2, lapse=0.0))
    0.75
    """
    x = (np.log10(np.asarray(level, dtype=float)) - alpha) / beta
    if model == "logistic":
        f = 1.0 / (1.0 + np.exp(-x))
    elif model == "weibull":
        f = -np.expm1(-np.exp(np.clip(x, -50, 50)))
    else:
        raise InputError(f"expected model 'logistic' or 'weibull', got {model!r}", field="model")
    return guess + (1.0 - guess - lapse) * f


def _fit_counts(levels, k, n, model, guess, max_lapse, starts=None):
    """Maximum-likelihood (alpha, beta, lapse) from counts: bounded L-BFGS-B, analytic gradient."""
    keep = n > 0
    levels, k, n = levels[keep], k[keep], n[keep]
    x_level = np.log10(levels)

    def nll(params):
        alpha, beta, lapse = params
        x = (x_level - alpha) / beta
        if model == "logistic":
            F = 1.0 / (1.0 + np.exp(-x))
            f = F * (1 - F)
        else:
            ex = np.exp(np.clip(x, -50, 50))
            F = -np.expm1(-ex)
            f = ex * np.exp(-ex)
        p = np.clip(guess + (1.0 - guess - lapse) * F, 1e-9, 1 - 1e-9)
        dl_dp = -(k / p - (n - k) / (1 - p))
        scale = (1.0 - guess - lapse) * f / beta
        grad = np.array([np.sum(dl_dp * -scale), np.sum(dl_dp * -scale * x), np.sum(dl_dp * -F)])
        return -np.sum(k * np.log(p) + (n - k) * np.log1p(-p)), grad

    spread = max(x_level.max() - x_level.min(), 0.1)
    bounds = [(x_level.min() - spread, x_level.max() + spread), (0.01, 2 * spread), (0.0, max_lapse)]
    if starts is None:
        starts = [
            (np.median(x_level), spread / 4, max_lapse / 3),
            (x_level.min(), spread / 8, max_lapse / 3),
            (x_level.max(), spread / 2, max_lapse / 3),
        ]
    best = min(
        (optimize.minimize(nll, s, jac=True, method="L-BFGS-B", bounds=bounds) for s in starts), key=lambda r: r.fun
    )
    return best.x


#: What ``threshold`` means in :func:`psychometric_fit`'s output (``threshold_definition``).
THRESHOLD_DEFINITION = "level where F = 0.5: P(correct) = guess + (1 - guess - lapse) / 2"


def psychometric_fit(
    trials: pd.DataFrame,
    *,
    model: str = "logistic",
    n_boot: int = 200,
    guess: float = 0.5,
    max_lapse: float = 0.06,
    ci: str = "parametric",
    n_points: int = 50,
    seed=0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Maximum-likelihood psychometric function per group, with bootstrap 95% intervals.

    ``P(correct) = guess + (1 - guess - lapse) F((log10 level - alpha) / beta)`` fitted to the
    counts of correct included trials per level (intact trials left out): ``alpha``, ``beta``
    and the lapse rate (bounded to [0, ``max_lapse``], 0.06 as Wichmann & Hill 2001a advise)
    are free, ``guess`` fixed (0.5 for two alternatives). **Threshold**: the level where F = 0.5,
    i.e. where P(correct) = guess + (1 - guess - lapse) / 2 (0.74 at a lapse of 0.02), as
    ``threshold_definition`` and ``threshold_p_correct`` say in the output.

    Intervals: 2.5 / 97.5 percentiles over ``n_boot`` refits. ``ci="parametric"`` (default;
    Wichmann & Hill 2001b) draws binomial counts from the fitted function at the observed
    trials per level; it covered the true threshold in >= 93% of simulated data sets
    (benchmarks/stat_calibration.py). ``ci="participants"`` resamples participants within the
    group instead (robust to differences between participants, but it under-covers with few:
    see docs/experiments.md).

    Returns
    -------
    params : pandas.DataFrame
        ``group, model, threshold, threshold_ci_low, threshold_ci_high, threshold_definition,
        threshold_p_correct, alpha, beta, lapse, ci_method, n_boot, n_participants, n_trials``
        (``threshold`` = 10**alpha, % revealed).
    curve : pandas.DataFrame
        ``group, level, predicted, ci_low, ci_high`` on ``n_points`` log-spaced levels.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": "a", "group": "g", "level": np.repeat([1.0, 10.0, 100.0], 20),
    ...                   "map_source": "x", "correct": np.tile(np.arange(20) < 17, 3), "rt": 0.4,
    ...                   "timed_out": False})
    >>> t.loc[:19, "correct"] = np.arange(20) < 10
    >>> params, curve = psychometric_fit(t, n_boot=0)
    >>> params[["n_participants", "n_trials"]].values.tolist(), params["threshold_definition"].iloc[0][:16]
    ([[1, 60]], 'level where F = ')
    >>> len(curve), curve["level"].agg(["min", "max"]).round(6).tolist()
    (50, [1.0, 100.0])
    """
    _check_fit_options(model=model, n_boot=n_boot, guess=guess, max_lapse=max_lapse, ci=ci)
    t = _revealed_trials(trials)
    grid = np.logspace(np.log10(t["level"].min()), np.log10(t["level"].max()), n_points)
    rng = np.random.default_rng(seed)
    options = {"model": model, "guess": guess, "max_lapse": max_lapse, "ci": ci, "n_boot": n_boot}
    params, curves = [], []
    for group, g in bar(t.groupby("group", sort=True), enabled=progress, desc="psychometric fits"):
        row, curve = _fit_group(group, g, grid, rng, **options)
        params.append(row)
        curves.append(curve)
    return pd.DataFrame(params), pd.concat(curves, ignore_index=True)


def _check_fit_options(*, model, n_boot, guess, max_lapse, ci):
    """Raise :class:`InputError` for an option :func:`psychometric_fit` cannot use."""
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise InputError(f"expected n_boot an integer >= 0, got {n_boot!r}", field="n_boot")
    if model not in ("logistic", "weibull"):
        raise InputError(f"expected model 'logistic' or 'weibull', got {model!r}", field="model")
    if ci not in ("parametric", "participants"):
        raise InputError(f"expected ci 'parametric' or 'participants', got {ci!r}", field="ci")
    if not 0 <= guess < 1 or not 0 <= max_lapse < 1 - guess:
        raise InputError(
            f"expected 0 <= guess < 1 and 0 <= max_lapse < 1 - guess, got {guess}, {max_lapse}", field="max_lapse"
        )


def _revealed_trials(trials):
    """The included trials at revealed levels (intact image left out); at least two levels."""
    t = mark_intact(flag_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]]
    if t["level"].nunique() < 2:
        raise InputError("a psychometric fit needs at least two levels", field="level")
    return t


def _participant_counts(g):
    """Levels, and correct and total counts per participant (rows) x level (columns)."""
    k = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="sum", fill_value=0)
    n = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="size", fill_value=0)
    return k.columns.to_numpy(float), k.to_numpy(float), n.to_numpy(float)


def _bootstrap_fits(levels, k, n, estimate, rng, *, model, guess, max_lapse, ci, n_boot):
    """``n_boot`` x 3 refitted (alpha, beta, lapse): binomial counts drawn from the fitted function
    (``parametric``) or participants resampled with replacement (``participants``)."""
    boots = np.empty((n_boot, 3))
    fitted = psychometric_function(levels, *estimate, model=model, guess=guess)
    for b in range(n_boot):
        if ci == "parametric":
            kb, nb = rng.binomial(n.sum(0).astype(int), fitted).astype(float), n.sum(0)
        else:
            rows = rng.integers(0, len(k), len(k))
            kb, nb = k[rows].sum(0), n[rows].sum(0)
        boots[b] = _fit_counts(levels, kb, nb, model, guess, max_lapse, starts=[estimate])
    return boots


def _percentile_intervals(boots, grid, *, model, guess):
    """2.5 / 97.5 percentiles of the bootstrap curves on ``grid`` and of the threshold (NaN without resamples)."""
    if not len(boots):
        nan = np.full(len(grid), np.nan)
        return nan, nan, np.nan, np.nan
    curve_boot = np.array([psychometric_function(grid, *b, model=model, guess=guess) for b in boots])
    low, high = np.percentile(curve_boot, [2.5, 97.5], axis=0)
    threshold_low, threshold_high = 10 ** np.percentile(boots[:, 0], [2.5, 97.5])
    return low, high, threshold_low, threshold_high


def _fit_group(group, g, grid, rng, *, model, guess, max_lapse, ci, n_boot):
    """One group's parameter row and its curve on ``grid``."""
    levels, k, n = _participant_counts(g)
    est = _fit_counts(levels, k.sum(0), n.sum(0), model, guess, max_lapse)
    boots = _bootstrap_fits(levels, k, n, est, rng, model=model, guess=guess, max_lapse=max_lapse, ci=ci, n_boot=n_boot)
    low, high, th_low, th_high = _percentile_intervals(boots, grid, model=model, guess=guess)
    row = {
        "group": group,
        "model": model,
        "threshold": 10 ** est[0],
        "threshold_ci_low": th_low,
        "threshold_ci_high": th_high,
        "threshold_definition": THRESHOLD_DEFINITION,
        "threshold_p_correct": guess + (1 - guess - est[2]) / 2,
        "alpha": est[0],
        "beta": est[1],
        "lapse": est[2],
        "ci_method": ci,
        "n_boot": n_boot,
        "n_participants": len(k),
        "n_trials": len(g),
    }
    predicted = psychometric_function(grid, *est, model=model, guess=guess)
    curve = pd.DataFrame({"group": group, "level": grid, "predicted": predicted, "ci_low": low, "ci_high": high})
    return row, curve
