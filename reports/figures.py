"""Publication figures of the paper, each built from tidy DataFrames or in-memory arrays.

Every function here takes the tables the analysis functions return (column names as in
``docs/outputs.md``) or mappings of arrays, and returns a :class:`matplotlib.figure.Figure`.
None of them reads or writes files: :mod:`reports.parts` read the inputs. Maps over
images and contact sheets are in :mod:`reports.panels`. Figures use one style
(:mod:`reports.style`) and draw on an Agg canvas without ``pyplot``.

Reference: Linsley, Shiebler, Eberhardt & Serre, "Learning what and where to attend",
ICLR 2019 (figure numbers below are the paper's).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports.style import DOUBLE_COLUMN, GRAY, SINGLE_COLUMN, colors_for, display_name, new_figure, styled
from reports.tables import flag, require_columns


# ----------------------------------------------------------------------------- input checks
def _require_columns(frame, columns, name: str, numeric=()) -> pd.DataFrame:
    return require_columns(frame, columns, name, numeric=numeric, non_empty=True)


# ----------------------------------------------------------------------------- figures
def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else ""


#: Where the intact (full) image sits on the accuracy figure's x axis, as a factor of the
#: largest revealed level (one step beyond it on the log axis).
FULL_IMAGE_POSITION = 1.8

#: Horizontal shift between groups on the accuracy figure, in log10 units.
DODGE = 0.012


def _level_axis(ax, levels, with_full: bool) -> float:
    """Log x axis of reveal levels with a "Full" position right of the largest; returns it."""
    full_x = float(np.max(levels)) * FULL_IMAGE_POSITION
    ax.set_xscale("log")
    ticks = [t for t in (1, 3, 10, 30, 100) if np.min(levels) <= t <= full_x / 1.2]
    labels = [f"{t:g}" for t in ticks]
    if with_full:
        ticks, labels = ticks + [full_x], labels + ["Full"]
    ax.set_xticks(ticks, labels)
    ax.minorticks_off()
    ax.set_xlabel("Important features revealed (% of the reveal budget)")
    return full_x


@styled
def accuracy_curves(
    accuracy: pd.DataFrame,
    psychometric: pd.DataFrame | None = None,
    level_tests: pd.DataFrame | None = None,
    chance: float = 0.5,
):
    """Accuracy vs % of important features revealed, per map source (paper Fig. 2B).

    Parameters
    ----------
    accuracy : DataFrame
        Columns ``group, level, accuracy, sem`` and optionally ``intact``
        (``experiment/accuracy.csv``): mean accuracy over participants and its S.E.M. per
        group (map source) and level: the percentage of the reveal budget shown (the budget
        is a pixel count set by the first map source, e.g. its non-zero pixels, and is the
        same for every source; ``stimuli/manifest.csv``, column ``budget``), not a
        percentage of the image. Rows with ``intact`` true (the full image)
        are drawn as squares at a separate "Full" position right of the largest level.
    psychometric : DataFrame, optional
        Columns ``group, level, predicted, ci_low, ci_high``: fitted psychometric curves
        (dense in ``level``) drawn as lines with a shaded confidence band (NaN: no band).
    level_tests : DataFrame, optional
        Columns ``level, significant``, optionally ``intact`` and ``p_holm`` (or ``p``): a star
        mark above each level with ``significant`` true (``*`` p < .05, ``**`` p < .01,
        ``***`` p < .001, on ``p_holm`` if present).
    chance : float
        Chance accuracy, drawn as a dotted line (0.5 for animal vs non-animal).

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(accuracy, ["group", "level", "accuracy", "sem"], "accuracy", numeric=["level", "accuracy", "sem"])
    intact = flag(accuracy, "intact")
    revealed = accuracy[~intact]
    if revealed.empty:
        raise InputError("accuracy: expected rows with revealed levels, got only intact images", field="level")
    if (revealed["level"] <= 0).any():
        raise InputError(
            f"accuracy: expected levels > 0 (% revealed, log axis), got {revealed['level'].min():g}", field="level"
        )
    full_x = revealed["level"].max() * FULL_IMAGE_POSITION
    frame = accuracy.assign(x=np.where(intact, full_x, accuracy["level"]), intact=intact)
    colors = colors_for(accuracy["group"].unique())
    fig, axes = new_figure(SINGLE_COLUMN + 0.6, 2.8)
    ax = axes[0, 0]
    _accuracy_points(ax, frame, colors, _fitted_groups(psychometric))
    if psychometric is not None:
        _psychometric_fits(ax, psychometric, colors)
    ax.axhline(chance, color=GRAY, linestyle=":", linewidth=1, zorder=0, label="Chance")
    if level_tests is not None:
        top = frame.assign(top=frame["accuracy"] + frame["sem"].fillna(0))
        _mark_levels(ax, level_tests, top.groupby(["level", "intact"])["top"].max(), full_x)
    _level_axis(ax, revealed["level"], bool(intact.any()))
    ax.set_ylabel("Accuracy (proportion correct)")
    low = min(chance, float((accuracy["accuracy"] - accuracy["sem"].fillna(0)).min()))
    ax.set_ylim(max(0.0, low - 0.05), 1.08)
    ax.legend(loc="lower right")
    return fig


