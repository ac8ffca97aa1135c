"""Group tests: permutation tests, effect sizes, the per-level comparison of two groups, ceilings.

:func:`level_tests` is the authors' randomization test at each level, Holm and
Benjamini-Hochberg corrected, with effect sizes (:func:`effect_size`, BCa intervals);
:func:`ceiling_levels` finds, per group, the level from which accuracy is not different from the
full image (a sign-flip test per level, bootstrap over participants for its interval);
:func:`permutation_test` and :func:`sign_flip_test` are the independent and paired tests.
"""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.multitest import multipletests

from clickme_analysis.errors import InputError
from clickme_analysis.psychophysics.exclusions import participant_accuracy


def permutation_test(a, b, n_permutations: int = 10000, seed=0) -> tuple[float, float, bool]:
    """Two-sided permutation test of the difference of means ``mean(a) - mean(b)``.

    All relabelings are enumerated when there are at most ``n_permutations`` of them (exact
    test); otherwise ``n_permutations`` random ones are drawn and p =
    ``(1 + #(|d*| >= |d|)) / (1 + n_permutations)``.

    Returns
    -------
    statistic : float
    p : float
    exact : bool

    Examples
    --------
    >>> permutation_test([1.0, 1.0], [0.0, 0.0])[:2]
    (1.0, 0.3333333333333333)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.ndim != 1 or b.ndim != 1 or len(a) < 1 or len(b) < 1:
        raise InputError(f"expected two non-empty 1-D samples, got shapes {a.shape} and {b.shape}")
    pooled, n_a = np.concatenate([a, b]), len(a)
    observed = a.mean() - b.mean()
    total = pooled.sum()
    n = len(pooled)
    exact = math.comb(n, n_a) <= n_permutations
    if exact:
        idx = np.array(list(itertools.combinations(range(n), n_a)))
        sum_a = pooled[idx].sum(axis=1)
    else:
        rng = np.random.default_rng(seed)
        perms = rng.permuted(np.tile(np.arange(n), (n_permutations, 1)), axis=1)[:, :n_a]
        sum_a = pooled[perms].sum(axis=1)
    null = sum_a / n_a - (total - sum_a) / (n - n_a)
    extreme = np.sum(np.abs(null) >= abs(observed) - 1e-12)
    p = extreme / len(null) if exact else (1 + extreme) / (1 + n_permutations)
    return float(observed), float(p), exact


def sign_flip_test(differences, n_permutations: int = 10000, seed=0) -> tuple[float, float]:
    """Two-sided paired permutation (sign-flip) test of ``mean(differences) == 0``.

    Exact over all 2**n sign vectors when 2**n <= n_permutations.

    Examples
    --------
    >>> sign_flip_test([0.25, 0.5, 0.75])
    (0.5, 0.25)
    """
    d = np.asarray(differences, dtype=float)
    if d.ndim != 1 or len(d) < 1:
        raise InputError(f"expected a non-empty 1-D array of paired differences, got shape {d.shape}")
    observed = d.mean()
    if 2 ** len(d) <= n_permutations:
        signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(d))))
        null = signs @ d / len(d)
        p = np.mean(np.abs(null) >= abs(observed) - 1e-12)
    else:
        signs = np.random.default_rng(seed).choice([1.0, -1.0], size=(n_permutations, len(d)))
        null = signs @ d / len(d)
        p = (1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (1 + n_permutations)
    return float(observed), float(p)


def _n_relabelings(n_a: int, n_b: int, n_permutations: int) -> int:
    """Relabellings :func:`permutation_test` evaluates: all when at most ``n_permutations``."""
    total = math.comb(n_a + n_b, n_a)
    return total if total <= n_permutations else n_permutations


def _hedges_g(a, b, axis=-1):
    """Hedges' g of mean(a) - mean(b): Cohen's d on the pooled SD times J = 1 - 3 / (4 df - 1)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n_a, n_b = a.shape[axis], b.shape[axis]
    df = n_a + n_b - 2
    pooled = np.sqrt(((n_a - 1) * a.var(axis=axis, ddof=1) + (n_b - 1) * b.var(axis=axis, ddof=1)) / df)
    with np.errstate(divide="ignore", invalid="ignore"):
        d = (a.mean(axis=axis) - b.mean(axis=axis)) / pooled
    return d * (1 - 3 / (4 * df - 1))


