"""The alignment section: alignment vs accuracy, model and human psychophysics together."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from reports.parts import alignment as af
from reports.report import gather

from .conftest import LEVELS, make_accuracy, make_outputs_root

SECTION = "Alignment and model psychophysics"


def _summary():
    return pd.DataFrame(
        [
            {
                "model": m,
                "method": meth,
                "n_images": 3,
                "top1_accuracy": acc,
                "top5_accuracy": acc,
                "rho_mean": 0.58 * a,
                "fraction_of_human": a,
                "fraction_of_human_ci_low": a - 0.1,
                "fraction_of_human_ci_high": a + 0.1,
                "ceiling": 0.58,
                "null_fraction_of_human": 0.18 / 0.58,
                "ceiling_source": "paper",
            }
            for m, acc in (("resnet50", 0.7), ("gala", np.nan))
            for meth, a in (("saliency", 0.3), ("smoothgrad", 0.4))
        ]
    )


def _model_accuracy():
    rows = [
        {
            "model": "resnet50",
            "group": g,
            "level": lv,
            "intact": False,
            "accuracy": 0.5 + k / 20,
            "sem": 0.1,
            "n_images": 3,
        }
        for g in ("clickme", "saliency")
        for k, lv in enumerate(LEVELS)
    ]
    rows += [
        {"model": "resnet50", "group": g, "level": 100.0, "intact": True, "accuracy": 0.8, "sem": 0.1, "n_images": 3}
        for g in ("clickme", "saliency")
    ]
    return pd.DataFrame(rows)


def _with_alignment(root):
    folder = root / "alignment"
    folder.mkdir()
    _summary().to_csv(folder / "alignment_summary.csv", index=False)
    _model_accuracy().to_csv(folder / "psychophysics_accuracy.csv", index=False)
    pd.DataFrame(
        {
            "model": "resnet50",
            "group": ["clickme", "saliency"],
            "threshold": [20.0, 40.0],
            "threshold_ci_low": [10.0, 30.0],
            "threshold_ci_high": [30.0, 60.0],
        }
    ).to_csv(folder / "psychophysics_params.csv", index=False)
    return root


def test_figures_draw_every_model_and_the_reference_lines():
    fig = af.alignment_vs_accuracy(_summary())
    ax = fig.axes[0]
    assert [
        round(line.get_ydata()[0], 3)
        for line in ax.get_lines()
        if len(line.get_ydata()) == 2 and line.get_ydata()[0] == line.get_ydata()[1]
    ] == [1.0, round(0.18 / 0.58, 3)]
    assert len(ax.get_legend().get_texts()) == 4 + 2
    curves = af.model_human_curves(make_accuracy(), _model_accuracy())
    assert len(curves.axes) == 2 and all(a.get_xscale() == "log" for a in curves.axes)
    with pytest.raises(InputError, match="missing"):
        af.alignment_vs_accuracy(_summary().drop(columns="fraction_of_human"))
    with pytest.raises(InputError, match="level"):
        af.model_human_curves(make_accuracy(), _model_accuracy().assign(level=0.0))


def test_report_section_from_the_alignment_outputs(tmp_path):
    root = _with_alignment(make_outputs_root(tmp_path / "outputs"))
    gathered = gather(root)
    names = [item.name for item in gathered.sections[SECTION]]
    assert names == [
        "alignment_vs_accuracy",
        "alignment_summary",
        "model_human_psychophysics",
        "model_human_thresholds",
    ]
    thresholds = gathered.sections[SECTION][-1].content
    assert list(thresholds["model"]) == ["human", "human", "resnet50", "resnet50"]
    assert not [m for m in gathered.missing + gathered.problems if SECTION in m or "alignment" in m]


def test_section_is_optional_and_a_bad_file_is_an_error(tmp_path):
    root = tmp_path / "outputs"
    (root / "experiment").mkdir(parents=True)
    make_accuracy().to_csv(root / "experiment" / "accuracy.csv", index=False)
    assert af.alignment_part(root) == [] and af.model_psychophysics_part(root) == []
    _with_alignment(root)
    assert [i.name for i in af.model_psychophysics_part(root)] == [
        "model_human_psychophysics",
        "model_human_thresholds",
    ]
    _summary().drop(columns="ceiling").to_csv(root / "alignment" / "alignment_summary.csv", index=False)
    with pytest.raises(InputError, match="ceiling"):
        af.alignment_part(root)


def _points(ax):
    """(x, y, colour) of each errorbar marker of the alignment figure."""
    return [
        (float(c.lines[0].get_xdata()[0]), float(c.lines[0].get_ydata()[0]), c.lines[0].get_color())
        for c in ax.containers
    ]


def test_one_model_s_methods_get_distinct_colours_side_by_side():
    """Issue 21 newcomer row: a model's methods were drawn in one colour on top of each other."""
    ax = af.alignment_vs_accuracy(_summary()).axes[0]
    points = _points(ax)[:2]  # resnet50: saliency, smoothgrad (same accuracy)
    assert points[0][2] != points[1][2]
    assert points[0][0] != points[1][0] and abs(points[0][0] - points[1][0]) < 0.05


def test_harmonized_from_draws_an_arrow_per_method_from_before_to_after():
    """Issue 20 item 5: a model before and after harmonization, as arrows."""
    summary = _summary().assign(harmonized_from=lambda s: np.where(s["model"] == "gala", "resnet50", ""))
    summary["top1_accuracy"] = np.where(summary["model"] == "gala", 0.9, 0.7)
    ax = af.alignment_vs_accuracy(summary).axes[0]
    arrows = [t for t in ax.texts if getattr(t, "arrow_patch", None) is not None]
    assert len(arrows) == 2  # one per method
    points = _points(ax)
    starts = sorted(tuple(round(v, 6) for v in a.xyann) for a in arrows)
    ends = sorted(tuple(round(v, 6) for v in a.xy) for a in arrows)
    assert starts == sorted((round(x, 6), round(y, 6)) for x, y, _ in points[:2])
    assert ends == sorted((round(x, 6), round(y, 6)) for x, y, _ in points[2:])
    assert "Before \u2192 after harmonization" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert not [t for t in af.alignment_vs_accuracy(_summary()).axes[0].texts if getattr(t, "arrow_patch", None)]
    with pytest.raises(InputError, match="not in it") as err:
        af.alignment_vs_accuracy(summary.assign(harmonized_from="nope"))
    assert err.value.field == "harmonized_from"
