"""Who produced each stage's data: the report's "Data" section and the notes on simulated data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from reports.inputs import demo_notes, read_json


# ----------------------------------------------------------------------------- provenance
@dataclass
class Provenance:
    """Who produced one stage's data, as that stage recorded it.

    ``simulated`` is True when any of the stage's data come from simulated people (or, for
    ``models``, a synthetic task), False when the stage recorded only real sessions, None when it
    recorded nothing. ``note`` is the sentence appended to the captions of that stage's parts.
    """

    stage: str
    simulated: bool | None
    what: str
    source: str
    detail: str
    note: str = ""


#: Stage folder -> (what the stage's data come from, the caption phrase when simulated).
STAGE_SUBJECTS = {
    "clickme": ("ClickMe players", "the ClickMe players are simulated"),
    "experiment": ("participants", "the participants are simulated observers"),
    "models": ("training and test images", "the models were trained and scored on a synthetic task"),
    "game": ("game players", "the players are simulated"),
}


def _session_modes(root: Path, stage: str) -> tuple[dict, str] | None:
    """Participant -> set of recorded run modes (``lab``, ``simulate``, ``simulate-...``).

    The experiment writes one ``experiment/data/<participant>.json`` per session with
    ``runs[].mode``; the game one ``game/session.json`` with ``sessions[].mode``.
    """
    modes: dict = {}
    if stage == "experiment":
        paths = sorted((root / "experiment" / "data").glob("*.json"))
        for path in paths:
            record = read_json(path)
            runs = record.get("runs", []) if isinstance(record, dict) else []
            who = str(record.get("participant", path.stem)) if isinstance(record, dict) else path.stem
            modes.setdefault(who, set()).update(str(r.get("mode")) for r in runs if isinstance(r, dict))
        return (modes, "experiment/data/*.json") if paths else None
    path = root / "game" / "session.json"
    if stage != "game" or not path.is_file():
        return None
    record = read_json(path)
    sessions = record.get("sessions", []) if isinstance(record, dict) else []
    for session in sessions if isinstance(sessions, list) else []:
        if isinstance(session, dict):
            modes.setdefault(str(session.get("participant_id")), set()).add(str(session.get("mode")))
    return modes, "game/session.json"


def provenance(root: Path) -> dict[str, Provenance]:
    """Who produced each stage's data under ``root``, from what the stages recorded.

    Session records (``experiment/data/*.json``, ``game/session.json``) say per participant
    whether a session was run in the lab or simulated; ``<stage>/demo_log.txt``, written only
    by ``clickme demo``, marks a stage's data as the demo's simulation.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> (root / "clickme").mkdir()
    >>> _ = (root / "clickme" / "demo_log.txt").write_text("12 simulated ClickMe players")
    >>> found = provenance(root)["clickme"]
    >>> found.simulated, found.source, found.detail
    (True, 'clickme/demo_log.txt', '12 simulated ClickMe players')
    """
    result = {}
    for stage, (what, phrase) in STAGE_SUBJECTS.items():
        if not (root / stage).is_dir():
            continue
        notes, sessions = demo_notes(root, stage), _session_modes(root, stage)
        if sessions is not None and sessions[0]:
            modes, source = sessions
            n_simulated = sum(bool(m) and all(x.startswith("simulate") for x in m) for m in modes.values())
            flag = n_simulated > 0
            detail = f"{n_simulated} of {len(modes)} {what} simulated"
            note = f"Simulated data: {detail} ({source})." if flag else ""
        elif notes is not None:
            source, detail, flag = f"{stage}/demo_log.txt", "", True
            note = f"Simulated data: {phrase} (the demo; {source})."
        else:
            source, detail, flag, note = "", "not recorded", None, ""
        detail = "; ".join(([detail] if detail else []) + (notes or []) or ["`clickme demo`"])
        result[stage] = Provenance(stage, flag, what, source, detail, note)
    return result


def provenance_table(rows: dict) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Stage": [p.stage for p in rows.values()],
            "Data from": [p.what for p in rows.values()],
            "Simulated": [{True: "yes", False: "no", None: "not recorded"}[p.simulated] for p in rows.values()],
            "Recorded in": [p.source for p in rows.values()],
            "Details": [p.detail for p in rows.values()],
        }
    )
