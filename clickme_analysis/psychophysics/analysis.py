"""The analysis of one experiment: every statistic as a named tidy table, and its CSV files.

:func:`analyze` is what ``clickme experiment analyze`` runs; :func:`write_analysis` writes each
table to ``<out>/<name>.csv``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write_text
from clickme_analysis.psychophysics.descriptives import accuracy_by_level, participant_summary, rt_by_level
from clickme_analysis.psychophysics.detection import dprime_by_level, signal_detection
from clickme_analysis.psychophysics.exclusions import exclude_participants, exclude_trials
from clickme_analysis.psychophysics.group_tests import ceiling_levels, level_tests
from clickme_analysis.psychophysics.mixed_logistic import mixed_logit
from clickme_analysis.psychophysics.psychometric import psychometric_fit
from clickme_analysis.psychophysics.trials import validate_trials


def analyze(
    trials: pd.DataFrame,
    *,
    min_rt: float = 0.02,
    max_rt: float | None = None,
    groups=None,
    n_permutations: int = 10000,
    n_boot: int = 200,
    model: str = "logistic",
    alpha: float = 0.05,
    min_intact_accuracy: float | None = None,
    correction: str = "loglinear",
    seed=0,
    progress: bool = False,
) -> dict[str, pd.DataFrame]:
    """All statistics of one experiment, as named tidy DataFrames.

    ``min_intact_accuracy``, when given, first drops participants at or below it on the intact
    image (:func:`~clickme_analysis.psychophysics.exclusions.exclude_participants`);
    ``participants`` then lists everyone, with ``dropped``. ``n_boot`` resamples serve the
    psychometric intervals and the ceiling's; the effect sizes use ``max(n_boot, 1000)`` (BCa
    needs many).

    Returns
    -------
    dict
        ``participants`` (:func:`~clickme_analysis.psychophysics.descriptives.participant_summary`),
        ``accuracy``, ``rt`` (:func:`~clickme_analysis.psychophysics.descriptives.rt_by_level`),
        ``signal_detection`` and ``dprime``
        (:func:`~clickme_analysis.psychophysics.detection.signal_detection`,
        :func:`~clickme_analysis.psychophysics.detection.dprime_by_level`; empty without
        ``target`` / ``responded_target`` columns), ``level_tests``,
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
    ceiling, ceiling_boot = ceiling_levels(trials, n_permutations=n_permutations, alpha=alpha, n_boot=n_boot, seed=seed)
    return {
        "participants": summary,
        "accuracy": accuracy_by_level(trials),
        "rt": rt_by_level(trials),
        "signal_detection": signal_detection(trials, correction) if sdt else pd.DataFrame(),
        "dprime": dprime_by_level(trials, correction) if sdt else pd.DataFrame(),
        "level_tests": level_tests(
            trials, groups=groups, n_permutations=n_permutations, alpha=alpha, n_boot=max(n_boot, 1000), seed=seed
        )
        if two
        else pd.DataFrame(),
        "mixed_model": _mixed_logit_or_note(trials, groups) if two else pd.DataFrame(),
        "psychometric_params": params,
        "psychometric": curve,
        "ceiling": ceiling,
        "ceiling_bootstrap": ceiling_boot,
    }


def _mixed_logit_or_note(trials: pd.DataFrame, groups) -> pd.DataFrame:
    """:func:`~clickme_analysis.psychophysics.mixed_logistic.mixed_logit`, or, when even the simplest
    model cannot be fitted (a small pilot, say), one row saying so, so that the other statistics
    are still written."""
    try:
        return mixed_logit(trials, groups=groups)
    except InputError as err:
        if "could not be fitted" not in err.message:
            raise
        return pd.DataFrame(
            [
                {
                    "term": "(not fitted)",
                    "effect": "fixed",
                    "estimate": np.nan,
                    "se": np.nan,
                    "z": np.nan,
                    "df": np.nan,
                    "p": np.nan,
                    "ci_low": np.nan,
                    "ci_high": np.nan,
                    "formula": "",
                    "converged": False,
                    "note": err.message,
                    "n_trials": len(trials),
                    "n_participants": trials["participant"].nunique(),
                    "n_images": trials["image_id"].nunique() if "image_id" in trials else 0,
                }
            ]
        )


def write_analysis(results: dict[str, pd.DataFrame], out_dir) -> list[Path]:
    """Write each frame of :func:`analyze` to ``out_dir/<name>.csv`` (atomically); returns the paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return [atomic_write_text(out_dir / f"{name}.csv", frame.to_csv(index=False)) for name, frame in results.items()]
