"""Cells of per-round records: a ``clicks`` list or ``x`` / ``y`` lists -> validated points."""

from __future__ import annotations

import ast
import json

import numpy as np

from clickme_analysis.clicklog.chunks import RowProblems


def _parse_points(cell):
    """A ``clicks`` cell -> list of points; text is ClickMe 2.0 braces, JSON or a Python literal."""
    if isinstance(cell, str):
        text = cell.strip()
        if text.startswith("{") and text.endswith("}"):  # ClickMe 2.0: keep the written order
            text = "[" + text[1:-1] + "]"
        try:
            return json.loads(text)
        except ValueError:
            return ast.literal_eval(text)
    return cell


def _as_list(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, str):
        return _parse_points(value)
    return value


def is_missing(value) -> bool:
    """An absent cell: None, NaN or blank text."""
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def round_points(record: dict, row: int, problems: RowProblems) -> list[tuple] | None:
    """One per-round record -> its ``(x, y, t)`` points, or report why it cannot be."""
    field_name = "x, y" if is_missing(record.get("clicks")) else "clicks"
    try:
        if field_name == "clicks":
            points = _as_list(record["clicks"])
        else:
            xs, ys = _as_list(record.get("x")), _as_list(record.get("y"))
            ts = None if is_missing(record.get("t")) else _as_list(record["t"])
            if xs is None or ys is None or is_missing(xs) or is_missing(ys):
                problems.bad(row, field_name, "expected a clicks list or x and y lists")
                return None
            if not all(isinstance(v, (list, tuple)) for v in (xs, ys)) or (
                ts is not None and not isinstance(ts, (list, tuple))
            ):
                problems.bad(
                    row, field_name, f"expected x and y lists, got {type(xs).__name__} and {type(ys).__name__}"
                )
                return None
            if len(xs) != len(ys) or (ts is not None and len(ts) != len(xs)):
                problems.bad(
                    row,
                    field_name,
                    f"expected lists of equal length, got {len(xs)} x, {len(ys)} y"
                    + ("" if ts is None else f", {len(ts)} t"),
                )
                return None
            points = list(zip(xs, ys, ts)) if ts is not None else list(zip(xs, ys))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as err:
        problems.bad(
            row,
            field_name,
            f"expected a list of (x, y) or (x, y, t) points such as {{(12,30),(14,33)}}, could not parse it ({err})",
        )
        return None
    if not isinstance(points, (list, tuple)):
        problems.bad(row, field_name, f"expected a list of (x, y) points, got {type(points).__name__}")
        return None
    out = []
    for k, point in enumerate(points):
        try:
            values = [float(v) for v in point]
        except (TypeError, ValueError):
            values = []
        if len(values) not in (2, 3) or not all(np.isfinite(values)):
            problems.bad(
                row, field_name, f"point {k + 1}: expected two or three finite numbers (x, y[, t]), got {point!r}"
            )
            return None
        out.append((values[0], values[1], values[2] if len(values) == 3 else np.nan))
    return out