def _fitted_groups(psychometric: pd.DataFrame | None) -> set:
    """The groups with a fitted curve (their points are not joined by lines); checks the frame."""
    if psychometric is None:
        return set()
    columns = ["group", "level", "predicted", "ci_low", "ci_high"]
    return set(_require_columns(psychometric, columns, "psychometric", numeric=columns[1:])["group"].astype(str))


def _accuracy_points(ax, frame: pd.DataFrame, colors: dict, fitted: set) -> None:
    """Means with S.E.M. bars per group (side by side at each level); intact images as squares."""
    groups = frame.groupby("group", sort=True)
    style = {"markeredgecolor": "white", "markeredgewidth": 0.5, "zorder": 3}
    for k, (group, rows) in enumerate(groups):
        color = colors[str(group)]
        # groups side by side at each level (a small shift on the log axis), bars not hidden
        rows = rows.assign(x=rows["x"] * 10 ** (DODGE * (k - (len(groups) - 1) / 2)))
        line = rows[~rows["intact"]].sort_values("level")
        ax.errorbar(
            line["x"],
            line["accuracy"],
            yerr=line["sem"],
            fmt="o",
            color=color,
            linestyle="none" if str(group) in fitted else "-",
            label=display_name(group),
            **style,
        )
        full = rows[rows["intact"]]
        if len(full):
            ax.errorbar(full["x"], full["accuracy"], yerr=full["sem"], fmt="s", color=color, **style)


def _psychometric_fits(ax, psychometric: pd.DataFrame, colors: dict) -> None:
    """Fitted curves with their shaded confidence bands."""
    for group, rows in psychometric.groupby("group", sort=True):
        rows = rows.sort_values("level")
        color = colors.get(str(group), GRAY)
        ax.plot(rows["level"], rows["predicted"], color=color, zorder=2)
        ax.fill_between(rows["level"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.15, linewidth=0)


def _mark_levels(ax, level_tests: pd.DataFrame, top: pd.Series, full_x: float) -> None:
    """Stars above the highest error bar of each significant (level, intact) condition."""
    _require_columns(level_tests, ["level", "significant"], "level_tests", numeric=["level", "p", "p_holm"])
    p_column = "p_holm" if "p_holm" in level_tests else "p" if "p" in level_tests else None
    tests = level_tests.assign(intact=flag(level_tests, "intact"))
    for _, test in tests[flag(tests, "significant")].iterrows():
        stars = (_stars(float(test[p_column])) if p_column else "") or "*"
        same = [k for k in top.index if k[1] == test["intact"] and np.isclose(k[0], test["level"])]
        y = max(top[k] for k in same) if same else ax.get_ylim()[1] - 0.06
        x = full_x if test["intact"] else test["level"]
        ax.text(x, min(y + 0.015, 1.05), stars, ha="center", va="bottom", fontsize=8)


@styled
def participants_histogram(participants: pd.DataFrame):
    """Histogram of the number of participants per ClickMe map (paper Fig. 5).

    Parameters
    ----------
    participants : DataFrame
        Columns ``image_id, n_participants`` (``clickme/participants_per_image.csv``).

    Returns
    -------
    matplotlib.figure.Figure
        One bar per participant count (integer bins); the dashed line marks the mean.
    """
    _require_columns(participants, ["image_id", "n_participants"], "participants", numeric=["n_participants"])
    counts = participants["n_participants"].to_numpy(dtype=float)
    if not (np.isfinite(counts) & (counts >= 0)).all():
        raise InputError(
            "participants: expected a non-negative participant count for every image, got "
            f"{counts[~(np.isfinite(counts) & (counts >= 0))][0]:g}",
            field="n_participants",
        )
    low, high = int(counts.min()), int(counts.max())
    bins = np.arange(low - 0.5, high + 1.5) if high - low <= 60 else 30
    fig, axes = new_figure(SINGLE_COLUMN, 2.4)
    ax = axes[0, 0]
    ax.hist(counts, bins=bins, color=colors_for(["clickme"])["clickme"], edgecolor="white", linewidth=0.5)
    mean = counts.mean()
    ax.axvline(
        mean, color="black", linestyle="--", linewidth=1, label=f"mean = {mean:.1f} participants ({len(counts)} images)"
    )
    ax.set_xlabel("Participants per map")
    ax.set_ylabel("Images")
    ax.xaxis.get_major_locator().set_params(integer=True)
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0))
    return fig


