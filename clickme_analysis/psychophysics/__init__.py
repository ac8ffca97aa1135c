"""Psychophysics statistics of the rapid-categorization experiment.

Input is a tidy trial table, one row per trial, as written by the ``experiments`` runner
(``data/<participant>.csv``) or made from BIDS events files (:mod:`clickme_analysis.events`).
Every statistic returns a tidy DataFrame. One module per step of the analysis:

- :mod:`~clickme_analysis.psychophysics.trials`: the table's columns, :func:`load_trials`,
  :func:`validate_trials`;
- :mod:`~clickme_analysis.psychophysics.exclusions`: :func:`exclude_trials` (misses and
  too-fast responses, documented rules), :func:`exclude_participants`,
  :func:`participant_accuracy`;
- :mod:`~clickme_analysis.psychophysics.descriptives`: :func:`participant_summary` (accuracy and
  median RT per participant), :func:`accuracy_by_level` (per group x level with the S.E.M. over
  participants), :func:`rt_by_level` (median correct reaction time);
- :mod:`~clickme_analysis.psychophysics.detection`: :func:`signal_detection`,
  :func:`dprime_by_level` (hit and false-alarm rates, d' and criterion, log-linear correction,
  also for go/no-go data);
- :mod:`~clickme_analysis.psychophysics.group_tests`: :func:`level_tests` (per-level two-sided
  permutation test between two groups, Holm and Benjamini-Hochberg corrected, with effect sizes:
  :func:`effect_size`, BCa intervals), :func:`ceiling_levels` (the level from which each group is
  not different from the full image, with its bootstrap interval), :func:`permutation_test`,
  :func:`sign_flip_test`;
- :mod:`~clickme_analysis.psychophysics.mixed_logistic`: :func:`mixed_logit` (maximum-likelihood
  mixed-effects logistic regression of correctness on group x log10(level), crossed participant
  and image effects: :mod:`clickme_analysis.glmm`), :func:`simulate_glmm_trials` (trial tables
  drawn from the mixed model: calibration, power);
- :mod:`~clickme_analysis.psychophysics.psychometric`: :func:`psychometric_fit` (logistic or
  Weibull psychometric function per group, parametric bootstrap intervals);
- :mod:`~clickme_analysis.psychophysics.analysis`: :func:`analyze` (all of them) and
  :func:`write_analysis` (one CSV per table).

The names above are the package's public API and can be imported from it
(``from clickme_analysis.psychophysics import analyze``); the toolkit's own modules import each
one from the module where it lives. Definitions, sources and the calibration: docs/experiments.md.
"""

from clickme_analysis.psychophysics.analysis import analyze, write_analysis
from clickme_analysis.psychophysics.descriptives import accuracy_by_level, participant_summary, rt_by_level
from clickme_analysis.psychophysics.detection import SDT_CORRECTIONS, dprime_by_level, signal_detection
from clickme_analysis.psychophysics.exclusions import exclude_participants, exclude_trials, participant_accuracy
from clickme_analysis.psychophysics.group_tests import (
    ceiling_levels,
    effect_size,
    level_tests,
    permutation_test,
    sign_flip_test,
)
from clickme_analysis.psychophysics.mixed_logistic import mixed_inputs, mixed_logit, simulate_glmm_trials
from clickme_analysis.psychophysics.psychometric import psychometric_fit, psychometric_function
from clickme_analysis.psychophysics.trials import INTACT, REQUIRED_COLUMNS, load_trials, validate_trials

__all__ = [
    "INTACT",
    "REQUIRED_COLUMNS",
    "SDT_CORRECTIONS",
    "accuracy_by_level",
    "analyze",
    "ceiling_levels",
    "dprime_by_level",
    "effect_size",
    "exclude_participants",
    "exclude_trials",
    "level_tests",
    "load_trials",
    "mixed_inputs",
    "mixed_logit",
    "participant_accuracy",
    "participant_summary",
    "permutation_test",
    "psychometric_fit",
    "psychometric_function",
    "rt_by_level",
    "sign_flip_test",
    "signal_detection",
    "simulate_glmm_trials",
    "validate_trials",
    "write_analysis",
]
