"""``clickme serve export``: the database -> the PsychoPy versions' files.

Layout under the output folder::

    experiment/data/<participant>.csv   the runner's trial CSV (experiments.session.DATA_COLUMNS)
    experiment/data/<participant>.json  the runner's session record (+ study/session ids, browser)
    experiment/browser_timing.csv       per trial: refresh rate, requested and measured frames and ms, flag
    game/game_log.jsonl                 the game's JSON-lines log, one round per line
    game/session.json                   the game's session records ({"sessions": [...]})
    sessions.csv                        every session of both tasks and its status

Sessions have a status (:func:`session_status`): ``complete`` (every trial or round stored and
completed, browser check accepted, not flagged), ``partial``, ``refused check`` (the browser
check refused it) or ``flagged`` (impossible pacing, every round skipped). Only complete sessions
are exported unless ``include="all"``; ``sessions.csv`` lists them all.

CSV cells from participant-supplied text never start a formula: a text cell starting with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return gets a leading ``'`` (:func:`safe_cell`; numbers
are written as numbers). File names come from participant ids, which the server accepts only
without a leading dot and unique regardless of case; Windows device names (``CON``, ``NUL``...)
get a leading ``_``.

``clickme experiment analyze OUT/experiment/data`` and ``clickme maps OUT/game/game_log.jsonl``
read them as they read the lab versions' files. Every file is written to a temporary name and
renamed, so an interrupted export never leaves a half file.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write, atomic_write_text, collect_files
from experiments.online.storage import Store
from experiments.session import DATA_COLUMNS, _csv_value, software_versions

#: Columns of ``experiment/browser_timing.csv``
TIMING_COLUMNS = (
    "participant",
    "phase",
    "block",
    "trial",
    "refresh_hz",
    "stim_frames_requested",
    "stim_ms_requested",
    "stim_frames",
    "stim_ms",
    "off_frames",
    "timing_flag",
    "fixation_frames",
    "fixation_ms",
    "dropped_frames",
)
#: Columns of ``sessions.csv``
SESSION_COLUMNS = (
    "task",
    "participant_id",
    "study_id",
    "session_id",
    "session_status",
    "flags",
    "stored",
    "expected",
    "refresh_hz",
    "created",
    "finished",
)
#: Which sessions an export writes
INCLUDE = ("complete", "all")
#: Session statuses, in the order listings show them
STATUSES = ("complete", "partial", "refused check", "flagged")
_DEVICE_NAMES = re.compile(r"^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)", re.IGNORECASE)


def session_status(p, stored: int, expected: int) -> str:
    """``complete``, ``partial``, ``refused check`` or ``flagged`` (see the module docstring).

    Examples
    --------
    >>> ok = {"browser": {"accepted": True}, "flags": [], "status": "completed"}
    >>> session_status(ok, 6, 6), session_status({**ok, "status": "started"}, 3, 6)
    ('complete', 'partial')
    >>> session_status({**ok, "browser": {"accepted": False}}, 0, 6), session_status({**ok, "flags": ["x"]}, 6, 6)
    ('refused check', 'flagged')
    """
    browser = p["browser"] or {}
    if browser and not browser.get("accepted"):
        return "refused check"
    if p["flags"]:
        return "flagged"
    return "complete" if p["status"] == "completed" and browser and stored >= expected else "partial"


def safe_cell(value):
    """A CSV cell that no spreadsheet reads as a formula: text starting with ``= + - @``, tab or
    CR gets a leading ``'``; other values pass unchanged.

    Examples
    --------
    >>> safe_cell("=HYPERLINK(1)"), safe_cell("@SUM(A1)"), safe_cell(-0.5), safe_cell("s")
    ("'=HYPERLINK(1)", "'@SUM(A1)", -0.5, 's')
    """
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def file_stem(participant_id: str) -> str:
    """A participant's file name stem (Windows device names get a leading ``_``).

    Examples
    --------
    >>> file_stem("P1"), file_stem("con"), file_stem("nul.txt")
    ('P1', '_con', '_nul.txt')
    """
    return "_" + participant_id if _DEVICE_NAMES.match(participant_id) else participant_id


def _write_csv(path, columns, rows, value) -> Path:
    """A CSV written row by row to a temporary file, then renamed (bounded memory); cells pass
    through :func:`safe_cell`."""
    with atomic_write(path, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([safe_cell(value(row.get(c))) for c in columns])
    return Path(path)


def _chosen(store: Store, task: str, include: str) -> list:
    """The sessions of ``task`` that an export with ``include`` writes."""
    if include == "all":
        return store.all_participants(task)
    counts = store.per_participant()
    chosen = []
    for p in store.all_participants(task):
        expected = len(p["design"]["trials"] if task == "experiment" else p["design"]["order"])
        if session_status(p, counts.get(p["id"], (0, 0))[0], expected) == "complete":
            chosen.append(p)
    return chosen


def _session_record(p, n_trials: int, n_stored: int) -> dict:
    info, config_dict = p["design"]["info"], p["design"]["config"]
    browser = p["browser"] or {}
    return {
        "participant": p["participant_id"],
        **info,
        "config": config_dict,
        "seed": [config_dict.get("seed"), info["participant_index"]],
        "status": "completed" if p["status"] == "completed" else "running",
        "started": p["created"],
        "finished": p["finished"],
        "resumed": [],
        "n_trials": n_trials,
        "runs": [
            {
                "time": p["created"],
                "mode": "online",
                "fps_nominal": browser.get("refresh_hz"),
                "fps_measured": browser.get("refresh_hz"),
                "keyboard_backend": "browser-keydown",
                "timing": "browser-raf",
                "browser": browser,
            }
        ],
        "study_id": p["study_id"],
        "session_id": p["session_id"],
        "flags": p["flags"] or [],
        "session_status": session_status(p, n_stored, n_trials),
        "software": software_versions(),
    }


def export_experiment(store: Store, out, people: list) -> list[Path]:
    """Write each chosen experiment participant's trial CSV and session JSON, and the timing table."""
    data = Path(out) / "experiment" / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = []
    for p in people:
        order = {(t["phase"], t["block"], t["trial"]): k for k, t in enumerate(p["design"]["trials"])}
        mine = sorted(store.rows("trials", p["id"]), key=lambda r: order.get((r["phase"], r["block"], r["trial"]), 0))
        name = file_stem(p["participant_id"])
        written.append(_write_csv(data / f"{name}.csv", DATA_COLUMNS, (r["row"] for r in mine), _csv_value))
        record = _session_record(p, len(p["design"]["trials"]), len(mine))
        written.append(atomic_write_text(data / f"{name}.json", json.dumps(record, indent=2, default=str)))
    chosen = {p["id"] for p in people}
    written.append(
        _write_csv(
            Path(out) / "experiment" / "browser_timing.csv",
            TIMING_COLUMNS,
            (r["row"] for r in store.iter_rows("trials") if r["participant_pk"] in chosen),
            _csv_value,
        )
    )
    return written


