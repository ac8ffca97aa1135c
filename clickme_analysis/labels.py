"""The one reader of ``labels.csv`` files, for every package of the toolkit.

The rule (:func:`read_labels`):

* a CSV with an ``image_id`` column and at least one of ``label`` (class name, ImageNet WordNet id
  or class index) and ``category`` (``animal`` / ``non-animal`` for the psychophysics); the absent
  one reads as empty; other columns are kept;
* every value is the text as written (no ``NA`` parsing: ``NA`` is a label); an empty ``label`` or
  ``category`` means unknown;
* an ``image_id`` is never empty and appears once (after the id rule, when one is given);
* ``required`` names the columns that must be non-empty in every row (the game's ``label``,
  the stimuli's ``category``); what a value must be is the caller's business;
* each failure is an :class:`~clickme_analysis.errors.InputError` naming the file, line and field.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table
from clickme_analysis.ids import image_ids

LABEL_COLUMNS = ("label", "category")


def read_labels(path, *, required=(), id_rule: str | None = None) -> pd.DataFrame:
    """Read a ``labels.csv``: ``image_id, label, category`` strings plus ``line`` (file line), in file order.

    Parameters
    ----------
    path : str or os.PathLike
    required : sequence of str
        Columns (``"label"``, ``"category"``) that must be present and non-empty in every row.
    id_rule : str, optional
        Normalise ids under this :func:`~clickme_analysis.ids.image_id` rule (``"stem"``: what
        ``clickme maps`` names maps); default: the ids as written.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = p.write_text("image_id,label\\nimg/cat.png,tabby\\ndog,NA\\n")
    >>> read_labels(p, id_rule="stem")[["image_id", "label", "category", "line"]].values.tolist()
    [['cat', 'tabby', '', 2], ['dog', 'NA', '', 3]]
    >>> read_labels(p, required=["category"])
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: ...labels.csv, field 'category': labels file lacks columns ['category'];
    has ['image_id', 'label']
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("labels file not found", path=path)
    table = read_table(path, ("image_id", *required), "labels file", dtype=str, keep_default_na=False)
    if not any(column in table.columns for column in LABEL_COLUMNS):
        raise InputError(
            f"labels file lacks columns ['label'] (or ['category']); has {list(table.columns)}",
            path=path,
            field="label",
        )
    for column in LABEL_COLUMNS:
        if column not in table.columns:
            table[column] = ""
    table["line"] = range(2, len(table) + 2)
    for column in ("image_id", *required):
        empty = table[column].str.strip() == ""
        if empty.any():
            raise InputError(
                f"expected a non-empty {column}", path=path, line=int(table["line"][empty].iloc[0]), field=column
            )
    if id_rule is not None:
        table["image_id"] = image_ids(table["image_id"], rule=id_rule, what="labels")
    twice = table["image_id"].duplicated()
    if twice.any():
        first = table[twice].iloc[0]
        raise InputError(
            f"image id {first['image_id']!r} appears twice", path=path, line=int(first["line"]), field="image_id"
        )
    return table


def label_map(path, column: str = "label", *, id_rule: str | None = None) -> dict[str, str]:
    """:func:`read_labels` as image id -> ``column`` text.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "labels.csv"
    >>> _ = p.write_text("image_id,category\\ncat,animal\\n")
    >>> label_map(p), label_map(p, "category")
    ({'cat': ''}, {'cat': 'animal'})
    """
    table = read_labels(path, id_rule=id_rule)
    return dict(zip(table["image_id"], table[column]))
