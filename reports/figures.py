"""Publication figures of the paper, each built from tidy DataFrames or in-memory arrays.

Every function here takes the tables the analysis functions return (column names as in
``docs/outputs.md``) or mappings of arrays, and returns a :class:`matplotlib.figure.Figure`.
None of them reads or writes files: :mod:`reports.parts` read the inputs. Figures use one style
(:mod:`reports.style`) and draw on an Agg canvas without ``pyplot``.

Reference: Linsley, Shiebler, Eberhardt & Serre, "Learning what and where to attend",
ICLR 2019 (figure numbers below are the paper's).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports.style import (
    DIVERGING_CMAP,
    DOUBLE_COLUMN,
    GREY,
    MAP_CMAP,
    SINGLE_COLUMN,
    colors_for,
    display_name,
    new_figure,
    styled,
)
from reports.tables import flag, require_columns

#: Largest opacity of a map drawn over its image.
OVERLAY_ALPHA = 0.85


# ----------------------------------------------------------------------------- input checks
def _require_columns(frame, columns, name: str, numeric=()) -> pd.DataFrame:
    return require_columns(frame, columns, name, numeric=numeric, non_empty=True)


def _image_01(image, name: str) -> np.ndarray:
    """An image as float in [0, 1], (H, W) or (H, W, 3); uint8 is divided by 255."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 4:
        array = array[..., :3]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3):
        raise InputError(f"{name}: expected an (H, W) or (H, W, 3) image, got shape {array.shape}")
    if array.dtype == np.uint8:
        return array / 255.0
    array = array.astype(float)
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected finite image values, got NaN or inf")
    if array.min() < 0 or array.max() > 1:
        raise InputError(
            f"{name}: expected uint8 or float values in [0, 1], got range [{array.min():g}, {array.max():g}]"
        )
    return array


def _map_01(saliency_map, name: str) -> np.ndarray:
    """A 2-D map on [0, 1] for display: ``(m - low) / (max - low)`` with ``low = min(0, m.min())``.

    A non-negative map (ClickMe maps, attention norms) is divided by its maximum, so a flat map
    stays visibly flat; a map with negative values is min-max rescaled; an all-zero map stays 0.
    """
    array = np.asarray(saliency_map, dtype=float)
    if array.ndim != 2:
        raise InputError(f"{name}: expected a 2-D (H, W) map, got shape {array.shape}")
    if not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected finite map values, got NaN or inf")
    low, high = min(0.0, array.min()), array.max()
    return (array - low) / (high - low) if high > low else np.zeros_like(array)


def _gray(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else image @ np.array([0.299, 0.587, 0.114])


def _bare(ax, row_label: str | None = None, title: str | None = None) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)
    if row_label is not None:
        ax.set_ylabel(row_label)
    if title is not None:
        ax.set_title(title)


def _draw_overlay(ax, image: np.ndarray, saliency_map: np.ndarray | None) -> None:
    """Grey image with the map on top in colour, opacity proportional to the map value.

    The map is stretched over the image's extent, so a 14x14 attention map and a 256x256 map
    both cover the whole image.
    """
    import matplotlib

    height, width = image.shape[:2]
    extent = (0, width, height, 0)
    ax.imshow(_gray(image), cmap="gray", vmin=0, vmax=1, extent=extent)
    if saliency_map is not None:
        rgba = matplotlib.colormaps[MAP_CMAP](saliency_map)
        rgba[..., 3] = OVERLAY_ALPHA * saliency_map
        ax.imshow(rgba, extent=extent, interpolation="bilinear")
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)


def _map_colorbar(fig, axes, label: str, cmap: str = MAP_CMAP, vmin=0.0, vmax=1.0):
    import matplotlib
    from matplotlib.cm import ScalarMappable

    mappable = ScalarMappable(matplotlib.colors.Normalize(vmin, vmax), cmap=cmap)
    bar = fig.colorbar(mappable, ax=axes, label=label, shrink=0.9, aspect=25, pad=0.01)
    bar.outline.set_visible(False)
    return bar


def _overlay_grid(
    images: Mapping, maps: Mapping, image_ids, titles, first_row: str, extra_rows: int = 0, panel: float = 1.15
):
    """Rows: the image, then one overlay row per map source; columns: images."""
    n_rows, n_cols = 1 + len(maps) + extra_rows, len(image_ids)
    width = min(DOUBLE_COLUMN, 0.9 + panel * n_cols)
    fig, axes = new_figure(width, (width - 0.9) / n_cols * n_rows + 0.3, n_rows, n_cols)
    for col, image_id in enumerate(image_ids):
        image = _image_01(images[image_id], f"image {image_id!r}")
        title = titles.get(image_id, str(image_id)) if titles else str(image_id)
        axes[0, col].imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
        _bare(axes[0, col], first_row if col == 0 else None, title)
        for row, (source, source_maps) in enumerate(maps.items(), start=1):
            has_map = image_id in source_maps
            saliency_map = _map_01(source_maps[image_id], f"{source} map {image_id!r}") if has_map else None
            _draw_overlay(axes[row, col], image, saliency_map)
            if not has_map:
                axes[row, col].text(
                    0.5, 0.5, "no map", transform=axes[row, col].transAxes, ha="center", va="center", color="white"
                )
            _bare(axes[row, col], display_name(source) if col == 0 else None)
    return fig, axes


