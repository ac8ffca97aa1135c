"""The paper's tables (Tables 1-4 style) as DataFrames, and their Markdown / LaTeX / CSV forms.

Table builders take the tidy tables of ``docs/outputs.md`` and return a display DataFrame
(human-readable column names, display decimals per column in ``attrs["decimals"]``); the
writers render any DataFrame without extra dependencies (no ``tabulate``, no ``jinja2``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError

#: Display names of the model-table columns (errors shown as percentages, as in the paper).
MODEL_COLUMNS = {
    "model": "Model",
    "top1_accuracy": "Top-1 err. (%)",
    "top5_accuracy": "Top-5 err. (%)",
    "fraction_of_human": "Fraction of human map variability",
    "rho_mean": "Mean \u03c1 (model vs ClickMe)",
    "p_value": "p",
}


def _rounded(table: pd.DataFrame, decimals: dict) -> pd.DataFrame:
    """Attach display decimals per column (``table.attrs["decimals"]``); values stay exact,
    so the CSV keeps full precision and Markdown / LaTeX / HTML show fixed decimals."""
    table = table.reset_index(drop=True)
    table.attrs["decimals"] = {c: d for c, d in decimals.items() if c in table.columns}
    return table


def require_columns(frame, columns, name: str, *, numeric=(), non_empty: bool = False) -> pd.DataFrame:
    """Check that ``frame`` is a DataFrame with ``columns``, the ``numeric`` ones of a number dtype.

    The one input check of every table and figure function; raises :class:`InputError` naming
    the column (``field``). :func:`reports.inputs.read_output` turns CSV text into numbers (with
    the line of a bad cell) before the frames get here.

    Examples
    --------
    >>> require_columns(pd.DataFrame({"level": ["1", "x"]}), ["level"], "accuracy", numeric=["level"])
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'level': accuracy: expected numbers in column 'level', got '1'
    """
    if not isinstance(frame, pd.DataFrame):
        raise InputError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(
            f"{name}: expected columns {list(columns)}, missing {missing} (got {list(frame.columns)})", field=missing[0]
        )
    if non_empty and frame.empty:
        raise InputError(f"{name}: expected at least one row, got an empty table")
    for column in numeric:
        if column in frame.columns and not pd.api.types.is_numeric_dtype(frame[column]):
            raise InputError(
                f"{name}: expected numbers in column {column!r}, got {frame[column].dropna().iloc[0]!r}", field=column
            )
    return frame


def flag(frame: pd.DataFrame, column: str) -> pd.Series:
    """A bool column read tolerantly (True/False, 1/0, "true"/"false"); absent -> all False."""
    if column not in frame:
        return pd.Series(False, index=frame.index)
    values = frame[column]
    if values.dtype == bool:
        return values
    # an empty cell is missing: "" here (pandas 3 keeps NaN through astype(str))
    text = values.astype(object).where(values.notna(), "").astype(str).str.strip().str.lower()
    if not text.isin(["true", "false", "1", "0", "1.0", "0.0"]).all():
        raise InputError(f"expected {column!r} to be true/false, got {sorted(set(text))}", field=column)
    return text.isin(["true", "1", "1.0"])


def model_table(scores: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Model x (top-1 err, top-5 err, fraction of human map variability), paper Tables 1-4.

    Parameters
    ----------
    scores : DataFrame
        Columns ``model, top1_accuracy, top5_accuracy, fraction_of_human`` (``models/scores.csv``),
        accuracies as proportions in [0, 1]; ``rho_mean`` and ``p_value`` are kept when present.
    decimals : int
        Decimals of the percentages and of the fraction (the fraction gets ``decimals + 1``).

    Returns
    -------
    DataFrame
        One row per model, in input order, with display column names; errors (``1 - accuracy``)
        in percent, as in the paper.

    Examples
    --------
    >>> scores = pd.DataFrame({"model": ["ResNet-50"], "top1_accuracy": [0.7615],
    ...                        "top5_accuracy": [0.9288], "fraction_of_human": [0.4321]})
    >>> print(to_markdown(model_table(scores)))
    | Model | Top-1 err. (%) | Top-5 err. (%) | Fraction of human map variability |
    | --- | ---: | ---: | ---: |
    | ResNet-50 | 23.85 | 7.12 | 0.432 |
    """
    require_columns(
        scores,
        ["model", "top1_accuracy", "top5_accuracy", "fraction_of_human"],
        "scores",
        numeric=["top1_accuracy", "top5_accuracy", "fraction_of_human", "rho_mean", "p_value"],
    )
    for column in ("top1_accuracy", "top5_accuracy"):
        values = pd.to_numeric(scores[column], errors="coerce")
        if not (values.between(0, 1) | scores[column].isna()).all():
            raise InputError(
                f"scores: expected {column} as a proportion in [0, 1], got {scores[column].tolist()}", field=column
            )
    columns = [c for c in MODEL_COLUMNS if c in scores.columns]
    table = scores[columns].copy()
    table["model"] = table["model"].astype(str)
    errors = ["top1_accuracy", "top5_accuracy"]
    table[errors] = 100 * (1 - table[errors].astype(float))
    places = {
        "top1_accuracy": decimals,
        "top5_accuracy": decimals,
        "fraction_of_human": decimals + 1,
        "rho_mean": decimals + 1,
        "p_value": 3,
    }
    return _rounded(table.rename(columns=MODEL_COLUMNS), {MODEL_COLUMNS[c]: d for c, d in places.items()})


