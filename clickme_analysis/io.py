"""Read ClickMe click logs, validating every row, fast enough for the whole ClickMe data set.

Accepted files (format from the suffix, or ``fmt``):

* CSV / TSV (``.csv``, ``.tsv``; read with pyarrow's CSV reader, in blocks), Parquet
  (``.parquet``) and JSON lines (``.jsonl``, ``.ndjson``):

  - one row per click: ``image_id, participant_id, x, y`` and optional ``t`` (ms), or
  - one row per round: ``image_id, participant_id`` and either ``clicks``, a list of
    ``(x, y)`` or ``(x, y, t)`` points, or ``x`` and ``y`` (and optional ``t``) lists of equal
    length. In CSV a ``clicks`` cell is text: the ClickMe 2.0 form ``{(12,30),(14,33)}``
    (``{}`` is a round without clicks; points keep their written order), or a JSON / Python
    list such as ``[(10, 20), (11, 22)]``.

  Column aliases: ``image_path``/``file_pointer``/``image`` -> ``image_id``;
  ``user_id``/``participant``/``subject`` -> ``participant_id``; ``time`` -> ``t``.
  Blank lines are ignored.
* ClickMe 2.0 NPZ (``.npz``): arrays ``file_pointer, clickmap_x, clickmap_y, user_id``
  (object arrays, one array per trial) and optional ``user_catch_trial`` (the user's catch-trial
  *accuracy* in [0, 1]: trials whose user scored below ``catch_threshold``, default 0.95 as the
  authors, are excluded and listed) and ``is_mobile`` (per-trial arrays, empty = not mobile;
  ``exclude_mobile=True`` leaves mobile trials out, ``mobile_rule`` says which values count).
  Object arrays are rebuilt by a restricted unpickler (:mod:`clickme_analysis.npz_log`).

A participant's repeat submissions of an image follow one rule in every reader
(``repeat_submissions``, :mod:`clickme_analysis.submissions`; default ``"merge"``).

Image ids are made from the log's image entries by the one id rule of
:mod:`clickme_analysis.ids` (default ``"stem"``: ``imagenet/val/chelsea.JPEG`` -> ``chelsea``);
two entries that give one id are refused, not merged.

Line numbers are 1-based file lines for CSV/TSV (header = line 1) and JSON lines, and record
numbers for Parquet and NPZ. A malformed row raises :class:`InputError` naming the file, line,
field and what was expected, or with ``on_error="skip"`` is left out and listed in
``ClickLog.skipped``: nothing is dropped silently.
"""

from __future__ import annotations

import ast
import contextlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.filetypes import describe_file
from clickme_analysis.npz_log import npz_trials
from clickme_analysis.submissions import RepeatFilter

__all__ = ["ClickReader", "ClickLog", "ClickChunk", "read_clicks", "read_toml", "read_table", "chunks_to_frame"]

CLICK_COLUMNS = ["image_id", "participant_id", "x", "y", "t"]
SKIPPED_COLUMNS = ["path", "line", "field", "message"]
ALIASES = {
    "image_path": "image_id",
    "file_pointer": "image_id",
    "image": "image_id",
    "user_id": "participant_id",
    "participant": "participant_id",
    "subject": "participant_id",
    "time": "t",
}
FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".npz": "npz",
}
#: fields whose problems are exclusions by design (listed, never errors)
EXCLUSION_FIELDS = ("user_catch_trial", "is_mobile", "submission")
_BLOCK_BYTES = 1 << 20  # CSV bytes parsed per batch (pyarrow reads a few ahead: memory stays small)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_CELL = rf"^\s*{_NUMBER}\s*$"


@dataclass
class ClickLog:
    """A validated click log.

    Attributes
    ----------
    clicks : DataFrame
        One row per click: ``image_id`` (str), ``participant_id`` (str), ``x``, ``y`` (float,
        pixels), ``t`` (float, NaN when absent).
    skipped : DataFrame
        Rows left out: ``path, line, field, message`` (malformed rows, and trials excluded by
        design: fields ``user_catch_trial`` / ``is_mobile`` / ``submission``).
    """

    clicks: pd.DataFrame
    skipped: pd.DataFrame


@dataclass
class ClickChunk:
    """A block of clicks as integer codes into a :class:`ClickReader`'s id lists."""

    image: np.ndarray  # int32 codes into ClickReader.image_ids
    participant: np.ndarray  # int32 codes into ClickReader.participant_ids
    x: np.ndarray  # float64
    y: np.ndarray  # float64
    t: np.ndarray  # float64, NaN when absent

    def __len__(self) -> int:
        return len(self.x)