def _check_image_maps(images, maps, name: str, max_images: int):
    if not isinstance(max_images, (int, np.integer)) or max_images < 1:
        raise InputError(f"{name}: expected max_images >= 1, got {max_images!r}", field="max_images")
    if not isinstance(images, Mapping) or not images:
        raise InputError(f"{name}: expected a non-empty mapping image_id -> image array")
    if not isinstance(maps, Mapping) or not maps:
        raise InputError(f"{name}: expected a non-empty mapping source -> {{image_id: map}}")
    for source, source_maps in maps.items():
        if not isinstance(source_maps, Mapping):
            raise InputError(
                f"{name}: maps[{source!r}] should map image_id -> 2-D array, got {type(source_maps).__name__}"
            )


# ----------------------------------------------------------------------------- figures
@styled
def example_maps(images: Mapping, maps: Mapping, titles: Mapping | None = None, max_images: int = 6):
    """Example maps over their images, opacity from the map (paper Fig. 2A and Fig. 6).

    Parameters
    ----------
    images : Mapping[str, ndarray]
        image_id -> (H, W) or (H, W, 3) image, uint8 or float in [0, 1]. The first
        ``max_images`` ids, in this mapping's order, are shown as columns.
    maps : Mapping[str, Mapping[str, ndarray]]
        Map source (``clickme``, ``saliency``, ...) -> image_id -> 2-D map of any size (it is
        stretched over the image). Each map is divided by its own maximum (min-max rescaled if
        it has negative values) and drawn in colour with opacity ``0.85 * value`` over the grey
        image; one row per source.
    titles : Mapping[str, str], optional
        Column titles per image_id (e.g. the class label); default the image_id.
    max_images : int
        At most this many images (columns).

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> image = np.zeros((8, 8, 3), np.uint8)
    >>> fig = example_maps({"a": image}, {"clickme": {"a": np.eye(8)}})
    >>> len(fig.axes)  # image row, clickme row, colour bar
    3
    """
    _check_image_maps(images, maps, "example_maps", max_images)
    image_ids = list(images)[:max_images]
    fig, axes = _overlay_grid(images, maps, image_ids, titles, "Image")
    _map_colorbar(fig, axes[1:, :], "Map value (normalised)")
    return fig


@styled
def attention_panels(
    images: Mapping,
    attention: Mapping,
    smoothgrad: Mapping | None = None,
    titles: Mapping | None = None,
    max_images: int = 6,
):
    """Attention maps of models and the SmoothGrad difference between two models (Fig. 4).

    Parameters
    ----------
    images : Mapping[str, ndarray]
        image_id -> image (as in :func:`example_maps`); the first ``max_images`` are columns.
    attention : Mapping[str, Mapping[str, ndarray]]
        Model name -> image_id -> 2-D attention map (any size; stretched over the image and
        divided by its maximum, as in :func:`example_maps`). One row per model.
    smoothgrad : Mapping[str, Mapping[str, ndarray]], optional
        Exactly two models -> image_id -> 2-D SmoothGrad map (same size as the image). Each map
        is divided by its largest absolute value, and the last row shows
        ``second - first`` with a diverging colour map (red: the second model's gradients are
        larger).
    titles : Mapping[str, str], optional
        Column titles per image_id.
    max_images : int
        At most this many images.

    Returns
    -------
    matplotlib.figure.Figure
    """
    _check_image_maps(images, attention, "attention_panels", max_images)
    if smoothgrad is not None and len(smoothgrad) != 2:
        raise InputError(
            f"attention_panels: expected SmoothGrad maps of exactly two models, "
            f"got {len(smoothgrad)}: {list(smoothgrad)}",
            field="smoothgrad",
        )
    image_ids = list(images)[:max_images]
    extra = 0 if smoothgrad is None else 1
    fig, axes = _overlay_grid(images, attention, image_ids, titles, "Image", extra_rows=extra)
    _map_colorbar(fig, axes[1 : 1 + len(attention), :], "Attention (normalised)")
    if smoothgrad is None:
        return fig
    (first, first_maps), (second, second_maps) = smoothgrad.items()
    for col, image_id in enumerate(image_ids):
        ax = axes[-1, col]
        if image_id in first_maps and image_id in second_maps:
            delta = _unit_abs(second_maps[image_id], f"{second} SmoothGrad {image_id!r}") - _unit_abs(
                first_maps[image_id], f"{first} SmoothGrad {image_id!r}"
            )
            ax.imshow(delta, cmap=DIVERGING_CMAP, vmin=-1, vmax=1, interpolation="bilinear")
        label = f"SmoothGrad\n{display_name(second)} \u2212 {display_name(first)}"
        _bare(ax, label if col == 0 else None)
    _map_colorbar(fig, axes[-1:, :], "\u0394 gradient (normalised)", DIVERGING_CMAP, -1, 1)
    return fig


