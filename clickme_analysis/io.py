"""Read ClickMe click logs into one tidy click table, validating every row.

Accepted files (format from the suffix, or ``fmt``):

* CSV / TSV (``.csv``, ``.tsv``), JSON lines (``.jsonl``, ``.ndjson``), Parquet (``.parquet``):
  - one row per click: ``image_id, participant_id, x, y`` and optional ``t`` (ms), or
  - one row per round: ``image_id, participant_id`` and either ``clicks`` (a list of ``(x, y)``
    or ``(x, y, t)`` points; in CSV a JSON or Python literal such as ``"[(10, 20), (11, 22)]"``,
    the ClickMe 2.0 style) or ``x`` and ``y`` (and optional ``t``) lists of equal length.
  Column aliases: ``image_path``/``file_pointer``/``image`` -> ``image_id``;
  ``user_id``/``participant``/``subject`` -> ``participant_id``; ``time`` -> ``t``.
* ClickMe 2.0 NPZ (``.npz``): arrays ``file_pointer, clickmap_x, clickmap_y, user_id`` and
  optional ``user_catch_trial`` (catch trials are excluded and listed in ``skipped``) and
  ``is_mobile``. Object arrays: only load NPZ files you trust (they are unpickled).

Line numbers are 1-based file lines for CSV/TSV (header = line 1) and JSON lines, and record
numbers for Parquet and NPZ. A malformed row raises :class:`InputError` naming the file, line,
field and what was expected, or with ``on_error="skip"`` is left out and listed in
``ClickLog.skipped``: nothing is dropped silently.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError

CLICK_COLUMNS = ["image_id", "participant_id", "x", "y", "t"]
SKIPPED_COLUMNS = ["path", "line", "field", "message"]
ALIASES = {
    "image_path": "image_id", "file_pointer": "image_id", "image": "image_id",
    "user_id": "participant_id", "participant": "participant_id", "subject": "participant_id",
    "time": "t",
}
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl",
           ".parquet": "parquet", ".pq": "parquet", ".npz": "npz"}


@dataclass
class ClickLog:
    """A validated click log.

    Attributes
    ----------
    clicks : DataFrame
        One row per click: ``image_id`` (str), ``participant_id`` (str), ``x``, ``y`` (float,
        pixels), ``t`` (float, NaN when absent).
    skipped : DataFrame
        Rows left out: ``path, line, field, message``.
    """

    clicks: pd.DataFrame
    skipped: pd.DataFrame


class _Rows:
    """Collects row problems; raises on the first in ``raise`` mode."""

    def __init__(self, path: Path, on_error: str):
        if on_error not in ("raise", "skip"):
            raise InputError(f"expected on_error 'raise' or 'skip', got {on_error!r}", field="on_error")
        self.path, self.on_error, self.problems = path, on_error, []

    def bad(self, line: int, field: str, message: str, excluded: bool = False) -> None:
        """Record a row problem; ``excluded`` rows (catch trials) are left out, never an error."""
        self.problems.append((str(self.path), line, field, message, excluded))

    def frame(self) -> pd.DataFrame:
        """The problems in file order; in ``raise`` mode, the first error raises instead."""
        problems = sorted(self.problems, key=lambda p: p[1])
        errors = [p for p in problems if not p[4]]
        if self.on_error == "raise" and errors:
            _, line, field, message, _ = errors[0]
            raise InputError(message, path=self.path, line=line, field=field)
        return pd.DataFrame([p[:4] for p in problems], columns=SKIPPED_COLUMNS)


def _parse_points(cell):
    """A ``clicks`` cell -> list of points; strings are JSON or Python literals."""
    if isinstance(cell, str):
        text = cell.strip()
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


def _round_to_clicks(record: dict, line: int, rows: _Rows) -> list[tuple] | None:
    """Explode one per-round record into click tuples, or report why it cannot be."""
    image_id, participant_id = record["image_id"], record["participant_id"]
    field = "x, y" if _missing(record.get("clicks")) else "clicks"
    try:
        if field == "clicks":
            points = _as_list(record["clicks"])
        else:
            xs, ys = _as_list(record.get("x")), _as_list(record.get("y"))
            ts = None if _missing(record.get("t")) else _as_list(record["t"])
            if xs is None or ys is None or _missing(xs) or _missing(ys):
                rows.bad(line, field, "expected a clicks list or x and y lists")
                return None
            if len(xs) != len(ys) or (ts is not None and len(ts) != len(xs)):
                rows.bad(line, field, f"expected lists of equal length, got {len(xs)} x, {len(ys)} y"
                         + ("" if ts is None else f", {len(ts)} t"))
                return None
            points = list(zip(xs, ys, ts)) if ts is not None else list(zip(xs, ys))
    except (ValueError, SyntaxError, TypeError, MemoryError) as err:
        rows.bad(line, field, f"expected a list of (x, y) or (x, y, t) points, could not parse it ({err})")
        return None
    if not isinstance(points, (list, tuple)):
        rows.bad(line, field, f"expected a list of (x, y) points, got {type(points).__name__}")
        return None
    out = []
    for k, point in enumerate(points):
        try:
            values = [float(v) for v in point]
        except (TypeError, ValueError):
            values = []
        if len(values) not in (2, 3) or not all(np.isfinite(values)):
            rows.bad(line, field, f"point {k + 1}: expected two or three finite numbers (x, y[, t]), got {point!r}")
            return None
        out.append((image_id, participant_id, values[0], values[1], values[2] if len(values) == 3 else np.nan))
    return out


def _missing(value) -> bool:
    """An absent cell: None, NaN (a column other records have) or blank text."""
    return value is None or (isinstance(value, float) and np.isnan(value)) or (
        isinstance(value, str) and not value.strip())


def _is_sequence(value) -> bool:
    """True for a list cell (or its CSV text), as in per-round ``x`` / ``y`` columns."""
    return isinstance(value, (list, tuple, np.ndarray)) or (isinstance(value, str) and value.lstrip().startswith("["))


def _check_ids(frame: pd.DataFrame, rows: _Rows) -> pd.Series:
    """Boolean mask of rows with usable image and participant ids."""
    ok = pd.Series(True, index=frame.index)
    for field in ("image_id", "participant_id"):
        values = frame[field]
        bad = values.isna() | (values.astype(str).str.strip() == "")
        for index in frame.index[bad & ok]:
            rows.bad(int(frame.at[index, "_line"]), field, f"expected a non-empty {field}, got {values[index]!r}")
        ok &= ~bad
    return ok


def _per_click(frame: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    ok = _check_ids(frame, rows)
    numeric = {}
    for field, required in (("x", True), ("y", True), ("t", False)):
        if field not in frame:
            numeric[field] = pd.Series(np.nan, index=frame.index)
            continue
        raw = frame[field]
        empty = raw.isna() | (raw.astype(str).str.strip() == "")
        values = pd.to_numeric(raw.where(~empty), errors="coerce")
        bad = (values.isna() & (~empty | required)) | np.isinf(values)
        for index in frame.index[bad & ok]:
            rows.bad(int(frame.at[index, "_line"]), field, f"expected a finite number, got {raw[index]!r}")
        ok &= ~bad
        numeric[field] = values
    out = pd.DataFrame({"image_id": frame["image_id"], "participant_id": frame["participant_id"], **numeric})
    return out[ok]


def _per_round(frame: pd.DataFrame, rows: _Rows) -> pd.DataFrame:
    ok = _check_ids(frame, rows)
    clicks: list[tuple] = []
    for record in frame[ok].to_dict("records"):
        exploded = _round_to_clicks(record, int(record["_line"]), rows)
        if exploded:
            clicks.extend(exploded)
    return pd.DataFrame(clicks, columns=CLICK_COLUMNS)


def _read_table(path: Path, fmt: str, rows: _Rows) -> pd.DataFrame:
    """Load the raw records with a ``_line`` column."""
    if fmt in ("csv", "tsv"):
        try:
            frame = pd.read_csv(path, sep="," if fmt == "csv" else "\t", dtype=str, keep_default_na=False,
                                skip_blank_lines=False)
        except pd.errors.ParserError as err:
            raise InputError(f"not a valid {fmt.upper()} file ({err})", path=path) from None
        except pd.errors.EmptyDataError:
            raise InputError("empty file: expected a header line", path=path) from None
        frame["_line"] = frame.index + 2
        return frame
    if fmt == "jsonl":
        records = []
        with open(path, encoding="utf-8") as fh:
            for number, text in enumerate(fh, start=1):
                if not text.strip():
                    continue
                try:
                    record = json.loads(text)
                except ValueError as err:
                    rows.bad(number, "(line)", f"expected a JSON object, could not parse it ({err.args[0]})")
                    continue
                if not isinstance(record, dict):
                    rows.bad(number, "(line)", f"expected a JSON object, got {type(record).__name__}")
                    continue
                records.append({**record, "_line": number})
        return pd.DataFrame(records)
    if fmt == "parquet":
        frame = pd.read_parquet(path)
        frame["_line"] = np.arange(1, len(frame) + 1)
        return frame
    if fmt == "npz":
        with np.load(path, allow_pickle=True) as npz:
            data = {key: npz[key] for key in npz.files}
        missing = {"file_pointer", "clickmap_x", "clickmap_y", "user_id"} - set(data)
        if missing:
            raise InputError(f"ClickMe 2.0 NPZ lacks arrays {sorted(missing)}", path=path)
        frame = pd.DataFrame({"image_id": data["file_pointer"], "participant_id": data["user_id"],
                              "x": list(data["clickmap_x"]), "y": list(data["clickmap_y"])})
        frame["_line"] = np.arange(1, len(frame) + 1)
        if "user_catch_trial" in data:
            catch = np.asarray(data["user_catch_trial"]).astype(bool)
            for line in frame["_line"][catch]:
                rows.bad(int(line), "user_catch_trial", "catch trial (excluded from maps)", excluded=True)
            frame = frame[~catch]
        return frame
    raise InputError(f"expected a format in {sorted(set(FORMATS.values()))}, got {fmt!r}", path=path, field="format")


def read_toml(path, what: str = "config file") -> dict:
    r"""Read a TOML file; an absent or invalid file raises :class:`InputError` naming it.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "c.toml")
    >>> _ = open(p, "w").write("epochs = 3\n")
    >>> read_toml(p)
    {'epochs': 3}
    """
    import tomllib

    path = Path(path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"not valid TOML ({err})", path=path) from None


def read_table(path, columns=(), what: str = "table", **read_csv_kwargs) -> pd.DataFrame:
    """Read a CSV/TSV table that must hold ``columns``; every failure names the file.

    Parameters
    ----------
    path : str or os.PathLike
        The file.
    columns : sequence of str
        Required columns.
    what : str
        What the file is, for messages ("stimulus manifest", "events file", ...).
    **read_csv_kwargs
        Passed to :func:`pandas.read_csv` (``sep``, ``dtype``, ``na_values`` ...).

    Returns
    -------
    DataFrame

    Raises
    ------
    InputError
        The file is absent or unparsable, or lacks a required column (named as the field).
    """
    path = Path(path)
    try:
        frame = pd.read_csv(path, **read_csv_kwargs)
    except FileNotFoundError:
        raise InputError(f"{what} not found", path=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise InputError(f"not a readable {what} ({err})", path=path) from None
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(f"{what} lacks columns {missing}; has {list(frame.columns)}", path=path,
                         field=missing[0])
    return frame


def read_clicks(path, fmt: str | None = None, on_error: str = "raise") -> ClickLog:
    """Read and validate a click log.

    Parameters
    ----------
    path : str or os.PathLike
        The log file (formats in the module docstring).
    fmt : {"csv", "tsv", "jsonl", "parquet", "npz"}, optional
        Overrides the format implied by the suffix.
    on_error : {"raise", "skip"}
        ``"raise"``: the first malformed row raises :class:`InputError` (file, line, field,
        what was expected). ``"skip"``: malformed rows are left out and listed in ``skipped``.

    Returns
    -------
    ClickLog
        ``clicks`` (one row per click) and ``skipped``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(p, "w").write('image_path,clicks,user_id\\ncat.png,"[(1, 2), (3, 4)]",u1\\n')
    >>> read_clicks(p).clicks[["image_id", "participant_id", "x", "y"]].values.tolist()
    [['cat.png', 'u1', 1.0, 2.0], ['cat.png', 'u1', 3.0, 4.0]]
    """
    path = Path(path)
    if not path.is_file():
        raise InputError("click log not found", path=path)
    fmt = fmt or FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(f"cannot tell the format from suffix {path.suffix!r}; expected one of "
                         f"{sorted(FORMATS)} or an explicit format", path=path)
    rows = _Rows(path, on_error)
    frame = _read_table(path, fmt, rows).rename(columns=lambda c: ALIASES.get(str(c).strip(), str(c).strip()))
    if frame.empty:
        clicks = pd.DataFrame(columns=CLICK_COLUMNS)
    else:
        missing = {"image_id", "participant_id"} - set(frame.columns)
        per_round = "clicks" in frame.columns or (
            {"x", "y"} <= set(frame.columns) and frame["x"].map(_is_sequence).any())
        if not per_round:
            missing |= {"x", "y"} - set(frame.columns)
        if missing:
            raise InputError(f"missing columns {sorted(missing)}; expected image_id, participant_id and "
                             "either x, y per click or a clicks list per round", path=path, line=1)
        clicks = _per_round(frame, rows) if per_round else _per_click(frame, rows)
    clicks = clicks.astype({"image_id": str, "participant_id": str, "x": float, "y": float, "t": float})
    return ClickLog(clicks=clicks.reset_index(drop=True), skipped=rows.frame())


#: leading bytes -> what a file holding them is
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"), (b"\x1f\x8b", "a GZIP-compressed file"),
    (b"\x93NUMPY", "a single NumPy array (.npy)"), (b"PK\x03\x04", "a ZIP archive"),
    (b"PAR1", "a Parquet file"), (b"\x80", "a Python pickle"), (b"%PDF", "a PDF document"),
    (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"),
)


def describe_file(path) -> str:
    """What a file looks like from its first bytes, for messages ("a PNG image", "text starting ...").

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "x.npz")
    >>> _ = open(p, "w").write("image_id,x,y\\ncat,1,2\\n")
    >>> describe_file(p)
    "text starting 'image_id,x,y'"
    """
    path = Path(path)
    if path.is_dir():
        return "a folder"
    try:
        with open(path, "rb") as fh:
            head = fh.read(256)
    except FileNotFoundError:
        return "no such file"
    except OSError as err:
        return f"an unreadable file ({err.strerror})"
    if not head:
        return "an empty file"
    for signature, what in _SIGNATURES:
        if head.startswith(signature):
            return what
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        try:  # a multi-byte character cut at byte 256
            text = head[:-4].decode("utf-8")
        except UnicodeDecodeError:
            return f"binary data starting {head[:12]!r}"
    first = text.splitlines()[0] if text.splitlines() else text
    return f"text starting {first[:60]!r}"
