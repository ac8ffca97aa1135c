"""Simulation-based power of the rapid-categorization analysis, for planning a study.

A plan is a :class:`Design` (participants per group, revealed levels, images, trials per level
and participant) and a :class:`Truth` (the mixed model's fixed effects and variance components,
given or read from a pilot's ``mixed_model.csv`` by :func:`truth_from_pilot`). Each simulated
data set is drawn from the mixed model ``experiment analyze`` fits (:func:`simulate_trials`) and
analyzed as ``experiment analyze`` does (:func:`analyze_one`):

- ``group``: the mixed model's group difference at ``at_level`` (the contrast ``group +
  log10(at_level) x interaction``; at 1 % revealed this is the ``group[T.b]`` row of
  ``mixed_model.csv``), REML fit and t test on n_participants - 4 df, the toolkit's default;
- ``interaction``: the group x log10(level) term of the same fit;
- ``permutation`` (option): the authors' per-level randomisation test of per-participant
  accuracy at ``at_level`` (:func:`clickme_analysis.psychophysics.group_tests.permutation_test`);
- ``threshold`` (option): the difference of the two groups' psychometric thresholds
  (:func:`clickme_analysis.psychophysics.psychometric.psychometric_fit`), a z test on log10 thresholds with
  each group's SE read from its 95% parametric-bootstrap interval (width / 3.92).

:func:`simulate_power` runs ``n_sims`` data sets per N in parallel processes (joblib; each fit
warm-starts from the generating values), :func:`power_table` turns the rejections into power
with a Clopper-Pearson 95% interval per N and test, :func:`smallest_n` gives the smallest N
reaching a target, :func:`plot_power` the figure. Data set k at N uses the seed (seed, N, k):
results do not depend on ``n_jobs``. Checks against known answers: tests/clickme_analysis/
test_power.py; definitions and the worked example: docs/experiments.md (Planning).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats
from scipy.special import expit, logit

from clickme_analysis.errors import InputError
from clickme_analysis.mixed_model import contrast_test, fit_prepared
from clickme_analysis.psychophysics.group_tests import permutation_test
from clickme_analysis.psychophysics.mixed_logistic import mixed_inputs
from clickme_analysis.psychophysics.psychometric import psychometric_fit

#: Tests :func:`analyze_one` can run; the first two come from one mixed-model fit.
TESTS = ("group", "interaction", "permutation", "threshold")


@dataclass(frozen=True)
class Design:
    """What a plan varies.

    Parameters
    ----------
    n_per_group : int
        Participants in each of the two groups.
    levels : tuple of float
        Revealed levels (% of the image), two or more (the mixed model fits a slope in log10 level).
    n_images : int
        Images in the set; participant p sees image (p + l T + t) mod n_images as trial t of level
        l (a rotation: each image at most once per participant when levels x T <= n_images).
    trials_per_level : int
        Trials per level and participant (T).
    groups : tuple of str
        Names; sorted, the first is the reference (as in ``experiment analyze``).
    """

    n_per_group: int = 15
    levels: tuple = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0)
    n_images: int = 40
    trials_per_level: int = 40
    groups: tuple = ("a", "b")

    def __post_init__(self):
        levels = tuple(float(v) for v in self.levels)
        object.__setattr__(self, "levels", levels)
        if len(set(levels)) < 2:
            raise InputError(f"expected two or more distinct revealed levels, got {list(levels)}", field="levels")
        if not all(0 < v <= 100 for v in levels):
            raise InputError(f"expected levels in (0, 100] (% revealed), got {list(levels)}", field="levels")
        for name in ("n_per_group", "n_images", "trials_per_level"):
            if int(getattr(self, name)) < (2 if name == "n_per_group" else 1):
                raise InputError(
                    f"expected {name} >= {2 if name == 'n_per_group' else 1}, got {getattr(self, name)}", field=name
                )
        if len(self.groups) != 2 or self.groups[0] == self.groups[1]:
            raise InputError(f"expected two distinct group names, got {list(self.groups)}", field="groups")
        object.__setattr__(self, "groups", tuple(sorted(str(g) for g in self.groups)))


@dataclass(frozen=True)
class Truth:
    """The generating mixed model: ``logit P = intercept + group [b] + (slope + interaction [b])
    log10(level) + u_p + v_p log10(level) + w_image``, ``(u, v)`` normal with SDs
    ``participant_sd``, ``slope_sd`` and ``correlation``, ``w`` normal with SD ``image_sd``.
    The defaults are the calibration benchmark's (docs/experiments.md), without an effect."""

    intercept: float = -0.5
    slope: float = 1.5
    group: float = 0.0
    interaction: float = 0.0
    participant_sd: float = 0.5
    slope_sd: float = 0.3
    correlation: float = 0.0
    image_sd: float = 0.5

    def __post_init__(self):
        for name in ("participant_sd", "slope_sd", "image_sd"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise InputError(f"expected a variance component >= 0, got {name} = {value}", field=name)
        if not -1 <= self.correlation <= 1:
            raise InputError(f"expected -1 <= correlation <= 1, got {self.correlation}", field="correlation")
        for name in ("intercept", "slope", "group", "interaction"):
            if not np.isfinite(getattr(self, name)):
                raise InputError(f"expected a finite {name}, got {getattr(self, name)}", field=name)

    @property
    def beta(self) -> np.ndarray:
        return np.array([self.intercept, self.group, self.slope, self.interaction])

    @property
    def participant_cov(self) -> np.ndarray:
        c = self.correlation * self.participant_sd * self.slope_sd
        return np.array([[self.participant_sd**2, c], [c, self.slope_sd**2]])


def with_effects(
    truth: Truth,
    *,
    group_difference=None,
    at_level: float = 1.0,
    interaction=None,
    threshold_ratio=None,
    scale: str = "logit",
) -> Truth:
    """The truth with the effects of a plan: a group difference at ``at_level`` (log-odds, or
    with ``scale="accuracy"`` a difference of P(correct) for a typical participant and image,
    random effects 0), the group x log10(level) ``interaction`` (log-odds per log10 unit), or a
    ``threshold_ratio`` (group b's 50 % level over group a's, the curves' horizontal shift).

    Examples
    --------
    >>> t = with_effects(Truth(intercept=0.0, slope=1.0), group_difference=0.1, at_level=10, scale="accuracy")
    >>> round(float(expit(t.intercept + t.group + (t.slope + t.interaction) * 1.0)), 6)
    0.831059
    >>> round(with_effects(Truth(), threshold_ratio=10 ** 0.2).group, 6)
    -0.3
    """
    if scale not in ("logit", "accuracy"):
        raise InputError(f"expected scale 'logit' or 'accuracy', got {scale!r}", field="scale")
    if not at_level > 0:
        raise InputError(f"expected at_level > 0 (% revealed), got {at_level}", field="at_level")
    if threshold_ratio is not None and group_difference is not None:
        raise InputError("give a group difference or a threshold ratio, not both", field="threshold_ratio")
    b3 = truth.interaction if interaction is None else float(interaction)
    x0 = np.log10(at_level)
    if threshold_ratio is not None:
        if not threshold_ratio > 0:
            raise InputError(f"expected threshold_ratio > 0, got {threshold_ratio}", field="threshold_ratio")
        if truth.slope == 0 or truth.slope + b3 == 0:
            raise InputError("a threshold needs accuracy that changes with the level: got a slope of 0", field="slope")
        # group b's curve crosses logit 0 at log10(ratio) to the right of group a's
        b1 = -(truth.slope + b3) * (-truth.intercept / truth.slope + np.log10(threshold_ratio)) - truth.intercept
        return replace(truth, group=float(b1), interaction=b3)
    if group_difference is None:
        return replace(truth, interaction=b3)
    d = float(group_difference)
    if scale == "accuracy":
        p_a = float(expit(truth.intercept + truth.slope * x0))
        if not 0 < p_a + d < 1:
            raise InputError(
                f"accuracy {p_a:.3f} of group a at {at_level:g} % plus the difference {d:g} leaves "
                f"(0, 1): got {p_a + d:.3f}",
                field="group_difference",
            )
        d = float(logit(p_a + d) - logit(p_a))
    return replace(truth, group=d - b3 * x0, interaction=b3)


def simulate_trials(design: Design, truth: Truth, seed=0) -> pd.DataFrame:
    """One data set drawn from ``truth`` on ``design``: a trial table as the runner writes
    (``participant, group, level, map_source, image_id, correct, rt, timed_out``).

    Examples
    --------
    >>> t = simulate_trials(Design(n_per_group=2, levels=(1, 10), n_images=3, trials_per_level=3), Truth(), seed=0)
    >>> len(t), t.groupby("participant")["image_id"].nunique().tolist()
    (24, [3, 3, 3, 3])
    """
    rng = np.random.default_rng(seed)
    n_part, n_lev, n_t = 2 * design.n_per_group, len(design.levels), design.trials_per_level
    part = np.repeat(np.arange(n_part), n_lev * n_t)
    lev = np.tile(np.repeat(np.arange(n_lev), n_t), n_part)
    image = (part + lev * n_t + np.tile(np.arange(n_t), n_part * n_lev)) % design.n_images
    in_b = (part >= design.n_per_group).astype(float)
    x = np.log10(np.asarray(design.levels))[lev]
    z = rng.standard_normal((n_part, 2))
    u = truth.participant_sd * z[:, 0]
    v = truth.slope_sd * (truth.correlation * z[:, 0] + np.sqrt(1 - truth.correlation**2) * z[:, 1])
    w = rng.normal(0.0, truth.image_sd, design.n_images)
    eta = (
        truth.intercept
        + truth.group * in_b
        + (truth.slope + truth.interaction * in_b) * x
        + u[part]
        + v[part] * x
        + w[image]
    )
    correct = rng.random(len(eta)) < expit(eta)
    return pd.DataFrame(
        {
            "participant": np.char.add("p", np.char.zfill(part.astype(str), 4)),
            "group": np.where(in_b > 0, design.groups[1], design.groups[0]),
            "level": np.asarray(design.levels)[lev],
            "map_source": "revealed",
            "image_id": np.char.add("im", np.char.zfill(image.astype(str), 4)),
            "correct": correct,
            "rt": 0.5,
            "timed_out": False,
        }
    )


def _threshold_p(trials, n_boot, seed) -> tuple[float, float]:
    params, _ = psychometric_fit(trials, n_boot=n_boot, seed=seed)
    params = params.set_index("group")
    log_t = np.log10(params["threshold"].to_numpy(float))
    se = (np.log10(params["threshold_ci_high"]) - np.log10(params["threshold_ci_low"])).to_numpy(float) / 3.92
    diff = log_t[1] - log_t[0]
    return float(diff), float(2 * stats.norm.sf(abs(diff) / np.hypot(*se)))


def analyze_one(
    trials: pd.DataFrame,
    tests=("group", "interaction"),
    *,
    at_level: float = 1.0,
    start=None,
    n_permutations: int = 10000,
    n_boot: int = 200,
    seed=0,
) -> list[dict]:
    """The tests of one data set: rows ``test, estimate, p, formula``; a mixed model that cannot
    be fitted at all gives ``p`` NaN (not a rejection; ``power_table`` counts them)."""
    rows = []
    if {"group", "interaction"} & set(tests):
        try:
            fit = fit_prepared(**mixed_inputs(trials), start=start)
        except InputError as err:  # even the simplest model failed (tiny designs): counted as not rejected
            fit, formula = None, f"(not fitted: {err.message})"
        weights = {"group": [0.0, 1.0, 0.0, np.log10(at_level)], "interaction": [0.0, 0.0, 0.0, 1.0]}
        for test in ("group", "interaction"):
            if test in tests and fit is None:
                rows.append({"test": test, "estimate": np.nan, "p": np.nan, "formula": formula})
            elif test in tests:
                estimate, _, p = contrast_test(fit, weights[test])
                rows.append({"test": test, "estimate": estimate, "p": p, "formula": fit.table["formula"].iloc[0]})
    if "permutation" in tests:
        acc = trials[np.isclose(trials["level"], at_level)].groupby(["group", "participant"])["correct"].mean()
        groups = sorted(trials["group"].unique())
        estimate, p, _ = permutation_test(
            acc[groups[1]].to_numpy(), acc[groups[0]].to_numpy(), n_permutations, seed=seed
        )
        rows.append({"test": "permutation", "estimate": estimate, "p": p, "formula": ""})
    if "threshold" in tests:
        estimate, p = _threshold_p(trials, n_boot, seed)
        rows.append({"test": "threshold", "estimate": estimate, "p": p, "formula": ""})
    return rows


def _one(design, truth, tests, options, seed) -> list[dict]:
    trials = simulate_trials(design, truth, seed)
    start = (
        {"beta": truth.beta, "participant": truth.participant_cov, "image_id": truth.image_sd**2}
        if options["warm_start"]
        else None
    )
    began = time.perf_counter()
    rows = analyze_one(
        trials,
        tests,
        at_level=options["at_level"],
        start=start,
        n_permutations=options["n_permutations"],
        n_boot=options["n_boot"],
        seed=seed,
    )
    seconds = time.perf_counter() - began
    return [dict(row, n_per_group=design.n_per_group, sim=seed[-1], seconds=seconds) for row in rows]


def _check_tests(tests, design, at_level) -> tuple:
    tests = tuple(tests)
    unknown = [t for t in tests if t not in TESTS]
    if unknown or not tests:
        raise InputError(f"expected tests among {list(TESTS)}, got {list(tests)}", field="tests")
    if "permutation" in tests and not np.isclose(design.levels, at_level).any():
        raise InputError(
            f"the permutation test compares accuracy at one of the design's levels "
            f"{list(design.levels)}, got at_level {at_level:g}",
            field="at_level",
        )
    return tests


def simulate_power(
    design: Design,
    truth: Truth,
    n_values,
    *,
    n_sims: int = 200,
    tests=("group", "interaction"),
    at_level: float = 1.0,
    seed=0,
    n_jobs: int = 1,
    warm_start: bool = True,
    n_permutations: int = 10000,
    n_boot: int = 200,
    progress: bool = False,
) -> pd.DataFrame:
    """``n_sims`` simulated data sets and their tests at each participants-per-group N in ``n_values``.

    Runs through ``joblib.Parallel(n_jobs)`` (processes by default; inside
    ``with joblib.parallel_config(backend="dask"):`` the data sets go to a Dask cluster).

    Returns
    -------
    pandas.DataFrame
        One row per data set and test: ``n_per_group, sim, test, estimate, p, formula, seconds``.
    """
    if n_sims < 1:
        raise InputError(f"expected n_sims >= 1, got {n_sims}", field="n_sims")
    n_values = sorted({int(n) for n in n_values})
    if not n_values or n_values[0] < 2:
        raise InputError(f"expected participants per group >= 2, got {n_values}", field="participants")
    tests = _check_tests(tests, design, at_level)
    options = {
        "warm_start": warm_start,
        "at_level": float(at_level),
        "n_permutations": n_permutations,
        "n_boot": n_boot,
    }
    base = [int(s) for s in np.atleast_1d(seed)]
    jobs = [
        delayed(_one)(replace(design, n_per_group=n), truth, tests, options, base + [n, k])
        for n in n_values
        for k in range(n_sims)
    ]
    chunks = Parallel(n_jobs=n_jobs, verbose=5 if progress else 0)(jobs)
    return pd.DataFrame([row for chunk in chunks for row in chunk])


def power_table(sims: pd.DataFrame, alpha: float = 0.05, confidence: float = 0.95) -> pd.DataFrame:
    """Power per N and test with its Clopper-Pearson interval: ``n_per_group, test, n_sims,
    n_rejected, power, ci_low, ci_high, alpha, n_not_fitted`` (data sets whose model could not
    be fitted count as not rejected).

    Examples
    --------
    >>> sims = pd.DataFrame({"n_per_group": 10, "test": "group", "p": [0.01, 0.2, 0.03, 0.04]})
    >>> row = power_table(sims).iloc[0]
    >>> int(row["n_rejected"]), float(row["power"]), round(float(row["ci_low"]), 3)
    (3, 0.75, 0.194)
    """
    rows = []
    for (n, test), group in sims.groupby(["n_per_group", "test"], sort=True):
        k, m = int((group["p"] < alpha).sum()), len(group)
        interval = stats.binomtest(k, m).proportion_ci(confidence, method="exact")
        rows.append(
            {
                "n_per_group": int(n),
                "test": test,
                "n_sims": m,
                "n_rejected": k,
                "power": k / m,
                "ci_low": interval.low,
                "ci_high": interval.high,
                "alpha": alpha,
                "n_not_fitted": int(group["p"].isna().sum()),
            }
        )
    return pd.DataFrame(rows)


def smallest_n(table: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """Per test, the smallest N whose power reaches ``target`` (``n_for_target``; NaN when none
    of the simulated N does) and the smallest whose whole 95% interval does (``n_for_target_ci``)."""
    rows = []
    for test, group in table.groupby("test", sort=False):
        group = group.sort_values("n_per_group")
        point = group.loc[group["power"] >= target, "n_per_group"]
        sure = group.loc[group["ci_low"] >= target, "n_per_group"]
        rows.append(
            {
                "test": test,
                "target": target,
                "n_for_target": point.min() if len(point) else np.nan,
                "n_for_target_ci": sure.min() if len(sure) else np.nan,
            }
        )
    return pd.DataFrame(rows)


def power_figure(table: pd.DataFrame, target: float = 0.8):
    """Power against participants per group, one line per test, 95% intervals as bars (a Figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for test, group in table.groupby("test", sort=False):
        group = group.sort_values("n_per_group")
        ax.errorbar(
            group["n_per_group"],
            group["power"],
            yerr=[group["power"] - group["ci_low"], group["ci_high"] - group["power"]],
            marker="o",
            capsize=3,
            label=test,
        )
    ax.axhline(target, color="grey", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.axhline(table["alpha"].iloc[0], color="grey", linestyle=":", linewidth=1, label="alpha")
    ax.set(xlabel="participants per group", ylabel="power", ylim=(0, 1.02))
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig


def plot_power(table: pd.DataFrame, path, target: float = 0.8) -> Path:
    """:func:`power_figure` written to ``path`` (PNG)."""
    path = Path(path)
    power_figure(table, target).savefig(path, dpi=120)
    return path


def truth_from_pilot(folder) -> tuple[Truth, dict]:
    """The fixed effects and variance components of a pilot's ``mixed_model.csv`` (written by
    ``experiment analyze``), and what the pilot says of the design (``levels``, ``groups``,
    ``n_images``, ``n_participants``, ``trials_per_level`` = revealed trials / participants / levels).
    A dropped slope or image term reads as an SD of 0."""
    path = Path(folder) / "mixed_model.csv"
    if not path.is_file():
        raise InputError(
            "expected the mixed-model table written by `clickme experiment analyze DATA --out "
            f"{folder}` in this folder, found no mixed_model.csv",
            path=path,
        )
    table = pd.read_csv(path)
    missing = {"term", "effect", "estimate"} - set(table.columns)
    if missing:
        raise InputError(
            f"expected columns term, effect, estimate, got {list(table.columns)}", path=path, field=sorted(missing)[0]
        )
    fixed = table[table["effect"] == "fixed"].set_index("term")["estimate"]
    names = list(fixed.index)
    if len(names) != 4 or not np.isfinite(fixed.to_numpy(float)).all():
        note = table["note"].iloc[0] if "note" in table and len(table) else ""
        raise InputError(
            f"expected the four fixed effects of a fitted two-group model, got {names} ({note})",
            path=path,
            field="estimate",
        )
    rand = table[table["effect"] == "random"].set_index("term")["estimate"].to_dict()

    def sd(name):
        value = rand.get(name, 0.0)
        return float(value) if np.isfinite(value) else 0.0

    truth = Truth(
        intercept=float(fixed.iloc[0]),
        group=float(fixed.iloc[1]),
        slope=float(fixed.iloc[2]),
        interaction=float(fixed.iloc[3]),
        participant_sd=sd("participant sd(Intercept)"),
        slope_sd=sd("participant sd(log10_level)"),
        correlation=sd("participant corr"),
        image_sd=sd("image_id sd(Intercept)"),
    )
    info = {"group_b": names[1].removeprefix("group[T.").removesuffix("]")}
    for column in ("n_images", "n_participants"):
        if column in table:
            info[column] = int(table[column].iloc[0])
    accuracy = Path(folder) / "accuracy.csv"
    if accuracy.is_file():
        acc = pd.read_csv(accuracy)
        revealed = acc[~acc["intact"].astype(bool)] if "intact" in acc else acc
        info["levels"] = tuple(sorted(revealed["level"].unique().tolist()))
        info["groups"] = tuple(sorted(acc["group"].unique().tolist()))
        if "n_trials" in table and info.get("n_participants"):  # trials per level and participant
            per = table["n_trials"].iloc[0] / (info["n_participants"] * len(info["levels"]))
            info["trials_per_level"] = max(int(round(per)), 1)
    return truth, info


def describe(design: Design, truth: Truth) -> dict:
    """The plan as flat ``design_*`` / ``truth_*`` fields, for the output CSV."""
    out = {
        f"design_{k}": (
            " ".join(f"{v:g}" for v in value) if k == "levels" else " ".join(value) if k == "groups" else value
        )
        for k, value in asdict(design).items()
    }
    out.update({f"truth_{k}": v for k, v in asdict(truth).items()})
    return out
