"""The mixed logistic model of ``experiment analyze`` on prepared arrays: fit, fall back, tabulate.

:func:`clickme_analysis.psychophysics.mixed_logistic.mixed_logit` prepares the trial table (exclusions, the
fixed design, the participant and image codes) and calls :func:`fit_prepared`, which fits the
richest random-effect structure the data support with :mod:`clickme_analysis.glmm`, drops the
slope or the image term with a note when a fit fails or is singular, and returns the tidy table
and the fit. :mod:`clickme_analysis.power` calls it too, with a warm start from the generating
values, and tests contrasts of the fixed effects with :func:`contrast_test` (the same reference
distribution as the table). Definitions: docs/experiments.md (Mixed model).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from clickme_analysis import glmm
from clickme_analysis.errors import InputError


@dataclass(frozen=True)
class MixedFit:
    """``table`` (the rows of ``mixed_logit``), the engine's ``result``, the fixed-effect
    ``names`` and the test's ``dof`` (``inf`` for Wald z)."""

    table: pd.DataFrame
    result: glmm.GLMMResult
    names: tuple
    dof: float


def _check_options(method, df, nagq, alpha) -> None:
    if not 0 < alpha < 1:
        raise InputError(f"expected 0 < alpha < 1, got {alpha}", field="alpha")
    if nagq not in (0, 1):
        raise InputError(f"expected nagq 0 or 1, got {nagq}", field="nagq")
    if method not in ("reml", "ml"):
        raise InputError(f"expected method 'reml' or 'ml', got {method!r}", field="method")
    if df not in ("participants", "normal"):
        raise InputError(f"expected df 'participants' or 'normal', got {df!r}", field="df")


def _terms(participant, log_level, image, slope):
    ones = np.ones((len(participant), 1))
    if slope:
        part = glmm.RandomTerm(
            "participant", participant, np.column_stack([ones[:, 0], log_level]), ("Intercept", "log10_level")
        )
    else:
        part = glmm.RandomTerm("participant", participant, ones, ("Intercept",))
    return [part] + ([glmm.RandomTerm("image_id", image, ones, ("Intercept",))] if image is not None else [])


def _start_of(start, slope, image) -> tuple | None:
    """glmm's (theta, beta) warm start from ``start`` = {"beta", "participant" (2 x 2 covariance of
    intercept and slope), "image_id" (variance)} for one candidate structure."""
    if start is None:
        return None
    cov = np.asarray(start["participant"], dtype=float)
    covariances = [cov if slope else cov[:1, :1]] + ([np.atleast_2d(start["image_id"])] if image is not None else [])
    return glmm.theta_of_covariances(covariances), np.asarray(start["beta"], dtype=float)


def _singular(result) -> bool:
    L = result.covariances[0]
    sd = np.sqrt(np.diag(L))
    theta = result.theta[:3]
    corr = L[0, 1] / (sd[0] * sd[1]) if sd.min() > 0 else np.nan
    return min(theta[0], theta[2]) < 1e-4 or not np.isfinite(corr) or abs(corr) > 0.999


def _fit_candidates(y, X, participant, log_level, image, notes, *, slope, method, nagq, start):
    """The richest model the data support first; simpler ones when a fit fails or is singular."""
    candidates = [(True, image)] if slope else []
    candidates += [(False, image)] + ([(False, None)] if image is not None else [])
    for k, (use_slope, use_image) in enumerate(candidates):
        last = k == len(candidates) - 1
        try:
            result = glmm.fit(
                y,
                X,
                _terms(participant, log_level, use_image, use_slope),
                nagq=nagq,
                reml=method == "reml",
                start=_start_of(start, use_slope, use_image),
            )
        except (RuntimeError, np.linalg.LinAlgError) as err:
            why = f"numerical failure ({err})"
        else:
            why = "" if result.converged else f"no convergence ({result.message})"
            if use_slope and not why and _singular(result):
                why = "singular fit (a variance at 0 or a correlation at +-1)"
            if not why or last:
                return result, use_slope, use_image
        if last:
            raise InputError(f"the mixed model could not be fitted: {why}", field="correct")
        dropped = "random slope of log10(level) by participant" if use_slope else "image random intercept"
        notes.append(f"{dropped} dropped: {why}; refitted without it")


def _random_rows(labels, covariances) -> list:
    rows = []
    for term, cov in zip(labels, covariances):
        sd = np.sqrt(np.diag(cov))
        for name, s in zip(term.column_names, sd):
            rows.append({"term": f"{term.name} sd({name})", "effect": "random", "estimate": float(s)})
        if term.k == 2:
            corr = cov[0, 1] / (sd[0] * sd[1]) if sd.min() > 0 else np.nan
            rows.append({"term": f"{term.name} corr", "effect": "random", "estimate": float(corr)})
    return rows


