"""Psychophysics statistics of the rapid-categorization experiment.

Input is a tidy trial table, one row per trial, as written by the ``experiments`` runner
(``data/<participant>.csv``) or made from BIDS events files (:mod:`clickme_analysis.events`).
Every statistic returns a tidy DataFrame:

- :func:`exclude_trials`: flags misses and too-fast responses (documented rules);
- :func:`participant_summary`: accuracy and median RT per participant;
- :func:`accuracy_by_level`: accuracy per group x level with the S.E.M. over participants;
- :func:`rt_by_level`: median correct reaction time per group x level;
- :func:`signal_detection`, :func:`dprime_by_level`: hit and false-alarm rates, d' and criterion
  (log-linear correction), also for go/no-go data;
- :func:`level_tests`: per-level two-sided permutation test between two groups, Holm and
  Benjamini-Hochberg corrected, with effect sizes (:func:`effect_size`, BCa intervals);
- :func:`mixed_logit`: maximum-likelihood mixed-effects logistic regression of correctness on
  group x log10(level), crossed participant and image effects (:mod:`clickme_analysis.glmm`);
- :func:`psychometric_fit`: logistic or Weibull psychometric function per group, parametric
  bootstrap intervals;
- :func:`ceiling_levels`: the level from which each group is not different from the full image,
  with its bootstrap interval;
- :func:`simulate_glmm_trials`: trial tables drawn from the mixed model (calibration, power).

Definitions, sources and the calibration: docs/experiments.md.
"""

from __future__ import annotations

import itertools
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files

#: Columns a trial table must have.
REQUIRED_COLUMNS = ("participant", "group", "level", "map_source", "correct", "rt", "timed_out")
INTACT = "intact"


# --------------------------------------------------------------------------------------- loading
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
    for path in collect_files(paths, (".csv",), what="trial CSV files"):
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


# ------------------------------------------------------------------------ signal detection, RT
#: Corrections of hit and false-alarm rates of 0 and 1 (see :func:`signal_detection`).
SDT_CORRECTIONS = ("loglinear", "1/2N", "none")


def _optional_bool(frame, field):
    text = frame[field].astype(str).str.strip().str.lower()
    mapping = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}
    empty = frame[field].isna() | text.isin(["", "nan", "none"])
    bad = ~text.isin(list(mapping)) & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected 0/1, true/false or empty, got {frame[field].iloc[i]!r} (participant "
                         f"{frame['participant'].iloc[i]!r}, row {i + 1} of the trial table)", field=field)
    return text.map(mapping).where(~empty)


