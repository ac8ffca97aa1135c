"""Tables: the model table's numbers, and the Markdown / LaTeX / CSV writers."""

from __future__ import annotations

import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from reports import tables


def test_model_table_percentages_and_order(scores):
    table = tables.model_table(scores)
    assert list(table.columns) == [
        "Model",
        "Top-1 err. (%)",
        "Top-5 err. (%)",
        "Fraction of human map variability",
        "Mean \u03c1 (model vs ClickMe)",
        "p",
    ]
    assert table["Model"].tolist() == ["ResNet-50", "GALA-ResNet-50 + ClickMe"]
    assert table["Top-1 err. (%)"].tolist() == pytest.approx([23.85, 22.12])  # exact values
    shown = tables.formatted(table)  # fixed decimals for display
    assert shown["Top-1 err. (%)"].tolist() == ["23.85", "22.12"]
    assert shown["Top-5 err. (%)"].tolist() == ["7.12", "6.45"]
    assert shown["Fraction of human map variability"].tolist() == ["0.301", "0.654"]
    assert shown["p"].tolist() == ["0.500", "0.001"]
    assert tables.formatted(table.assign(p=[0.0004, 0.0]))["p"].tolist() == ["< 0.001", "0.000"]


def test_model_table_bad_input(scores):
    with pytest.raises(InputError, match="proportion") as err:
        tables.model_table(scores.assign(top5_accuracy=[92.88, 93.55]))
    assert err.value.field == "top5_accuracy"
    with pytest.raises(InputError, match="missing") as err:
        tables.model_table(scores.drop(columns="fraction_of_human"))
    assert err.value.field == "fraction_of_human"


def test_metric_table_mean_sem_n():
    metrics = pd.DataFrame(
        {"image_id": list("abcd"), "metric": ["NSS", "CC", "CC", "CC"], "value": [1.0, 0.1, 0.2, 0.6]}
    )
    table = tables.metric_table(metrics)
    assert table["Metric"].tolist() == ["CC", "NSS"]
    assert table["Mean"].tolist() == pytest.approx([0.3, 1.0])
    assert table["S.E.M."].iloc[0] == pytest.approx(0.153, abs=1e-3)  # sd 0.2646 / sqrt(3)
    assert table["n"].tolist() == [3, 1]


def test_reliability_table():
    summary = {
        "human": {"mean": 0.58, "ci_low": 0.57, "ci_high": 0.59, "n": 10000},
        "null": {"mean": 0.18, "ci_low": 0.17, "ci_high": 0.19, "n": 10000},
        "method": "pairs",
    }
    table = tables.reliability_table(summary)
    assert table.values.tolist() == [["human", 0.58, 0.57, 0.59, 10000], ["null", 0.18, 0.17, 0.19, 10000]]
    assert tables.formatted(table).iloc[0].tolist() == ["human", "0.580", "0.570", "0.590", "10000"]
    with pytest.raises(InputError, match="'null' entry") as err:
        tables.reliability_table({"human": summary["human"]})
    assert err.value.field == "null"


def test_markdown_escapes_pipes_and_aligns_numbers():
    table = pd.DataFrame({"Model": ["a|b"], "err": [1.5], "ok": [True]})
    assert tables.to_markdown(table) == ("| Model | err | ok |\n| --- | ---: | ---: |\n| a\\|b | 1.5 | yes |")


def test_latex_booktabs_and_escaping():
    table = pd.DataFrame({"Model_name": ["GALA & co"], "Top-1 err. (%)": [23.85], "Mean \u03c1": [float("nan")]})
    latex = tables.to_latex(table, caption="Errors in %", label="tab:models")
    lines = latex.splitlines()
    assert lines[:4] == [r"\begin{table}[t]", r"\centering", r"\caption{Errors in \%}", r"\label{tab:models}"]
    assert r"\begin{tabular}{lrr}" in lines and r"\toprule" in lines and r"\bottomrule" in lines
    assert r"Model\_name & Top-1 err. (\%) & Mean $\rho$ \\" in lines
    assert r"GALA \& co & 23.85 &  \\" in lines  # NaN is an empty cell


def test_write_table_round_trip(tmp_path, scores):
    table = tables.model_table(scores)
    md, tex, csv = tables.write_table(table, tmp_path / "sub" / "models", caption="Models")
    assert [p.name for p in (md, tex, csv)] == ["models.md", "models.tex", "models.csv"]
    pd.testing.assert_frame_equal(pd.read_csv(csv), table)  # CSV keeps full precision
    assert md.read_text() == tables.to_markdown(table) + "\n"
    assert r"\label{tab:models}" in tex.read_text()


def test_model_table_keeps_unknown_errors_empty(scores):
    table = tables.model_table(scores.assign(top5_accuracy=[0.93, float("nan")]))
    assert table["Top-5 err. (%)"].isna().tolist() == [False, True]
    assert "| GALA-ResNet-50 + ClickMe | 22.12 |  |" in tables.to_markdown(table)


def test_threshold_table():
    params = pd.DataFrame(
        {
            "group": ["clickme", "saliency"],
            "model": "logistic",
            "threshold": [3.758, 8.972],
            "threshold_ci_low": [2.418, 4.828],
            "threshold_ci_high": [5.854, 27.147],
            "alpha": 0.5,
            "n_participants": 24,
        }
    )
    table = tables.threshold_table(params)
    assert list(table.columns) == ["Group", "Threshold (% of budget)", "CI low", "CI high", "Model", "n"]
    assert tables.formatted(table).iloc[1].tolist() == ["saliency", "8.97", "4.83", "27.15", "logistic", "24"]
    with pytest.raises(InputError) as err:
        tables.threshold_table(params.drop(columns="threshold"))
    assert err.value.field == "threshold"


def test_level_test_table(level_tests):
    table = tables.level_test_table(level_tests)
    assert list(table.columns) == ["Level (%)", "Accuracy clickme \u2212 saliency", "p", "p (Holm)", "Significant"]
    shown = tables.formatted(table)
    assert shown["Level (%)"].tolist() == ["1", "3.16", "10", "31.6", "100", "full image"]
    assert shown.iloc[1].tolist() == ["3.16", "0.100", "< 0.001", "< 0.001", "yes"]
    with pytest.raises(InputError) as err:
        tables.level_test_table(level_tests.drop(columns="p"))
    assert err.value.field == "p"