def fit_prepared(
    y,
    X,
    names,
    participant,
    log_level,
    image=None,
    notes=(),
    *,
    random_slopes: bool = True,
    method: str = "reml",
    df: str = "participants",
    nagq: int = 1,
    alpha: float = 0.05,
    start=None,
) -> MixedFit:
    """Fit ``correct ~ group * log10_level + (1 + log10_level | participant) + (1 | image_id)``.

    Parameters
    ----------
    y : array of 0/1, shape (n,)
    X : array, shape (n, p)
        Fixed design, columns ``names``.
    participant, image : int arrays, shape (n,)
        Codes 0 .. k - 1; ``image`` None leaves the image term out.
    log_level : array, shape (n,)
    notes : sequence of str
        Notes of the data preparation (what was dropped before fitting).
    random_slopes, method, df, nagq, alpha
        As :func:`clickme_analysis.psychophysics.mixed_logistic.mixed_logit`.
    start : dict, optional
        Warm start: ``beta`` (p values), ``participant`` (2 x 2 covariance of the intercept and
        slope), ``image_id`` (variance).

    Returns
    -------
    MixedFit

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> participant = np.repeat(np.arange(8), 20)
    >>> x = np.tile(np.log10([1.0, 10.0]), 80)
    >>> X = np.column_stack([np.ones(160), x])
    >>> y = (rng.random(160) < 1 / (1 + np.exp(-(2 * x - 1)))).astype(float)
    >>> fit = fit_prepared(y, X, ["Intercept", "log10_level"], participant, x, random_slopes=False)
    >>> fit.table["term"].tolist()[:2], fit.dof
    (['Intercept', 'log10_level'], 6)
    """
    _check_options(method, df, nagq, alpha)
    notes = list(notes)
    if random_slopes and pd.Series(log_level).groupby(participant).nunique().min() < 2:
        random_slopes = False
        notes.insert(0, "random slope of log10(level) by participant dropped: some participant has one level")
    result, use_slope, use_image = _fit_candidates(
        y, X, participant, log_level, image, notes, slope=random_slopes, method=method, nagq=nagq, start=start
    )
    labels = _terms(participant, log_level, use_image, use_slope)
    notes += _fit_notes(result, labels)
    n_participants = int(participant.max()) + 1
    dof = max(n_participants - X.shape[1], 1) if df == "participants" else np.inf
    out = pd.concat(
        [_fixed_rows(result, names, dof, alpha), pd.DataFrame(_random_rows(labels, result.covariances))],
        ignore_index=True,
    )
    rhs = "1 + log10_level | participant" if use_slope else "1 | participant"
    formula = f"correct ~ group * log10_level + ({rhs})" + (" + (1 | image_id)" if use_image is not None else "")
    table = out.assign(
        formula=formula,
        converged=result.converged,
        note="; ".join(notes),
        n_trials=len(y),
        n_participants=n_participants,
        n_images=int(use_image.max()) + 1 if use_image is not None else 0,
    )
    return MixedFit(table=table, result=result, names=tuple(names), dof=dof)


def _fit_notes(result, labels) -> list:
    """Notes (and a warning) on a fit that did not converge or has an intercept SD at 0."""
    notes = []
    if not result.converged:
        notes.append(f"the fit did not converge ({result.message}): estimates are unreliable")
        warnings.warn(f"mixed_logit: the fit did not converge ({result.message})", RuntimeWarning, stacklevel=4)
    for term, cov in zip(labels, result.covariances):
        if np.sqrt(cov[0, 0]) < 1e-4:
            notes.append(f"boundary fit: the {term.name} intercept SD is estimated at 0")
    return notes


def _fixed_rows(result, names, dof, alpha) -> pd.DataFrame:
    """The fixed-effect rows: estimate, SE, Wald statistic, p and interval on ``dof`` (t, or z when inf)."""
    se = result.se
    z = result.beta / se
    reference = stats.t(dof) if np.isfinite(dof) else stats.norm()
    crit = reference.ppf(1 - alpha / 2)
    return pd.DataFrame(
        {
            "term": list(names),
            "effect": "fixed",
            "estimate": result.beta,
            "se": se,
            "z": z,
            "df": dof,
            "p": 2 * reference.sf(np.abs(z)),
            "ci_low": result.beta - crit * se,
            "ci_high": result.beta + crit * se,
        }
    )


def contrast_test(fit: MixedFit, weights) -> tuple[float, float, float]:
    """Estimate, SE and two-sided p of ``weights @ beta``, on the fit's own reference distribution.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> participant = np.repeat(np.arange(6), 40)
    >>> x = np.tile([0.0, 1.0], 120)
    >>> y = (rng.random(240) < 0.5).astype(float)
    >>> fit = fit_prepared(y, np.column_stack([np.ones(240), x]), ["Intercept", "x"], participant, x,
    ...                    random_slopes=False)
    >>> estimate, se, p = contrast_test(fit, [0.0, 1.0])
    >>> bool(np.isclose(p, fit.table.loc[1, "p"]))
    True
    """
    weights = np.asarray(weights, dtype=float)
    estimate = float(weights @ fit.result.beta)
    se = float(np.sqrt(weights @ fit.result.cov_beta @ weights))
    reference = stats.t(fit.dof) if np.isfinite(fit.dof) else stats.norm()
    return estimate, se, float(2 * reference.sf(abs(estimate) / se))