def signal_detection(trials: pd.DataFrame, correction: str = "loglinear") -> pd.DataFrame:
    """Hit and false-alarm rates, d' and criterion per participant x group x level x intact.

    A *hit* is a "target" answer (``responded_target``; for go/no-go data, a go) on a target
    trial (``target``: an animal), a *false alarm* a "target" answer on a distractor; excluded
    trials are left out. ``d' = z(H) - z(F)`` and ``c = -(z(H) + z(F)) / 2`` (Macmillan &
    Creelman 2005), z the standard normal quantile. Rates of 0 or 1 have no finite z:

    - ``loglinear`` (default; Hautus 1995): every cell becomes (count + 0.5) / (n + 1), which
      is less biased than the 1/(2N) rule;
    - ``1/2N`` (Macmillan & Kaplan 1985): only rates of 0 and 1 become 1/(2N) and 1 - 1/(2N);
    - ``none``: infinite d' where a rate is 0 or 1.

    Returns
    -------
    pandas.DataFrame
        ``participant, group, level, intact, n_signal, n_noise, hits, false_alarms, hit_rate,
        fa_rate`` (uncorrected), ``d_prime, criterion, correction``.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": "a", "group": "g", "level": 10.0, "map_source": "m",
    ...                   "target": [1, 1, 0, 0], "responded_target": [1, 1, 0, 1], "correct": [1, 1, 1, 0],
    ...                   "rt": 0.4, "timed_out": 0})
    >>> signal_detection(t)[["hit_rate", "fa_rate", "d_prime"]].round(3).values.tolist()
    [[1.0, 0.5, 0.967]]
    """
    from scipy import stats

    if correction not in SDT_CORRECTIONS:
        raise InputError(f"expected correction one of {SDT_CORRECTIONS}, got {correction!r}", field="correction")
    for field in ("target", "responded_target"):
        if field not in trials.columns:
            raise InputError("signal detection needs this column (runner CSVs and go/no-go events have it)",
                             field=field)
    kept = _condition(_with_exclusions(trials))
    kept = kept[~kept["excluded"]].assign(target=lambda d: _optional_bool(d, "target"),
                                          said=lambda d: _optional_bool(d, "responded_target"))
    if kept["target"].isna().any():
        raise InputError("an included trial has no target value", field="target")
    if kept["said"].isna().any():
        raise InputError("an included trial (a response) has no responded_target value", field="responded_target")
    kept = kept.assign(target=kept["target"].astype(bool), said=kept["said"].astype(bool))
    keys = ["participant", "group", "level", "intact"]
    out = kept.groupby(keys, sort=True).apply(
        lambda d: pd.Series({"n_signal": int(d["target"].sum()), "n_noise": int((~d["target"]).sum()),
                             "hits": int((d["target"] & d["said"]).sum()),
                             "false_alarms": int((~d["target"] & d["said"]).sum())}),
        include_groups=False).reset_index()
    n_s, n_n = out["n_signal"].to_numpy(float), out["n_noise"].to_numpy(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        hit, fa = out["hits"] / n_s, out["false_alarms"] / n_n
        if correction == "loglinear":
            h, f = (out["hits"] + 0.5) / (n_s + 1), (out["false_alarms"] + 0.5) / (n_n + 1)
        elif correction == "1/2N":
            h = hit.clip(1 / (2 * n_s), 1 - 1 / (2 * n_s))
            f = fa.clip(1 / (2 * n_n), 1 - 1 / (2 * n_n))
        else:
            h, f = hit, fa
    zh, zf = stats.norm.ppf(h), stats.norm.ppf(f)
    missing = (n_s == 0) | (n_n == 0)
    out["hit_rate"], out["fa_rate"] = hit, fa
    out["d_prime"] = np.where(missing, np.nan, zh - zf)
    out["criterion"] = np.where(missing, np.nan, -(zh + zf) / 2)
    out["correction"] = correction
    return out


def _mean_sem(frame, value, keys):
    out = frame.groupby(keys, sort=True)[value].agg(mean="mean", sd=lambda a: a.std(ddof=1),
                                                    n_participants="count").reset_index()
    out["sem"] = out["sd"] / np.sqrt(out["n_participants"])
    return out.drop(columns="sd")


def dprime_by_level(trials: pd.DataFrame, correction: str = "loglinear") -> pd.DataFrame:
    """Mean d' and criterion over participants per group x level, with S.E.M.s (:func:`signal_detection`).

    Returns
    -------
    pandas.DataFrame
        ``group, level, intact, d_prime, d_prime_sem, criterion, criterion_sem, n_participants,
        correction``.
    """
    per = signal_detection(trials, correction)
    keys = ["group", "level", "intact"]
    d = _mean_sem(per, "d_prime", keys).rename(columns={"mean": "d_prime", "sem": "d_prime_sem"})
    c = _mean_sem(per, "criterion", keys).rename(columns={"mean": "criterion", "sem": "criterion_sem"})
    out = d.merge(c.drop(columns="n_participants"), on=keys)
    out["correction"] = correction
    return out[["group", "level", "intact", "d_prime", "d_prime_sem", "criterion", "criterion_sem",
                "n_participants", "correction"]]


def rt_by_level(trials: pd.DataFrame) -> pd.DataFrame:
    """Median correct reaction time per participant, then its mean and S.E.M. per group x level.

    Included correct trials with a response only (for go/no-go data: correct go responses).

    Returns
    -------
    pandas.DataFrame
        ``group, level, intact, median_rt`` (s: the mean over participants of each one's median),
        ``sem, n_participants, n_trials``.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": list("aabb"), "group": "g", "level": 10.0, "map_source": "m",
    ...                   "correct": [1, 1, 1, 0], "rt": [0.4, 0.6, 0.3, 0.9], "timed_out": 0})
    >>> rt_by_level(t)[["median_rt", "n_participants", "n_trials"]].values.tolist()
    [[0.4, 2.0, 3.0]]
    """
    kept = _condition(_with_exclusions(trials))
    kept = kept[~kept["excluded"] & kept["correct"].astype(bool) & kept["rt"].notna()]
    keys = ["group", "level", "intact"]
    per = kept.groupby(["participant"] + keys, sort=True)["rt"].agg(rt="median", n="size").reset_index()
    out = _mean_sem(per, "rt", keys).rename(columns={"mean": "median_rt"})
    out["n_trials"] = per.groupby(keys, sort=True)["n"].sum().to_numpy()
    return out[["group", "level", "intact", "median_rt", "sem", "n_participants", "n_trials"]]


# ---------------------------------------------------------------------------- permutation tests
def permutation_test(a, b, n_permutations: int = 10000, seed=0) -> tuple[float, float, bool]:
    """Two-sided permutation test of the difference of means ``mean(a) - mean(b)``.

    All relabellings are enumerated when there are at most ``n_permutations`` of them (exact
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


def _n_relabellings(n_a: int, n_b: int, n_permutations: int) -> int:
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


def effect_size(a, b, n_boot: int = 2000, confidence: float = 0.95, seed=0) -> dict:
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
    from scipy import stats

    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    out = {"difference": float(a.mean() - b.mean()) if len(a) and len(b) else np.nan,
           "difference_ci_low": np.nan, "difference_ci_high": np.nan,
           "hedges_g": float(_hedges_g(a, b)) if len(a) > 1 and len(b) > 1 else np.nan,
           "g_ci_low": np.nan, "g_ci_high": np.nan}
    if len(a) < 2 or len(b) < 2 or n_boot < 1 or np.ptp(np.r_[a, b]) == 0:
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, statistic in (("difference", lambda x, y, axis: x.mean(axis) - y.mean(axis)), ("g", _hedges_g)):
            res = stats.bootstrap((a, b), statistic, n_resamples=n_boot, confidence_level=confidence,
                                  method="BCa", rng=np.random.default_rng(seed), vectorized=True)
            low, high = res.confidence_interval
            out[f"{name}_ci_low"], out[f"{name}_ci_high"] = float(low), float(high)
    return out


def _two_groups(trials, groups):
    present = sorted(pd.unique(trials["group"]))
    groups = tuple(groups) if groups is not None else tuple(present)
    if len(groups) != 2 or any(g not in present for g in groups):
        raise InputError(f"expected two groups present in the data, got {list(groups)}; data has {present}",
                         field="group")
    return groups


def level_tests(trials: pd.DataFrame, groups=None, n_permutations: int = 10000, alpha: float = 0.05,
                n_boot: int = 2000, seed=0) -> pd.DataFrame:
    """Per-level two-sided permutation test of per-participant accuracy between two groups.

    The authors' randomisation test: at each level, participants' accuracies of group A vs
    group B, labels permuted (:func:`permutation_test`); p-values corrected over levels by Holm
    (1979; family-wise error) and by Benjamini & Hochberg (1995; false discovery rate), both
    from ``statsmodels.stats.multitest.multipletests``. Effect sizes: the difference of mean
    accuracy and Hedges' g with BCa bootstrap intervals (:func:`effect_size`).

    Returns
    -------
    pandas.DataFrame
        ``level, intact, group_a, group_b, statistic`` (accuracy A - B), ``p, p_holm, p_fdr_bh,
        significant`` (``p_holm < alpha``), ``n_a, n_b, exact, n_permutations`` (relabellings
        evaluated), ``difference_ci_low, difference_ci_high, hedges_g, g_ci_low, g_ci_high``.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": list("abcdef"), "group": list("xxxyyy"), "level": 10.0,
    ...                   "map_source": "m", "correct": [1, 1, 1, 0, 0, 1], "rt": 0.4, "timed_out": 0})
    >>> level_tests(t, n_boot=0)[["statistic", "p", "n_permutations"]].round(3).values.tolist()
    [[0.667, 0.4, 20.0]]
    """
    from statsmodels.stats.multitest import multipletests

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
        if len(a) == 0 or len(b) == 0:
            continue
        stat, p, exact = permutation_test(a, b, n_permutations, seed=[seed, k])
        size = effect_size(a, b, n_boot, 1 - alpha, seed=[seed, k])
        rows.append({"level": level, "intact": intact, "group_a": group_a, "group_b": group_b, "statistic": stat,
                     "p": p, "n_a": len(a), "n_b": len(b), "exact": exact,
                     "n_permutations": _n_relabellings(len(a), len(b), n_permutations),
                     **{key: value for key, value in size.items() if key != "difference"}})
    out = pd.DataFrame(rows)
    if out.empty:
        raise InputError("no level has participants of both groups", field="level")
    out["p_holm"] = multipletests(out["p"], alpha=alpha, method="holm")[1]
    out["p_fdr_bh"] = multipletests(out["p"], alpha=alpha, method="fdr_bh")[1]
    out["significant"] = out["p_holm"] < alpha
    return out[["level", "intact", "group_a", "group_b", "statistic", "p", "p_holm", "p_fdr_bh", "significant",
                "n_a", "n_b", "exact", "n_permutations", "difference_ci_low", "difference_ci_high", "hedges_g",
                "g_ci_low", "g_ci_high"]]


# ------------------------------------------------------------------------------- mixed logistic
def _mixed_data(trials, groups):
    t = _condition(_with_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]]
    if t.empty:
        raise InputError("no included revealed-level trials for the mixed model", field="level")
    present = sorted(pd.unique(t["group"]))
    groups = list(groups) if groups is not None else present
    unknown = [g for g in groups if g not in present]
    if len(groups) < 2 or unknown or len(set(groups)) != len(groups):
        raise InputError(f"the mixed model needs two or more groups present in the data, got {groups}; "
                         f"data has {present}", field="group")
    t = t[t["group"].isin(groups)]
    if t["level"].nunique() < 2:
        raise InputError("the mixed model needs at least two revealed levels", field="level")
    return t, groups


def _fixed_design(t, groups):
    log_level = np.log10(t["level"].to_numpy(float))
    columns, names = [np.ones(len(t))], ["Intercept"]
    dummies = [(t["group"].to_numpy() == g).astype(float) for g in groups[1:]]
    for g, d in zip(groups[1:], dummies):
        columns.append(d)
        names.append(f"group[T.{g}]")
    columns.append(log_level)
    names.append("log10_level")
    for g, d in zip(groups[1:], dummies):
        columns.append(d * log_level)
        names.append(f"group[T.{g}]:log10_level")
    return np.column_stack(columns), names, log_level


def mixed_logit(trials: pd.DataFrame, groups=None, random_slopes: bool = True, image_effects: bool = True,
                method: str = "reml", df: str = "participants", nagq: int = 1, alpha: float = 0.05, *,
                start=None) -> pd.DataFrame:
    """Mixed-effects logistic regression of correctness on group x log10(level) (Laplace likelihood).

    ``correct ~ group * log10(level) + (1 + log10(level) | participant) + (1 | image_id)``,
    fitted by the Laplace approximation of the likelihood as lme4's ``glmer`` does
    (:mod:`clickme_analysis.glmm`); by default the variances come from the restricted
    likelihood (``method="reml"``: fixed effects integrated out, less biased variances with few
    participants) and the tests and intervals use a t distribution with ``n_participants - p``
    degrees of freedom (``df="participants"``; ``"normal"``: Wald z as ``summary(glmer)``): the
    calibrated default of docs/experiments.md. Intact-image trials and excluded trials are left
    out. The random slope and the image intercepts are dropped, with the reason in the
    ``note``, when the data cannot support them: no ``image_id`` column, participants with one
    level, or a singular fit (a variance at 0 or a correlation at +-1) of the slope term, which
    is then refitted without it.

    Parameters
    ----------
    trials : pandas.DataFrame
        A trial table (:func:`validate_trials`); ``image_id`` optional.
    groups : sequence of str, optional
        Groups to compare, the first the reference; default all, sorted.
    random_slopes, image_effects : bool
        Try the by-participant slope of log10(level) and the by-image intercept.
    method : {"reml", "ml"}
        Restricted (default) or full Laplace maximum likelihood.
    df : {"participants", "normal"}
        Reference distribution of the tests: t with n_participants - p df, or normal.
    nagq : {1, 0}
        With ``method="ml"``: 1 the Laplace maximum-likelihood fixed effects (lme4's default),
        0 the faster ``nAGQ = 0`` fit.
    alpha : float
        Intervals are ``1 - alpha``.
    start : dict, optional
        Warm start from known values (power simulations): ``beta``, ``participant`` (2 x 2
        covariance), ``image_id`` (variance); see :func:`clickme_analysis.mixed_model.fit_prepared`.

    Returns
    -------
    pandas.DataFrame
        One row per fixed effect (``effect`` = ``fixed``: ``term, estimate, se, z, df, p, ci_low,
        ci_high``) and per variance parameter (``effect`` = ``random``: ``participant sd(Intercept)``,
        ``participant sd(log10_level)``, ``participant corr``, ``image_id sd(Intercept)``;
        ``estimate`` only). Constant columns ``formula``, ``converged``, ``note`` (what was
        dropped and why; empty when nothing was), ``n_trials``, ``n_participants``, ``n_images``.

    Examples
    --------
    >>> trials = simulate_glmm_trials(n_participants=10, n_images=10, levels=(1, 10, 100), seed=0)
    >>> fit = mixed_logit(trials, random_slopes=False)
    >>> fit.loc[fit["effect"] == "fixed", "term"].tolist()
    ['Intercept', 'group[T.b]', 'log10_level', 'group[T.b]:log10_level']
    """
    from clickme_analysis.mixed_model import fit_prepared

    inputs = mixed_inputs(trials, groups, image_effects)
    return fit_prepared(**inputs, random_slopes=random_slopes, method=method, df=df, nagq=nagq, alpha=alpha,
                        start=start).table


def mixed_inputs(trials: pd.DataFrame, groups=None, image_effects: bool = True) -> dict:
    """The arrays :func:`clickme_analysis.mixed_model.fit_prepared` fits (``y, X, names,
    participant, log_level, image, notes``) from a trial table, as :func:`mixed_logit` uses them."""
    t, groups = _mixed_data(trials, groups)
    X, names, log_level = _fixed_design(t, groups)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError(f"the fixed effects {names} cannot all be estimated: every group needs trials at two or "
                         "more levels", field="level")
    notes, image = [], None
    if image_effects:
        if "image_id" not in t.columns:
            notes.append("image random intercept dropped: no image_id column")
        elif t["image_id"].nunique() < 2 or t["image_id"].value_counts().max() < 2:
            notes.append("image random intercept dropped: fewer than two images or each image seen once")
        else:
            image = pd.factorize(t["image_id"].astype(str), sort=True)[0]
    return {"y": t["correct"].to_numpy(float), "X": X, "names": names,
            "participant": pd.factorize(t["participant"].astype(str), sort=True)[0], "log_level": log_level,
            "image": image, "notes": notes}


def simulate_glmm_trials(n_participants: int = 30, groups=("a", "b"), levels=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
                         n_images: int = 40, coefficients=(-0.5, 0.0, 1.5, 0.0), participant_sd: float = 0.5,
                         slope_sd: float = 0.3, image_sd: float = 0.5, seed=0) -> pd.DataFrame:
    """A trial table drawn from the mixed model :func:`mixed_logit` fits (known truth, for calibration).

    Participants are split evenly between two groups; each sees every image at every level
    once (``n_participants * len(levels) * n_images`` trials). ``logit P(correct) = b0 + b1 [group
    b] + b2 log10(level) + b3 [group b] log10(level) + u_p + v_p log10(level) + w_image`` with
    ``coefficients = (b0, b1, b2, b3)``, independent normal ``u``, ``v``, ``w`` of SDs
    ``participant_sd``, ``slope_sd``, ``image_sd``.

    Examples
    --------
    >>> t = simulate_glmm_trials(n_participants=4, n_images=3, levels=(1, 10), seed=1)
    >>> len(t), sorted(t["group"].unique())
    (24, ['a', 'b'])
    """
    from scipy.special import expit

    if n_participants < 2 or n_images < 1 or len(levels) < 1 or len(groups) != 2:
        raise InputError("expected >= 2 participants, >= 1 image, >= 1 level and two groups", field="design")
    rng = np.random.default_rng(seed)
    levels = np.asarray(levels, dtype=float)
    part = np.repeat(np.arange(n_participants), len(levels) * n_images)
    in_b = (part >= n_participants // 2).astype(float)
    log_level = np.tile(np.repeat(np.log10(levels), n_images), n_participants)
    image = np.tile(np.tile(np.arange(n_images), len(levels)), n_participants)
    u = rng.normal(0, participant_sd, n_participants)
    v = rng.normal(0, slope_sd, n_participants)
    w = rng.normal(0, image_sd, n_images)
    b0, b1, b2, b3 = coefficients
    eta = b0 + b1 * in_b + (b2 + b3 * in_b) * log_level + u[part] + v[part] * log_level + w[image]
    correct = rng.random(len(eta)) < expit(eta)
    return pd.DataFrame({"participant": [f"p{k:03d}" for k in part], "group": np.where(in_b > 0, groups[1], groups[0]),
                         "level": 10 ** log_level, "map_source": "revealed", "image_id": [f"im{k:03d}" for k in image],
                         "correct": correct, "rt": 0.5, "timed_out": False})


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
    """Maximum-likelihood (alpha, beta, lapse) from counts: bounded L-BFGS-B, analytic gradient."""
    from scipy import optimize

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
        starts = [(np.median(x_level), spread / 4, max_lapse / 3), (x_level.min(), spread / 8, max_lapse / 3),
                  (x_level.max(), spread / 2, max_lapse / 3)]
    best = min((optimize.minimize(nll, s, jac=True, method="L-BFGS-B", bounds=bounds) for s in starts),
               key=lambda r: r.fun)
    return best.x


def psychometric_fit(trials: pd.DataFrame, model: str = "logistic", n_boot: int = 200, guess: float = 0.5,
                     max_lapse: float = 0.06, ci: str = "parametric", n_points: int = 50, seed=0,
                     progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
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
    >>> params[["n_trials", "threshold_definition"]].values.tolist()[0][1][:16]
    'level where F = '
    """
    from clickme_analysis.progress import progress as bar

    if not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise InputError(f"expected n_boot an integer >= 0, got {n_boot!r}", field="n_boot")
    if model not in ("logistic", "weibull"):
        raise InputError(f"expected model 'logistic' or 'weibull', got {model!r}", field="model")
    if ci not in ("parametric", "participants"):
        raise InputError(f"expected ci 'parametric' or 'participants', got {ci!r}", field="ci")
    if not 0 <= guess < 1 or not 0 <= max_lapse < 1 - guess:
        raise InputError(f"expected 0 <= guess < 1 and 0 <= max_lapse < 1 - guess, got {guess}, {max_lapse}",
                         field="max_lapse")
    t = _condition(_with_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]]
    if t["level"].nunique() < 2:
        raise InputError("a psychometric fit needs at least two levels", field="level")
    grid = np.logspace(np.log10(t["level"].min()), np.log10(t["level"].max()), n_points)
    rng = np.random.default_rng(seed)
    params, curves = [], []
    for group, g in bar(t.groupby("group", sort=True), enabled=progress, desc="psychometric fits"):
        k = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="sum", fill_value=0)
        n = g.pivot_table(index="participant", columns="level", values="correct", aggfunc="size", fill_value=0)
        levels, k, n = k.columns.to_numpy(float), k.to_numpy(float), n.to_numpy(float)
        est = _fit_counts(levels, k.sum(0), n.sum(0), model, guess, max_lapse)
        boots = np.empty((n_boot, 3))
        fitted = psychometric_function(levels, *est, model, guess)
        for b in range(n_boot):
            if ci == "parametric":
                kb, nb = rng.binomial(n.sum(0).astype(int), fitted).astype(float), n.sum(0)
            else:
                rows = rng.integers(0, len(k), len(k))
                kb, nb = k[rows].sum(0), n[rows].sum(0)
            boots[b] = _fit_counts(levels, kb, nb, model, guess, max_lapse, starts=[est])
        curve_boot = np.array([psychometric_function(grid, *b, model, guess) for b in boots]).reshape(-1, n_points)
        nan = np.full(n_points, np.nan)
        lo, hi = np.percentile(curve_boot, [2.5, 97.5], axis=0) if n_boot else (nan, nan)
        th_lo, th_hi = 10 ** np.percentile(boots[:, 0], [2.5, 97.5]) if n_boot else (np.nan, np.nan)
        params.append({"group": group, "model": model, "threshold": 10 ** est[0], "threshold_ci_low": th_lo,
                       "threshold_ci_high": th_hi,
                       "threshold_definition": "level where F = 0.5: P(correct) = guess + (1 - guess - lapse) / 2",
                       "threshold_p_correct": guess + (1 - guess - est[2]) / 2,
                       "alpha": est[0], "beta": est[1], "lapse": est[2], "ci_method": ci, "n_boot": n_boot,
                       "n_participants": len(k), "n_trials": len(g)})
        curves.append(pd.DataFrame({"group": group, "level": grid,
                                    "predicted": psychometric_function(grid, *est, model, guess),
                                    "ci_low": lo, "ci_high": hi}))
    return pd.DataFrame(params), pd.concat(curves, ignore_index=True)


