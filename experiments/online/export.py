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
import json
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import atomic_write, atomic_write_text
from experiments.online.storage import Store

#: Columns of ``experiment/browser_timing.csv``
TIMING_COLUMNS = ("participant", "phase", "block", "trial", "refresh_hz", "stim_frames_requested",
                  "stim_ms_requested", "stim_frames", "stim_ms", "off_frames", "timing_flag",
                  "fixation_frames", "fixation_ms", "dropped_frames")


def _write_csv(path, columns, rows, value) -> Path:
    """A CSV written row by row to a temporary file, then renamed (bounded memory)."""
    with atomic_write(path, "w") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([value(row.get(c)) for c in columns])
    return Path(path)


def _session_record(p, n_trials: int) -> dict:
    from experiments.session import software_versions

    info, config_dict = p["design"]["info"], p["design"]["config"]
    browser = p["browser"] or {}
    return {"participant": p["participant_id"], **info, "config": config_dict,
            "seed": [config_dict.get("seed"), info["participant_index"]],
            "status": "completed" if p["status"] == "completed" else "running",
            "started": p["created"], "finished": p["finished"], "resumed": [], "n_trials": n_trials,
            "runs": [{"time": p["created"], "mode": "online", "fps_nominal": browser.get("refresh_hz"),
                      "fps_measured": browser.get("refresh_hz"), "keyboard_backend": "browser-keydown",
                      "timing": "browser-raf", "browser": browser}],
            "study_id": p["study_id"], "session_id": p["session_id"], "software": software_versions()}


def export_experiment(store: Store, out) -> list[Path]:
    """Write each experiment participant's trial CSV and session JSON, and the timing table."""
    from experiments.session import DATA_COLUMNS, _csv_value

    data = Path(out) / "experiment" / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = []
    for p in store.all_participants("experiment"):
        order = {(t["phase"], t["block"], t["trial"]): k for k, t in enumerate(p["design"]["trials"])}
        mine = sorted(store.rows("trials", p["id"]), key=lambda r: order.get((r["phase"], r["block"], r["trial"]), 0))
        name = p["participant_id"]
        written.append(_write_csv(data / f"{name}.csv", DATA_COLUMNS, (r["row"] for r in mine), _csv_value))
        record = _session_record(p, len(p["design"]["trials"]))
        written.append(atomic_write_text(data / f"{name}.json", json.dumps(record, indent=2, default=str)))
    written.append(_write_csv(Path(out) / "experiment" / "browser_timing.csv", TIMING_COLUMNS,
                              (r["row"] for r in store.iter_rows("trials")), _csv_value))
    return written


def export_game(store: Store, out) -> list[Path]:
    """Write the game log (rounds in arrival order, streamed) and the session records."""
    out = Path(out) / "game"
    out.mkdir(parents=True, exist_ok=True)
    tally = {}  # participant pk -> [rounds, skipped, score]
    with atomic_write(out / "game_log.jsonl", "w") as f:
        for r in store.iter_rows("rounds"):
            f.write(json.dumps(r["record"]) + "\n")
            t = tally.setdefault(r["participant_pk"], [0, 0, 0.0])
            t[0], t[1], t[2] = t[0] + 1, t[1] + int(bool(r["record"]["skipped"])), t[2] + r["record"]["points"]
    sessions = []
    for p in store.all_participants("game"):
        played, skipped, score = tally.get(p["id"], (0, 0, 0.0))
        sessions.append({
            "session_id": f"{p['participant_id']}_{p['created']}", "participant_id": p["participant_id"],
            "mode": "online", "partner": p["design"]["partner"], "player": None,
            "config": p["design"]["config"], "point_rule": p["design"]["point_rule"],
            "started": p["created"], "finished": p["finished"],
            "status": "completed" if p["status"] == "completed" else "running", "rounds_before": 0,
            "rounds_played": played, "rounds_skipped": skipped, "score": float(score),
            "order": p["design"]["order"], "window": None, "browser": p["browser"], "study_id": p["study_id"],
            "platform_session_id": p["session_id"]})
    return [out / "game_log.jsonl",
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
