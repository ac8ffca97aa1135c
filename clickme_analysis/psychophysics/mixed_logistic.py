"""The mixed-effects logistic model of correctness: its inputs, its fit and simulated data from it.

:func:`mixed_logit` regresses correctness on group x log10(level) with crossed participant and
image effects, fitted by :mod:`clickme_analysis.mixed_model` (Laplace likelihood,
:mod:`clickme_analysis.glmm`); :func:`simulate_glmm_trials` draws trial tables from that model
(calibration, power).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from clickme_analysis.errors import InputError
from clickme_analysis.mixed_model import fit_prepared
from clickme_analysis.psychophysics.exclusions import flag_exclusions
from clickme_analysis.psychophysics.trials import mark_intact


def _mixed_data(trials, groups):
    t = mark_intact(flag_exclusions(trials))
    t = t[~t["excluded"] & ~t["intact"]]
    if t.empty:
        raise InputError("no included revealed-level trials for the mixed model", field="level")
    present = sorted(pd.unique(t["group"]))
    groups = list(groups) if groups is not None else present
    unknown = [g for g in groups if g not in present]
    if len(groups) < 2 or unknown or len(set(groups)) != len(groups):
        raise InputError(
            f"the mixed model needs two or more groups present in the data, got {groups}; data has {present}",
            field="group",
        )
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


def mixed_logit(
    trials: pd.DataFrame,
    *,
    groups=None,
    random_slopes: bool = True,
    image_effects: bool = True,
    method: str = "reml",
    df: str = "participants",
    nagq: int = 1,
    alpha: float = 0.05,
    start=None,
) -> pd.DataFrame:
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
        A trial table (:func:`~clickme_analysis.psychophysics.trials.validate_trials`); ``image_id`` optional.
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
    inputs = mixed_inputs(trials, groups, image_effects)
    return fit_prepared(
        **inputs, random_slopes=random_slopes, method=method, df=df, nagq=nagq, alpha=alpha, start=start
    ).table


def mixed_inputs(trials: pd.DataFrame, groups=None, image_effects: bool = True) -> dict:
    """The arrays :func:`clickme_analysis.mixed_model.fit_prepared` fits (``y, X, names,
    participant, log_level, image, notes``) from a trial table, as :func:`mixed_logit` uses them."""
    t, groups = _mixed_data(trials, groups)
    X, names, log_level = _fixed_design(t, groups)
    if np.linalg.matrix_rank(X) < X.shape[1]:
        raise InputError(
            f"the fixed effects {names} cannot all be estimated: every group needs trials at two or more levels",
            field="level",
        )
    notes, image = [], None
    if image_effects:
        if "image_id" not in t.columns:
            notes.append("image random intercept dropped: no image_id column")
        elif t["image_id"].nunique() < 2 or t["image_id"].value_counts().max() < 2:
            notes.append("image random intercept dropped: fewer than two images or each image seen once")
        else:
            image = pd.factorize(t["image_id"].astype(str), sort=True)[0]
    return {
        "y": t["correct"].to_numpy(float),
        "X": X,
        "names": names,
        "participant": pd.factorize(t["participant"].astype(str), sort=True)[0],
        "log_level": log_level,
        "image": image,
        "notes": notes,
    }


def simulate_glmm_trials(
    *,
    n_participants: int = 30,
    groups=("a", "b"),
    levels=(1.0, 2.0, 5.0, 10.0, 20.0, 50.0),
    n_images: int = 40,
    coefficients=(-0.5, 0.0, 1.5, 0.0),
    participant_sd: float = 0.5,
    slope_sd: float = 0.3,
    image_sd: float = 0.5,
    seed=0,
) -> pd.DataFrame:
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
    return pd.DataFrame(
        {
            "participant": [f"p{k:03d}" for k in part],
            "group": np.where(in_b > 0, groups[1], groups[0]),
            "level": 10**log_level,
            "map_source": "revealed",
            "image_id": [f"im{k:03d}" for k in image],
            "correct": correct,
            "rt": 0.5,
            "timed_out": False,
        }
    )
