"""Session data and the one trial loop: the per-trial CSV (appended and flushed trial by trial),
the session JSON, resuming, and :func:`conduct`, which runs a session's trials on a *screen*:
the PsychoPy window (:class:`experiments.runner.WindowScreen`) or :class:`HeadlessScreen`, a
window-free screen for simulated observers that writes the same files.

A screen has ``fps`` (nominal refresh rate), ``timing`` (``"nominal"`` or ``"measured"``) and
four methods: ``message(text, max_seconds)`` (show until the continue key), ``show_text(text,
seconds)`` (show for a fixed time), ``press(key)`` (a simulated key press) and ``trial(trial,
info, plan) -> dict`` (one trial's response and timing fields; ``plan`` is the simulated
observer's ``(key, frame)`` or None). Both raise :class:`SessionAborted` on the abort key.
"""

from __future__ import annotations

import csv
import io
import json
import math
import platform
from pathlib import Path

import numpy
import numpy as np
import pandas

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import AppendLog, atomic_write_text, collect_files, now_iso, read_table
from clickme_analysis.progress import progress as progress_bar
from experiments.config import ExperimentConfig
from experiments.design import (
    build_trials,
    frames_for,
    latin_square,
    load_assignment,
    load_manifest,
    participant_index,
    score_response,
)
from experiments.observer import SimulatedObserver

#: Columns of ``data/<participant>.csv``, in order (docs/experiments.md explains each).
DATA_COLUMNS = (
    "participant",
    "participant_index",
    "group",
    "participant_list",
    "key_map",
    "target_key",
    "distractor_key",
    "phase",
    "block",
    "trial",
    "image_id",
    "category",
    "target",
    "map_source",
    "level",
    "path",
    "response",
    "responded_target",
    "correct",
    "rt",
    "timed_out",
    "rt_keyboard",
    "rt_frames",
    "fixation_duration",
    "fixation_frames",
    "stim_frames",
    "stim_duration",
    "stim_duration_nominal",
    "dropped_frames",
    "frame_intervals_ms",
    "onset_time",
    "timing",
    "time",
)

INSTRUCTIONS = (
    "Animal or not?\n\nA fixation cross, then a picture flashes briefly.\n"
    "Press '{target}' if it shows an ANIMAL, '{distractor}' if it does NOT.\n"
    "Answer as fast and as accurately as you can: you have about half a second.\n\n"
    "First {n_training} practice trials with feedback.\n\nPress {cont} to start."
)


class SessionAborted(Exception):
    """The abort key was pressed."""


class TrialLog(AppendLog):
    """Append-only per-trial CSV (a :class:`clickme_analysis.fileio.AppendLog` of CSV rows); each row
    is flushed and fsync'ed when the trial ends.

    A process killed mid-write leaves at most a partial last line, which opening the log again
    removes, so at most the trial in flight is lost.
    """

    def __init__(self, path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        super().__init__(path)
        if self.n_existing == 0:
            super().append(",".join(DATA_COLUMNS))

    def completed(self) -> set[tuple[str, int, int]]:
        """``(phase, block, trial)`` of the trials already in the file."""
        done = read_table(self.path, ("phase", "block", "trial"), "trial data")
        return set(zip(done["phase"], done["block"].astype(int), done["trial"].astype(int)))

    def append(self, row: dict) -> None:
        """Write one trial's row (``DATA_COLUMNS``; missing keys are empty) and make it durable."""
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="").writerow([_csv_value(row.get(k)) for k in DATA_COLUMNS])
        super().append(buffer.getvalue())


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


