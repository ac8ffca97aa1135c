"""Descriptive statistics: accuracy and reaction times per participant and per group x level."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.psychophysics.exclusions import flag_exclusions, participant_accuracy
from clickme_analysis.psychophysics.trials import mark_intact


def participant_summary(trials: pd.DataFrame) -> pd.DataFrame:
    """Accuracy and median reaction time per participant.

    Accuracy is over included trials; the median RT is over included correct trials with a
    response (for go/no-go data: go RTs on targets).

    Returns
    -------
    pandas.DataFrame
        ``participant, group, n_trials, n_included, n_miss, n_too_fast, accuracy, median_rt``.
    """
    trials = flag_exclusions(trials)
    rows = []
    for (participant, group), t in trials.groupby(["participant", "group"], sort=True):
        kept = t[~t["excluded"]]
        rts = kept.loc[kept["correct"] & kept["rt"].notna(), "rt"]
        rows.append(
            {
                "participant": participant,
                "group": group,
                "n_trials": len(t),
                "n_included": len(kept),
                "n_miss": int((t["exclusion"] == "miss").sum()),
                "n_too_fast": int((t["exclusion"] == "too_fast").sum()),
                "accuracy": kept["correct"].mean() if len(kept) else np.nan,
                "median_rt": float(rts.median()) if len(rts) else np.nan,
            }
        )
    return pd.DataFrame(rows)


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
    out = (
        per.groupby(["group", "level", "intact"], sort=True)["accuracy"]
        .agg(accuracy="mean", sd=lambda a: a.std(ddof=1), n_participants="size")
        .reset_index()
    )
    out["sem"] = out["sd"] / np.sqrt(out["n_participants"])
    return out[["group", "level", "intact", "accuracy", "sem", "n_participants"]]


def mean_sem(frame: pd.DataFrame, value: str, keys: list[str]) -> pd.DataFrame:
    """Mean of ``value`` per ``keys`` with its S.E.M. (sample SD, n - 1, over sqrt(n)).

    Returns
    -------
    pandas.DataFrame
        ``keys, mean, n_participants`` (non-missing values), ``sem``.

    Examples
    --------
    >>> f = pd.DataFrame({"group": ["g", "g"], "rt": [0.4, 0.6]})
    >>> mean_sem(f, "rt", ["group"])[["mean", "n_participants", "sem"]].round(3).values.tolist()
    [[0.5, 2.0, 0.1]]
    """
    out = (
        frame.groupby(keys, sort=True)[value]
        .agg(mean="mean", sd=lambda a: a.std(ddof=1), n_participants="count")
        .reset_index()
    )
    out["sem"] = out["sd"] / np.sqrt(out["n_participants"])
    return out.drop(columns="sd")


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
    kept = mark_intact(flag_exclusions(trials))
    kept = kept[~kept["excluded"] & kept["correct"].astype(bool) & kept["rt"].notna()]
    keys = ["group", "level", "intact"]
    per = kept.groupby(["participant"] + keys, sort=True)["rt"].agg(rt="median", n="size").reset_index()
    out = mean_sem(per, "rt", keys).rename(columns={"mean": "median_rt"})
    out["n_trials"] = per.groupby(keys, sort=True)["n"].sum().to_numpy()
    return out[["group", "level", "intact", "median_rt", "sem", "n_participants", "n_trials"]]
