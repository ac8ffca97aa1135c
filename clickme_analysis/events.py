"""BIDS ``*_events.tsv`` files of rapid-categorization go/no-go tasks -> a tidy trial table.

Made for OpenNeuro ds002680 (Delorme et al., animal / non-animal go/no-go, 20 ms flash, 1000 ms
response limit) and files of the same layout: ``onset, trial_type, response_time, stim_file,
value`` with ``trial_type`` ``stimulus`` or ``response`` and ``n/a`` for missing values.

Scoring rule (documented in docs/experiments.md): a stimulus row's ``response_time`` (ms) is a
go when it is below ``late_ms`` (1000: the task counts a release at the limit as no-go), a no-go
when it is ``n/a`` or >= ``late_ms``; correct = go on a target or no-go on a distractor. Go
responses faster than 100 ms (including 0) are anticipations: the loader keeps their RT, and
:func:`clickme_analysis.psychophysics.exclusions.exclude_trials` with ``min_rt=0.1`` leaves them out. The
``correct`` / ``incorrect`` codes of the ``response`` rows are not used: correctness is
recomputed from the condition and the response (the codes disagree on a few duplicated pairs).

Hit rate (go on a target), false-alarm rate (go on a distractor), d' and criterion per
participant: :func:`clickme_analysis.psychophysics.detection.signal_detection` on the loaded trials
(``clickme experiment analyze --events`` writes them to ``signal_detection.csv``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import collect_files, read_table
from clickme_analysis.progress import progress as bar

EVENT_COLUMNS = ("onset", "trial_type", "response_time", "value")
#: ds002680's categorization conditions: value -> is a target (animal).
ANIMAL_CATEGORIZATION = {"animal_target": True, "animal_distractor": False}
_ENTITIES = re.compile(
    r"sub-(?P<sub>[A-Za-z0-9]+)(?:_ses-(?P<ses>[A-Za-z0-9]+))?.*?(?:_run-(?P<run>\d+))?_events\.tsv$"
)


def read_events(path) -> pd.DataFrame:
    """Read one BIDS events file (``n/a`` as missing), checking its columns and RTs."""
    path = Path(path)
    frame = read_table(
        path,
        EVENT_COLUMNS,
        "events TSV",
        sep="\t",
        na_values=["n/a"],
        keep_default_na=False,
        dtype={"value": str, "trial_type": str, "stim_file": str},
    )
    rt = pd.to_numeric(frame["response_time"], errors="coerce")
    bad = (rt.isna() & frame["response_time"].notna()) | (rt < 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            f"expected a response time in ms >= 0 or n/a, got {frame['response_time'].iloc[i]!r}",
            path=path,
            line=i + 2,
            field="response_time",
        )
    frame["response_time"] = rt
    return frame


def load_gonogo(
    paths, conditions: dict[str, bool] | None = None, late_ms: float = 1000.0, progress: bool = False
) -> pd.DataFrame:
    """Go/no-go trials of BIDS events files as a trial table for :mod:`clickme_analysis.psychophysics`.

    Parameters
    ----------
    paths : str, Path or list
        ``*_events.tsv`` files or folders (searched recursively); participant, session and run
        come from the BIDS file name (``sub-<label>[_ses-<label>]..[_run-<index>]_events.tsv``).
    conditions : dict of str -> bool, optional
        Stimulus ``value`` -> is a target; other values are skipped. Default: ds002680's animal
        categorization (``animal_target`` / ``animal_distractor``).
    late_ms : float
        Responses at or after this RT (ms) are no-go (``inf`` counts every RT as a go).
    progress : bool
        A progress bar over files (on a terminal only).

    Returns
    -------
    pandas.DataFrame
        ``participant, session, run, trial, image_id, condition, target, category, response``
        (``go`` / ``nogo``), ``responded_target`` (a go), ``rt`` (s, go trials only), ``correct``,
        ``timed_out`` (False: a no-go is an answer), ``late`` (RT >= late_ms), ``group`` (``all``),
        ``level`` (100) and ``map_source`` (``intact``).
    """
    conditions = ANIMAL_CATEGORIZATION if conditions is None else conditions
    if not (isinstance(late_ms, (int, float)) and late_ms > 0):
        raise InputError(f"expected late_ms > 0 (ms), got {late_ms!r}", field="late_ms")
    if not conditions or not all(isinstance(v, (bool, np.bool_)) for v in conditions.values()):
        raise InputError(
            f"expected conditions a non-empty mapping value -> is a target (bool), got {conditions!r}",
            field="conditions",
        )
    frames = []
    for path in bar(
        collect_files(paths, (".tsv",), what="BIDS *_events.tsv files", pattern="*_events.tsv", recursive=True),
        enabled=progress,
        desc="events files",
    ):
        trials = _file_trials(path, conditions, late_ms)
        if trials is not None:
            frames.append(trials)
    if not frames:
        raise InputError(f"no stimulus rows with value in {sorted(conditions)}", field="value")
    return pd.concat(frames, ignore_index=True).sort_values(
        ["participant", "session", "run", "trial"], ignore_index=True
    )


def _file_trials(path: Path, conditions: dict[str, bool], late_ms: float) -> pd.DataFrame | None:
    """The scored stimulus rows of one events file (None when it has none of ``conditions``)."""
    match = _ENTITIES.search(path.name)
    if match is None:
        raise InputError("expected a BIDS name sub-<label>[_ses-<label>]...[_run-<index>]_events.tsv", path=path)
    events = read_events(path)
    stim = events[(events["trial_type"] == "stimulus") & events["value"].isin(list(conditions))]
    if stim.empty:
        return None
    rt = stim["response_time"].to_numpy(float)
    late = rt >= late_ms
    go = ~np.isnan(rt) & ~late
    target = stim["value"].map(conditions).to_numpy(bool)
    return pd.DataFrame(
        {
            "participant": f"sub-{match['sub']}",
            "session": match["ses"] or "",
            "run": int(match["run"] or 0),
            "trial": np.arange(1, len(stim) + 1),
            "image_id": stim["stim_file"].to_numpy() if "stim_file" in stim else "",
            "condition": stim["value"].to_numpy(),
            "target": target,
            "category": np.where(target, "animal", "non-animal"),
            "response": np.where(go, "go", "nogo"),
            "responded_target": go,
            "rt": np.where(go, rt / 1000.0, np.nan),
            "correct": go == target,
            "timed_out": False,
            "late": late,
            "group": "all",
            "level": 100.0,
            "map_source": "intact",
        }
    )