def export_game(store: Store, out, people: list) -> list[Path]:
    """Write the game log (rounds in arrival order, streamed) and the session records."""
    out = Path(out) / "game"
    out.mkdir(parents=True, exist_ok=True)
    tally = {}  # participant pk -> [rounds, skipped, score]
    chosen = {p["id"] for p in people}
    with atomic_write(out / "game_log.jsonl", "w") as f:
        for r in store.iter_rows("rounds"):
            if r["participant_pk"] not in chosen:
                continue
            f.write(json.dumps(r["record"]) + "\n")
            t = tally.setdefault(r["participant_pk"], [0, 0, 0.0])
            t[0], t[1], t[2] = t[0] + 1, t[1] + int(bool(r["record"]["skipped"])), t[2] + r["record"]["points"]
    sessions = []
    for p in people:
        played, skipped, score = tally.get(p["id"], (0, 0, 0.0))
        sessions.append(
            {
                "session_id": f"{p['participant_id']}_{p['created']}",
                "participant_id": p["participant_id"],
                "mode": "online",
                "partner": p["design"]["partner"],
                "player": None,
                "config": p["design"]["config"],
                "point_rule": p["design"]["point_rule"],
                "started": p["created"],
                "finished": p["finished"],
                "status": "completed" if p["status"] == "completed" else "running",
                "rounds_before": 0,
                "rounds_played": played,
                "rounds_skipped": skipped,
                "score": float(score),
                "order": p["design"]["order"],
                "window": None,
                "browser": p["browser"],
                "study_id": p["study_id"],
                "platform_session_id": p["session_id"],
            }
        )
    return [
        out / "game_log.jsonl",
        atomic_write_text(out / "session.json", json.dumps({"sessions": sessions}, indent=2, default=str)),
    ]