def metric_table(metrics: pd.DataFrame, decimals: int = 3) -> pd.DataFrame:
    """Mean, S.E.M. and n per saliency metric from ``metrics.csv`` (``image_id, metric, value``).

    Examples
    --------
    >>> metrics = pd.DataFrame({"image_id": ["a", "b"], "metric": "CC", "value": [0.2, 0.4]})
    >>> print(to_markdown(metric_table(metrics)))
    | Metric | Mean | S.E.M. | n |
    | --- | ---: | ---: | ---: |
    | CC | 0.300 | 0.100 | 2 |
    """
    require_columns(metrics, ["metric", "value"], "metrics", numeric=["value"])
    grouped = metrics.groupby("metric", sort=True)["value"]
    table = pd.DataFrame(
        {
            "Metric": grouped.mean().index,
            "Mean": grouped.mean().to_numpy(),
            "S.E.M.": grouped.sem().to_numpy(),
            "n": grouped.count().to_numpy(),
        }
    )
    return _rounded(table, {"Mean": decimals, "S.E.M.": decimals})


def reliability_table(summary: dict, decimals: int = 3) -> pd.DataFrame:
    """Inter-rater reliability vs null from ``reliability_summary.json``.

    Parameters
    ----------
    summary : dict
        ``{"human": {"mean", "ci_low", "ci_high", "n"}, "null": {...}, ...}``; other keys
        (``method``, ``blur``, ``seed``) are ignored here.

    Returns
    -------
    DataFrame
        Columns ``Distribution, Mean rho, CI low, CI high, n``.
    """
    rows = []
    for name in ("human", "null"):
        entry = summary.get(name) if isinstance(summary, dict) else None
        if not isinstance(entry, dict) or "mean" not in entry:
            raise InputError(
                f"reliability summary: expected a {name!r} entry with 'mean', 'ci_low', 'ci_high', 'n'", field=name
            )
        rows.append(
            {
                "Distribution": name,
                "Mean \u03c1": entry["mean"],
                "CI low": entry.get("ci_low", math.nan),
                "CI high": entry.get("ci_high", math.nan),
                "n": entry.get("n", math.nan),
            }
        )
    table = pd.DataFrame(rows)
    return _rounded(table, {"Mean \u03c1": decimals, "CI low": decimals, "CI high": decimals})


def level_test_table(level_tests: pd.DataFrame) -> pd.DataFrame:
    """Per-level tests between two groups from ``experiment/level_tests.csv``.

    Parameters
    ----------
    level_tests : DataFrame
        Columns ``level, p, significant`` and optionally ``intact, group_a, group_b,
        statistic, p_holm, n_a, n_b`` (:func:`clickme_analysis.psychophysics.group_tests.level_tests`).

    Returns
    -------
    DataFrame
        ``Level (%)`` (``full image`` for the intact condition), the accuracy difference named
        after the two groups, ``p``, ``p (Holm)``, ``Significant`` and the group sizes.
    """
    require_columns(
        level_tests,
        ["level", "p", "significant"],
        "level tests",
        numeric=["level", "p", "p_holm", "statistic"],
        non_empty=True,
    )
    first = level_tests.iloc[0]
    difference = (
        f"Accuracy {first['group_a']} \u2212 {first['group_b']}"
        if {"group_a", "group_b"} <= set(level_tests.columns)
        else "Difference"
    )
    intact = (
        level_tests["intact"].astype(str).str.lower().isin(["true", "1", "1.0"])
        if "intact" in level_tests
        else pd.Series(False, index=level_tests.index)
    )
    names = {
        "statistic": difference,
        "p": "p",
        "p_holm": "p (Holm)",
        "significant": "Significant",
        "n_a": "n A",
        "n_b": "n B",
    }
    table = level_tests[[c for c in names if c in level_tests.columns]].rename(columns=names)
    table.insert(
        0,
        "Level (%)",
        [("full image" if full else f"{level:.3g}") for level, full in zip(level_tests["level"], intact)],
    )
    return _rounded(table, {difference: 3, "p": 3, "p (Holm)": 3})