def effect_size(a, b, *, n_boot: int = 2000, confidence: float = 0.95, seed=0) -> dict:
    """Difference of means and Hedges' g of two independent samples, with BCa bootstrap intervals.

    Intervals: bias-corrected and accelerated bootstrap (Efron 1987) over the members of each
    sample (``scipy.stats.bootstrap``, ``method="BCa"``); NaN where a sample has fewer than two
    members or no spread.

    Examples
    --------
    >>> out = effect_size([0.9, 0.8, 0.85, 0.95], [0.6, 0.7, 0.75, 0.9], n_boot=200)
    >>> round(out["difference"], 4), round(out["hedges_g"], 3)
    (0.1375, 1.202)
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {
        "difference": float(a.mean() - b.mean()) if len(a) and len(b) else np.nan,
        "difference_ci_low": np.nan,
        "difference_ci_high": np.nan,
        "hedges_g": float(_hedges_g(a, b)) if len(a) > 1 and len(b) > 1 else np.nan,
        "g_ci_low": np.nan,
        "g_ci_high": np.nan,
    }
    if len(a) < 2 or len(b) < 2 or n_boot < 1 or np.ptp(np.r_[a, b]) == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, statistic in (("difference", lambda x, y, axis: x.mean(axis) - y.mean(axis)), ("g", _hedges_g)):
            res = stats.bootstrap(
                (a, b),
                statistic,
                n_resamples=n_boot,
                confidence_level=confidence,
                method="BCa",
                rng=np.random.default_rng(seed),
                vectorized=True,
            )
            low, high = res.confidence_interval
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    return out


def _two_groups(trials, groups):
    present = sorted(pd.unique(trials["group"]))
    groups = tuple(groups) if groups is not None else tuple(present)
    if len(groups) != 2 or any(g not in present for g in groups):
        raise InputError(
            f"expected two groups present in the data, got {list(groups)}; data has {present}", field="group"
        )
    return groups


def level_tests(
    trials: pd.DataFrame, *, groups=None, n_permutations: int = 10000, alpha: float = 0.05, n_boot: int = 2000, seed=0
) -> pd.DataFrame:
    """Per-level two-sided permutation test of per-participant accuracy between two groups.

    The authors' randomization test: at each level, participants' accuracies of group A vs
    group B, labels permuted (:func:`permutation_test`); p-values corrected over levels by Holm
    (1979; family-wise error) and by Benjamini & Hochberg (1995; false discovery rate), both
    from ``statsmodels.stats.multitest.multipletests``. Effect sizes: the difference of mean
    accuracy and Hedges' g with BCa bootstrap intervals (:func:`effect_size`).

    Returns
    -------
    pandas.DataFrame
        ``level, intact, group_a, group_b, statistic`` (accuracy A - B), ``p, p_holm, p_fdr_bh,
        significant`` (``p_holm < alpha``), ``n_a, n_b, exact, n_permutations`` (relabelings
        evaluated), ``difference_ci_low, difference_ci_high, hedges_g, g_ci_low, g_ci_high``.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": list("abcdef"), "group": list("xxxyyy"), "level": 10.0,
    ...                   "map_source": "m", "correct": [1, 1, 1, 0, 0, 1], "rt": 0.4, "timed_out": 0})
    >>> level_tests(t, n_boot=0)[["statistic", "p", "n_permutations"]].round(3).values.tolist()
    [[0.667, 0.4, 20.0]]
    """
    if not 0 < alpha < 1:
        raise InputError(f"expected 0 < alpha < 1, got {alpha}", field="alpha")
    if n_permutations < 1:
        raise InputError(f"expected n_permutations >= 1, got {n_permutations}", field="n_permutations")
    per = participant_accuracy(trials)
    group_a, group_b = _two_groups(per, groups)
    rows = []
    for k, ((level, intact), t) in enumerate(per.groupby(["level", "intact"], sort=True)):
        a = t.loc[t["group"] == group_a, "accuracy"].to_numpy()
        b = t.loc[t["group"] == group_b, "accuracy"].to_numpy()
        if len(a) and len(b):
            test = {"level": level, "intact": intact, "group_a": group_a, "group_b": group_b}
            rows.append({**test, **_level_comparison(a, b, n_permutations, alpha, n_boot, seed=[seed, k])})
    out = pd.DataFrame(rows)
    if out.empty:
        raise InputError("no level has participants of both groups", field="level")
    out["p_holm"] = multipletests(out["p"], alpha=alpha, method="holm")[1]
    out["p_fdr_bh"] = multipletests(out["p"], alpha=alpha, method="fdr_bh")[1]
    out["significant"] = out["p_holm"] < alpha
    return out[_LEVEL_COLUMNS]


#: The columns of :func:`level_tests`, in order.
_LEVEL_COLUMNS = [
    "level",
    "intact",
    "group_a",
    "group_b",
    "statistic",
    "p",
    "p_holm",
    "p_fdr_bh",
    "significant",
    "n_a",
    "n_b",
    "exact",
    "n_permutations",
    "difference_ci_low",
    "difference_ci_high",
    "hedges_g",
    "g_ci_low",
    "g_ci_high",
]


def _level_comparison(a: np.ndarray, b: np.ndarray, n_permutations: int, alpha: float, n_boot: int, seed) -> dict:
    """One level's permutation test of ``a`` vs ``b`` and effect sizes (a row of :func:`level_tests`)."""
    stat, p, exact = permutation_test(a, b, n_permutations, seed=seed)
    size = effect_size(a, b, n_boot=n_boot, confidence=1 - alpha, seed=seed)
    return {
        "statistic": stat,
        "p": p,
        "n_a": len(a),
        "n_b": len(b),
        "exact": exact,
        "n_permutations": _n_relabelings(len(a), len(b), n_permutations),
        **{key: value for key, value in size.items() if key != "difference"},
    }


