"""Signal detection: hit and false-alarm rates, d' and criterion (also for go/no-go data)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from clickme_analysis.errors import InputError
from clickme_analysis.psychophysics.descriptives import mean_sem
from clickme_analysis.psychophysics.exclusions import flag_exclusions
from clickme_analysis.psychophysics.trials import mark_intact

#: Corrections of hit and false-alarm rates of 0 and 1 (see :func:`signal_detection`).
SDT_CORRECTIONS = ("loglinear", "1/2N", "none")


def _optional_bool(frame, field):
    text = frame[field].astype(str).str.strip().str.lower()
    mapping = {"1": True, "0": False, "true": True, "false": False, "1.0": True, "0.0": False}
    empty = frame[field].isna() | text.isin(["", "nan", "none"])
    bad = ~text.isin(list(mapping)) & ~empty
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"expected 0/1, true/false or empty, got {frame[field].iloc[i]!r} (participant "
            f"{frame['participant'].iloc[i]!r}, row {i + 1} of the trial table)",
            field=field,
        )
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
    if correction not in SDT_CORRECTIONS:
        raise InputError(f"expected correction one of {SDT_CORRECTIONS}, got {correction!r}", field="correction")
    for field in ("target", "responded_target"):
        if field not in trials.columns:
            raise InputError(
                "signal detection needs this column (runner CSVs and go/no-go events have it)", field=field
            )
    kept = mark_intact(flag_exclusions(trials))
    kept = kept[~kept["excluded"]].assign(
        target=lambda d: _optional_bool(d, "target"), said=lambda d: _optional_bool(d, "responded_target")
    )
    if kept["target"].isna().any():
        raise InputError("an included trial has no target value", field="target")
    if kept["said"].isna().any():
        raise InputError("an included trial (a response) has no responded_target value", field="responded_target")
    kept = kept.assign(target=kept["target"].astype(bool), said=kept["said"].astype(bool))
    keys = ["participant", "group", "level", "intact"]
    out = (
        kept.groupby(keys, sort=True)
        .apply(
            lambda d: pd.Series(
                {
                    "n_signal": int(d["target"].sum()),
                    "n_noise": int((~d["target"]).sum()),
                    "hits": int((d["target"] & d["said"]).sum()),
                    "false_alarms": int((~d["target"] & d["said"]).sum()),
                }
            ),
            include_groups=False,
        )
        .reset_index()
    )
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
    d = mean_sem(per, "d_prime", keys).rename(columns={"mean": "d_prime", "sem": "d_prime_sem"})
    c = mean_sem(per, "criterion", keys).rename(columns={"mean": "criterion", "sem": "criterion_sem"})
    out = d.merge(c.drop(columns="n_participants"), on=keys)
    out["correction"] = correction
    return out[
        [
            "group",
            "level",
            "intact",
            "d_prime",
            "d_prime_sem",
            "criterion",
            "criterion_sem",
            "n_participants",
            "correction",
        ]
    ]
