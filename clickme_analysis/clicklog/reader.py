"""The click-log reader: any accepted file (:mod:`clickme_analysis.clicklog`) -> coded clicks."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.clicklog.chunks import (
    FORMATS,
    SKIPPED_COLUMNS,
    ClickChunk,
    ClickLog,
    ImageEncoder,
    RowProblems,
    Vocabulary,
)
from clickme_analysis.clicklog.records import jsonl_records, records_chunk
from clickme_analysis.clicklog.tables import canonical_columns, csv_batches, layout_of, parquet_batches, table_chunk
from clickme_analysis.errors import InputError
from clickme_analysis.ids import ID_RULES
from clickme_analysis.npz_log import npz_trials
from clickme_analysis.submissions import RepeatFilter

__all__ = ["ClickReader", "read_clicks", "chunks_to_frame"]


class ClickReader:
    """Stream one or more click logs as :class:`ClickChunk` blocks of integer-coded clicks.

    Parameters
    ----------
    paths : path or sequence of paths
        Click logs (formats in :mod:`clickme_analysis.clicklog`).
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
        self._encoder = ImageEncoder(self)
        self._problems: list[RowProblems] = []
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
            problems = RowProblems(path, self.on_error)
            problems.lines_are_rows = fmt in ("csv", "tsv")
            self._problems.append(problems)
            self._csv = fmt in ("csv", "tsv")
            if fmt in ("csv", "tsv", "parquet"):
                batches = (
                    csv_batches(path, "," if fmt == "csv" else "\t", problems) if self._csv else parquet_batches(path)
                )
                layout = mapping = None
                row0 = 0 if self._csv else 1
                for batch in batches:
                    if mapping is None:
                        mapping = canonical_columns(batch.schema.names, path)
                        layout = layout_of(mapping, self._first_is_list(batch, mapping), path)
                    chunk = table_chunk(
                        batch, row0, layout=layout, mapping=mapping, reader=self, problems=problems, path=path
                    )
                    row0 += batch.num_rows
                    self.n_rows += batch.num_rows
                    problems.check()
                    if len(chunk):
                        yield chunk
                if mapping is None and self._csv:  # header only: still check the header
                    layout_of(canonical_columns(header_names(path, fmt), path), False, path)
            else:
                if fmt == "jsonl":
                    records = jsonl_records(path, problems)
                    chunk = records_chunk(records, self, problems, path)
                    self.n_rows += len(records)
                else:
                    chunk = records_chunk(npz_trials(path, self, problems), self, problems, path)
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


def header_names(path: Path, fmt: str) -> list[str]:
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
        The log file(s) (formats in :mod:`clickme_analysis.clicklog`).
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
