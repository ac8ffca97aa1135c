"""Psychophysics statistics of the rapid-categorization experiment.

Input is a tidy trial table, one row per trial, as written by the ``experiments`` runner
(``data/<participant>.csv``) or made from BIDS events files (:mod:`clickme_analysis.events`).
Every statistic returns a tidy DataFrame:

- :func:`exclude_trials`: flags misses and too-fast responses (documented rules);
- :func:`participant_summary`: accuracy and median RT per participant;
- :func:`accuracy_by_level`: accuracy per group x level with the S.E.M. over participants;
- :func:`level_tests`: per-level two-sided permutation test between two groups, Holm-corrected;
- :func:`mixed_logit`: mixed-effects logistic regression of correctness on group x log(level);
- :func:`psychometric_fit`: logistic or Weibull psychometric function per group, bootstrap CIs;
- :func:`ceiling_levels`: the level from which each group is not different from the full image.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError

#: Columns a trial table must have.
REQUIRED_COLUMNS = ("participant", "group", "level", "map_source", "correct", "rt", "timed_out")
INTACT = "intact"


# --------------------------------------------------------------------------------------- loading
def _csv_files(paths) -> list[Path]:
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files = []
    for p in map(Path, paths):
        if p.is_dir():
            files.extend(sorted(p.glob("*.csv")))
        elif p.exists():
            files.append(p)
        else:
            raise InputError("no such file or folder", path=p)
    if not files:
        raise InputError(f"no trial CSV files in {[str(p) for p in paths]}")
    return files


def _bool_column(frame, field, path):
    text = frame[field].astype(str).str.strip().str.lower()
    mapping = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}
    bad = ~text.isin(list(mapping))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected 0/1 or true/false, got {frame[field].iloc[i]!r}", path=path, line=i + 2,
                         field=field)
    return text.map(mapping).astype(bool)


def validate_trials(frame: pd.DataFrame, path=None) -> pd.DataFrame:
    """Check and coerce a trial table (see ``REQUIRED_COLUMNS``); returns a typed copy.

    ``correct`` and ``timed_out`` become bool, ``level`` and ``rt`` (s, empty when no response)
    float, ``participant`` and ``group`` str.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(f"trial table lacks columns {missing}; has {list(frame.columns)}", path=path,
                         field=missing[0])
    out = frame.copy()
    for field in ("participant", "group", "map_source"):
        out[field] = out[field].astype(str)
    for field in ("correct", "timed_out"):
        out[field] = _bool_column(out, field, path)
    for field, positive in (("level", True), ("rt", False)):
        values = pd.to_numeric(out[field], errors="coerce")
        bad = values.isna() & out[field].notna() if not positive else values.isna() | (values <= 0)
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "a positive number" if positive else "a number or empty"
            raise InputError(f"expected {expected}, got {out[field].iloc[i]!r}", path=path, line=i + 2, field=field)
        out[field] = values.astype(float)
    answered = ~out["timed_out"] & out["rt"].isna()
    if answered.any():
        i = int(np.flatnonzero(answered.to_numpy())[0])
        raise InputError("a response (timed_out = 0) needs an rt", path=path, line=i + 2, field="rt")
    return out


def load_trials(paths, phase: str | None = "test") -> pd.DataFrame:
    """Read runner CSVs (files or folders of ``*.csv``) into one validated trial table.

    Parameters
    ----------
    paths : str, Path or list of them
        ``data/<participant>.csv`` files, or folders holding them.
    phase : str or None
        Keep rows of this ``phase`` (the runner writes ``training`` and ``test``); None keeps all.

    Returns
    -------
    pandas.DataFrame
        The runner's columns, typed as :func:`validate_trials` says.
    """
    frames = []
    for path in _csv_files(paths):
        try:
            frame = pd.read_csv(path, dtype={"participant": str, "response": str})
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
            raise InputError(f"not a readable trial CSV ({err})", path=path) from None
        frame = validate_trials(frame, path)
        if phase is not None and "phase" in frame.columns:
            frame = frame[frame["phase"] == phase]
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------------ exclusions
def exclude_trials(trials: pd.DataFrame, min_rt: float = 0.02, max_rt: float | None = None) -> pd.DataFrame:
    """Flag trials left out of accuracy, with the reason.

    Rules (the authors' 2017 protocol): a trial without a response in the window (``timed_out``)
    is a ``miss``; a response faster than ``min_rt`` s is ``too_fast`` (an anticipation); one
    slower than ``max_rt`` s, when given, is ``too_slow``. Flagged trials count neither as
    correct nor as errors and are reported apart (:func:`participant_summary`).

    Returns
    -------
    pandas.DataFrame
        ``trials`` plus ``excluded`` (bool) and ``exclusion`` (``''``, ``miss``, ``too_fast``,
        ``too_slow``).

    Examples
    --------
    >>> t = pd.DataFrame({"timed_out": [False, True, False], "rt": [0.4, np.nan, 0.01]})
    >>> exclude_trials(t)["exclusion"].tolist()
    ['', 'miss', 'too_fast']
    """
    for field in ("timed_out", "rt"):
        if field not in trials.columns:
            raise InputError("trial table lacks this column", field=field)
    reason = np.full(len(trials), "", dtype=object)
    rt = trials["rt"].to_numpy(dtype=float)
    if max_rt is not None:
        reason[rt > max_rt] = "too_slow"
    reason[rt < min_rt] = "too_fast"
    reason[trials["timed_out"].to_numpy(dtype=bool)] = "miss"
    return trials.assign(excluded=reason != "", exclusion=reason)


