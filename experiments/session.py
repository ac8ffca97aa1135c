"""Session data: the per-trial CSV (appended and flushed trial by trial), the session JSON,
resuming, and a window-free simulated session that writes the same files as the runner.
"""

from __future__ import annotations

import csv
import datetime
import json
import math
import os
import platform
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from experiments.config import ExperimentConfig
from experiments.design import (build_trials, frames_for, latin_square, load_assignment, load_manifest,
                                participant_index, score_response)
from experiments.observer import SimulatedObserver

#: Columns of ``data/<participant>.csv``, in order (docs/experiments.md explains each).
DATA_COLUMNS = (
    "participant", "participant_index", "group", "participant_list", "key_map", "target_key",
    "distractor_key", "phase", "block", "trial", "image_id", "category", "target", "map_source",
    "level", "path", "response", "responded_target", "correct", "rt", "timed_out", "rt_keyboard",
    "rt_frames", "fixation_duration", "fixation_frames", "stim_frames", "stim_duration",
    "stim_duration_nominal", "dropped_frames", "frame_intervals_ms", "onset_time", "timing", "time",
)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class TrialLog:
    """Append-only per-trial CSV; each row is flushed and fsync'ed when the trial ends.

    A process killed mid-write leaves at most a partial last line, which opening the log again
    removes, so at most the trial in flight is lost.
    """

    def __init__(self, path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._repair()
        new = not self.path.exists() or self.path.stat().st_size == 0
        self._file = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._file, fieldnames=DATA_COLUMNS, extrasaction="raise")
        if new:
            self._writer.writeheader()
            self._sync()

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def _sync(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())

    def completed(self) -> set[tuple[str, int, int]]:
        """``(phase, block, trial)`` of the trials already in the file."""
        if self.path.stat().st_size == 0:
            return set()
        done = pd.read_csv(self.path, usecols=["phase", "block", "trial"])
        return set(zip(done["phase"], done["block"].astype(int), done["trial"].astype(int)))

    def append(self, row: dict) -> None:
        self._writer.writerow({k: _csv_value(row.get(k)) for k in DATA_COLUMNS})
        self._sync()

    def close(self) -> None:
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _csv_value(value):
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return repr(round(float(value), 6))
    return value


def _n_lines(path) -> int:
    with open(path, "rb") as f:
        return sum(1 for _ in f)


def session_paths(data_dir, participant: str) -> tuple[Path, Path]:
    """``(data/<participant>.csv, data/<participant>.json)``."""
    data_dir = Path(data_dir)
    return data_dir / f"{participant}.csv", data_dir / f"{participant}.json"


def write_record(path, record: dict) -> None:
    """Write the session JSON atomically (temporary file, then rename)."""
    tmp = Path(path).with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


def software_versions() -> dict:
    """Versions of Python and of the libraries that shape the data."""
    import numpy
    import pandas
    versions = {"python": platform.python_version(), "platform": platform.platform(),
                "numpy": numpy.__version__, "pandas": pandas.__version__}
    try:
        from importlib.metadata import version
        versions["clickme-toolkit"] = version("clickme-toolkit")
    except Exception:  # pragma: no cover - not installed
        pass
    return versions