def _unit_abs(saliency_map, name: str) -> np.ndarray:
    array = np.asarray(saliency_map, dtype=float)
    if array.ndim != 2 or not np.all(np.isfinite(array)):
        raise InputError(f"{name}: expected a finite 2-D map, got shape {array.shape}")
    peak = np.abs(array).max()
    return array / peak if peak > 0 else array


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
    fitted = (
        set()
        if psychometric is None
        else set(
            _require_columns(
                psychometric,
                ["group", "level", "predicted", "ci_low", "ci_high"],
                "psychometric",
                numeric=["level", "predicted", "ci_low", "ci_high"],
            )["group"].astype(str)
        )
    )
    groups = frame.groupby("group", sort=True)
    for k, (group, rows) in enumerate(groups):
        color, style = colors[str(group)], dict(markeredgecolor="white", markeredgewidth=0.5)
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
            zorder=3,
            **style,
        )
        full = rows[rows["intact"]]
        if len(full):
            ax.errorbar(full["x"], full["accuracy"], yerr=full["sem"], fmt="s", color=color, zorder=3, **style)
    if psychometric is not None:
        for group, rows in psychometric.groupby("group", sort=True):
            rows = rows.sort_values("level")
            color = colors.get(str(group), GREY)
            ax.plot(rows["level"], rows["predicted"], color=color, zorder=2)
            ax.fill_between(rows["level"], rows["ci_low"], rows["ci_high"], color=color, alpha=0.15, linewidth=0)
    ax.axhline(chance, color=GREY, linestyle=":", linewidth=1, zorder=0, label="Chance")
    if level_tests is not None:
        top = frame.assign(top=frame["accuracy"] + frame["sem"].fillna(0))
        _mark_levels(ax, level_tests, top.groupby(["level", "intact"])["top"].max(), full_x)
    _level_axis(ax, revealed["level"], bool(intact.any()))
    ax.set_ylabel("Accuracy (proportion correct)")
    low = min(chance, float((accuracy["accuracy"] - accuracy["sem"].fillna(0)).min()))
    ax.set_ylim(max(0.0, low - 0.05), 1.08)
    ax.legend(loc="lower right")
    return fig


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
    ax.axhline(floor / ceiling, color=GREY, linestyle=":", linewidth=1.2, label=f"Null floor (\u03c1 = {floor:.2f})")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncol=2)
    for ax, letter in zip(axes[0], "AB"):
        ax.set_title(letter, loc="left", fontweight="bold")
    return fig


@styled
def contact_sheet(stimuli: Mapping, title: str | None = None):
    """One image across levels, one row per map source (stimulus contact sheet).

    Parameters
    ----------
    stimuli : Mapping[str, Mapping[float, ndarray]]
        Map source -> level (% revealed) -> stimulus image. Columns are the union of levels,
        sorted; a source without a level leaves that cell empty.
    title : str, optional
        Figure title (e.g. the image_id).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if not isinstance(stimuli, Mapping) or not stimuli:
        raise InputError("contact_sheet: expected a non-empty mapping source -> {level: image}")
    levels = sorted({float(level) for frames in stimuli.values() for level in frames})
    n_cols = len(levels)
    panel = min(0.75, (DOUBLE_COLUMN - 0.6) / n_cols)
    fig, axes = new_figure(0.6 + panel * n_cols, 0.35 + panel * len(stimuli) * 1.05, len(stimuli), n_cols)
    for row, (source, frames) in enumerate(stimuli.items()):
        by_level = {float(level): image for level, image in frames.items()}
        for col, level in enumerate(levels):
            ax = axes[row, col]
            if level in by_level:
                image = _image_01(by_level[level], f"{source} stimulus at level {level:g}")
                ax.imshow(image, cmap="gray" if image.ndim == 2 else None, vmin=0, vmax=1)
            _bare(ax, display_name(source) if col == 0 else None, f"{level:.3g}%" if row == 0 else None)
    if title:
        fig.suptitle(title, fontsize=8)
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
