"""``clickme serve export``: the database -> the PsychoPy versions' files.

Layout under the output folder::

    experiment/data/<participant>.csv   the runner's trial CSV (experiments.session.DATA_COLUMNS)
    experiment/data/<participant>.json  the runner's session record (+ study/session ids, browser)
    experiment/browser_timing.csv       per trial: refresh rate, requested and measured frames and ms, flag
    game/game_log.jsonl                 the game's JSON-lines log, one round per line
    game/session.json                   the game's session records ({"sessions": [...]})

``clickme experiment analyze OUT/experiment/data`` and ``clickme maps OUT/game/game_log.jsonl``
read them as they read the lab versions' files. Every file is written to a temporary name and
renamed, so an interrupted export never leaves a half file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write_text
from experiments.online.storage import Store

#: Columns of ``experiment/browser_timing.csv``
TIMING_COLUMNS = ("participant", "phase", "block", "trial", "refresh_hz", "stim_frames_requested",
                  "stim_ms_requested", "stim_frames", "stim_ms", "off_frames", "timing_flag",
                  "fixation_frames", "fixation_ms", "dropped_frames")


def _csv_text(columns, rows, value) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([value(row.get(c)) for c in columns])
    return buffer.getvalue()


def _session_record(p, n_trials: int) -> dict:
    from experiments.session import software_versions

    info, config_dict = p["design"]["info"], p["design"]["config"]
    browser = p["browser"] or {}
    return {"participant": p["participant_id"], **info, "config": config_dict,
            "seed": [config_dict.get("seed"), info["participant_index"]],
            "status": p["status"] if p["status"] == "completed" else "aborted",
            "started": p["created"], "finished": p["finished"], "resumed": [], "n_trials": n_trials,
            "runs": [{"time": p["created"], "mode": "online", "fps_nominal": browser.get("refresh_hz"),
                      "fps_measured": browser.get("refresh_hz"), "keyboard_backend": "browser-keydown",
                      "timing": "browser-raf", "browser": browser}],
            "study_id": p["study_id"], "session_id": p["session_id"], "software": software_versions()}


def export_experiment(store: Store, out) -> list[Path]:
    """Write each experiment participant's trial CSV and session JSON, and the timing table."""
    from experiments.session import DATA_COLUMNS, _csv_value

    out = Path(out)
    data = out / "experiment" / "data"
    data.mkdir(parents=True, exist_ok=True)
    rows = {}
    for r in store.rows("trials"):
        rows.setdefault(r["participant_pk"], []).append(r)
    written, timing = [], []
    for p in store.all_participants("experiment"):
        order = {(t["phase"], t["block"], t["trial"]): k for k, t in enumerate(p["design"]["trials"])}
        mine = sorted(rows.get(p["id"], []), key=lambda r: order.get((r["phase"], r["block"], r["trial"]), 0))
        trial_rows = [r["row"] for r in mine]
        name = p["participant_id"]
        written.append(atomic_write_text(data / f"{name}.csv", _csv_text(DATA_COLUMNS, trial_rows, _csv_value)))
        record = _session_record(p, len(p["design"]["trials"]))
        written.append(atomic_write_text(data / f"{name}.json", json.dumps(record, indent=2, default=str)))
        timing.extend(trial_rows)
    written.append(atomic_write_text(out / "experiment" / "browser_timing.csv",
                                     _csv_text(TIMING_COLUMNS, timing, _csv_value)))
    return written


def export_game(store: Store, out) -> list[Path]:
    """Write the game log (rounds in arrival order) and the session records."""
    out = Path(out) / "game"
    out.mkdir(parents=True, exist_ok=True)
    people = {p["id"]: p for p in store.all_participants("game")}
    rounds = store.rows("rounds")
    log = "".join(json.dumps(r["record"]) + "\n" for r in rounds)
    sessions = []
    for p in people.values():
        mine = [r["record"] for r in rounds if r["participant_pk"] == p["id"]]
        sessions.append({
            "session_id": f"{p['participant_id']}_{p['created']}", "participant_id": p["participant_id"],
            "mode": "online", "partner": p["design"]["partner"], "player": None,
            "config": p["design"]["config"], "point_rule": p["design"]["point_rule"],
            "started": p["created"], "finished": p["finished"],
            "status": "completed" if p["status"] == "completed" else "aborted", "rounds_before": 0,
            "rounds_played": len(mine), "rounds_skipped": sum(bool(r["skipped"]) for r in mine),
            "score": float(sum(r["points"] for r in mine)), "order": p["design"]["order"],
            "window": None, "browser": p["browser"], "study_id": p["study_id"],
            "platform_session_id": p["session_id"]})
    return [atomic_write_text(out / "game_log.jsonl", log),
            atomic_write_text(out / "session.json", json.dumps({"sessions": sessions}, indent=2, default=str))]


def export_all(store: Store, out) -> list[Path]:
    """Export both tasks (a task with no participants writes no files)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError("expected a folder to export into, got a file", path=out, field="out")
    if not out.parent.is_dir():
        raise InputError(f"expected an existing folder to write into, got no folder {out.parent}", path=out,
                         field="out")
    out.mkdir(exist_ok=True)
    written = []
    if store.all_participants("experiment"):
        written += export_experiment(store, out)
    if store.all_participants("game"):
        written += export_game(store, out)
    if not written:
        raise InputError("the database holds no participants yet", field="db")
    return written
