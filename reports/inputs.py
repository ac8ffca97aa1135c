"""Reading the toolkit's outputs for the report: one reader per kind of input file.

Every reader takes a path under the inputs root (``docs/outputs.md``). An absent file raises
:class:`Missing` (the report lists the part that needs it); a present file that breaks the contract
raises :class:`~clickme_analysis.errors.InputError` with its location.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis import imagefile
from clickme_analysis.archive import MapArchive
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table as _read_csv_table
from clickme_analysis.labels import label_map

#: Example images shown in the map figures.
N_EXAMPLES = 6


class Missing(Exception):
    """An input a report part needs is absent (the part is listed, not fatal)."""


def need(path: Path) -> Path:
    if not path.is_file():
        raise Missing(str(path))
    return path


#: Columns of older ``clickme score`` / ``clickme alignment`` outputs -> today's names (issue 21
#: step 5: one vocabulary for both); the report reads either.
RENAMED_COLUMNS = {
    "fraction_human": "fraction_of_human",
    "null_floor": "null",
    "alignment": "fraction_of_human",
    "alignment_ci_low": "fraction_of_human_ci_low",
    "alignment_ci_high": "fraction_of_human_ci_high",
    "null_alignment": "null_fraction_of_human",
}
#: Error columns of older outputs -> the accuracy columns they are one minus.
ERROR_COLUMNS = {"top1_err": "top1_accuracy", "top5_err": "top5_accuracy"}


def read_output(path: Path, columns=(), numeric=()) -> pd.DataFrame:
    """Read a CSV output; absent -> :class:`Missing`, malformed -> :class:`InputError`.

    ``numeric`` columns (those present) become floats; a cell that is not a number raises
    :class:`InputError` naming its line and column. Only empty cells and ``NaN`` are missing
    values: ``null`` (a distribution name) and ``NA`` (an image id) stay strings. Older column
    names (:data:`RENAMED_COLUMNS`, :data:`ERROR_COLUMNS`) are read as today's.
    """
    frame = _read_csv_table(need(path), (), "CSV output", keep_default_na=False, na_values=["", "NaN", "nan"])
    frame = current_columns(frame, path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"CSV output lacks columns {missing}; has {list(frame.columns)}", path=path, field=missing[0])
    return as_numbers(frame, path, numeric)


def current_columns(frame: pd.DataFrame, path: Path | None = None) -> pd.DataFrame:
    """Rename older output columns to today's; errors become accuracies (``1 - err``).

    Examples
    --------
    >>> current_columns(pd.DataFrame({"top1_err": [0.25], "fraction_human": [0.5]})).to_dict("records")
    [{'fraction_of_human': 0.5, 'top1_accuracy': 0.75}]
    """
    renames = {old: new for old, new in RENAMED_COLUMNS.items() if old in frame and new not in frame}
    frame = frame.rename(columns=renames)
    for old, new in ERROR_COLUMNS.items():
        if old in frame and new not in frame:
            frame = as_numbers(frame, path, [old])
            frame[new] = 1 - frame.pop(old)
    return frame


def as_numbers(frame: pd.DataFrame, path: Path, columns) -> pd.DataFrame:
    """``columns`` (those present) as floats; a cell that is not a number is a located error."""
    for column in (c for c in columns if c in frame.columns):
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = np.flatnonzero((values.isna() & frame[column].notna()).to_numpy())
        if len(bad):
            raise InputError(
                f"expected a number, got {frame[column].iloc[bad[0]]!r}", path=path, line=int(bad[0]) + 2, field=column
            )
        frame[column] = values.astype(float)
    return frame


def read_image(path: Path) -> np.ndarray:
    """Read a PNG as an array (H, W) (gray) or (H, W, 3) (:func:`clickme_analysis.imagefile.read_image`)."""
    return imagefile.read_image(need(path), mode="gray-or-rgb")


def read_archive(path: Path, image_ids) -> dict:
    with MapArchive(need(path)) as archive:
        return {i: np.asarray(archive[i]) for i in image_ids if i in archive}


def label_column(root: Path, column: str = "label") -> dict:
    """``clickme/labels.csv``: image id -> ``column`` (``label`` or ``category``); absent -> {}."""
    path = root / "clickme" / "labels.csv"
    return label_map(path, column) if path.is_file() else {}


def image_labels(root: Path) -> dict:
    return label_column(root, "label")


def example_ids(root: Path, candidates) -> list[str]:
    """Up to N_EXAMPLES ids with an image: distinct labels first, categories alternating."""
    candidates = [i for i in candidates if (root / "clickme" / "images" / f"{i}.png").is_file()]
    if not (root / "clickme" / "labels.csv").is_file():
        return candidates[:N_EXAMPLES]
    label, category = image_labels(root), label_column(root, "category")
    seen: set = set()
    distinct = [i for i in candidates if label.get(i) not in seen and not seen.add(label.get(i))]
    groups = [[i for i in distinct if category.get(i) == c] for c in dict.fromkeys(category.get(i) for i in distinct)]
    alternating = [i for row in itertools.zip_longest(*groups) for i in row if i is not None]
    return (alternating + [i for i in candidates if i not in distinct])[:N_EXAMPLES]


def demo_notes(root: Path, stage: str) -> list[str] | None:
    """Lines of ``<stage>/demo_log.txt`` (written only by ``clickme demo``); None when absent."""
    path = root / stage / "demo_log.txt"
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"could not read as text: {err}", path=path) from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"not valid JSON: {err}", path=path) from None
