"""Report section "Psychophysics": accuracy curves, thresholds and the statistics beyond accuracy.

The figure functions take a tidy table written by ``clickme experiment analyze``
(:func:`clickme_analysis.psychophysics.analysis.analyze`: ``rt.csv``, ``dprime.csv``,
``level_tests.csv``, ``ceiling.csv``, ``ceiling_bootstrap.csv``, ``mixed_model.csv``) and return
a :class:`matplotlib.figure.Figure` or a display DataFrame; the part builders
(:func:`psychophysics`, :func:`thresholds`, :func:`statistics_part`) read those files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports import figures, tables
from reports.figures import _level_axis, _require_columns
from reports.inputs import read_output
from reports.parts import Item
from reports.parts.stimuli import budget_shares
from reports.style import GRAY, SINGLE_COLUMN, colors_for, display_name, new_figure, styled
from reports.tables import flag


def _by_level(ax, frame: pd.DataFrame, value: str, error: str) -> None:
    intact = flag(frame, "intact")
    revealed = frame[~intact]
    if revealed.empty or (revealed["level"] <= 0).any():
        raise InputError(f"expected rows with revealed levels > 0, got {len(revealed)}", field="level")
    full_x = _level_axis(ax, revealed["level"], bool(intact.any()))
    colors = colors_for(frame["group"].unique())
    for group, rows in frame.assign(intact=intact).groupby("group", sort=True):
        line = rows[~rows["intact"]].sort_values("level")
        ax.errorbar(
            line["level"],
            line[value],
            yerr=line[error],
            fmt="o-",
            color=colors[str(group)],
            label=display_name(group),
            markeredgecolor="white",
            markeredgewidth=0.5,
        )
        full = rows[rows["intact"]]
        if len(full):
            ax.errorbar(np.full(len(full), full_x), full[value], yerr=full[error], fmt="s", color=colors[str(group)])


@styled
def rt_curves(rt: pd.DataFrame):
    """Median correct reaction time against the reveal level, per group.

    Parameters
    ----------
    rt : DataFrame
        ``group, level, median_rt, sem`` and optionally ``intact``
        (:func:`clickme_analysis.psychophysics.rt_by_level`: the mean over participants of each
        participant's median correct RT, s).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(rt, ["group", "level", "median_rt", "sem"], "rt", numeric=["level", "median_rt", "sem"])
    fig, axes = new_figure(SINGLE_COLUMN + 0.6, 2.6)
    ax = axes[0, 0]
    _by_level(ax, rt.assign(median_ms=rt["median_rt"] * 1000, sem_ms=rt["sem"] * 1000), "median_ms", "sem_ms")
    ax.set_ylabel("Median correct RT (ms)")
    ax.legend(loc="best")
    return fig


@styled
def dprime_curves(dprime: pd.DataFrame):
    """d' (A) and criterion c (B) against the reveal level, per group (bars: S.E.M.).

    Parameters
    ----------
    dprime : DataFrame
        ``group, level, d_prime, d_prime_sem, criterion, criterion_sem`` and optionally
        ``intact``, ``correction`` (:func:`clickme_analysis.psychophysics.dprime_by_level`).

    Returns
    -------
    matplotlib.figure.Figure
    """
    numeric = ["level", "d_prime", "d_prime_sem", "criterion", "criterion_sem"]
    _require_columns(dprime, ["group"] + numeric, "dprime", numeric=numeric)
    fig, axes = new_figure(2 * SINGLE_COLUMN, 2.6, 1, 2)
    _by_level(axes[0, 0], dprime, "d_prime", "d_prime_sem")
    axes[0, 0].set_ylabel("d'")
    axes[0, 0].axhline(0, color=GRAY, linestyle=":", linewidth=1)
    axes[0, 0].legend(loc="best")
    _by_level(axes[0, 1], dprime, "criterion", "criterion_sem")
    axes[0, 1].set_ylabel("Criterion c")
    axes[0, 1].axhline(0, color=GRAY, linestyle=":", linewidth=1)
    for ax, letter in zip(axes[0], "AB"):
        ax.set_title(letter, loc="left", fontweight="bold")
    return fig


@styled
def effect_size_plot(level_tests: pd.DataFrame):
    """Hedges' g of the group difference at each level with its BCa 95% interval.

    Parameters
    ----------
    level_tests : DataFrame
        ``level, hedges_g, g_ci_low, g_ci_high`` and optionally ``intact, group_a, group_b,
        significant`` (:func:`clickme_analysis.psychophysics.level_tests`).

    Returns
    -------
    matplotlib.figure.Figure
        Filled markers: significant after Holm's correction; open: not.
    """
    numeric = ["level", "hedges_g", "g_ci_low", "g_ci_high"]
    _require_columns(level_tests, numeric, "level_tests", numeric=numeric)
    intact = flag(level_tests, "intact")
    revealed = level_tests[~intact]
    if revealed.empty:
        raise InputError("level_tests: expected rows with revealed levels", field="level")
    fig, axes = new_figure(SINGLE_COLUMN + 0.6, 2.6)
    ax = axes[0, 0]
    full_x = _level_axis(ax, revealed["level"], bool(intact.any()))
    x = np.where(intact, full_x, level_tests["level"])
    significant = (
        flag(level_tests, "significant") if "significant" in level_tests else pd.Series(False, index=level_tests.index)
    )
    g = level_tests["hedges_g"].to_numpy(float)
    yerr = np.vstack([g - level_tests["g_ci_low"].to_numpy(float), level_tests["g_ci_high"].to_numpy(float) - g])
    ax.errorbar(x, g, yerr=np.nan_to_num(yerr), fmt="none", ecolor="black", elinewidth=1)
    ax.plot(x[significant.to_numpy()], g[significant.to_numpy()], "o", color="black", label="Holm p < .05")
    ax.plot(
        x[~significant.to_numpy()],
        g[~significant.to_numpy()],
        "o",
        markerfacecolor="white",
        color="black",
        label="not significant",
    )
    ax.axhline(0, color=GRAY, linestyle=":", linewidth=1)
    if {"group_a", "group_b"} <= set(level_tests.columns):
        first = level_tests.iloc[0]
        ax.set_ylabel(f"Hedges' g ({display_name(first['group_a'])} \u2212 {display_name(first['group_b'])})")
    else:
        ax.set_ylabel("Hedges' g")
    ax.legend(loc="best")
    return fig


@styled
def ceiling_plot(ceiling: pd.DataFrame, bootstrap: pd.DataFrame):
    """Bootstrap distribution of each group's ceiling level (participants resampled).

    Parameters
    ----------
    ceiling : DataFrame
        ``group, ceiling_level`` (:func:`clickme_analysis.psychophysics.ceiling_levels`).
    bootstrap : DataFrame
        ``group, ceiling_level, fraction`` (NaN level: no ceiling in that resample).

    Returns
    -------
    matplotlib.figure.Figure
        Bars: the fraction of resamples per ceiling level ("none": the top level still
        differs); triangles: the ceiling of the data.
    """
    _require_columns(ceiling, ["group", "ceiling_level"], "ceiling", numeric=["ceiling_level"])
    _require_columns(
        bootstrap, ["group", "ceiling_level", "fraction"], "ceiling_bootstrap", numeric=["ceiling_level", "fraction"]
    )
    levels = sorted(set(bootstrap["ceiling_level"].dropna()) | set(ceiling["ceiling_level"].dropna()))
    positions = {level: k for k, level in enumerate(levels)}
    none_x = len(levels)
    groups = sorted(set(bootstrap["group"].astype(str)) | set(ceiling["group"].astype(str)))
    colors = colors_for(groups)
    width = 0.8 / max(len(groups), 1)
    fig, axes = new_figure(SINGLE_COLUMN + 0.6, 2.6)
    ax = axes[0, 0]
    for k, group in enumerate(groups):
        rows = bootstrap[bootstrap["group"].astype(str) == group]
        x = [positions.get(level, none_x) if np.isfinite(level) else none_x for level in rows["ceiling_level"]]
        offset = (k - (len(groups) - 1) / 2) * width
        ax.bar(
            np.asarray(x, dtype=float) + offset,
            rows["fraction"],
            width=width,
            color=colors[group],
            label=display_name(group),
        )
        point = ceiling.loc[ceiling["group"].astype(str) == group, "ceiling_level"]
        if len(point):
            level = point.iloc[0]
            px = positions.get(level, none_x) if np.isfinite(level) else none_x
            ax.plot(px + offset, 1.03, "v", color=colors[group], clip_on=False)
    ax.set_xticks(range(len(levels) + 1), [f"{level:g}" for level in levels] + ["none"])
    ax.set_xlabel("Ceiling level (% of the reveal budget)")
    ax.set_ylabel("Fraction of bootstrap resamples")
    ax.set_ylim(0, 1.08)
    ax.legend(loc="upper left")
    return fig


def mixed_model_table(mixed: pd.DataFrame) -> pd.DataFrame:
    """The mixed model's fixed effects (estimate, SE, z, p, 95% CI) and variance parameters.

    Examples
    --------
    >>> frame = pd.DataFrame({"term": ["Intercept", "participant sd(Intercept)"], "effect": ["fixed", "random"],
    ...                       "estimate": [0.51234, 0.3], "se": [0.1, np.nan], "z": [5.1234, np.nan],
    ...                       "p": [3e-7, np.nan], "ci_low": [0.3, np.nan], "ci_high": [0.7, np.nan]})
    >>> mixed_model_table(frame)["Estimate"].tolist()
    [0.512, 0.3]
    """
    _require_columns(
        mixed,
        ["term", "effect", "estimate", "se", "z", "p", "ci_low", "ci_high"],
        "mixed_model",
        numeric=["estimate", "se", "z", "p", "ci_low", "ci_high"],
    )
    names = {
        "term": "Term",
        "effect": "Effect",
        "estimate": "Estimate",
        "se": "SE",
        "z": "z",
        "p": "p",
        "ci_low": "95% CI low",
        "ci_high": "95% CI high",
    }
    table = mixed[list(names)].rename(columns=names)
    for column in ("Estimate", "SE", "z", "95% CI low", "95% CI high"):
        table[column] = table[column].astype(float).round(3)
    table["p"] = [f"{p:.2g}" if np.isfinite(p) else "" for p in mixed["p"].astype(float)]
    return table


def effect_size_table(level_tests: pd.DataFrame) -> pd.DataFrame:
    """Per level: difference, its BCa interval, Hedges' g and its interval, p (Holm, BH), permutations."""
    columns = [
        "level",
        "statistic",
        "difference_ci_low",
        "difference_ci_high",
        "hedges_g",
        "g_ci_low",
        "g_ci_high",
        "p_holm",
        "p_fdr_bh",
        "n_permutations",
    ]
    _require_columns(level_tests, columns, "level_tests", numeric=columns)
    intact = flag(level_tests, "intact")
    table = pd.DataFrame(
        {"Level (%)": ["full image" if full else f"{level:.3g}" for level, full in zip(level_tests["level"], intact)]}
    )
    for column, name in (
        ("statistic", "Difference"),
        ("difference_ci_low", "CI low"),
        ("difference_ci_high", "CI high"),
        ("hedges_g", "Hedges' g"),
        ("g_ci_low", "g CI low"),
        ("g_ci_high", "g CI high"),
        ("p_holm", "p (Holm)"),
        ("p_fdr_bh", "p (BH)"),
    ):
        table[name] = level_tests[column].astype(float).round(3).to_numpy()
    table["Permutations"] = level_tests["n_permutations"].astype(int).to_numpy()
    return table


def statistics_part(root) -> list:
    """Report items from ``experiment/``: RT, d', effect sizes, the ceiling and the mixed model.

    ``rt.csv`` is required (the part is listed as missing without it); the others are drawn
    when present.
    """
    folder = Path(root) / "experiment"
    rt = read_output(folder / "rt.csv", ["group", "level", "median_rt", "sem"])
    items = [
        Item(
            "rt_curves",
            "Reaction times",
            "Median reaction time of correct responses against the reveal level, per map source: "
            "each participant's median, then the mean over participants (bars: S.E.M.); log x axis.",
            rt_curves(rt),
        )
    ]
    for builder in (_dprime_items, _effect_size_items, _ceiling_items, _mixed_model_items):
        items += builder(folder)
    return items


def _optional(folder: Path, name: str, columns) -> pd.DataFrame | None:
    """``<folder>/<name>.csv`` with ``columns``, or None when absent."""
    path = folder / f"{name}.csv"
    return read_output(path, columns) if path.is_file() else None


def _dprime_items(folder: Path) -> list[Item]:
    dprime = _optional(folder, "dprime", ["group", "level", "d_prime", "d_prime_sem", "criterion", "criterion_sem"])
    if dprime is None or not len(dprime):
        return []
    correction = str(dprime["correction"].iloc[0]) if "correction" in dprime else "loglinear"
    return [
        Item(
            "dprime_curves",
            "Sensitivity and criterion",
            "d' = z(H) - z(F) (A) and criterion c = -(z(H) + z(F)) / 2 (B) per participant, "
            "then the mean over participants (bars: S.E.M.); a hit is an 'animal' answer to an "
            f"animal, a false alarm one to a non-animal; rates corrected by the {correction} rule "
            "(Hautus 1995).",
            dprime_curves(dprime),
        )
    ]


def _effect_size_items(folder: Path) -> list[Item]:
    tests = _optional(folder, "level_tests", ["level", "hedges_g", "g_ci_low", "g_ci_high"])
    if tests is None or "p_fdr_bh" not in tests:
        return []
    return [
        Item(
            "effect_sizes",
            "Effect sizes per level",
            "Hedges' g of the difference in per-participant accuracy between the map sources "
            "at each level, with BCa bootstrap 95% intervals (filled: Holm-corrected "
            "randomisation test p < .05).",
            effect_size_plot(tests),
        ),
        Item(
            "effect_size_table",
            "Effect sizes and corrected p-values",
            "Accuracy difference and Hedges' g with BCa 95% intervals; p-values of the "
            "randomisation test corrected by Holm (family-wise) and Benjamini-Hochberg (false "
            "discovery rate); the number of label permutations evaluated.",
            effect_size_table(tests),
        ),
    ]


def _ceiling_items(folder: Path) -> list[Item]:
    ceiling = _optional(folder, "ceiling", ["group", "ceiling_level"])
    boot = _optional(folder, "ceiling_bootstrap", ["group", "ceiling_level", "fraction"])
    if ceiling is None or boot is None or not len(boot):
        return []
    per_group = ceiling.groupby("group").first()
    spans = "; ".join(
        f"{display_name(g)} {r['ceiling_level']:g} % (95% interval {r['ceiling_ci_low']:g}-{r['ceiling_ci_high']:g})"
        for g, r in per_group.iterrows()
        if {"ceiling_ci_low", "ceiling_ci_high"} <= set(r.index)
    )
    return [
        Item(
            "ceiling_bootstrap",
            "Ceiling level",
            "The ceiling: the lowest level from which accuracy does not differ from the full image "
            "(sign-flip test per level, p >= .05 at it and every higher level). Bars: its "
            "distribution over bootstrap resamples of participants; triangles: the data's. "
            f"{spans}.",
            ceiling_plot(ceiling, boot),
        )
    ]


def _mixed_model_items(folder: Path) -> list[Item]:
    mixed = _optional(folder, "mixed_model", ["term", "effect", "estimate"])
    if mixed is None or not len(mixed):
        return []
    note = (
        str(mixed["note"].iloc[0])
        if "note" in mixed and str(mixed["note"].iloc[0]) not in ("", "nan")
        else "nothing dropped"
    )
    formula = str(mixed["formula"].iloc[0]) if "formula" in mixed else ""
    return [
        Item(
            "mixed_model",
            "Mixed-effects logistic regression",
            f"{formula}, maximum likelihood (Laplace approximation, as lme4's glmer); Wald "
            f"z tests and 95% intervals; intact-image trials left out. Model notes: {note}.",
            mixed_model_table(mixed),
        )
    ]


def psychophysics(root: Path) -> list[Item]:
    folder = root / "experiment"
    numbers = ["level", "accuracy", "sem", "predicted", "ci_low", "ci_high", "p", "p_holm", "statistic"]
    accuracy = read_output(folder / "accuracy.csv", ["group", "level", "accuracy", "sem"], numbers)
    optional = {}
    for name, columns in (
        ("psychometric", ["group", "level", "predicted", "ci_low", "ci_high"]),
        ("level_tests", ["level", "p", "significant"]),
    ):
        path = folder / f"{name}.csv"
        optional[name] = read_output(path, columns, numbers) if path.is_file() else None
    manifest = root / "stimuli" / "manifest.csv"
    shares = (
        budget_shares(read_output(manifest, ["image_id", "map_source"], numeric=["budget", "pixels_revealed"]))
        if manifest.is_file()
        else pd.Series(dtype=float)
    )
    budget = (
        f" (in stimuli/manifest.csv the budget is {shares.min():.0f}-{shares.max():.0f}% of an image's pixels)"
        if len(shares)
        else ""
    )
    caption = (
        "Accuracy (mean over participants, bars: S.E.M.) against the reveal level, per map "
        "source: the percentage of the reveal budget shown, where the budget is a pixel "
        f"count set by the first map source and shared by all sources{budget}; log x axis."
    )
    if optional["psychometric"] is not None:
        caption += " Lines: fitted psychometric curves with their confidence bands."
    if optional["level_tests"] is not None:
        caption += (
            " Stars: levels where the map sources differ (randomisation test, Holm "
            "corrected; * p < .05, ** p < .01, *** p < .001)."
        )
    items = [
        Item("accuracy_curves", "Accuracy vs features revealed", caption, figures.accuracy_curves(accuracy, **optional))
    ]
    if optional["level_tests"] is not None:
        items.append(
            Item(
                "level_tests",
                "Per-level tests",
                "Per-level test of the difference between map sources.",
                tables.level_test_table(optional["level_tests"]),
            )
        )
    return items


def thresholds(root: Path) -> list[Item]:
    """Psychometric thresholds (optional: absent is not a missing part)."""
    path = root / "experiment" / "psychometric_params.csv"
    if not path.is_file():
        return []
    return [
        Item(
            "psychometric_thresholds",
            "Psychometric thresholds",
            "Reveal level (percentage of the reveal budget shown) at the midpoint of each "
            "group's fitted psychometric function (where P(correct) is half-way between chance "
            "and 1 - lapse), with its bootstrap 95% interval (parametric unless "
            "psychometric_params.csv says otherwise).",
            tables.threshold_table(
                read_output(path, ["group", "threshold"], ["threshold", "threshold_ci_low", "threshold_ci_high"])
            ),
        )
    ]