def partial_sessions(paths) -> list[dict]:
    """The runner CSVs among ``paths`` (files or folders) whose session did not complete.

    A session is partial when its JSON record (beside the CSV) has a ``status`` other than
    ``completed`` or the CSV holds fewer trials than the record's ``n_trials``. A CSV without a
    record is not judged (it may come from elsewhere), nor one from ``clickme serve export``
    (its ``session_status`` is listed by :func:`experiments.online.export.online_sessions`).

    Returns
    -------
    list of dict
        ``participant, status, trials_done, n_trials, path``, in file order.
    """

    found = []
    for path in collect_files(paths, (".csv",), what="trial CSV files"):
        record_path = path.with_suffix(".json")
        if not record_path.is_file():
            continue
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise InputError("expected a session record (JSON)", path=record_path) from None
        if not isinstance(record, dict) or "session_status" in record:
            continue
        with open(path, "rb") as f:
            done = max(sum(1 for line in f if line.strip()) - 1, 0)
        planned = int(record.get("n_trials", done))
        status = str(record.get("status", "unknown"))
        if status != "completed" or done < planned:
            found.append(
                {
                    "participant": record.get("participant", path.stem),
                    "status": status,
                    "trials_done": done,
                    "n_trials": planned,
                    "path": str(path),
                }
            )
    return found


def write_record(path, record: dict) -> None:
    """Write the session JSON atomically (:func:`clickme_analysis.fileio.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(record, indent=2, default=str))


def software_versions() -> dict:
    """Versions of Python and of the libraries that shape the data."""

    versions = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "numpy": numpy.__version__,
        "pandas": pandas.__version__,
    }
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

    def __init__(
        self, config: ExperimentConfig, participant: str, data_dir, index: int | None = None, resume: bool = False
    ):
        if not str(participant) or any(c in str(participant) for c in "/\\ "):
            raise InputError(
                f"expected a participant ID without spaces or slashes, got {participant!r}", field="participant"
            )
        self.config = config
        self.participant = str(participant)
        self.csv_path, self.json_path = session_paths(data_dir, self.participant)
        previous = None
        started = self.json_path.exists() or (self.csv_path.exists() and _n_lines(self.csv_path) > 1)
        if started:
            if not resume:
                raise InputError(
                    "data for this participant exists; pass --resume to continue the session or choose another ID",
                    path=self.csv_path,
                    field="participant",
                )
            if self.json_path.exists():
                try:
                    previous = json.loads(self.json_path.read_text(encoding="utf-8"))
                    previous["participant_index"]
                except (ValueError, KeyError, TypeError) as err:
                    raise InputError(
                        f"expected the session record this toolkit writes, got unreadable content ({err})",
                        path=self.json_path,
                    ) from None
                if index is None:
                    index = previous["participant_index"]
                elif index != previous["participant_index"]:
                    raise InputError(
                        f"session was started with index {previous['participant_index']}, got {index}",
                        path=self.json_path,
                        field="participant_index",
                    )
                if previous.get("config") != config.to_dict():
                    raise InputError(
                        "the config differs from the one the session started with; resume with the same config file",
                        path=self.json_path,
                        field="config",
                    )
        self.index = participant_index(self.participant) if index is None else int(index)
        manifest = load_manifest(config.manifest)
        assignment = load_assignment(config.assignment) if config.assignment else latin_square(manifest)
        self.info, self.trials = build_trials(manifest, assignment, self.index, config)
        self.log = TrialLog(self.csv_path)
        done = self.log.completed()
        keys = list(zip(self.trials["phase"], self.trials["block"], self.trials["trial"]))
        self.remaining = self.trials[[k not in done for k in keys]]
        self.record = previous or {
            "participant": self.participant,
            "participant_index": self.index,
            **self.info,
            "config": config.to_dict(),
            "seed": [config.seed, self.index],
            "status": "new",
            "started": now_iso(),
            "resumed": [],
            "n_trials": len(self.trials),
            "runs": [],
            "software": software_versions(),
        }
        if previous is not None:
            self.record["resumed"].append({"time": now_iso(), "trials_done": len(done)})

    def base_row(self, trial) -> dict:
        """The design part of a data row (participant, group, key map, trial fields)."""
        row = {
            "participant": self.participant,
            **{
                k: self.info[k]
                for k in ("participant_index", "group", "participant_list", "key_map", "target_key", "distractor_key")
            },
        }
        row.update(
            {
                k: trial[k]
                for k in (
                    "phase",
                    "block",
                    "trial",
                    "image_id",
                    "category",
                    "target",
                    "map_source",
                    "level",
                    "path",
                    "fixation_duration",
                )
            }
        )
        row["time"] = now_iso()
        return row

    def save_record(self, **fields) -> None:
        self.record.update(fields)
        write_record(self.json_path, self.record)


def observer_plan(observer: SimulatedObserver, trial, info: dict, rng, *, fps: float) -> tuple[str, int]:
    """The simulated observer's key and the frame (from stimulus onset) at which it is pressed."""
    says_target, rt = observer.respond(trial["target"], trial["level"], rng)
    key = info["target_key"] if says_target else info["distractor_key"]
    return key, int(math.ceil(rt * fps))