def threshold_table(params: pd.DataFrame, decimals: int = 2) -> pd.DataFrame:
    """Psychometric thresholds per group from ``experiment/psychometric_params.csv``.

    Parameters
    ----------
    params : DataFrame
        Columns ``group, threshold`` and optionally ``threshold_ci_low, threshold_ci_high,
        model, n_participants`` (:func:`clickme_analysis.psychophysics.psychometric.psychometric_fit`).

    Returns
    -------
    DataFrame
        ``Group, Threshold (% of budget), CI low, CI high`` (+ ``Model``, ``n`` when present).

    Examples
    --------
    >>> params = pd.DataFrame({"group": ["clickme"], "threshold": [3.7582], "model": ["logistic"]})
    >>> print(to_markdown(threshold_table(params)))
    | Group | Threshold (% of budget) | Model |
    | --- | ---: | --- |
    | clickme | 3.76 | logistic |
    """
    require_columns(
        params,
        ["group", "threshold"],
        "psychometric params",
        numeric=["threshold", "threshold_ci_low", "threshold_ci_high"],
    )
    names = {
        "group": "Group",
        "threshold": "Threshold (% of budget)",
        "threshold_ci_low": "CI low",
        "threshold_ci_high": "CI high",
        "model": "Model",
        "n_participants": "n",
    }
    table = params[[c for c in names if c in params.columns]].rename(columns=names)
    numeric = [c for c in ("Threshold (% of budget)", "CI low", "CI high") if c in table]
    return _rounded(table, {c: decimals for c in numeric})


def _cell(value, decimals: int | None = None) -> str:
    """Display text of one value: fixed ``decimals`` when given (a positive value below the
    precision shows as ``< 0.001``), else up to 6 significant digits; NaN is empty."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, float, np.integer, np.floating)) and decimals is not None:
        if 0 < value < 0.5 * 10.0**-decimals:
            return f"< {10.0**-decimals:.{decimals}f}"
        return f"{value:.{decimals}f}"
    if isinstance(value, (float, np.floating)):
        return f"{value:.6g}"
    return str(value)


def formatted(table: pd.DataFrame) -> pd.DataFrame:
    """The table as display strings (decimals from ``table.attrs["decimals"]`` when set).

    Examples
    --------
    >>> formatted(model_table(pd.DataFrame({"model": ["m"], "top1_accuracy": [0.69],
    ...     "top5_accuracy": [1.0], "fraction_of_human": [1.4], "p_value": [0.0004]}))).iloc[0].tolist()
    ['m', '31.00', '0.00', '1.400', '< 0.001']
    """
    decimals = table.attrs.get("decimals", {})
    return pd.DataFrame({column: [_cell(v, decimals.get(column)) for v in table[column]] for column in table.columns})


def to_markdown(table: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table (numbers right-aligned).

    Examples
    --------
    >>> print(to_markdown(pd.DataFrame({"a": ["x"], "b": [1.5]})))
    | a | b |
    | --- | ---: |
    | x | 1.5 |
    """
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in table.columns]
    lines = [
        "| " + " | ".join(str(c).replace("|", "\\|") for c in table.columns) + " |",
        "| " + " | ".join("---:" if n else "---" for n in numeric) + " |",
    ]
    for row in formatted(table).itertuples(index=False):
        lines.append("| " + " | ".join(v.replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines)


_LATEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\u03c1": r"$\rho$",
    "\u03bb": r"$\lambda$",
}


def _latex_escape(text: str) -> str:
    return "".join(_LATEX_SPECIAL.get(ch, ch) for ch in text)


def to_latex(table: pd.DataFrame, caption: str | None = None, label: str | None = None) -> str:
    r"""A ``booktabs`` LaTeX table (needs ``\usepackage{booktabs}``), special characters escaped.

    Examples
    --------
    >>> print(to_latex(pd.DataFrame({"Top-1 err. (%)": [23.85]})))
    \begin{table}[t]
    \centering
    \begin{tabular}{r}
    \toprule
    Top-1 err. (\%) \\
    \midrule
    23.85 \\
    \bottomrule
    \end{tabular}
    \end{table}
    """
    align = "".join("r" if pd.api.types.is_numeric_dtype(table[c]) else "l" for c in table.columns)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(r"\caption{" + _latex_escape(caption) + "}")
    if label:
        lines.append(r"\label{" + label + "}")
    lines += [
        r"\begin{tabular}{" + align + "}",
        r"\toprule",
        " & ".join(_latex_escape(str(c)) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    for row in formatted(table).itertuples(index=False):
        lines.append(" & ".join(_latex_escape(v) for v in row) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def write_table(table: pd.DataFrame, stem, caption: str | None = None) -> list[Path]:
    """Write ``stem.md``, ``stem.tex`` and ``stem.csv``; returns the three paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(s) for s in (".md", ".tex", ".csv")]
    paths[0].write_text(to_markdown(table) + "\n", encoding="utf-8")
    paths[1].write_text(to_latex(table, caption, f"tab:{stem.name}") + "\n", encoding="utf-8")
    table.to_csv(paths[2], index=False)
    return paths
