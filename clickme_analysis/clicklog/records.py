"""JSON-lines and NPZ click logs: records handled one by one (these logs are small or per trial)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from clickme_analysis.clicklog.cells import is_missing, round_points
from clickme_analysis.clicklog.chunks import ALIASES, ClickChunk, RowProblems
from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_jsonl


def records_chunk(records: list[tuple[int, dict]], reader, problems: RowProblems, path) -> ClickChunk:
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
            if is_missing(value) or isinstance(value, (list, dict)):
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
            points = round_points(record, line, problems)
            if points is None:
                continue
        else:
            values = []
            for name, required in (("x", True), ("y", True), ("t", False)):
                value = record.get(name)
                if is_missing(value) and not required:
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
        image_ids=reader.image_ids,
        participant_ids=reader.participant_ids,
    )
    of_round = np.asarray(of_round, dtype=np.int64)
    by_click = (of_round < 0) | kept[np.maximum(of_round, 0)]
    return ClickChunk(*(a[by_click] for a in (chunk.image, chunk.participant, chunk.x, chunk.y, chunk.t)))


def jsonl_records(path: Path, problems: RowProblems):
    """(line, dict) records of a JSON-lines log; a bad line is reported, and in skip mode passed."""
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


def _jsonl_after(path: Path, after: int, problems: RowProblems):
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