def _ceiling_of(levels, p, alpha):
    """Lowest level from which every level has p >= alpha (NaN when the top level differs)."""
    not_different = np.asarray(p) >= alpha
    at_ceiling = np.flip(np.logical_and.accumulate(np.flip(not_different))) if len(p) else not_different
    return (levels[np.argmax(at_ceiling)] if at_ceiling.any() else np.nan), at_ceiling


def _sign_flip_columns(diffs, signs):
    """Two-sided sign-flip p per column of ``diffs`` (participants x levels, NaN = absent)."""
    present = ~np.isnan(diffs)
    d = np.where(present, diffs, 0.0)
    count = present.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        observed = d.sum(0) / count
        null = signs @ d / count
    return (1 + np.sum(np.abs(null) >= np.abs(observed) - 1e-12, axis=0)) / (1 + len(signs))


def ceiling_levels(
    trials: pd.DataFrame, *, n_permutations: int = 10000, alpha: float = 0.05, n_boot: int = 200, seed=0
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group, the lowest level from which accuracy is not different from the full image.

    At each revealed level, the per-participant accuracy difference (level - intact image) is
    tested with a two-sided sign-flip test
    (:func:`sign_flip_test`, participants who have
    both); the group's ceiling is the lowest level such that it and every higher level have
    p >= ``alpha``. Without intact trials, the group's highest level is the reference.

    Uncertainty: the ceiling is recomputed on ``n_boot`` resamples of the group's participants
    (with replacement; the same test with ``n_permutations`` random sign vectors), giving the
    2.5 / 97.5 percentile levels (``ceiling_ci_low``, ``ceiling_ci_high``; the lower and higher
    level at each percentile) and the bootstrap distribution. A resample in which even the top
    level differs has no ceiling (``no_ceiling``, counted above every level).

    Returns
    -------
    ceiling : pandas.DataFrame
        ``group, level, reference, difference, p, n_participants, n_permutations, at_ceiling,
        ceiling_level, ceiling_ci_low, ceiling_ci_high, n_boot``.
    distribution : pandas.DataFrame
        ``group, ceiling_level`` (NaN: no ceiling), ``fraction`` of the bootstrap resamples.
    """
    if not 0 < alpha < 1:
        raise InputError(f"expected 0 < alpha < 1, got {alpha}", field="alpha")
    if n_permutations < 1 or n_boot < 0:
        raise InputError(
            f"expected n_permutations >= 1 and n_boot >= 0, got {n_permutations}, {n_boot}", field="n_boot"
        )
    per = participant_accuracy(trials)
    rows, dist_rows = [], []
    rng = np.random.default_rng(seed)
    for group, g in per.groupby("group", sort=True):
        reference, levels, diffs = _differences_to_reference(g)
        group_rows = _sign_flip_rows(levels, diffs, n_permutations, seed)
        ceiling, at_ceiling = _ceiling_of(levels, [r["p"] for r in group_rows], alpha)
        ranked = _bootstrap_ceilings(levels, diffs, rng, alpha=alpha, n_permutations=n_permutations, n_boot=n_boot)
        low, high = (
            (np.percentile(ranked, 2.5, method="lower"), np.percentile(ranked, 97.5, method="higher"))
            if n_boot
            else (np.nan, np.nan)
        )
        ceiling_columns = {
            "ceiling_level": ceiling,
            "ceiling_ci_low": low if np.isfinite(low) else np.nan,
            "ceiling_ci_high": high if np.isfinite(high) else np.nan,
            "n_boot": n_boot,
        }
        for r, c in zip(group_rows, at_ceiling):
            rows.append({"group": group, **r, "reference": reference, "at_ceiling": bool(c), **ceiling_columns})
        dist_rows.extend(_distribution_rows(group, ranked, n_boot))
    return (
        pd.DataFrame(rows, columns=_CEILING_COLUMNS),
        pd.DataFrame(dist_rows, columns=["group", "ceiling_level", "no_ceiling", "fraction"]),
    )


#: The columns of :func:`ceiling_levels`' first table, in order.
_CEILING_COLUMNS = [
    "group",
    "level",
    "reference",
    "difference",
    "p",
    "n_participants",
    "n_permutations",
    "at_ceiling",
    "ceiling_level",
    "ceiling_ci_low",
    "ceiling_ci_high",
    "n_boot",
]


def _sign_flip_rows(levels: np.ndarray, diffs: np.ndarray, n_permutations: int, seed) -> list[dict]:
    """Per level, the sign-flip test of the participants' differences to the reference (NaN: absent)."""
    rows = []
    for k, level in enumerate(levels):
        d = diffs[~np.isnan(diffs[:, k]), k]
        diff, p = sign_flip_test(d, n_permutations, seed=[seed, k])
        rows.append(
            {
                "level": level,
                "difference": diff,
                "p": p,
                "n_participants": len(d),
                "n_permutations": 2 ** len(d) if 2 ** len(d) <= n_permutations else n_permutations,
            }
        )
    return rows


def _distribution_rows(group, ranked: np.ndarray, n_boot: int) -> list[dict]:
    """The bootstrap distribution of one group's ceiling (inf in ``ranked``: no ceiling)."""
    if not n_boot:
        return []
    values, counts = np.unique(ranked, return_counts=True)
    return [
        {
            "group": group,
            "ceiling_level": v if np.isfinite(v) else np.nan,
            "no_ceiling": not np.isfinite(v),
            "fraction": c / n_boot,
        }
        for v, c in zip(values, counts)
    ]


def _differences_to_reference(g):
    """One group's reference name, its levels and the participants x levels accuracy differences
    (level - reference; NaN = absent). The reference is the intact image, else the highest level."""
    if g["intact"].any():
        ref, reference = g[g["intact"]].set_index("participant")["accuracy"], "intact"
        revealed = g[~g["intact"]]
    else:
        top = g["level"].max()
        ref, reference = g[g["level"] == top].set_index("participant")["accuracy"], f"level {top:g}"
        revealed = g[g["level"] < top]
    wide = revealed.pivot_table(index="participant", columns="level", values="accuracy")
    wide = wide.loc[wide.index.intersection(ref.index)]
    diffs = wide.to_numpy() - ref[wide.index].to_numpy()[:, None]
    levels = wide.columns.to_numpy(float)
    keep = ~np.isnan(diffs).all(0)
    return reference, levels[keep], diffs[:, keep]


def _bootstrap_ceilings(levels, diffs, rng, *, alpha, n_permutations, n_boot):
    """Ceilings of ``n_boot`` resamples of the participants (rows of ``diffs``); inf = no ceiling."""
    boot = np.full(n_boot, np.nan)
    for b in range(n_boot):
        sample = diffs[rng.integers(0, len(diffs), len(diffs))]
        signs = rng.choice([1.0, -1.0], size=(n_permutations, len(sample)))
        boot[b] = _ceiling_of(levels, _sign_flip_columns(sample, signs), alpha)[0]
    return np.where(np.isnan(boot), np.inf, boot)