def _with_exclusions(trials):
    """Trials as given when already flagged, else validated and flagged with the default rules."""
    return trials if "excluded" in trials.columns else exclude_trials(validate_trials(trials))


def _condition(trials) -> pd.DataFrame:
    return trials.assign(intact=trials["map_source"] == INTACT)


def exclude_participants(trials: pd.DataFrame, min_intact_accuracy: float = 0.5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Drop participants at or below ``min_intact_accuracy`` on the intact image (the authors' option).

    Returns
    -------
    kept : pandas.DataFrame
        The trials of the other participants.
    dropped : pandas.DataFrame
        ``participant, group, intact_accuracy`` of those dropped (participants without intact
        trials are kept).

    Examples
    --------
    >>> t = pd.DataFrame({"participant": ["a", "a", "b", "b"], "group": "g", "level": 100.0,
    ...                   "map_source": "intact", "correct": [1, 1, 1, 0], "rt": 0.4, "timed_out": 0})
    >>> kept, dropped = exclude_participants(t)
    >>> sorted(kept["participant"].unique()), dropped["participant"].tolist()
    (['a'], ['b'])
    """
    per = participant_accuracy(trials)
    full = per[per["intact"]].groupby(["participant", "group"])["accuracy"].mean().rename("intact_accuracy")
    dropped = full[full <= min_intact_accuracy].reset_index()
    kept = trials[~trials["participant"].astype(str).isin(dropped["participant"])]
    return kept, dropped


# ---------------------------------------------------------------------------------- descriptives
def participant_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and median reaction time per participant.

    Accuracy is over included trials; the median RT is over included correct trials with a
    response (for go/no-go data: go RTs on targets).

    Returns
    -------
    pandas.DataFrame
        ``participant, group, n_trials, n_included, n_miss, n_too_fast, accuracy, median_rt``.
    """
    trials = _with_exclusions(trials)
    rows = []
    for (participant, group), t in trials.groupby(["participant", "group"], sort=True):
        kept = t[~t["excluded"]]
        rts = kept.loc[kept["correct"] & kept["rt"].notna(), "rt"]
        rows.append({
            "participant": participant, "group": group, "n_trials": len(t), "n_included": len(kept),
            "n_miss": int((t["exclusion"] == "miss").sum()), "n_too_fast": int((t["exclusion"] == "too_fast").sum()),
            "accuracy": kept["correct"].mean() if len(kept) else np.nan,
            "median_rt": float(rts.median()) if len(rts) else np.nan,
        })
    return pd.DataFrame(rows)


def participant_accuracy(trials: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per participant x group x level x intact over included trials.

    Returns
    -------
    pandas.DataFrame
        ``participant, group, level, intact, n_trials, accuracy``.
    """
    kept = _condition(_with_exclusions(trials))
    kept = kept[~kept["excluded"]]
    keys = ["participant", "group", "level", "intact"]
    out = kept.groupby(keys, sort=True)["correct"].agg(n_trials="size", accuracy="mean").reset_index()
    return out


def accuracy_by_level(trials: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per group x level with the S.E.M. over participants.

    Each participant's accuracy at a level is one observation (the paper's Fig. 2B); the S.E.M.
    is the sample SD (n - 1) over participants divided by sqrt(n). The intact image is its own
    condition (``intact`` True, ``level`` 100).

    Returns
    -------
    pandas.DataFrame
        ``group, level, intact, accuracy, sem, n_participants``.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": ["a", "a", "b", "b"], "group": "g", "level": 10.0,
    ...                   "map_source": "clickme", "correct": [1, 1, 1, 0], "rt": 0.4, "timed_out": 0})
    >>> accuracy_by_level(t)[["accuracy", "sem"]].round(3).values.tolist()
    [[0.75, 0.25]]
    """
    per = participant_accuracy(trials)
    out = per.groupby(["group", "level", "intact"], sort=True)["accuracy"].agg(
        accuracy="mean", sd=lambda a: a.std(ddof=1), n_participants="size").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n_participants"])
    return out[["group", "level", "intact", "accuracy", "sem", "n_participants"]]


# ---------------------------------------------------------------------------- permutation tests
def permutation_test(a, b, n_permutations: int = 10000, seed=0) -> tuple[float, float, bool]:
    """Two-sided permutation test of the difference of means ``mean(a) - mean(b)``.

    All relabellings are enumerated when there are at most ``n_permutations`` of them (exact
    test); otherwise ``n_permutations`` random ones are drawn and p = (1 + #|d*| >= |d|) /
    (1 + n_permutations).

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


def holm(p) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (as ``statsmodels`` ``multipletests(method='holm')``).

    Examples
    --------
    >>> holm([0.01, 0.04, 0.03]).round(2).tolist()
    [0.03, 0.06, 0.06]
    """
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    adjusted = np.maximum.accumulate((len(p) - np.arange(len(p))) * p[order])
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def _two_groups(trials, groups):
    present = sorted(pd.unique(trials["group"]))
    groups = tuple(groups) if groups is not None else tuple(present)
    if len(groups) != 2 or any(g not in present for g in groups):
        raise InputError(f"expected two groups present in the data, got {list(groups)}; data has {present}",
                         field="group")
    return groups


def level_tests(trials: pd.DataFrame, groups=None, n_permutations: int = 10000, alpha: float = 0.05,
                seed=0) -> pd.DataFrame:
    """Per-level two-sided permutation test of per-participant accuracy between two groups.

    The authors' randomisation test: at each level, participants' accuracies of group A vs
    group B, labels permuted; p-values Holm-corrected over levels.

    Returns
    -------
    pandas.DataFrame
        ``level, intact, group_a, group_b, statistic`` (accuracy A - B), ``p, p_holm,
        significant, n_a, n_b, exact``.
    """
    per = participant_accuracy(trials)
    group_a, group_b = _two_groups(per, groups)
    rows = []
    for k, ((level, intact), t) in enumerate(per.groupby(["level", "intact"], sort=True)):
        a = t.loc[t["group"] == group_a, "accuracy"]
        b = t.loc[t["group"] == group_b, "accuracy"]
        if len(a) == 0 or len(b) == 0:
            continue
        stat, p, exact = permutation_test(a, b, n_permutations, seed=[seed, k])
        rows.append({"level": level, "intact": intact, "group_a": group_a, "group_b": group_b, "statistic": stat,
                     "p": p, "n_a": len(a), "n_b": len(b), "exact": exact})
    out = pd.DataFrame(rows)
    if out.empty:
        raise InputError("no level has participants of both groups", field="level")
    out["p_holm"] = holm(out["p"])
    out["significant"] = out["p_holm"] < alpha
    return out[["level", "intact", "group_a", "group_b", "statistic", "p", "p_holm", "significant", "n_a", "n_b",
                "exact"]]


# ------------------------------------------------------------------------------- mixed logistic
def mixed_logit(trials: pd.DataFrame, seed=0) -> pd.DataFrame:
    """Mixed-effects logistic regression: correct ~ group * log10(level) + (1 | participant).

    Fitted with statsmodels' ``BinomialBayesMixedGLM`` (variational Bayes; statsmodels has no
    maximum-likelihood GLMM). Intact-image trials are left out (they are not on the level axis).
    ``p`` is the two-sided normal tail of posterior mean / posterior SD.

    Returns
    -------
    pandas.DataFrame
        ``term, estimate, sd, z, p`` (fixed effects), then ``participant_sd`` (random-intercept
        SD, estimate only).
    """
    from scipy import stats
    from statsmodels.genmod.bayes_mixed_glm import BinomialBayesMixedGLM

    t = _condition(_with_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]].assign(correct=lambda d: d["correct"].astype(float),
                                               log_level=lambda d: np.log10(d["level"]))
    if t["group"].nunique() < 2 or t["log_level"].nunique() < 2:
        raise InputError("the mixed model needs two groups and two levels", field="group")
    model = BinomialBayesMixedGLM.from_formula("correct ~ C(group) * log_level",
                                               {"participant": "0 + C(participant)"}, t)
    result = model.fit_vb()
    z = result.fe_mean / result.fe_sd
    out = pd.DataFrame({"term": model.exog_names, "estimate": result.fe_mean, "sd": result.fe_sd, "z": z,
                        "p": 2 * stats.norm.sf(np.abs(z))})
    re_sd = float(np.exp(result.vcp_mean[0]))
    return pd.concat([out, pd.DataFrame([{"term": "participant_sd", "estimate": re_sd}])], ignore_index=True)


# -------------------------------------------------------------------------------- psychometrics
def psychometric_function(level, alpha: float, beta: float, lapse: float, model: str = "logistic",
                          guess: float = 0.5):
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
    from scipy import optimize

    x = np.log10(levels)
    keep = n > 0
    levels, k, n = levels[keep], k[keep], n[keep]

    def nll(params):
        p = np.clip(psychometric_function(levels, params[0], params[1], params[2], model, guess), 1e-9, 1 - 1e-9)
        return -np.sum(k * np.log(p) + (n - k) * np.log1p(-p))

    spread = max(x.max() - x.min(), 0.1)
    bounds = [(x.min() - spread, x.max() + spread), (0.01, 2 * spread), (0.0, max_lapse)]
    if starts is None:
        starts = [(np.median(x), spread / 4, 0.02), (x.min(), spread / 8, 0.02), (x.max(), spread / 2, 0.02)]
    best = min((optimize.minimize(nll, s, method="SLSQP", bounds=bounds) for s in starts), key=lambda r: r.fun)
    return best.x


def psychometric_fit(trials: pd.DataFrame, model: str = "logistic", n_boot: int = 200, guess: float = 0.5,
                     max_lapse: float = 0.1, n_points: int = 50, seed=0,
                     progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Maximum-likelihood psychometric function per group, with participant-bootstrap CIs.

    Fitted to the counts of correct included trials per level (intact trials left out);
    ``alpha`` (log10 threshold), ``beta`` (spread) and ``lapse`` (at most ``max_lapse``) are
    free, ``guess`` fixed (0.5 for two alternatives). CIs are the 2.5 / 97.5 percentiles over
    ``n_boot`` refits to participants resampled with replacement within the group.

    Returns
    -------
    params : pandas.DataFrame
        ``group, model, threshold, threshold_ci_low, threshold_ci_high, alpha, beta, lapse,
        n_participants, n_trials`` (``threshold`` = 10**alpha, % revealed).
    curve : pandas.DataFrame
        ``group, level, predicted, ci_low, ci_high`` on ``n_points`` log-spaced levels.
    """
    from tqdm import tqdm

    if n_boot < 0:
        raise InputError(f"expected n_boot >= 0, got {n_boot}", field="n_boot")
    if model not in ("logistic", "weibull"):
        raise InputError(f"expected model 'logistic' or 'weibull', got {model!r}", field="model")
    t = _condition(_with_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]]
    if t["level"].nunique() < 2:
        raise InputError("a psychometric fit needs at least two levels", field="level")
    grid = np.logspace(np.log10(t["level"].min()), np.log10(t["level"].max()), n_points)
    rng = np.random.default_rng(seed)
    params, curves = [], []
    for group, g in tqdm(t.groupby("group", sort=True), disable=not progress, desc="psychometric fits"):
        k = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="sum", fill_value=0)
        n = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="size", fill_value=0)
        levels, k, n = k.columns.to_numpy(float), k.to_numpy(float), n.to_numpy(float)
        est = _fit_counts(levels, k.sum(0), n.sum(0), model, guess, max_lapse)
        boots = np.empty((n_boot, 3))
        for b in range(n_boot):
            rows = rng.integers(0, len(k), len(k))
            boots[b] = _fit_counts(levels, k[rows].sum(0), n[rows].sum(0), model, guess, max_lapse, starts=[est])
        curve_boot = np.array([psychometric_function(grid, *b, model, guess) for b in boots]).reshape(-1, n_points)
        nan = np.full(n_points, np.nan)
        lo, hi = np.percentile(curve_boot, [2.5, 97.5], axis=0) if n_boot else (nan, nan)
        th_lo, th_hi = 10 ** np.percentile(boots[:, 0], [2.5, 97.5]) if n_boot else (np.nan, np.nan)
        params.append({"group": group, "model": model, "threshold": 10 ** est[0], "threshold_ci_low": th_lo,
                       "threshold_ci_high": th_hi, "alpha": est[0], "beta": est[1], "lapse": est[2],
                       "n_participants": len(k), "n_trials": len(g)})
        curves.append(pd.DataFrame({"group": group, "level": grid,
                                    "predicted": psychometric_function(grid, *est, model, guess),
                                    "ci_low": lo, "ci_high": hi}))
    return pd.DataFrame(params), pd.concat(curves, ignore_index=True)


# ------------------------------------------------------------------------------------ ceilings
def ceiling_levels(trials: pd.DataFrame, n_permutations: int = 10000, alpha: float = 0.05, seed=0) -> pd.DataFrame:
    """Per group, the lowest level from which accuracy is not different from the full image.

    At each revealed level, the per-participant accuracy difference (level - intact image) is
    tested with a two-sided sign-flip test (participants who have both); the group's ceiling is
    the lowest level such that it and every higher level have p >= ``alpha``. Without intact
    trials, the group's highest level is the reference.

    Returns
    -------
    pandas.DataFrame
        ``group, level, reference, difference, p, n_participants, at_ceiling, ceiling_level``.
    """
    per = participant_accuracy(trials)
    rows = []
    for group, g in per.groupby("group", sort=True):
        if g["intact"].any():
            ref, reference = g[g["intact"]].set_index("participant")["accuracy"], "intact"
            revealed = g[~g["intact"]]
        else:
            top = g["level"].max()
            ref, reference = g[g["level"] == top].set_index("participant")["accuracy"], f"level {top:g}"
            revealed = g[g["level"] < top]
        group_rows = []
        for k, (level, t) in enumerate(revealed.groupby("level", sort=True)):
            acc = t.set_index("participant")["accuracy"]
            both = acc.index.intersection(ref.index)
            if len(both) == 0:
                continue
            diff, p = sign_flip_test((acc[both] - ref[both]).to_numpy(), n_permutations, seed=[seed, k])
            group_rows.append({"group": group, "level": level, "reference": reference, "difference": diff, "p": p,
                               "n_participants": len(both)})
        not_different = np.array([r["p"] >= alpha for r in group_rows])
        at_ceiling = np.flip(np.logical_and.accumulate(np.flip(not_different))) if len(group_rows) else not_different
        ceiling = next((r["level"] for r, c in zip(group_rows, at_ceiling) if c), np.nan)
        for r, c in zip(group_rows, at_ceiling):
            rows.append({**r, "at_ceiling": bool(c), "ceiling_level": ceiling})
    return pd.DataFrame(rows, columns=["group", "level", "reference", "difference", "p", "n_participants",
                                       "at_ceiling", "ceiling_level"])


# ------------------------------------------------------------------------------------ pipeline
def analyze(trials: pd.DataFrame, min_rt: float = 0.02, max_rt: float | None = None, groups=None,
            n_permutations: int = 10000, n_boot: int = 200, model: str = "logistic", alpha: float = 0.05,
            min_intact_accuracy: float | None = None, seed=0, progress: bool = False) -> dict[str, pd.DataFrame]:
    """All statistics of one experiment, as named tidy DataFrames.

    ``min_intact_accuracy``, when given, first drops participants at or below it on the intact
    image (:func:`exclude_participants`); ``participants`` then lists everyone, with ``dropped``.

    Returns
    -------
    dict
        ``participants`` (:func:`participant_summary`), ``accuracy``, ``level_tests``,
        ``mixed_model``, ``psychometric_params``, ``psychometric`` (curve), ``ceiling``.
        ``level_tests`` and ``mixed_model`` are empty frames with one group.
    """
    trials = exclude_trials(validate_trials(trials), min_rt=min_rt, max_rt=max_rt)
    summary = participant_summary(trials)
    summary["dropped"] = False
    if min_intact_accuracy is not None:
        trials, dropped = exclude_participants(trials, min_intact_accuracy)
        summary["dropped"] = summary["participant"].isin(dropped["participant"])
    params, curve = psychometric_fit(trials, model=model, n_boot=n_boot, seed=seed, progress=progress)
    two = trials["group"].nunique() == 2 or groups is not None
    return {
        "participants": summary,
        "accuracy": accuracy_by_level(trials),
        "level_tests": level_tests(trials, groups, n_permutations, alpha, seed) if two else pd.DataFrame(),
        "mixed_model": mixed_logit(trials) if two else pd.DataFrame(),
        "psychometric_params": params,
        "psychometric": curve,
        "ceiling": ceiling_levels(trials, n_permutations, alpha, seed),
    }


def write_analysis(results: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write each frame of :func:`analyze` to ``out_dir/<name>.csv``; returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, frame in results.items():
        path = out_dir / f"{name}.csv"
        frame.to_csv(path, index=False)
        paths.append(path)
    return paths