@styled
def reliability_null(per_image: pd.DataFrame, bins: int | None = None):
    """Inter-rater reliability of maps against the null distribution, means marked.

    Parameters
    ----------
    per_image : DataFrame
        Columns ``rho, distribution`` (``clickme/reliability_per_image.csv``): one Spearman
        rho per image (``human``: two participants, same image) or per null pair (``null``:
        two participants, different images).
    bins : int, optional
        Number of histogram bins, shared by both distributions; default
        ``clip(2 * sqrt(n), 8, 30)`` for n finite values.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(per_image, ["rho", "distribution"], "reliability", numeric=["rho"])
    if per_image["distribution"].isna().any():
        raise InputError("reliability: expected a distribution name (human, null) in every row", field="distribution")
    rho = per_image["rho"].to_numpy(dtype=float)
    finite = np.isfinite(rho)
    if not finite.any():
        raise InputError("reliability: expected at least one finite rho", field="rho")
    if bins is None:
        bins = int(np.clip(2 * np.sqrt(finite.sum()), 8, 30))
    edges = np.histogram_bin_edges(rho[finite], bins=bins)
    names = list(per_image["distribution"].astype(str).unique())
    colors = colors_for(names)
    fig, axes = new_figure(SINGLE_COLUMN, 2.4)
    ax = axes[0, 0]
    for name in sorted(names, key=lambda n: n == "null"):
        values = per_image.loc[per_image["distribution"].astype(str) == name, "rho"]
        values = values[np.isfinite(values)]
        ax.hist(
            values,
            bins=edges,
            color=colors[name],
            alpha=0.55,
            edgecolor="white",
            linewidth=0.4,
            label=f"{display_name(name)}, n = {len(values)}",
        )
        mean = values.mean()
        ax.axvline(mean, color=colors[name], linestyle="--", linewidth=1.2)
        ax.annotate(
            f"{mean:.2f}",
            (mean, 1),
            xycoords=("data", "axes fraction"),
            xytext=(2, -2),
            textcoords="offset points",
            ha="left",
            va="top",
            color=colors[name],
            fontsize=7,
        )
    ax.set_xlabel("Spearman \u03c1 between participants' maps")
    ax.set_ylabel("Count")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_ylim(0, ax.get_ylim()[1] * 1.12)
    ax.legend(loc="lower left", bbox_to_anchor=(0, 1.0), ncol=1)
    return fig


def _lambda_axis(ax, lambdas: np.ndarray) -> None:
    positive = lambdas[lambdas > 0]
    if len(positive) == 0:
        return
    if (lambdas == 0).any():
        ax.set_xscale("symlog", linthresh=positive.min(), linscale=0.5)
    else:
        ax.set_xscale("log")
    if len(lambdas) <= 8:  # few values: a tick at each
        ax.set_xticks(lambdas, [f"{value:g}" for value in lambdas])
        ax.minorticks_off()
    ax.set_xlabel("\u03bb (weight of the ClickMe map loss)")


@styled
def lambda_sweep(sweep: pd.DataFrame):
    """Accuracy and fraction of human map variability vs lambda (paper Fig. 7).

    Parameters
    ----------
    sweep : DataFrame
        Columns ``lambda, top1_accuracy, fraction_of_human, ceiling, null``
        (``models/sweep.csv``); ``top1_accuracy`` is a proportion (NaN allowed). Several rows per
        lambda (seeds) are averaged, with S.E.M. bars. ``ceiling`` is the human inter-rater
        Spearman rho that ``fraction_of_human = rho_model / ceiling`` divides by, and
        ``null`` the mean rho of the permutation null, both in rho units (as
        :func:`models.score.summarize` writes them). In fraction units the human ceiling is
        therefore 1 and the null floor ``null / ceiling``; both are drawn as lines.

    Returns
    -------
    matplotlib.figure.Figure
        Left: top-1 accuracy; right: fraction of human map variability; x on a log axis
        (symmetric-log when lambda = 0 is present).
    """
    _require_columns(
        sweep,
        ["lambda", "top1_accuracy", "fraction_of_human", "ceiling", "null"],
        "sweep",
        numeric=["lambda", "top1_accuracy", "fraction_of_human", "ceiling", "null"],
    )
    if (sweep["lambda"] < 0).any():
        raise InputError("sweep: expected lambda >= 0", field="lambda")
    if not sweep["top1_accuracy"].dropna().between(0, 1).all():
        raise InputError(
            "sweep: expected top1_accuracy as a proportion in [0, 1], got "
            f"[{sweep['top1_accuracy'].min():g}, {sweep['top1_accuracy'].max():g}]",
            field="top1_accuracy",
        )
    summary = sweep.groupby("lambda")[["top1_accuracy", "fraction_of_human"]].agg(["mean", "sem"])
    lambdas = summary.index.to_numpy(dtype=float)
    fig, axes = new_figure(DOUBLE_COLUMN * 0.75, 2.4, 1, 2)
    panels = [
        ("top1_accuracy", "Top-1 accuracy", "#0072B2"),
        ("fraction_of_human", "Fraction of human map variability", "#D55E00"),
    ]
    for ax, (column, label, color) in zip(axes[0], panels):
        ax.errorbar(
            lambdas,
            summary[(column, "mean")],
            yerr=summary[(column, "sem")].fillna(0),
            fmt="o-",
            color=color,
            markeredgecolor="white",
            markeredgewidth=0.5,
        )
        ax.set_ylabel(label)
        _lambda_axis(ax, lambdas)
    ax = axes[0, 1]
    ceiling, floor = float(sweep["ceiling"].mean()), float(sweep["null"].mean())
    if not ceiling > 0:
        raise InputError(f"sweep: expected a positive ceiling (human rho), got {ceiling:g}", field="ceiling")
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label=f"Human ceiling (\u03c1 = {ceiling:.2f})")
    ax.axhline(floor / ceiling, color=GRAY, linestyle=":", linewidth=1.2, label=f"Null floor (\u03c1 = {floor:.2f})")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    for ax, letter in zip(axes[0], "AB"):
        ax.set_title(letter, loc="left", fontweight="bold")
    return fig


@styled
def training_curves(curves: pd.DataFrame):
    """Accuracy and map alignment over training epochs, per run and split.

    Parameters
    ----------
    curves : DataFrame
        Columns ``run, epoch, split, accuracy, map_alignment`` (``models/curves.csv``).
        Colour is the run; solid lines are ``train``, dashed lines any other split.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _require_columns(
        curves,
        ["run", "epoch", "split", "accuracy", "map_alignment"],
        "curves",
        numeric=["epoch", "accuracy", "map_alignment"],
    )
    colors = colors_for(curves["run"].astype(str).unique())
    fig, axes = new_figure(DOUBLE_COLUMN * 0.75, 2.4, 1, 2, sharex=True)
    for (run, split), rows in curves.groupby([curves["run"].astype(str), "split"], sort=True):
        rows = rows.sort_values("epoch")
        for ax, column in zip(axes[0], ["accuracy", "map_alignment"]):
            ax.plot(
                rows["epoch"],
                rows[column],
                color=colors[run],
                linestyle="-" if split == "train" else "--",
                label=f"{display_name(run)} ({display_name(split).lower()})",
            )
    axes[0, 0].set_ylabel("Accuracy")
    axes[0, 1].set_ylabel("Map alignment")
    for ax in axes[0]:
        ax.set_xlabel("Epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside lower center", ncol=3)
    return fig