# ------------------------------------------------------------------------------------ ceilings
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


def ceiling_levels(trials: pd.DataFrame, n_permutations: int = 10000, alpha: float = 0.05, n_boot: int = 200,
                   seed=0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per group, the lowest level from which accuracy is not different from the full image.

    At each revealed level, the per-participant accuracy difference (level - intact image) is
    tested with a two-sided sign-flip test (:func:`sign_flip_test`, participants who have
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
        raise InputError(f"expected n_permutations >= 1 and n_boot >= 0, got {n_permutations}, {n_boot}",
                         field="n_boot")
    per = participant_accuracy(trials)
    rows, dist_rows = [], []
    rng = np.random.default_rng(seed)
    for group, g in per.groupby("group", sort=True):
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
        diffs, levels = diffs[:, keep], levels[keep]
        group_rows = []
        for k, level in enumerate(levels):
            d = diffs[~np.isnan(diffs[:, k]), k]
            diff, p = sign_flip_test(d, n_permutations, seed=[seed, k])
            group_rows.append({"group": group, "level": level, "reference": reference, "difference": diff, "p": p,
                               "n_participants": len(d),
                               "n_permutations": 2 ** len(d) if 2 ** len(d) <= n_permutations else n_permutations})
        ceiling, at_ceiling = _ceiling_of(levels, [r["p"] for r in group_rows], alpha)
        boot = np.full(n_boot, np.nan)
        for b in range(n_boot):
            sample = diffs[rng.integers(0, len(diffs), len(diffs))]
            signs = rng.choice([1.0, -1.0], size=(n_permutations, len(sample)))
            boot[b] = _ceiling_of(levels, _sign_flip_columns(sample, signs), alpha)[0]
        ranked = np.where(np.isnan(boot), np.inf, boot)
        low, high = (np.percentile(ranked, 2.5, method="lower"), np.percentile(ranked, 97.5, method="higher")) \
            if n_boot else (np.nan, np.nan)
        for r, c in zip(group_rows, at_ceiling):
            rows.append({**r, "at_ceiling": bool(c), "ceiling_level": ceiling,
                         "ceiling_ci_low": low if np.isfinite(low) else np.nan,
                         "ceiling_ci_high": high if np.isfinite(high) else np.nan, "n_boot": n_boot})
        if n_boot:
            values, counts = np.unique(ranked, return_counts=True)
            for v, c in zip(values, counts):
                dist_rows.append({"group": group, "ceiling_level": v if np.isfinite(v) else np.nan,
                                  "no_ceiling": not np.isfinite(v), "fraction": c / n_boot})
    columns = ["group", "level", "reference", "difference", "p", "n_participants", "n_permutations", "at_ceiling",
               "ceiling_level", "ceiling_ci_low", "ceiling_ci_high", "n_boot"]
    return (pd.DataFrame(rows, columns=columns),
            pd.DataFrame(dist_rows, columns=["group", "ceiling_level", "no_ceiling", "fraction"]))


# ------------------------------------------------------------------------------------ pipeline
def analyze(trials: pd.DataFrame, min_rt: float = 0.02, max_rt: float | None = None, groups=None,
            n_permutations: int = 10000, n_boot: int = 200, model: str = "logistic", alpha: float = 0.05,
            min_intact_accuracy: float | None = None, correction: str = "loglinear", seed=0,
            progress: bool = False) -> dict[str, pd.DataFrame]:
    """All statistics of one experiment, as named tidy DataFrames.

    ``min_intact_accuracy``, when given, first drops participants at or below it on the intact
    image (:func:`exclude_participants`); ``participants`` then lists everyone, with ``dropped``.
    ``n_boot`` resamples serve the psychometric intervals and the ceiling's; the effect sizes use
    ``max(n_boot, 1000)`` (BCa needs many).

    Returns
    -------
    dict
        ``participants`` (:func:`participant_summary`), ``accuracy``, ``rt`` (:func:`rt_by_level`),
        ``signal_detection`` and ``dprime`` (:func:`signal_detection`, :func:`dprime_by_level`;
        empty without ``target`` / ``responded_target`` columns), ``level_tests``,
        ``mixed_model``, ``psychometric_params``, ``psychometric`` (curve), ``ceiling``,
        ``ceiling_bootstrap``. ``level_tests`` and ``mixed_model`` are empty with one group.
    """
    trials = exclude_trials(validate_trials(trials), min_rt=min_rt, max_rt=max_rt)
    summary = participant_summary(trials)
    summary["dropped"] = False
    if min_intact_accuracy is not None:
        trials, dropped = exclude_participants(trials, min_intact_accuracy)
        summary["dropped"] = summary["participant"].isin(dropped["participant"])
    params, curve = psychometric_fit(trials, model=model, n_boot=n_boot, seed=seed, progress=progress)
    two = trials["group"].nunique() == 2 or groups is not None
    sdt = {"target", "responded_target"} <= set(trials.columns)
    ceiling, ceiling_boot = ceiling_levels(trials, n_permutations, alpha, n_boot, seed)
    return {
        "participants": summary,
        "accuracy": accuracy_by_level(trials),
        "rt": rt_by_level(trials),
        "signal_detection": signal_detection(trials, correction) if sdt else pd.DataFrame(),
        "dprime": dprime_by_level(trials, correction) if sdt else pd.DataFrame(),
        "level_tests": level_tests(trials, groups, n_permutations, alpha, max(n_boot, 1000), seed) if two
        else pd.DataFrame(),
        "mixed_model": _mixed_logit_or_note(trials, groups) if two else pd.DataFrame(),
        "psychometric_params": params,
        "psychometric": curve,
        "ceiling": ceiling,
        "ceiling_bootstrap": ceiling_boot,
    }


def _mixed_logit_or_note(trials: pd.DataFrame, groups) -> pd.DataFrame:
    """:func:`mixed_logit`, or, when even the simplest model cannot be fitted (a small pilot, say),
    one row saying so, so that the other statistics are still written."""
    try:
        return mixed_logit(trials, groups)
    except InputError as err:
        if "could not be fitted" not in err.message:
            raise
        return pd.DataFrame([{"term": "(not fitted)", "effect": "fixed", "estimate": np.nan, "se": np.nan,
                              "z": np.nan, "df": np.nan, "p": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                              "formula": "", "converged": False, "note": err.message,
                              "n_trials": len(trials), "n_participants": trials["participant"].nunique(),
                              "n_images": trials["image_id"].nunique() if "image_id" in trials else 0}])


def write_analysis(results: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write each frame of :func:`analyze` to ``out_dir/<name>.csv`` (atomically); returns the paths."""
    from clickme_analysis.fileio import atomic_write_text

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [atomic_write_text(out_dir / f"{name}.csv", frame.to_csv(index=False)) for name, frame in results.items()]
