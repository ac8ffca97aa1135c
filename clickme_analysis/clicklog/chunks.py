"""The blocks a click log is read into: coded clicks, id vocabularies, and each file's row problems."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.ids import image_id

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
class RowProblems:
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


class ImageEncoder:
    """Turns a batch's id columns into codes under the id rule, refusing colliding entries.

    Each image code keeps a hash of the entry that made it (8 bytes an image, not the text),
    so two different entries giving one id are caught without holding every path.
    """

    def __init__(self, reader):
        self.reader = reader
        self.entry_hash = np.zeros(0, dtype=np.int64)

    def images(self, raw_values: list[str], path) -> np.ndarray:
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