class Vocabulary:
    """Strings -> dense int32 codes, in first-seen order."""

    def __init__(self):
        self.values: list[str] = []
        self.codes: dict[str, int] = {}

    def encode(self, values) -> np.ndarray:
        out = np.empty(len(values), dtype=np.int32)
        codes, known = self.codes, self.values
        for i, value in enumerate(values):
            code = codes.get(value)
            if code is None:
                code = codes[value] = len(known)
                known.append(value)
            out[i] = code
        return out

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class _Problems:
    """Row problems of one file; raises on the first error in ``raise`` mode."""

    path: Path
    on_error: str
    rows: list = field(default_factory=list)  # (row_index or line, field, message, excluded)
    invalid_texts: list = field(default_factory=list)  # CSV rows with the wrong number of fields
    lines_are_rows: bool = True  # CSV: rows are data rows, lines come from resolve()

    def bad(self, row: int, field_name: str, message: str, excluded: bool = False) -> None:
        self.rows.append((int(row), field_name, message, excluded))

    def check(self) -> None:
        """In ``raise`` mode, raise the first error found so far (by line)."""
        if self.on_error != "raise":
            return
        found = [p for p in self.resolved() if not p[4]]
        if found:
            _, line, field_name, message, _ = min(found, key=lambda p: p[1])
            raise InputError(message, path=self.path, line=line, field=field_name)

    def resolved(self) -> list[tuple]:
        """Problems as ``(path, line, field, message, excluded)``, with CSV lines resolved."""
        out = []
        skipped_lines = self._invalid_lines() if self.invalid_texts else []
        gaps = np.array([line - 2 - i for i, line in enumerate(skipped_lines)], dtype=np.int64)
        for row, field_name, message, excluded in self.rows:
            line = row
            if self.lines_are_rows:
                line = row + 2 + int(np.searchsorted(gaps, row, side="right"))
            out.append((str(self.path), line, field_name, message, excluded))
        for line, (text, expected, actual) in zip(skipped_lines, self.invalid_texts):
            out.append(
                (
                    str(self.path),
                    line,
                    "(row)",
                    f"expected {expected} fields as the header, got {actual}: {text[:80]!r}",
                    False,
                )
            )
        return sorted(out, key=lambda p: p[1])

    def _invalid_lines(self) -> list[int]:
        """Physical lines of the rows pyarrow refused, found by their text, in order."""
        wanted = [t for t, _, _ in self.invalid_texts]
        lines, k = [], 0
        with open(self.path, encoding="utf-8", errors="replace", newline="") as fh:
            for number, text in enumerate(fh, start=1):
                if k < len(wanted) and text.rstrip("\r\n") == wanted[k]:
                    lines.append(number)
                    k += 1
        while len(lines) < len(wanted):  # not found verbatim (quoted newlines): say so honestly
            lines.append(-1)
        return lines

    def frame(self) -> pd.DataFrame:
        self.check()
        return pd.DataFrame([p[:4] for p in self.resolved()], columns=SKIPPED_COLUMNS)


# --------------------------------------------------------------------------------------------
# Cells
# --------------------------------------------------------------------------------------------
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


def _missing(value) -> bool:
    """An absent cell: None, NaN or blank text."""
    return (
        value is None
        or (isinstance(value, float) and np.isnan(value))
        or (isinstance(value, str) and not value.strip())
    )


def _round_points(record: dict, row: int, problems: _Problems) -> list[tuple] | None:
    """One per-round record -> its ``(x, y, t)`` points, or report why it cannot be."""
    field_name = "x, y" if _missing(record.get("clicks")) else "clicks"
    try:
        if field_name == "clicks":
            points = _as_list(record["clicks"])
        else:
            xs, ys = _as_list(record.get("x")), _as_list(record.get("y"))
            ts = None if _missing(record.get("t")) else _as_list(record["t"])
            if xs is None or ys is None or _missing(xs) or _missing(ys):
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


# --------------------------------------------------------------------------------------------
# Tables (CSV, TSV, Parquet) as pyarrow batches
# --------------------------------------------------------------------------------------------
def _columns(names, path) -> dict[str, str]:
    """Canonical column name -> the file's name, checking the header."""
    mapping: dict[str, str] = {}
    for name in names:
        canonical = ALIASES.get(str(name).strip(), str(name).strip())
        mapping.setdefault(canonical, name)
    return mapping


def _layout(mapping: dict, first_x, path) -> str:
    """``"click"`` or ``"round"``, or a located error for a header that fits neither."""
    per_round = "clicks" in mapping or ({"x", "y"} <= set(mapping) and first_x)
    missing = {"image_id", "participant_id"} - set(mapping)
    if not per_round:
        missing |= {"x", "y"} - set(mapping)
    if missing:
        hint = ""
        if len(mapping) == 1:
            (only,) = mapping.values()
            for sep in (";", "\t", ",", "|"):
                if sep in str(only):
                    hint = f"; the header is one field {str(only)[:60]!r}: is the file separated by {sep!r}?"
                    break
        raise InputError(
            f"missing columns {sorted(missing)}; expected image_id, participant_id and either "
            f"x, y per click or a clicks list per round (got {list(mapping.values())[:8]}){hint}",
            path=path,
            line=1,
        )
    return "round" if per_round else "click"


