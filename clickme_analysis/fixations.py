"""Eye-tracking fixations as points, for NSS and the AUCs (:func:`clickme_analysis.metrics.score_maps`).

Two layouts are read:

* a CSV (or TSV) of ``image_id, x, y``: one fixation per row, ``x`` the column and ``y`` the row
  in pixels (0-based, as clicks), in the grid of the human map they are scored with;
* the SALICON fixation JSON (COCO style): ``images`` (``id, file_name, height, width``) and
  ``annotations`` (``image_id, worker_id, fixations``), fixations being 1-based
  ``[row, col]`` pairs (NUS-VIP/salicon-api builds its maps with ``sal_map[y - 1][x - 1]``).
  The image's id is :func:`~clickme_analysis.ids.image_id` of its ``file_name``; the image size
  is kept, so the points are scaled to a human map of another size.

:func:`fixation_map` turns points into the binary fixation map the metrics take.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table
from clickme_analysis.ids import image_id, image_ids

__all__ = ["FixationPoints", "read_fixations", "fixation_map"]


@dataclass
class FixationPoints:
    """Fixations of one image: ``xy`` (K, 2) float, 0-based (column, row) pixels; ``shape`` the
    (height, width) they were recorded in, or None when they are in the human map's grid."""

    xy: np.ndarray
    shape: tuple[int, int] | None = None


def fixation_map(points: FixationPoints, shape) -> np.ndarray:
    """Binary fixation map of ``shape`` from points (scaled from ``points.shape`` when given).

    Points outside the grid are left out; a map without any fixation raises.

    Examples
    --------
    >>> fixation_map(FixationPoints(np.array([[1.0, 0.0], [9.0, 9.0]]), None), (2, 3)).astype(int)
    array([[0, 1, 0],
           [0, 0, 0]])
    >>> fixation_map(FixationPoints(np.array([[3.0, 1.0]]), (2, 4)), (4, 8)).astype(int)[2]
    array([0, 0, 0, 0, 0, 0, 1, 0])
    """
    height, width = shape
    xy = np.asarray(points.xy, dtype=np.float64).reshape(-1, 2)
    if points.shape is not None and tuple(points.shape) != (height, width):
        xy = xy * np.array([width / points.shape[1], height / points.shape[0]])
    col, row = np.floor(xy[:, 0]).astype(np.int64), np.floor(xy[:, 1]).astype(np.int64)
    inside = (col >= 0) & (col < width) & (row >= 0) & (row < height)
    out = np.zeros((height, width), dtype=bool)
    out[row[inside], col[inside]] = True
    if not out.any():
        raise InputError(
            f"expected fixations inside the {height}x{width} map, got {len(xy)} outside it", field="fixations"
        )
    return out


def read_fixations(path, *, id_rule: str = "stem") -> dict[str, FixationPoints]:
    """Read fixations (CSV ``image_id, x, y`` or SALICON JSON) -> image id -> :class:`FixationPoints`.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "fixations.json")
    >>> _ = open(p, "w").write('{"images": [{"id": 7, "file_name": "COCO_val2014_7.jpg", "height": 2, '
    ...     '"width": 3}], "annotations": [{"image_id": 7, "worker_id": 1, "fixations": [[1, 3]]}]}')
    >>> points = read_fixations(p)["COCO_val2014_7"]
    >>> points.xy.tolist(), points.shape
    ([[2.0, 0.0]], (2, 3))
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("fixation file not found", path=path)
    if path.suffix.lower() == ".json":
        return _salicon(path, id_rule)
    return _csv(path, id_rule)


def _csv(path: Path, id_rule: str) -> dict[str, FixationPoints]:
    table = read_table(
        path,
        ["image_id", "x", "y"],
        "fixation table",
        sep="\t" if path.suffix == ".tsv" else ",",
        dtype={"image_id": str},
        keep_default_na=False,
    )
    out: dict[str, list] = {}
    ids = image_ids(table["image_id"], rule=id_rule, what="fixated images") if len(table) else []
    for line, (key, x, y) in enumerate(zip(ids, table["x"], table["y"]), start=2):
        values = []
        for name, value in (("x", x), ("y", y)):
            try:
                number = float(value)
            except (TypeError, ValueError):
                number = np.nan
            if not np.isfinite(number):
                raise InputError(f"expected a finite number, got {value!r}", path=path, line=line, field=name)
            values.append(number)
        out.setdefault(key, []).append(values)
    if not out:
        raise InputError("expected at least one fixation, the table has none", path=path)
    return {key: FixationPoints(np.array(v, dtype=np.float64)) for key, v in out.items()}


def _salicon(path: Path, id_rule: str) -> dict[str, FixationPoints]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(f"expected a SALICON fixation JSON file, could not parse it ({err})", path=path) from None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("images"), list)
        or not isinstance(data.get("annotations"), list)
    ):
        raise InputError(
            "expected a SALICON fixation JSON object with 'images' and 'annotations' lists", path=path, field="images"
        )
    images = {}
    for k, record in enumerate(data["images"]):
        try:
            images[record["id"]] = (
                image_id(record["file_name"], rule=id_rule),
                (int(record["height"]), int(record["width"])),
            )
        except (KeyError, TypeError, ValueError):
            raise InputError(
                "expected id, file_name, height and width", path=path, line=k + 1, field="images"
            ) from None
    points: dict[str, list] = {}
    for k, record in enumerate(data["annotations"]):
        if not isinstance(record, dict) or record.get("image_id") not in images:
            raise InputError(
                f"expected the image_id of an entry of 'images', got "
                f"{record.get('image_id') if isinstance(record, dict) else record!r}",
                path=path,
                line=k + 1,
                field="annotations",
            )
        pairs = np.asarray(record.get("fixations", []), dtype=object)
        try:
            rows_cols = np.asarray(record.get("fixations", []), dtype=np.float64).reshape(-1, 2)
        except (TypeError, ValueError):
            raise InputError(
                f"expected fixations as [row, col] pairs, got {pairs.tolist()[:3]!r}",
                path=path,
                line=k + 1,
                field="fixations",
            ) from None
        key = images[record["image_id"]][0]
        points.setdefault(key, []).append(rows_cols[:, ::-1] - 1)  # 1-based [row, col] -> 0-based (x, y)
    shape_of = dict(images.values())
    return {key: FixationPoints(np.concatenate(parts), shape_of[key]) for key, parts in points.items()}
