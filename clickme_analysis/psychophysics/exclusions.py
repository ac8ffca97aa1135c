"""Exclusions: trials left out of accuracy (misses, anticipations) and participants at chance.

The rules are the authors' 2017 protocol (docs/experiments.md); :func:`participant_accuracy`,
the accuracy over the included trials, is what every group statistic starts from.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.psychophysics.trials import mark_intact, validate_trials


def exclude_trials(trials: pd.DataFrame, min_rt: float = 0.02, max_rt: float | None = None) -> pd.DataFrame:
    """Flag trials left out of accuracy, with the reason.

    Rules (the authors' 2017 protocol): a trial without a response in the window (``timed_out``)
    is a ``miss``; a response faster than ``min_rt`` s is ``too_fast`` (an anticipation); one
    slower than ``max_rt`` s, when given, is ``too_slow``. Flagged trials count neither as
    correct nor as errors and are reported apart
    (:func:`~clickme_analysis.psychophysics.descriptives.participant_summary`).

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


def flag_exclusions(trials: pd.DataFrame) -> pd.DataFrame:
    """Trials as given when already flagged (an ``excluded`` column), else validated and flagged
    with the default rules of :func:`exclude_trials`.

    Examples
    --------
    >>> t = pd.DataFrame({"participant": "a", "group": "g", "level": 10.0, "map_source": "m",
    ...                   "correct": [1, 0], "rt": [0.4, 0.01], "timed_out": 0})
    >>> flag_exclusions(t)["exclusion"].tolist()
    ['', 'too_fast']
    """
    return trials if "excluded" in trials.columns else exclude_trials(validate_trials(trials))


def participant_accuracy(trials: pd.DataFrame) -> pd.DataFrame:
    """Accuracy per participant x group x level x intact over included trials.

    Returns
    -------
    pandas.DataFrame
        ``participant, group, level, intact, n_trials, accuracy``.
    """
    kept = mark_intact(flag_exclusions(trials))
    kept = kept[~kept["excluded"]]
    keys = ["participant", "group", "level", "intact"]
    out = kept.groupby(keys, sort=True)["correct"].agg(n_trials="size", accuracy="mean").reset_index()
    return out


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