class Session:
    """One participant's session: design, data files and resume state.

    Parameters
    ----------
    config : ExperimentConfig
        Experiment settings (``manifest`` and optional ``assignment`` paths).
    participant : str
        Participant ID (file names: ``<data_dir>/<participant>.csv|json``).
    data_dir : str or Path
        Output folder.
    index : int, optional
        Rotation index (group, list, key map, seed); default: the ID's trailing digits.
    resume : bool
        Continue an existing session; without it, existing data for the ID is an error.
    """

    def __init__(self, config: ExperimentConfig, participant: str, data_dir, index: int | None = None,
                 resume: bool = False):
        if not str(participant) or any(c in str(participant) for c in "/\\ "):
            raise InputError(f"expected a participant ID without spaces or slashes, got {participant!r}",
                             field="participant")
        self.config = config
        self.participant = str(participant)
        self.csv_path, self.json_path = session_paths(data_dir, self.participant)
        previous = None
        started = self.json_path.exists() or (self.csv_path.exists() and _n_lines(self.csv_path) > 1)
        if started:
            if not resume:
                raise InputError("data for this participant exists; pass --resume to continue the session "
                                 "or choose another ID", path=self.csv_path, field="participant")
            if self.json_path.exists():
                previous = json.loads(self.json_path.read_text(encoding="utf-8"))
                if index is None:
                    index = previous["participant_index"]
                elif index != previous["participant_index"]:
                    raise InputError(f"session was started with index {previous['participant_index']}, "
                                     f"got {index}", path=self.json_path, field="participant_index")
                if previous.get("config") != config.to_dict():
                    raise InputError("the config differs from the one the session started with; resume "
                                     "with the same config file", path=self.json_path, field="config")
        self.index = participant_index(self.participant) if index is None else int(index)
        manifest = load_manifest(config.manifest)
        assignment = load_assignment(config.assignment) if config.assignment else latin_square(manifest)
        self.info, self.trials = build_trials(manifest, assignment, self.index, config)
        self.log = TrialLog(self.csv_path)
        done = self.log.completed()
        keys = list(zip(self.trials["phase"], self.trials["block"], self.trials["trial"]))
        self.remaining = self.trials[[k not in done for k in keys]]
        self.record = previous or {
            "participant": self.participant, "participant_index": self.index, **self.info,
            "config": config.to_dict(), "seed": [config.seed, self.index], "status": "new",
            "started": _now(), "resumed": [], "n_trials": len(self.trials), "runs": [],
            "software": software_versions(),
        }
        if previous is not None:
            self.record["resumed"].append({"time": _now(), "trials_done": len(done)})

    def base_row(self, trial) -> dict:
        """The design part of a data row (participant, group, key map, trial fields)."""
        row = {"participant": self.participant, **{k: self.info[k] for k in (
            "participant_index", "group", "participant_list", "key_map", "target_key", "distractor_key")}}
        row.update({k: trial[k] for k in ("phase", "block", "trial", "image_id", "category", "target",
                                          "map_source", "level", "path", "fixation_duration")})
        row["time"] = _now()
        return row

    def save_record(self, **fields) -> None:
        self.record.update(fields)
        write_record(self.json_path, self.record)


def observer_plan(observer: SimulatedObserver, trial, info: dict, rng, fps: float) -> tuple[str, int]:
    """The simulated observer's key and the frame (from stimulus onset) at which it is pressed."""
    says_target, rt = observer.respond(trial["target"], trial["level"], rng)
    key = info["target_key"] if says_target else info["distractor_key"]
    return key, int(math.ceil(rt * fps))


def simulate_session(config: ExperimentConfig, participant: str, data_dir, observer: SimulatedObserver | dict,
                     index: int | None = None, fps: float = 60.0, resume: bool = False) -> Path:
    """Run a session with a simulated observer and no window (same design, same files).

    ``observer`` may be a dict of group -> observer. Timing is nominal: durations are whole frames at ``fps`` and the reaction time is the frame
    of the key press over ``fps``; the measured-timing columns stay empty.

    Returns
    -------
    Path
        The per-trial CSV.
    """
    session = Session(config, participant, data_dir, index=index, resume=resume)
    if isinstance(observer, dict):
        observer = observer[session.info["group"]]
    rng = np.random.default_rng([config.seed, session.index, len(session.record["resumed"]), 1])
    stim_frames = frames_for(config.stimulus_duration, fps, config.allow_frame_rounding)
    window = frames_for(config.response_window, fps, config.allow_frame_rounding)
    session.record["runs"].append({"time": _now(), "mode": "simulate-windowless", "fps_nominal": fps,
                                   "fps_measured": None, "keyboard_backend": None, "timing": "nominal"})
    session.save_record(status="running")
    with session.log:
        for n, (_, trial) in enumerate(session.remaining.iterrows(), start=1):
            if observer.abort_at is not None and n == observer.abort_at:
                session.save_record(status="aborted", aborted=_now())
                return session.csv_path
            key, frame = observer_plan(observer, trial, session.info, rng, fps)
            if frame >= window:
                key = None
            row = session.base_row(trial)
            row.update(score_response(key, trial["target"], session.info))
            row.update({"rt": frame / fps if key else None, "rt_frames": frame if key else None,
                        "fixation_frames": round(trial["fixation_duration"] * fps), "stim_frames": stim_frames,
                        "stim_duration_nominal": stim_frames / fps, "timing": "nominal"})
            session.log.append(row)
    session.save_record(status="completed", finished=_now())
    return session.csv_path
