"""The report's psychophysics statistics (reports.parts.psychophysics) on the tables that
``clickme_analysis.psychophysics.analysis.analyze`` writes for a demo-like simulated experiment."""

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from clickme_analysis.psychophysics.analysis import analyze, write_analysis
from clickme_analysis.psychophysics.psychometric import psychometric_function
from reports.parts import psychophysics as pf


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    """analyze() output of 16 simulated participants (two groups, 5 levels + intact, targets)."""
    rng = np.random.default_rng(0)
    rows = []
    for group, threshold in (("clickme", 3.0), ("saliency", 20.0)):
        for j in range(8):
            for level, source in [(lv, group) for lv in (1.0, 3.0, 10.0, 30.0, 100.0)] + [(100.0, "intact")]:
                p = psychometric_function(level, np.log10(threshold if source != "intact" else 1.0), 0.25, 0.02)
                for k in range(12):
                    target = k % 2 == 0
                    correct = rng.random() < p
                    rows.append(
                        {
                            "participant": f"{group}{j}",
                            "group": group,
                            "level": level,
                            "map_source": source,
                            "image_id": f"im{k}",
                            "target": int(target),
                            "responded_target": int(target == correct),
                            "correct": int(correct),
                            "rt": 0.35 + 0.2 * rng.random() + 0.05 * (level < 10),
                            "timed_out": 0,
                        }
                    )
    root = tmp_path_factory.mktemp("outputs")
    results = analyze(pd.DataFrame(rows), n_permutations=500, n_boot=30, seed=0)
    write_analysis(results, root / "experiment")
    return root, results


def test_statistics_part_builds_every_item(experiment):
    root, results = experiment
    items = {item.name: item for item in pf.statistics_part(root)}
    assert set(items) == {
        "rt_curves",
        "dprime_curves",
        "effect_sizes",
        "effect_size_table",
        "ceiling_bootstrap",
        "mixed_model",
    }
    assert "Hautus 1995" in items["dprime_curves"].caption and "loglinear" in items["dprime_curves"].caption
    assert "95% interval" in items["ceiling_bootstrap"].caption
    assert (
        "(1 + log10_level | participant)" in items["mixed_model"].caption
        or "(1 | participant)" in items["mixed_model"].caption
    )
    table = items["mixed_model"].content
    assert table["Term"].iloc[0] == "Intercept" and len(table) == len(results["mixed_model"])
    effects = items["effect_size_table"].content
    assert len(effects) == len(results["level_tests"]) and (effects["Permutations"] == 500).all()
    for name in ("rt_curves", "dprime_curves", "effect_sizes", "ceiling_bootstrap"):
        assert items[name].content.axes, name


def test_report_gathers_the_new_part(experiment):
    from reports.report import gather

    root, _ = experiment
    gathered = gather(root)
    names = [item.name for item in gathered.sections.get("Psychophysics", [])]
    assert {"accuracy_curves", "rt_curves", "dprime_curves", "mixed_model"} <= set(names)
    assert not [p for p in gathered.problems if "rt.csv" in str(p) or "dprime" in str(p)]


def test_figures_reject_bad_tables():
    with pytest.raises(InputError):
        pf.rt_curves(pd.DataFrame({"group": ["a"], "level": [1.0]}))
    with pytest.raises(InputError, match="revealed"):
        pf.rt_curves(
            pd.DataFrame({"group": ["a"], "level": [100.0], "median_rt": [0.4], "sem": [0.01], "intact": [True]})
        )
    with pytest.raises(InputError):
        pf.effect_size_plot(pd.DataFrame({"level": [1.0], "hedges_g": ["big"], "g_ci_low": [0], "g_ci_high": [1]}))