def _text_column(array):
    """A pyarrow column as trimmed strings (numbers written as text), nulls kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if not pa.types.is_string(array.type) and not pa.types.is_large_string(array.type):
        array = pc.cast(array, pa.string())
    return pc.utf8_trim_whitespace(array)


def _empty_mask(array) -> np.ndarray:
    import pyarrow.compute as pc

    return np.asarray(pc.fill_null(pc.equal(array, ""), True).to_numpy(zero_copy_only=False), dtype=bool)


def _numbers(array, name: str, required: bool, rows: np.ndarray, ok: np.ndarray, problems: _Problems):
    """A numeric column as float64 (NaN where empty and optional); bad cells reported, ``ok`` updated."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_floating(array.type) or pa.types.is_integer(array.type):
        values = np.asarray(pc.cast(array, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)
        bad = ~np.isfinite(values) & (required | ~np.isnan(values))
        raw = values
    else:
        text = _text_column(array)
        empty = _empty_mask(text)
        valid = np.asarray(
            pc.fill_null(pc.match_substring_regex(text, _NUMBER_CELL), False).to_numpy(zero_copy_only=False), dtype=bool
        )
        values = np.full(len(text), np.nan)
        if valid.any():
            values[valid] = pc.cast(pc.filter(text, pa.array(valid)), pa.float64()).to_numpy(zero_copy_only=False)
        bad = ~valid & (~empty | required) | (valid & ~np.isfinite(values))
        raw = text
    for index in np.flatnonzero(bad & ok):
        value = raw[index]
        value = value.as_py() if hasattr(value, "as_py") else value
        problems.bad(rows[index], name, f"expected a finite number, got {value!r}")
    ok &= ~bad
    return values


def _string_buffers(cells):
    """The bytes and int64 offsets of a pyarrow string array (nulls read as empty cells)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cells = pc.fill_null(cells, "")
    if not pa.types.is_large_string(cells.type):
        cells = cells.cast(pa.large_string())
    _, offsets_buffer, data_buffer = cells.buffers()
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[cells.offset : cells.offset + len(cells) + 1]
    data = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return data, np.ascontiguousarray(offsets)


def _point_cells(text, rows: np.ndarray, ok: np.ndarray, problems: _Problems):
    """Parse ``clicks`` text cells (compiled, :mod:`clickme_analysis._parse_numba`); cells it
    cannot take go to the row-by-row parser, which parses or reports them.

    Returns per-row point counts and the flat x, y, t arrays (rows in order); ``ok`` updated.
    """
    from clickme_analysis._parse_numba import parse_cells

    data, offsets = _string_buffers(text)
    x, y, t, counts, status = parse_cells(data, offsets)
    counts = np.where(ok, counts, 0)
    hard = np.flatnonzero(ok & (status == 1))
    if hard.size == 0 and ok.all():
        return counts, x, y, t, None
    first = np.concatenate([[0], np.cumsum(np.where(status == 0, counts, 0))])  # each parsed cell's points
    blocks = []
    for row in np.flatnonzero(ok):
        if status[row] == 0:
            blocks.append(
                (
                    x[first[row] : first[row] + counts[row]],
                    y[first[row] : first[row] + counts[row]],
                    t[first[row] : first[row] + counts[row]],
                )
            )
            continue
        cell = text[int(row)].as_py()
        if cell is None or not cell.strip():
            problems.bad(
                rows[row], "clicks", "expected a list of (x, y) points such as {(12,30),(14,33)}, got an empty cell"
            )
            ok[row], counts[row] = False, 0
            continue
        points = _round_points({"clicks": cell}, rows[row], problems)
        if points is None:
            ok[row], counts[row] = False, 0
            continue
        counts[row] = len(points)
        array = np.array(points, dtype=np.float64).reshape(-1, 3)
        blocks.append((array[:, 0], array[:, 1], array[:, 2]))
    if not blocks:
        return counts, np.zeros(0), np.zeros(0), np.zeros(0), None
    return (
        counts,
        np.concatenate([b[0] for b in blocks]),
        np.concatenate([b[1] for b in blocks]),
        np.concatenate([b[2] for b in blocks]),
        None,
    )


class _Encoder:
    """Turns a batch's id columns into codes under the id rule, refusing colliding entries.

    Each image code keeps a hash of the entry that made it (8 bytes an image, not the text),
    so two different entries giving one id are caught without holding every path.
    """

    def __init__(self, reader):
        self.reader = reader
        self.entry_hash = np.zeros(0, dtype=np.int64)

    def images(self, raw_values: list[str], path) -> np.ndarray:
        from clickme_analysis.ids import image_id

        reader = self.reader
        ids = [image_id(raw, rule=reader.id_rule, root=reader.id_root) for raw in raw_values]
        codes = reader._images.encode(ids)
        hashes = np.array([hash(raw) for raw in raw_values], dtype=np.int64)
        if len(reader._images) > len(self.entry_hash):
            grown = np.zeros(max(len(reader._images), 2 * len(self.entry_hash)), dtype=np.int64)
            grown[: len(self.entry_hash)] = self.entry_hash
            self.entry_hash = grown
        known = self.entry_hash[codes]
        new = np.flatnonzero(known == 0)
        _, first = np.unique(codes[new], return_index=True)  # a batch may hold two entries for one new id
        self.entry_hash[codes[new[first]]] = hashes[new[first]]
        first_seen = {int(codes[new[k]]): raw_values[new[k]] for k in first}
        clash = np.flatnonzero(self.entry_hash[codes] != hashes)
        if clash.size:
            k = int(clash[0])
            others = "'relative' or 'path'" if reader.id_rule == "stem" else "'path'"
            earlier = first_seen.get(int(codes[k]))
            shown = f"{earlier!r}, {raw_values[k]!r}" if earlier else f"{raw_values[k]!r} and an earlier entry"
            raise InputError(
                f"2 image entries give the id {ids[k]!r} under the {reader.id_rule!r} id rule ({shown}): "
                f"use the {others} id rule (--id-rule)",
                path=path,
                field="image_id",
            )
        return codes


def _codes(array, encode) -> np.ndarray:
    """Dictionary-encode a string column and map its distinct values through ``encode``."""
    import pyarrow.compute as pc

    encoded = (
        pc.dictionary_encode(array).combine_chunks()
        if hasattr(array, "combine_chunks")
        else pc.dictionary_encode(array)
    )
    dictionary = encoded.dictionary.to_pylist()
    lookup = encode(dictionary) if dictionary else np.zeros(0, np.int32)
    indices = np.asarray(encoded.indices.to_numpy(zero_copy_only=False))
    return lookup[indices] if len(indices) else np.zeros(0, np.int32)


def _table_chunk(batch, row0: int, layout: str, mapping: dict, reader, problems: _Problems, path):
    """One pyarrow batch -> ClickChunk (rows with problems left out and reported)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    n = batch.num_rows
    rows = np.arange(row0, row0 + n)
    column = {name: batch.column(batch.schema.get_field_index(original)) for name, original in mapping.items()}
    ok = np.ones(n, dtype=bool)
    if reader._csv:  # blank lines: every field empty
        blank = np.ones(n, dtype=bool)
        for array in column.values():
            blank &= _empty_mask(_text_column(array)) if len(array) else blank
        ok &= ~blank
    texts = {}
    for name in ("image_id", "participant_id"):
        texts[name] = _text_column(column[name])
        empty = _empty_mask(texts[name])
        for index in np.flatnonzero(empty & ok):
            value = column[name][int(index)].as_py()
            problems.bad(rows[index], name, f"expected a non-empty {name}, got {'' if value is None else value!r}")
        ok &= ~empty
    if layout == "click":
        x = _numbers(column["x"], "x", True, rows, ok, problems)
        y = _numbers(column["y"], "y", True, rows, ok, problems)
        t = _numbers(column["t"], "t", False, rows, ok, problems) if "t" in column else np.full(n, np.nan)
        counts = ok.astype(np.int64)
        x, y, t = x[ok], y[ok], t[ok]
    elif "clicks" in column and (
        pa.types.is_string(column["clicks"].type) or pa.types.is_large_string(column["clicks"].type)
    ):
        counts, x, y, t, _ = _point_cells(column["clicks"], rows, ok, problems)
    else:  # list-typed columns (Parquet) or x / y list cells: row by row
        records = batch.to_pylist()
        counts = np.zeros(n, dtype=np.int64)
        xs, ys, ts = [], [], []
        for k in np.flatnonzero(ok):
            record = {ALIASES.get(key, key): value for key, value in records[k].items()}
            points = _round_points(record, rows[k], problems)
            if points is None:
                ok[k] = False
                continue
            counts[k] = len(points)
            for px, py, pt in points:
                xs.append(px)
                ys.append(py)
                ts.append(pt)
        x, y, t = (np.array(v, dtype=np.float64) for v in (xs, ys, ts))
    counts = np.where(ok, counts, 0)
    keep = pa.array(ok)
    images = _codes(pc.filter(texts["image_id"], keep), lambda values: reader._encoder.images(values, path))
    participants = _codes(pc.filter(texts["participant_id"], keep), reader._participants.encode)
    per_kept = counts[ok]
    if layout != "click":  # one row is one submission
        images, participants, per_kept, (x, y, t) = reader._repeats.drop(
            images, participants, per_kept, rows[ok], (x, y, t), problems, reader
        )
    return ClickChunk(np.repeat(images, per_kept), np.repeat(participants, per_kept), x, y, t)


def _csv_batches(path: Path, sep: str, problems: _Problems):
    """Yield pyarrow record batches of a CSV/TSV file, every column as text."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    def invalid(row) -> str:
        problems.invalid_texts.append((row.text, row.expected_columns, row.actual_columns))
        return "skip"

    try:
        with open(path, "rb") as fh:
            header = fh.readline()
        header.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_text(path) from None
    if not header.strip():
        raise InputError("empty file: expected a header line", path=path, line=1)
    try:
        names = pcsv.read_csv(io.BytesIO(header), parse_options=pcsv.ParseOptions(delimiter=sep)).column_names
    except pa.ArrowInvalid as err:
        raise InputError(
            f"expected a {'CSV' if sep == ',' else 'TSV'} header line ({err})", path=path, line=1
        ) from None
    caught: list = []  # rows whose text is not UTF-8 (see _decode_errors_caught)
    try:
        with _decode_errors_caught(caught):
            reader = pcsv.open_csv(
                path,
                read_options=pcsv.ReadOptions(block_size=_BLOCK_BYTES),
                parse_options=pcsv.ParseOptions(delimiter=sep, invalid_row_handler=invalid, ignore_empty_lines=False),
                convert_options=pcsv.ConvertOptions(
                    column_types={name: pa.string() for name in names},
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
        while not caught:
            with _decode_errors_caught(caught):
                try:
                    batch = reader.read_next_batch()
                except StopIteration:
                    batch = None
            if batch is None and not caught:
                return
            if not caught:
                yield batch
    except UnicodeDecodeError:
        raise _not_text(path) from None
    except pa.ArrowInvalid as err:
        message = str(err)
        if caught:
            raise _not_utf8_row(path, caught) from None
        if "UTF8" in message or "utf8" in message.lower():
            raise _not_text(path) from None
        raise InputError(f"not a readable {'CSV' if sep == ',' else 'TSV'} file ({message})", path=path) from None
    raise _not_utf8_row(path, caught)


def _not_utf8_row(path: Path, caught: list) -> InputError:
    return InputError(
        f"expected a UTF-8 text click log: a row with the wrong number of fields "
        f"holds bytes that are not UTF-8 ({caught[0]})",
        path=path,
    )


@contextlib.contextmanager
def _decode_errors_caught(caught: list):
    """Collect into ``caught`` the UnicodeDecodeErrors pyarrow reports as "Exception ignored".

    pyarrow decodes a malformed row's text before calling the invalid-row handler; when that
    text is not UTF-8 the error cannot reach the handler and would be printed to stderr as a
    traceback. Here it is collected instead (the read then fails, and the caller says the file
    is not UTF-8 text); any other unraisable exception goes to the previous hook.
    """
    import sys

    previous = sys.unraisablehook

    def hook(unraisable):
        if isinstance(unraisable.exc_value, UnicodeDecodeError):
            caught.append(unraisable.exc_value)
        else:
            previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield caught
    finally:
        sys.unraisablehook = previous


def _not_text(path: Path) -> InputError:
    return InputError(f"expected a UTF-8 text click log, got {describe_file(path)}", path=path)


def _parquet_batches(path: Path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError):
        raise InputError(f"expected a Parquet file, got {describe_file(path)}", path=path) from None
    try:
        yield from parquet.iter_batches(batch_size=1 << 18)
    except (pa.ArrowException, OSError) as err:
        raise InputError(f"not a readable Parquet file ({err})", path=path) from None


# --------------------------------------------------------------------------------------------
# JSON lines and NPZ (records handled one by one; these logs are small or per-trial)
# --------------------------------------------------------------------------------------------
def _records_chunk(records: list[tuple[int, dict]], reader, problems: _Problems, path) -> ClickChunk:
    """Per-click or per-round records (line, dict) -> ClickChunk (a per-round record is one submission)."""
    images, participants, xs, ys, ts = [], [], [], [], []
    rounds, of_round = [], []  # per-round records: (image, participant, line); each click's round or -1
    for line, raw in records:
        record = {ALIASES.get(str(k).strip(), str(k).strip()): v for k, v in raw.items()}
        ids = []
        for name in ("image_id", "participant_id"):
            value = record.get(name)
            if isinstance(value, bytes):
                value = value.decode("utf-8", errors="replace")
            if _missing(value) or isinstance(value, (list, dict)):
                problems.bad(line, name, f"expected a non-empty {name}, got {value!r}")
                break
            ids.append(str(value).strip())
        if len(ids) < 2:
            continue
        per_round = (
            "clicks" in record
            or isinstance(record.get("x"), (list, tuple, np.ndarray, str))
            and str(record.get("x")).lstrip().startswith("[")
        )
        if per_round:
            points = _round_points(record, line, problems)
            if points is None:
                continue
        else:
            values = []
            for name, required in (("x", True), ("y", True), ("t", False)):
                value = record.get(name)
                if _missing(value) and not required:
                    values.append(np.nan)
                    continue
                try:
                    number = float(value) if not isinstance(value, bool) else np.nan
                except (TypeError, ValueError):
                    number = np.nan
                if not np.isfinite(number):
                    problems.bad(line, name, f"expected a finite number, got {value!r}")
                    break
                values.append(number)
            if len(values) < 3:
                continue
            points = [tuple(values)]
        if per_round:
            rounds.append((ids[0], ids[1], line))
        of_round.extend([len(rounds) - 1 if per_round else -1] * len(points))
        for px, py, pt in points:
            images.append(ids[0])
            participants.append(ids[1])
            xs.append(px)
            ys.append(py)
            ts.append(pt)
    image_codes = reader._encoder.images(images, path) if images else np.zeros(0, np.int32)
    chunk = ClickChunk(
        image_codes,
        reader._participants.encode(participants),
        np.array(xs, dtype=np.float64),
        np.array(ys, dtype=np.float64),
        np.array(ts, dtype=np.float64),
    )
    if not rounds:
        return chunk
    round_images = reader._encoder.images([r[0] for r in rounds], path)
    kept = reader._repeats.keep(
        round_images,
        reader._participants.encode([r[1] for r in rounds]),
        [r[2] for r in rounds],
        problems,
        reader.image_ids,
        reader.participant_ids,
    )
    of_round = np.asarray(of_round, dtype=np.int64)
    by_click = (of_round < 0) | kept[np.maximum(of_round, 0)]
    return ClickChunk(*(a[by_click] for a in (chunk.image, chunk.participant, chunk.x, chunk.y, chunk.t)))


def _jsonl_records(path: Path, problems: _Problems):
    """(line, dict) records of a JSON-lines log; a bad line is reported, and in skip mode passed."""
    from clickme_analysis.fileio import read_jsonl

    records = []
    try:
        records.extend(read_jsonl(path))
    except InputError as err:
        if err.line is None:
            raise
        problems.bad(err.line, "(line)", err.message)
        if problems.on_error == "skip":
            records.extend(_jsonl_after(path, err.line, problems))
    return records


def _jsonl_after(path: Path, after: int, problems: _Problems):
    """Records after line ``after``, reporting each bad line (skip mode)."""
    out = []
    with open(path, "rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if number <= after or not raw.strip():
                continue
            try:
                value = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError):
                problems.bad(number, "(line)", f"expected a JSON object, got {raw[:40]!r}")
                continue
            if not isinstance(value, dict):
                problems.bad(number, "(line)", f"expected a JSON object, got {type(value).__name__}")
                continue
            out.append((number, value))
    return out


# --------------------------------------------------------------------------------------------
# The reader
# --------------------------------------------------------------------------------------------
class ClickReader:
    """Stream one or more click logs as :class:`ClickChunk` blocks of integer-coded clicks.

    Parameters
    ----------
    paths : path or sequence of paths
        Click logs (formats in the module docstring).
    fmt : {"csv", "tsv", "jsonl", "parquet", "npz"}, optional
        Overrides the format implied by each suffix.
    on_error : {"raise", "skip"}
        ``"raise"``: the first malformed row raises :class:`InputError` (file, line, field,
        what was expected). ``"skip"``: malformed rows are left out and listed in :meth:`skipped`.
    id_rule, id_root
        How image entries become ids (:func:`clickme_analysis.ids.image_id`).
    catch_threshold : float or None
        ClickMe 2.0 NPZ: keep trials whose user's catch-trial accuracy is at least this
        (default 0.95, as the authors); None keeps every trial.
    exclude_mobile : bool
        ClickMe 2.0 NPZ: leave out trials played on a mobile device.
    mobile_rule : {"any", "first"}
        Which ``is_mobile`` values mark a mobile trial (:func:`clickme_analysis.npz_log.is_mobile`).
    repeat_submissions : {"merge", "first", "error"}
        A participant's later submissions of an image (:mod:`clickme_analysis.submissions`);
        ``repeats_per_image()`` counts those met.

    Attributes
    ----------
    image_ids, participant_ids : list of str
        What the chunks' codes stand for (grow while reading).
    n_rows : int
        Data rows read (records for Parquet / NPZ).

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(p, "w").write('image_path,clicks,user_id\\nval/cat.JPEG,"{(1,2),(3,4)}",7\\n')
    >>> reader = ClickReader(p)
    >>> [(reader.image_ids[i], float(x), float(y)) for c in reader for i, x, y in zip(c.image, c.x, c.y)]
    [('cat', 1.0, 2.0), ('cat', 3.0, 4.0)]
    """

    def __init__(
        self,
        paths,
        fmt: str | None = None,
        on_error: str = "raise",
        *,
        id_rule: str = "stem",
        id_root=None,
        catch_threshold: float | None = 0.95,
        exclude_mobile: bool = False,
        mobile_rule: str = "any",
        repeat_submissions: str = "merge",
    ):
        from clickme_analysis.ids import ID_RULES

        self.paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
        if not self.paths:
            raise InputError("expected at least one click log", field="logs")
        if on_error not in ("raise", "skip"):
            raise InputError(f"expected on_error 'raise' or 'skip', got {on_error!r}", field="on_error")
        if id_rule not in ID_RULES:
            raise InputError(f"expected an id rule in {ID_RULES}, got {id_rule!r}", field="id_rule")
        if catch_threshold is not None and not 0 <= catch_threshold <= 1:
            raise InputError(
                f"expected a catch-trial threshold in [0, 1], got {catch_threshold}", field="catch_threshold"
            )
        self.fmt, self.on_error = fmt, on_error
        self.id_rule, self.id_root = id_rule, id_root
        self.catch_threshold, self.exclude_mobile = catch_threshold, exclude_mobile
        self.mobile_rule, self.repeat_submissions = mobile_rule, repeat_submissions
        self._repeats = RepeatFilter(repeat_submissions)
        self._images, self._participants = Vocabulary(), Vocabulary()
        self._encoder = _Encoder(self)
        self._problems: list[_Problems] = []
        self.n_rows = 0
        self._csv = False
        for path in self.paths:
            self._format(path)  # fail early on an unknown suffix or a missing file

    @property
    def image_ids(self) -> list[str]:
        return self._images.values

    @property
    def participant_ids(self) -> list[str]:
        return self._participants.values

    def _format(self, path: Path) -> str:
        if not path.is_file():
            raise InputError(
                "click log not found" if not path.is_dir() else "expected a click log file, got a folder", path=path
            )
        fmt = self.fmt or FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise InputError(
                f"cannot tell the format from suffix {path.suffix!r}; expected one of "
                f"{sorted(FORMATS)} or an explicit format",
                path=path,
            )
        if fmt not in set(FORMATS.values()):
            raise InputError(
                f"expected a format in {sorted(set(FORMATS.values()))}, got {fmt!r}", path=path, field="format"
            )
        return fmt

    def __iter__(self) -> Iterator[ClickChunk]:
        for path in self.paths:
            fmt = self._format(path)
            problems = _Problems(path, self.on_error)
            problems.lines_are_rows = fmt in ("csv", "tsv")
            self._problems.append(problems)
            self._csv = fmt in ("csv", "tsv")
            if fmt in ("csv", "tsv", "parquet"):
                batches = (
                    _csv_batches(path, "," if fmt == "csv" else "\t", problems) if self._csv else _parquet_batches(path)
                )
                layout = mapping = None
                row0 = 0 if self._csv else 1
                for batch in batches:
                    if mapping is None:
                        mapping = _columns(batch.schema.names, path)
                        layout = _layout(mapping, self._first_is_list(batch, mapping), path)
                    chunk = _table_chunk(batch, row0, layout, mapping, self, problems, path)
                    row0 += batch.num_rows
                    self.n_rows += batch.num_rows
                    problems.check()
                    if len(chunk):
                        yield chunk
                if mapping is None and self._csv:  # header only: still check the header
                    _layout(_columns(_header_names(path, fmt), path), False, path)
            else:
                if fmt == "jsonl":
                    records = _jsonl_records(path, problems)
                    chunk = _records_chunk(records, self, problems, path)
                    self.n_rows += len(records)
                else:
                    chunk = _records_chunk(npz_trials(path, self, problems), self, problems, path)
                    self.n_rows += len(chunk)
                problems.check()
                if len(chunk):
                    yield chunk
            problems.check()

    @staticmethod
    def _first_is_list(batch, mapping) -> bool:
        import pyarrow as pa

        if "x" not in mapping:
            return False
        column = batch.column(batch.schema.get_field_index(mapping["x"]))
        if pa.types.is_list(column.type) or pa.types.is_large_list(column.type):
            return True
        if pa.types.is_string(column.type):
            return any(str(v).lstrip().startswith("[") for v in column.to_pylist()[:1000] if v)
        return False

    def repeats_per_image(self) -> np.ndarray:
        """Repeat submissions met so far, by image code (kept, left out or refused by the rule)."""
        return self._repeats.counts_for(len(self.image_ids))

    def skipped(self) -> pd.DataFrame:
        """Rows left out so far: ``path, line, field, message`` (exclusions by design included)."""
        frames = [p.frame() for p in self._problems]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=SKIPPED_COLUMNS)


def _header_names(path: Path, fmt: str) -> list[str]:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        return next(csv.reader(fh, delimiter="," if fmt == "csv" else "\t"), [])


def chunks_to_frame(chunks, image_ids, participant_ids) -> pd.DataFrame:
    """Concatenate :class:`ClickChunk` blocks into the tidy click table."""
    chunks = list(chunks)
    if not chunks:
        return pd.DataFrame(
            {
                "image_id": pd.Series(dtype=str),
                "participant_id": pd.Series(dtype=str),
                "x": pd.Series(dtype=float),
                "y": pd.Series(dtype=float),
                "t": pd.Series(dtype=float),
            }
        )
    images = np.concatenate([c.image for c in chunks])
    participants = np.concatenate([c.participant for c in chunks])
    return pd.DataFrame(
        {
            "image_id": np.asarray(image_ids, dtype=object)[images],
            "participant_id": np.asarray(participant_ids, dtype=object)[participants],
            "x": np.concatenate([c.x for c in chunks]),
            "y": np.concatenate([c.y for c in chunks]),
            "t": np.concatenate([c.t for c in chunks]),
        }
    )


def read_clicks(
    path,
    fmt: str | None = None,
    on_error: str = "raise",
    *,
    id_rule: str = "stem",
    id_root=None,
    catch_threshold: float | None = 0.95,
    exclude_mobile: bool = False,
    mobile_rule: str = "any",
    repeat_submissions: str = "merge",
) -> ClickLog:
    """Read and validate a click log (or several) into one tidy table.

    Parameters
    ----------
    path : str or os.PathLike, or a sequence of them
        The log file(s) (formats in the module docstring).
    fmt, on_error, id_rule, id_root, catch_threshold, exclude_mobile, mobile_rule, repeat_submissions
        See :class:`ClickReader`.

    Returns
    -------
    ClickLog
        ``clicks`` (one row per click) and ``skipped``.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), "log.csv")
    >>> _ = open(p, "w").write('image_path,clicks,user_id\\ncat.png,"{(1, 2), (3, 4)}",u1\\n')
    >>> read_clicks(p).clicks[["image_id", "participant_id", "x", "y"]].values.tolist()
    [['cat', 'u1', 1.0, 2.0], ['cat', 'u1', 3.0, 4.0]]
    """
    reader = ClickReader(
        path,
        fmt,
        on_error,
        id_rule=id_rule,
        id_root=id_root,
        catch_threshold=catch_threshold,
        exclude_mobile=exclude_mobile,
        mobile_rule=mobile_rule,
        repeat_submissions=repeat_submissions,
    )
    chunks = list(reader)
    return ClickLog(clicks=chunks_to_frame(chunks, reader.image_ids, reader.participant_ids), skipped=reader.skipped())


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
    except IsADirectoryError:
        raise InputError(f"expected a {what} file, got a folder", path=path) from None
    except UnicodeDecodeError:
        raise InputError(f"expected a UTF-8 text {what}, got {describe_file(path)}", path=path) from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(f"not a readable {what} ({err})", path=path) from None
    if not frame.index.equals(pd.RangeIndex(len(frame))):  # pandas made the extra fields an index
        raise InputError(
            f"expected {len(frame.columns)} fields per row as the header, a row has more "
            f"({_first_long_row(path, read_csv_kwargs.get('sep', ','))})",
            path=path,
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        hint = ""
        if len(frame.columns) == 1:
            for sep in (";", "\t", "|", ","):
                if sep in str(frame.columns[0]):
                    hint = f" (one header field: is the file separated by {sep!r}?)"
                    break
        raise InputError(
            f"{what} lacks columns {missing}; has {list(frame.columns)}{hint}", path=path, field=missing[0]
        )
    return frame


#: leading bytes -> what a file holding them is
def _first_long_row(path: Path, sep: str) -> str:
    import csv

    with open(path, encoding="utf-8", newline="") as fh:
        rows = csv.reader(fh, delimiter=sep or ",")
        header = next(rows, [])
        for line, row in enumerate(rows, start=2):
            if len(row) > len(header):
                return f"line {line} has {len(row)}"
    return "a row"