def sessions_table(store: Store) -> list[dict]:
    """Every session of both tasks with its :func:`session_status` (``sessions.csv``)."""
    counts = store.per_participant()
    table = []
    for p in store.all_participants():
        expected = len(p["design"]["trials"] if p["task"] == "experiment" else p["design"]["order"])
        stored = counts.get(p["id"], (0, 0))[0]
        table.append(
            {
                "task": p["task"],
                "participant_id": p["participant_id"],
                "study_id": p["study_id"],
                "session_id": p["session_id"],
                "session_status": session_status(p, stored, expected),
                "flags": "; ".join(p["flags"] or []),
                "stored": stored,
                "expected": expected,
                "refresh_hz": (p["browser"] or {}).get("refresh_hz"),
                "created": p["created"],
                "finished": p["finished"],
            }
        )
    return table


def export_all(store: Store, out, include: str = "complete") -> list[Path]:
    """Export both tasks' sessions (``include``: ``complete`` ones, or ``all``) and ``sessions.csv``.

    A task with no chosen session writes no files of its own.
    """
    if include not in INCLUDE:
        raise InputError(f"expected include to be one of {', '.join(INCLUDE)}, got {include!r}", field="include")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("expected a folder to export into, got a file", path=out, field="out")
    if not out.parent.is_dir():
        raise InputError(
            f"expected an existing folder to write into, got no folder {out.parent}", path=out, field="out"
        )
    table = sessions_table(store)
    if not table:
        raise InputError("the database holds no participants yet", field="db")
    out.mkdir(exist_ok=True)
    written = [_write_csv(out / "sessions.csv", SESSION_COLUMNS, table, lambda v: "" if v is None else v)]
    for task, export in (("experiment", export_experiment), ("game", export_game)):
        people = _chosen(store, task, include)
        if people:
            written += export(store, out, people)
    return written


def online_sessions(paths, include_all: bool = False) -> tuple[list[Path], str]:
    """The trial CSVs of ``paths`` that ``clickme experiment analyze`` should read, and a line
    listing the online sessions among them by status.

    A CSV whose session JSON (same name, ``.json``) was written by ``clickme serve export``
    carries a ``session_status``; only ``complete`` ones are kept unless ``include_all``. Lab
    sessions (no status) are always kept. The line is empty when no session is an online one.
    """
    kept, counts = [], Counter()
    for path in collect_files(paths, (".csv",), what="trial CSV files"):
        record = path.with_suffix(".json")
        status = None
        if record.is_file():
            try:
                status = json.loads(record.read_text(encoding="utf-8")).get("session_status")
            except (ValueError, UnicodeDecodeError, AttributeError):
                status = None
        if status is not None:
            counts[status] += 1
        if status in (None, "complete") or include_all:
            kept.append(path)
    if not counts:
        return kept, ""
    listing = ", ".join(f"{s} {counts[s]}" for s in STATUSES)
    rule = "all analysed" if include_all else "only complete ones analysed; --all-sessions for all"
    return kept, f"online sessions: {listing} ({rule})"