class HeadlessScreen:
    """A window-free screen for simulated observers: frames are counted at a nominal ``fps``,
    nothing is drawn, and the observer's key is read on its planned frame (as the window reads it).

    The measured-timing columns (``stim_duration``, ``rt_keyboard``, ``frame_intervals_ms``...)
    stay empty; ``timing`` is ``nominal``.
    """

    timing = "nominal"

    def __init__(self, config: ExperimentConfig, fps: float = 60.0):
        self.config, self.fps, self._aborted = config, float(fps), False
        self.n_stim = frames_for(config.stimulus_duration, fps, config.allow_frame_rounding)
        self.n_window = frames_for(config.response_window, fps, config.allow_frame_rounding)

    def press(self, key: str) -> None:
        self._aborted = self._aborted or key == self.config.abort_key

    def _check_abort(self) -> None:
        if self._aborted:
            raise SessionAborted

    def message(self, text: str, max_seconds: float = math.inf) -> None:
        self._check_abort()

    def show_text(self, text: str, seconds: float) -> None:
        self._check_abort()

    def trial(self, trial, info: dict, plan) -> dict:
        self._check_abort()
        key, frame = plan if plan is not None else (None, None)
        # the window runs max(n_window, n_stim + 1) frames and takes a key read before n_window
        if frame is None or frame >= self.n_window:
            key, frame = None, None
        return {
            **score_response(key, trial["target"], info),
            "rt_keyboard": None,
            "rt_frames": frame,
            "fixation_frames": max(1, round(trial["fixation_duration"] * self.fps)),
            "stim_frames": self.n_stim,
            "stim_duration_nominal": self.n_stim / self.fps,
        }


def block_feedback(csv_path, block: int) -> str:
    """The block-feedback text: accuracy and mean RT (responses in time) of one test block."""
    rows = read_table(csv_path, ("phase", "block", "correct", "rt", "timed_out"), "trial data")
    rows = rows[(rows["phase"] == "test") & (rows["block"] == block)]
    rt = rows.loc[rows["timed_out"] == 0, "rt"]
    mean_rt = f"{1000 * rt.mean():.0f} ms" if len(rt) else "-"
    return f"Block {block} done.\n\nAccuracy: {100 * rows['correct'].mean():.0f} %\nMean reaction time: {mean_rt}"


