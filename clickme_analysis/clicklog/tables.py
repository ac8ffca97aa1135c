"""CSV, TSV and Parquet click logs, read as pyarrow batches and validated a column at a time."""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path

import numpy as np

from clickme_analysis._parse_numba import parse_cells
from clickme_analysis.clicklog.cells import round_points
from clickme_analysis.clicklog.chunks import ALIASES, ClickChunk, RowProblems
from clickme_analysis.errors import InputError
from clickme_analysis.filetypes import describe_file

_BLOCK_BYTES = 1 << 20  # CSV bytes parsed per batch (pyarrow reads a few ahead: memory stays small)

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_NUMBER_CELL = rf"^\s*{_NUMBER}\s*$"


def canonical_columns(names, path) -> dict[str, str]:
    """Canonical column name -> the file's name, checking the header."""
    mapping: dict[str, str] = {}
    for name in names:
        canonical = ALIASES.get(str(name).strip(), str(name).strip())
        mapping.setdefault(canonical, name)
    return mapping


def layout_of(mapping: dict, first_x, path) -> str:
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


def _numbers(array, name: str, required: bool, rows: np.ndarray, ok: np.ndarray, problems: RowProblems):
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


def _point_cells(text, rows: np.ndarray, ok: np.ndarray, problems: RowProblems):
    """Parse ``clicks`` text cells (compiled, :mod:`clickme_analysis._parse_numba`); cells it
    cannot take go to the row-by-row parser, which parses or reports them.

    Returns per-row point counts and the flat x, y, t arrays (rows in order); ``ok`` updated.
    """
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
        points = round_points({"clicks": cell}, rows[row], problems)
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


def table_chunk(batch, row0: int, *, layout: str, mapping: dict, reader, problems: RowProblems, path):
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
            points = round_points(record, rows[k], problems)
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
            images, participants, per_kept, rows[ok], (x, y, t), problems=problems, reader=reader
        )
    return ClickChunk(np.repeat(images, per_kept), np.repeat(participants, per_kept), x, y, t)


def csv_batches(path: Path, sep: str, problems: RowProblems):
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


def parquet_batches(path: Path):
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
