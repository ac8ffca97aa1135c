"""The report's seed distribution of the multi-seed proof (issue 20 item 4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from reports.parts import proof
from reports.report import gather


def _runs():
    rows = []
    for arm, gain in (("gala_clickme", 0.2), ("timm_harmonizer", 0.1)):
        for seed in range(5):
            for maps in (False, True):
                rows.append(
                    {
                        "arm": arm,
                        "seed": seed,
                        "maps": maps,
                        "accuracy": 0.5 + 0.01 * seed + gain * maps,
                        "map_alignment": 0.1 + 0.3 * maps,
                    }
                )
    return pd.DataFrame(rows)


def _differences(runs):
    rows = []
    for arm in ("gala_clickme", "timm_harmonizer"):
        for metric in ("accuracy", "map_alignment"):
            wide = runs[runs["arm"] == arm].pivot(index="seed", columns="maps", values=metric)
            diff = wide[True] - wide[False]
            rows.append(
                {
                    "arm": arm,
                    "metric": metric,
                    "n_seeds": len(diff),
                    "mean_difference": diff.mean(),
                    "ci_low": diff.mean() - 0.05,
                    "ci_high": diff.mean() + 0.05,
                    "min_difference": diff.min(),
                }
            )
    return pd.DataFrame(rows)


def test_the_figure_shows_every_seed_paired_and_the_mean_difference_with_its_interval():
    runs = _runs()
    fig = proof.proof_seeds(runs, _differences(runs))
    axes = np.array(fig.axes).reshape(2, 3)  # metrics x (two arms + differences)
    paired = axes[0, 0].get_lines()
    assert len(paired) == 5  # one line per seed
    assert [list(line.get_ydata()) for line in paired][0] == pytest.approx([0.5, 0.7])
    dots = [line for line in axes[0, 2].get_lines() if line.get_linestyle() == "None" and len(line.get_ydata()) == 5]
    assert [list(d.get_ydata()) for d in dots] == [pytest.approx([0.2] * 5), pytest.approx([0.1] * 5)]
    bars = axes[0, 2].containers
    assert len(bars) == 2 and bars[0].lines[0].get_ydata()[0] == pytest.approx(0.2)


def test_a_seed_without_its_pair_is_an_error():
    runs = _runs()
    with pytest.raises(InputError, match="with and without maps"):
        proof.proof_seeds(runs.iloc[1:], _differences(runs))


def test_the_report_shows_the_seed_distribution_from_the_demo_files(tmp_path):
    root = tmp_path / "outputs"
    (root / "models").mkdir(parents=True)
    runs = _runs()
    runs.to_csv(root / "models" / "proof_runs.csv", index=False)
    _differences(runs).to_csv(root / "models" / "proof.csv", index=False)
    gathered = gather(root)
    names = [item.name for item in gathered.sections["Models"]]
    assert names == ["proof_seeds", "proof_differences"]
    assert not [p for p in gathered.problems if "proof" in p]
    assert proof.proof_part(tmp_path) == []  # optional: no proof runs, no part
