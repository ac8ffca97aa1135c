"""Report section "Planning": power by simulation and players per image, when their outputs exist.

Inputs (docs/experiments.md, Planning; docs/metrics.md, Reliability curve):
``planning/power.csv`` and ``planning/power_summary.csv`` (``clickme experiment power --out
ROOT/planning``), and ``clickme/reliability_curve.csv`` with the ``curve`` entry of
``clickme/reliability_summary.json`` (``clickme reliability --curve --out ROOT/clickme``).
The section is optional: without these files it is left out and not listed as missing.
"""

from __future__ import annotations

import json
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.power import power_figure
from clickme_analysis.reliability_curve import curve_figure, participants_for
from reports.inputs import read_output
from reports.parts import Item

POWER_COLUMNS = ["n_per_group", "test", "n_sims", "power", "ci_low", "ci_high", "alpha"]


def power_part(root: Path) -> list[Item]:
    if not (root / "planning" / "power.csv").is_file():
        return []  # an optional section: absent outputs are not a missing part
    table = read_output(
        root / "planning" / "power.csv",
        POWER_COLUMNS,
        numeric=["n_per_group", "n_sims", "power", "ci_low", "ci_high", "alpha"],
    )
    summary_path = root / "planning" / "power_summary.csv"
    summary = (
        read_output(
            summary_path,
            ["test", "target", "n_for_target", "n_for_target_ci"],
            numeric=["target", "n_for_target", "n_for_target_ci"],
        )
        if summary_path.is_file()
        else None
    )
    target = float(summary["target"].iloc[0]) if summary is not None and len(summary) else 0.8
    n_sims = int(table["n_sims"].max())
    items = [
        Item(
            "power",
            "Power by simulation",
            f"Power of each test against participants per group ({n_sims} simulated data sets per N, "
            "each analysed as `clickme experiment analyze` does), with Clopper-Pearson 95% intervals; "
            f"dashed: the target {target:g}, dotted: alpha.",
            power_figure(table, target),
        )
    ]
    if summary is not None:
        items.append(
            Item(
                "power_summary",
                "Participants per group for the target power",
                "The smallest simulated N whose power reaches the target, and the smallest whose whole "
                "95% interval does (empty: not reached within the simulated N).",
                summary,
            )
        )
    return items


def curve_part(root: Path) -> list[Item]:
    path = root / "clickme" / "reliability_curve.csv"
    if not path.is_file():
        return []
    table = read_output(
        path,
        ["distribution", "participants_per_image", "rho", "source"],
        numeric=["participants_per_image", "rho", "ci_low", "ci_high"],
    )
    measured = table[table["source"] == "measured"]
    if measured.empty:
        raise InputError("expected measured rows (source 'measured')", path=path, field="source")
    m_max = int(measured["participants_per_image"].max())
    needed = participants_for(table)
    summary = root / "clickme" / "reliability_summary.json"
    if summary.is_file():
        entry = json.loads(summary.read_text()).get("curve", {})
        if entry.get("n_images"):
            m_max = int(entry.get("measured_up_to", m_max))
    return [
        Item(
            "reliability_curve",
            "Players per image",
            f"Split-half Spearman reliability of maps of m players (two independent m-player halves, measured "
            f"up to m = {m_max}) and its null; dashed: Spearman-Brown from the largest m, dotted: "
            "Spearman-Brown with a fitted ceiling (docs/metrics.md).",
            curve_figure(table, log_max=2 * m_max),
        ),
        Item(
            "players_for_reliability",
            "Participants per image for a reliability",
            "Measured where the curve reaches it, else projected (source).",
            needed,
        ),
    ]