def conduct(session: Session, screen, observer: SimulatedObserver | None, run: dict, *, progress: bool = False) -> Path:
    """Run the session's remaining trials on ``screen``: the one trial loop of lab and simulated sessions.

    Parameters
    ----------
    session : Session
    screen : WindowScreen or HeadlessScreen
        See the module docstring.
    observer : SimulatedObserver, optional
        Plans each trial's key and frame (None: a person presses the keys).
    run : dict
        What this start records in the session JSON's ``runs`` (mode, fps, keyboard, window).
    progress : bool
        A progress bar over trials (on a terminal only).

    Returns
    -------
    Path
        The per-trial CSV; the JSON's ``status`` is ``completed`` or ``aborted``.
    """
    cfg = session.config
    rng = np.random.default_rng([cfg.seed, session.index, len(session.record["resumed"]), 1])
    session.record["runs"].append({"time": now_iso(), **run})
    session.save_record(status="running")
    try:
        _run_trials(session, screen, observer, rng, progress)
        screen.show_text("Thank you!", 0.5)
        session.save_record(status="completed", finished=now_iso())
    except SessionAborted:
        session.save_record(status="aborted", aborted=now_iso())
    finally:
        session.log.close()
    return session.csv_path


def _run_trials(session, screen, observer, rng, progress) -> None:
    cfg, info, fps = session.config, session.info, screen.fps
    remaining = session.remaining
    if remaining.empty:
        return
    first = "Resuming the session.\n\nPress {cont} to go on." if session.record["resumed"] else INSTRUCTIONS
    screen.message(
        first.format(
            target=info["target_key"],
            distractor=info["distractor_key"],
            n_training=cfg.n_training,
            cont=cfg.continue_key,
        )
    )
    block = None
    rows = progress_bar(remaining.iterrows(), enabled=progress, total=len(remaining), desc=session.participant)
    for n, (_, trial) in enumerate(rows, start=1):
        if observer is not None and observer.abort_at == n:
            screen.press(cfg.abort_key)
        if block is not None and (trial["phase"], trial["block"]) != block:
            _between_blocks(session, screen, block)
        block = (trial["phase"], trial["block"])
        plan = observer_plan(observer, trial, info, rng, fps=fps) if observer is not None else None
        result = screen.trial(trial, info, plan)
        result["rt"] = (
            (result["rt_frames"] / fps if screen.timing == "nominal" else result["rt_keyboard"])
            if result["rt_frames"] is not None
            else None
        )
        result["timing"] = screen.timing
        session.log.append({**session.base_row(trial), **result})
        if trial["phase"] == "training":
            screen.show_text(
                "Too slow!" if result["timed_out"] else ("Correct" if result["correct"] else "Wrong"),
                cfg.training_feedback_duration,
            )
        elif result["timed_out"]:
            screen.show_text("Too slow!", cfg.too_slow_duration)
    _between_blocks(session, screen, block)


def _between_blocks(session, screen, block) -> None:
    phase, number = block
    cfg = session.config
    if phase == "training":
        screen.message(
            f"Practice done.\n\nNow {cfg.n_blocks} blocks of {cfg.trials_per_block} trials, no feedback "
            f"per trial.\n\nPress {cfg.continue_key} to start."
        )
    else:
        screen.message(
            block_feedback(session.csv_path, number) + f"\n\nPress {cfg.continue_key} to go on.", cfg.block_feedback_max
        )


def simulate_session(
    config: ExperimentConfig,
    participant: str,
    data_dir,
    observer: SimulatedObserver | dict,
    *,
    index: int | None = None,
    fps: float = 60.0,
    resume: bool = False,
    progress: bool = False,
) -> Path:
    """Run a session with a simulated observer and no window (same design, same loop, same files).

    ``observer`` may be a dict of group -> observer. Timing is nominal: durations are whole
    frames at ``fps`` and the reaction time is the frame of the key press over ``fps``; the
    measured-timing columns stay empty.

    Returns
    -------
    Path
        The per-trial CSV.
    """
    screen = HeadlessScreen(config, fps)  # refuses a rate without whole frames before any file is written
    session = Session(config, participant, data_dir, index=index, resume=resume)
    if isinstance(observer, dict):
        observer = observer[session.info["group"]]
    run = {
        "mode": "simulate-windowless",
        "fps_nominal": float(fps),
        "fps_measured": None,
        "keyboard_backend": None,
        "timing": "nominal",
    }
    return conduct(session, screen, observer, run, progress=progress)
