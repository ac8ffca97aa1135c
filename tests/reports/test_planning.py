"""The report's Planning section: built from power and reliability-curve outputs when present."""

from __future__ import annotations

import numpy as np
import pandas as pd

from clickme_analysis import power, reliability_curve
from reports.report import gather


def _power_outputs(folder):
    rng = np.random.default_rng(0)
    sims = pd.DataFrame(
        {
            "n_per_group": np.repeat([8, 16], 20),
            "test": "group",
            "p": np.r_[rng.uniform(0, 0.3, 20), rng.uniform(0, 0.06, 20)],
        }
    )
    table = power.power_table(sims)
    folder.mkdir(parents=True)
    table.to_csv(folder / "power.csv", index=False)
    power.smallest_n(table, 0.8).to_csv(folder / "power_summary.csv", index=False)
    return table


def test_planning_section_from_power_and_curve_outputs(tmp_path):
    table = _power_outputs(tmp_path / "planning")
    curve = pd.DataFrame(
        {
            "participants_per_image": np.repeat([1, 2, 3], 2),
            "iteration": [0, 1] * 3,
            "distribution": "human",
            "rho": [0.5, 0.52, 0.64, 0.66, 0.71, 0.73],
            "n_images": 5,
        }
    )
    curve = pd.concat([curve, curve.assign(distribution="null", rho=0.1)])
    (tmp_path / "clickme").mkdir()
    reliability_curve.curve_table(curve).to_csv(tmp_path / "clickme" / "reliability_curve.csv", index=False)
    result = gather(tmp_path)
    items = {item.name: item for item in result.sections["Planning"]}
    assert list(items) == ["power", "power_summary", "reliability_curve", "players_for_reliability"]
    assert (
        items["power_summary"].content["n_for_target"].iloc[0] == table.loc[table["power"] >= 0.8, "n_per_group"].min()
    )
    needed = items["players_for_reliability"].content.set_index("target")
    assert needed.loc[0.5, "participants"] == 1 and needed.loc[0.5, "source"] == "measured"


def test_no_planning_section_without_its_outputs(tmp_path):
    result = gather(tmp_path)
    assert "Planning" not in result.sections
    assert not any(m.startswith("Planning") for m in result.missing)  # optional: not "missing"
