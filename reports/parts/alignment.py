"""Report section "Alignment and model psychophysics" (``clickme alignment``'s outputs).

The figure functions take the tidy tables ``clickme alignment`` writes (``alignment_summary.csv``,
``psychophysics_accuracy.csv``, ``psychophysics_curve.csv``) and the experiment's
``accuracy.csv`` / ``psychometric.csv``, and return a :class:`matplotlib.figure.Figure` (no file
I/O); the part builders (:func:`alignment_part`, :func:`model_psychophysics_part`) read the files.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports.figures import _require_columns
from reports.inputs import read_output
from reports.parts import Item
from reports.style import GRAY, SINGLE_COLUMN, colors_for, display_name, new_figure, styled
from reports.tables import flag

METHOD_LABELS = {
    "saliency": "Saliency",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "Integrated gradients",
    "gradient_shap": "GradientSHAP",
    "layer_gradcam": "Grad-CAM",
    "occlusion": "Occlusion",
    "gala": "GALA attention",
}


#: Marker per model of the alignment figure (colour is the method), in the summary's order.
MODEL_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*", "<", ">")
#: Horizontal spread between one model's methods (accuracy units): they share one accuracy.
METHOD_DODGE = 0.012
#: The columns :func:`alignment_vs_accuracy` needs (``harmonized_from`` is optional).
ALIGNMENT_COLUMNS = [
    "model",
    "method",
    "top1_accuracy",
    "fraction_of_human",
    "fraction_of_human_ci_low",
    "fraction_of_human_ci_high",
    "ceiling",
    "null_fraction_of_human",
]


def method_label(method) -> str:
    return METHOD_LABELS.get(str(method), str(method))


def _positions(summary: pd.DataFrame) -> pd.DataFrame:
    """``summary`` plus ``x`` (accuracy, 0 when unknown, each method dodged) and ``unknown``."""
    accuracy = summary["top1_accuracy"].astype(float)
    methods = list(dict.fromkeys(summary["method"].astype(str)))
    offset = {m: (k - (len(methods) - 1) / 2) * METHOD_DODGE for k, m in enumerate(methods)}
    dodge = summary["method"].astype(str).map(offset)
    return summary.assign(x=accuracy.fillna(0.0) + dodge, unknown=accuracy.isna())


def harmonized_pairs(summary: pd.DataFrame) -> list[tuple[pd.Series, pd.Series]]:
    """(before, after) rows of one method, for every row whose ``harmonized_from`` names a model.

    A ``harmonized_from`` naming no model of the summary is a located error.
    """
    if "harmonized_from" not in summary:
        return []
    before = summary["harmonized_from"].fillna("").astype(str).str.strip()
    models = set(summary["model"].astype(str))
    unknown = sorted(set(before[before != ""]) - models)
    if unknown:
        raise InputError(
            f"alignment summary: harmonized_from names models that are not in it: {unknown} (models: {sorted(models)})",
            field="harmonized_from",
        )
    rows = {(str(r["model"]), str(r["method"])): r for _, r in summary.iterrows()}
    pairs = []
    for (_, after), name in zip(summary.iterrows(), before):
        key = (name, str(after["method"]))
        if name and key in rows:
            pairs.append((rows[key], after))
    return pairs


@styled
def alignment_vs_accuracy(summary: pd.DataFrame):
    """Fraction of the human ceiling against top-1 accuracy, per model and method.

    Parameters
    ----------
    summary : DataFrame
        ``model, method, top1_accuracy, fraction_of_human, fraction_of_human_ci_low,
        fraction_of_human_ci_high, ceiling, null_fraction_of_human[, harmonized_from]``
        (``alignment_summary.csv``). Models without labelled images (NaN accuracy) are drawn at
        the left edge, with an open marker. A row whose ``harmonized_from`` names another model
        (the same network before harmonization or map supervision) gets an arrow from that
        model's point to its own, per method.

    Returns
    -------
    matplotlib.figure.Figure
        Colour: the method; marker: the model (one model's methods side by side, not on top of
        each other); bars: bootstrap 95% intervals; arrows: before -> after harmonization;
        dashed: the human ceiling (1); dotted: the null.
    """
    _require_columns(summary, ALIGNMENT_COLUMNS, "alignment summary")
    pairs = harmonized_pairs(summary)
    colors = colors_for(list(dict.fromkeys(summary["method"].astype(str))))
    markers = {m: MODEL_MARKERS[k % len(MODEL_MARKERS)] for k, m in enumerate(dict.fromkeys(summary["model"]))}
    placed = _positions(summary)
    fig, axes = new_figure(SINGLE_COLUMN + 1.2, 2.8)
    ax = axes[0, 0]
    for _, row in placed.iterrows():
        color = colors[str(row["method"])]
        err = [
            [row["fraction_of_human"] - row["fraction_of_human_ci_low"]],
            [row["fraction_of_human_ci_high"] - row["fraction_of_human"]],
        ]
        ax.errorbar(
            [row["x"]],
            [row["fraction_of_human"]],
            yerr=np.nan_to_num(err),
            color=color,
            marker=markers[row["model"]],
            linestyle="none",
            markerfacecolor="white" if row["unknown"] else color,
            label=f"{display_name(row['model'])}: {method_label(row['method'])}",
            zorder=3,
        )
    _arrows(ax, placed, pairs, colors)
    _reference_lines(ax, summary)
    ax.set_xlabel("Top-1 accuracy" + (" (open: no labels)" if placed["unknown"].any() else ""))
    ax.set_ylabel("Alignment (fraction of human ceiling)")
    ax.set_xlim(-0.05, 1.05)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=6)
    return fig


def _arrows(ax, placed: pd.DataFrame, pairs, colors: dict) -> None:
    """One arrow per (before, after) pair and method, from the before point to the after point."""
    where = {(r["model"], r["method"]): (r["x"], r["fraction_of_human"]) for _, r in placed.iterrows()}
    for before, after in pairs:
        start, end = where[(before["model"], before["method"])], where[(after["model"], after["method"])]
        ax.annotate(
            "",
            xy=end,
            xytext=start,
            arrowprops={"arrowstyle": "-|>", "color": colors[str(after["method"])], "linewidth": 0.9},
            zorder=2,
        )
    if pairs:
        ax.plot(
            [], [], color=GRAY, marker=r"$\rightarrow$", linestyle="none", label="Before \u2192 after harmonization"
        )


def _reference_lines(ax, summary: pd.DataFrame) -> None:
    """The human ceiling (1 in fraction units) and the null, with their rho in the legend."""
    ceiling = float(summary["ceiling"].iloc[0])
    ax.axhline(1.0, color="black", linestyle="--", linewidth=1, label=f"Human ceiling (\u03c1 = {ceiling:.2f})")
    null = summary["null_fraction_of_human"].astype(float)
    if null.notna().any():
        ax.axhline(
            float(null.mean()),
            color=GRAY,
            linestyle=":",
            linewidth=1.2,
            label=f"Null (\u03c1 = {float(null.mean()) * ceiling:.2f})",
        )


@styled
def model_human_curves(
    human: pd.DataFrame, models: pd.DataFrame, human_fit: pd.DataFrame | None = None, chance: float = 0.5
):
    """Accuracy vs % revealed for humans and models on the same axes, per map source.

    Parameters
    ----------
    human : DataFrame
        ``group, level, accuracy, sem[, intact]`` (the experiment's ``accuracy.csv``).
    models : DataFrame
        ``model, group, level, accuracy[, intact]`` (``psychophysics_accuracy.csv``).
    human_fit : DataFrame, optional
        ``group, level, predicted`` (``psychometric.csv``): fitted human curves.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per map source: humans in black (points with S.E.M.; line: fit), each model
        in its colour (dashed); the intact image at "Full".
    """
    _require_columns(human, ["group", "level", "accuracy", "sem"], "human accuracy")
    _require_columns(models, ["model", "group", "level", "accuracy"], "model accuracy")
    sources = sorted(set(human["group"].astype(str)) | set(models["group"].astype(str)))
    levels = pd.concat([human.loc[~flag(human, "intact"), "level"], models.loc[~flag(models, "intact"), "level"]])
    if levels.empty or (levels <= 0).any():
        raise InputError("expected revealed levels > 0 (% revealed, log axis)", field="level")
    full_x = float(levels.max()) * 1.6
    colors = colors_for(models["model"].astype(str).unique())
    fig, axes = new_figure(min(7.2, 2.6 * len(sources) + 0.8), 2.6, 1, len(sources))
    for ax, source in zip(axes[0], sources):
        h = human[human["group"].astype(str) == source]
        hi = flag(h, "intact")
        x = np.where(hi, full_x, h["level"])
        ax.errorbar(
            x[~hi.to_numpy()],
            h.loc[~hi, "accuracy"],
            yerr=h.loc[~hi, "sem"].fillna(0),
            fmt="o",
            color="black",
            label="Humans",
            zorder=3,
            linestyle="none" if human_fit is not None else "-",
        )
        ax.errorbar(
            x[hi.to_numpy()], h.loc[hi, "accuracy"], yerr=h.loc[hi, "sem"].fillna(0), fmt="s", color="black", zorder=3
        )
        if human_fit is not None:
            fit = human_fit[human_fit["group"].astype(str) == source].sort_values("level")
            ax.plot(fit["level"], fit["predicted"], color="black", linewidth=1)
        for model, rows in models[models["group"].astype(str) == source].groupby("model", sort=False):
            mi = flag(rows, "intact")
            line = rows[~mi].sort_values("level")
            ax.plot(
                line["level"],
                line["accuracy"],
                "--",
                marker="o",
                markersize=3,
                color=colors[str(model)],
                label=display_name(model),
            )
            ax.plot([full_x] * int(mi.sum()), rows.loc[mi, "accuracy"], "s", markersize=3, color=colors[str(model)])
        ax.axhline(chance, color=GRAY, linestyle=":", linewidth=1)
        ax.set_xscale("log")
        ticks = [t for t in (1, 3, 10, 30, 100) if levels.min() <= t <= full_x / 1.2]
        ax.set_xticks(ticks + [full_x], [f"{t:g}" for t in ticks] + ["Full"])
        ax.minorticks_off()
        ax.set_ylim(0, 1.05)
        ax.set_title(display_name(source))
        ax.set_xlabel("Features revealed (%)")
    axes[0, 0].set_ylabel("Accuracy")
    axes[0, -1].legend(loc="lower right", fontsize=6)
    return fig


# ----------------------------------------------------------------------------- report parts
def alignment_part(root) -> list:
    """Report part: the alignment summary table and the alignment-vs-accuracy figure.

    Optional: without ``alignment/alignment_summary.csv`` (the stage needs the ``models`` extra)
    the part is left out, not listed as missing.
    """
    if not (root / "alignment" / "alignment_summary.csv").is_file():
        return []
    summary = read_output(root / "alignment" / "alignment_summary.csv", ALIGNMENT_COLUMNS + ["ceiling_source"])
    columns = ["model", "method", "n_images", "top1_accuracy", "top5_accuracy", "rho_mean", "fraction_of_human"]
    columns += ["fraction_of_human_ci_low", "fraction_of_human_ci_high", "harmonized_from"]
    shown = summary[[c for c in columns if c in summary]].copy()
    numbers = shown.select_dtypes("number").columns
    shown[numbers] = shown[numbers].round(3)
    source = str(summary["ceiling_source"].iloc[0])
    return [
        Item(
            "alignment_vs_accuracy",
            "Alignment vs accuracy",
            "Spearman rho between each model's importance maps and the human ClickMe maps, as "
            "a fraction of the human ceiling (bars: bootstrap 95% interval over images), against "
            "top-1 accuracy on the same images; colour: the method, marker: the model (its methods "
            "side by side), arrows: a model before -> after harmonization (harmonized_from). "
            f"Ceiling and null: {source}.",
            alignment_vs_accuracy(summary),
        ),
        Item(
            "alignment_summary",
            "Alignment per model and method",
            "fraction_of_human = mean rho / ceiling, with its bootstrap 95% interval; accuracy on the "
            "labelled images (docs/models.md).",
            shown,
        ),
    ]


def model_psychophysics_part(root) -> list:
    """Report part: model and human accuracy curves together, and the thresholds side by side.

    Optional as :func:`alignment_part` (absent ``alignment/psychophysics_accuracy.csv``: left out).
    """
    if not (root / "alignment" / "psychophysics_accuracy.csv").is_file():
        return []
    models = read_output(root / "alignment" / "psychophysics_accuracy.csv", ["model", "group", "level", "accuracy"])
    human = read_output(root / "experiment" / "accuracy.csv", ["group", "level", "accuracy", "sem"])
    fit_path = root / "experiment" / "psychometric.csv"
    fit = read_output(fit_path, ["group", "level", "predicted"]) if fit_path.is_file() else None
    items = [
        Item(
            "model_human_psychophysics",
            "Models and humans on the reveal stimuli",
            "Accuracy against the percentage of important features revealed, per map source: "
            "humans (black; bars S.E.M. over participants, line: psychometric fit) and each "
            "model (dashed; animal readout in docs/models.md) on the same stimuli.",
            model_human_curves(human, models, fit),
        )
    ]
    params = root / "alignment" / "psychophysics_params.csv"
    human_params = root / "experiment" / "psychometric_params.csv"
    if params.is_file():
        columns = ["group", "threshold", "threshold_ci_low", "threshold_ci_high"]
        frames = [read_output(params, ["model"] + columns)[["model"] + columns]]
        if human_params.is_file():
            frames.insert(0, read_output(human_params, columns)[columns].assign(model="human"))
        table = pd.concat(frames, ignore_index=True)[["model"] + columns]
        numbers = table.select_dtypes("number").columns
        table[numbers] = table[numbers].round(2)
        items.append(
            Item(
                "model_human_thresholds",
                "Psychometric thresholds: humans and models",
                "Percentage revealed at the midpoint of each fitted psychometric function "
                "(humans: participant bootstrap; models: image bootstrap, 95% intervals).",
                table,
            )
        )
    return items
