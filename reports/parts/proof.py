"""Report part "Do maps help? Seed by seed": the multi-seed proof of :mod:`models.proof`.

Reads ``models/proof_runs.csv`` (one row per run: ``arm, seed, maps, <metric>...``) and
``models/proof.csv`` (per arm and metric: ``mean_difference, ci_low, ci_high, n_seeds, ...``),
both written by the demo's models stage, and shows the distribution over seeds: every seed's
pair of runs (without and with maps, joined by a line) and the mean paired difference with its
95 % interval, not one number.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from reports.inputs import read_output
from reports.parts import Item
from reports.style import GRAY, SINGLE_COLUMN, colors_for, new_figure, styled
from reports.tables import flag, require_columns

#: Display names of the proof's metrics and arms (others are shown as they are).
METRIC_LABELS = {"accuracy": "Validation accuracy", "map_alignment": "Alignment (Spearman)"}
ARM_LABELS = {"gala_clickme": "GALA + ClickMe loss", "timm_harmonizer": "timm CNN + harmonizer"}
DIFFERENCE_COLUMNS = ["arm", "metric", "n_seeds", "mean_difference", "ci_low", "ci_high"]


def _label(names: dict, name) -> str:
    return names.get(str(name), str(name))


def paired_runs(runs: pd.DataFrame, arm: str, metric: str) -> pd.DataFrame:
    """Seed -> (without, with) values of ``metric`` for ``arm``; a seed lacking a run is an error.

    Examples
    --------
    >>> runs = pd.DataFrame({"arm": "a", "seed": [0, 0, 1, 1], "maps": [False, True] * 2,
    ...                      "accuracy": [0.5, 0.7, 0.4, 0.6]})
    >>> paired_runs(runs, "a", "accuracy").values.tolist()
    [[0.5, 0.7], [0.4, 0.6]]
    """
    rows = runs[runs["arm"].astype(str) == arm]
    wide = rows.assign(maps=flag(rows, "maps")).pivot_table(index="seed", columns="maps", values=metric)
    if set(wide.columns) != {False, True} or wide.isna().any().any():
        raise InputError(f"proof runs: expected every seed of arm {arm!r} with and without maps", field="maps")
    return pd.DataFrame({"without": wide[False], "with": wide[True]})


@styled
def proof_seeds(runs: pd.DataFrame, differences: pd.DataFrame):
    """Per metric (rows) and arm: each seed's runs without and with maps, and the paired difference.

    Parameters
    ----------
    runs : DataFrame
        ``arm, seed, maps, <metric>`` (``models/proof_runs.csv``).
    differences : DataFrame
        ``arm, metric, n_seeds, mean_difference, ci_low, ci_high`` (``models/proof.csv``).

    Returns
    -------
    matplotlib.figure.Figure
        Left panels, one per arm: one line per seed from "without" to "with". Right panel: each
        arm's per-seed differences (dots) and their mean with its 95 % interval (bar); dashed: 0.
    """
    require_columns(runs, ["arm", "seed", "maps"], "proof runs", non_empty=True)
    require_columns(differences, DIFFERENCE_COLUMNS, "proof", numeric=DIFFERENCE_COLUMNS[2:], non_empty=True)
    arms = list(dict.fromkeys(differences["arm"].astype(str)))
    metrics = list(dict.fromkeys(differences["metric"].astype(str)))
    require_columns(runs, metrics, "proof runs", numeric=metrics)
    colors = colors_for(arms)
    fig, axes = new_figure(SINGLE_COLUMN * 0.8 * (len(arms) + 1), 2.0 * len(metrics), len(metrics), len(arms) + 1)
    for row, metric in enumerate(metrics):
        for col, arm in enumerate(arms):
            _paired_panel(axes[row, col], paired_runs(runs, arm, metric), colors[arm])
            axes[row, col].set_title(_label(ARM_LABELS, arm), fontsize=7)
        axes[row, 0].set_ylabel(_label(METRIC_LABELS, metric))
        _difference_panel(axes[row, -1], runs, differences, metric, arms, colors)
    return fig


def _paired_panel(ax, pairs: pd.DataFrame, color: str) -> None:
    for _, values in pairs.iterrows():
        ax.plot([0, 1], values.to_numpy(float), "-o", color=color, markersize=3, linewidth=0.8, alpha=0.8)
    ax.set_xticks([0, 1], ["without maps", "with maps"])
    ax.set_xlim(-0.3, 1.3)


def _difference_panel(ax, runs, differences, metric: str, arms: list, colors: dict) -> None:
    rows = differences[differences["metric"].astype(str) == metric]
    rows = rows.set_index(rows["arm"].astype(str))
    for k, arm in enumerate(arms):
        pairs = paired_runs(runs, arm, metric)
        ax.plot(np.full(len(pairs), k - 0.15), pairs["with"] - pairs["without"], "o", color=colors[arm], markersize=3)
        if arm in rows.index:
            r = rows.loc[arm]
            err = np.nan_to_num([[r["mean_difference"] - r["ci_low"]], [r["ci_high"] - r["mean_difference"]]])
            ax.errorbar([k + 0.15], [r["mean_difference"]], yerr=err, fmt="s", color="black", capsize=3, markersize=4)
    ax.axhline(0.0, color=GRAY, linestyle="--", linewidth=1)
    ax.set_xticks(range(len(arms)), [_label(ARM_LABELS, a) for a in arms], fontsize=6)
    ax.set_xlim(-0.6, len(arms) - 0.4)
    ax.set_title("with - without (mean, 95% CI)", fontsize=7)


def proof_part(root: Path) -> list[Item]:
    """Report part: the seed distribution figure and the paired-difference table.

    Optional: without ``models/proof_runs.csv`` (written by ``clickme demo``) the part is left out.
    """
    path = root / "models" / "proof_runs.csv"
    if not path.is_file():
        return []
    runs = read_output(path, ["arm", "seed", "maps"], ["seed", "accuracy", "map_alignment"])
    differences = read_output(root / "models" / "proof.csv", DIFFERENCE_COLUMNS, DIFFERENCE_COLUMNS[2:])
    table = differences.copy()
    numbers = table.select_dtypes("number").columns
    table[numbers] = table[numbers].round(3)
    n_seeds = int(differences["n_seeds"].max())
    return [
        Item(
            "proof_seeds",
            "Do maps help? Seed by seed",
            f"Each line is one seed ({n_seeds} per arm): the same network, images, initial weights and "
            "batch order trained without and with the map term (models.proof). Right: the per-seed "
            "differences (with - without; dots) and their mean with its Student-t 95% interval (bar).",
            proof_seeds(runs, differences),
        ),
        Item(
            "proof_differences",
            "Paired differences over seeds",
            "Per arm and metric: mean over seeds of (with maps - without), its 95% interval and the "
            "worst seed (min_difference).",
            table,
        ),
    ]
