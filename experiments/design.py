"""Trial design of the rapid-categorization experiment (pure Python, no PsychoPy).

Per participant: a between-subject group (map source) and a response-key mapping from a balanced
rotation, a Latin-square list of image x level, a balanced random trial order under a seed, a
short training phase, then blocks. Everything here is a function of the manifest, the
assignment, the config and the participant index, so a session can be rebuilt to resume it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import read_table
from experiments.config import ExperimentConfig
from stimuli.build import latin_square as balanced_latin_square

MANIFEST_COLUMNS = ("image_id", "category", "target", "map_source", "level", "path")
ASSIGNMENT_COLUMNS = ("participant_list", "image_id", "level")
#: Columns of the trial list returned by :func:`build_trials`.
TRIAL_COLUMNS = (
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
INTACT = "intact"


def _as_bool(values: pd.Series, path, field) -> pd.Series:
    mapping = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
    text = values.astype(str).str.strip().str.lower()
    bad = ~text.isin(list(mapping))
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected true/false, got {values.iloc[i]!r}", path=path, line=i + 2, field=field)
    return text.map(mapping).astype(bool)


def _as_number(values: pd.Series, path, field) -> pd.Series:
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers.astype(float)) | (numbers <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"expected a positive number, got {values.iloc[i]!r}", path=path, line=i + 2, field=field)
    return numbers.astype(float)


def _read_rows(path: Path, columns, what: str) -> pd.DataFrame:
    """A table with ``columns`` and at least one row; ``image_id`` as text."""
    frame = read_table(path, columns, what)
    if frame.empty:
        raise InputError(f"{what} has no rows", path=path)
    return frame.assign(image_id=frame["image_id"].astype(str))


def load_manifest(path) -> pd.DataFrame:
    """Read a stimulus manifest (docs/outputs.md, ``ROOT/stimuli/manifest.csv``).

    Parameters
    ----------
    path : str or Path
        CSV with at least ``image_id, category, target, map_source, level, path``.

    Returns
    -------
    pandas.DataFrame
        One row per stimulus file; ``target`` bool, ``level`` float (% revealed), ``path``
        absolute (relative paths are taken from the manifest's folder).
    """
    path = Path(path)
    frame = _read_rows(path, MANIFEST_COLUMNS, "stimulus manifest")
    for column in ("map_source", "path"):
        missing = np.flatnonzero(frame[column].isna().to_numpy())
        if missing.size:
            raise InputError("expected a value, got an empty cell", path=path, line=int(missing[0]) + 2, field=column)
    frame["map_source"] = frame["map_source"].astype(str)
    frame["target"] = _as_bool(frame["target"], path, "target")
    frame["level"] = _as_number(frame["level"], path, "level")
    frame["path"] = [
        str(p if Path(p).is_absolute() else (path.parent / p).resolve()) for p in frame["path"].astype(str)
    ]
    dup = frame.duplicated(["image_id", "map_source", "level"])
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise InputError("duplicate (image_id, map_source, level)", path=path, line=i + 2, field="image_id")
    return frame


def latin_square(manifest: pd.DataFrame, source: str | None = None) -> pd.DataFrame:
    """Latin-square assignment of a manifest: :func:`stimuli.build.latin_square`, the category-balanced one.

    List ``L`` sees image ``i`` at condition ``(i + L) mod n``, with ``i`` counted within the
    image's category (so each list spreads targets and distractors evenly over conditions).
    Conditions are the revealed levels of ``source`` (default: the first non-intact source), in
    increasing order, then the intact image when the manifest has one. This is the assignment
    ``clickme stimuli build`` writes; it is built here only when a config names no assignment file.

    Returns
    -------
    pandas.DataFrame
        ``participant_list, image_id, level, map_source, level_index`` (``map_source`` is
        ``intact`` for the intact condition, else ``revealed``).

    Examples
    --------
    >>> m = pd.DataFrame({"image_id": ["a", "a", "b", "b"], "category": ["animal", "animal", "x", "x"],
    ...                   "map_source": ["s"] * 4, "level": [1.0, 10.0, 1.0, 10.0]})
    >>> latin_square(m)[["participant_list", "image_id", "level"]].values.tolist()
    [[0, 'a', 1.0], [0, 'b', 1.0], [1, 'a', 10.0], [1, 'b', 10.0]]
    """

    sources = [s for s in pd.unique(manifest["map_source"]) if s != INTACT]
    if not sources:
        raise InputError("manifest has no revealed (non-intact) stimuli", field="map_source")
    source = sources[0] if source is None else source
    levels = sorted(manifest.loc[manifest["map_source"] == source, "level"].unique())
    images = manifest.drop_duplicates("image_id")[["image_id", "category"]]
    return balanced_latin_square(images, levels, intact=bool((manifest["map_source"] == INTACT).any()))


def load_assignment(path) -> pd.DataFrame:
    """Read a Latin-square assignment CSV (``participant_list, image_id, level`` [, ``map_source``])."""
    path = Path(path)
    frame = _read_rows(path, ASSIGNMENT_COLUMNS, "assignment")
    frame["level"] = _as_number(frame["level"], path, "level")
    lists = pd.to_numeric(frame["participant_list"], errors="coerce")
    if lists.isna().any():
        i = int(np.flatnonzero(lists.isna().to_numpy())[0])
        raise InputError(
            f"expected an integer list number, got {frame['participant_list'].iloc[i]!r}",
            path=path,
            line=i + 2,
            field="participant_list",
        )
    frame["participant_list"] = lists.astype(int)
    return frame


def participant_index(participant: str) -> int:
    """The rotation index of a participant ID: its trailing digits (``P007`` -> 7).

    Examples
    --------
    >>> participant_index("sub-12")
    12
    """
    match = re.search(r"(\d+)$", str(participant))
    if match is None:
        raise InputError(
            f"participant ID {participant!r} ends in no number; pass an explicit index", field="participant"
        )
    return int(match.group(1))


def assign_participant(index: int, config: ExperimentConfig, n_lists: int) -> dict:
    """Group, Latin-square list and key mapping of participant ``index`` (balanced rotation).

    Participants rotate through the groups; within a group, the ``j``-th participant takes list
    ``l = j mod n_lists`` and the swapped key mapping when ``l + j div n_lists`` is odd: key maps
    alternate within a cycle of lists and flip between cycles, so every ``2 x n_groups x n_lists``
    participants cross group x list x key map.

    Examples
    --------
    >>> from experiments.config import ExperimentConfig
    >>> [assign_participant(k, ExperimentConfig(), 2)["group"] for k in range(3)]
    ['clickme', 'saliency', 'clickme']
    """
    if index < 0 or n_lists < 1:
        raise InputError(f"expected index >= 0 and n_lists >= 1, got {index}, {n_lists}", field="index")
    n_groups = len(config.groups)
    j = index // n_groups
    swap = (j % n_lists + j // n_lists) % 2 == 1
    target_key, distractor_key = config.target_key, config.distractor_key
    if swap:
        target_key, distractor_key = distractor_key, target_key
    return {
        "participant_index": index,
        "group": config.groups[index % n_groups],
        "participant_list": j % n_lists,
        "target_key": target_key,
        "distractor_key": distractor_key,
        "key_map": f"target={target_key};distractor={distractor_key}",
    }


def _participant_rng(config: ExperimentConfig, index: int) -> np.random.Generator:
    return np.random.default_rng([config.seed, index])


def _stimulus_rows(manifest, assigned, group) -> pd.DataFrame:
    """Join the list's (image, level) pairs to the group's stimulus files."""
    flagged = "map_source" in assigned.columns
    rows = []
    for rec in assigned.itertuples(index=False):
        source = INTACT if flagged and rec.map_source == INTACT else group
        hit = manifest[
            (manifest["image_id"] == rec.image_id)
            & (manifest["map_source"] == source)
            & np.isclose(manifest["level"], rec.level)
        ]
        if hit.empty and not flagged:  # the intact condition, when the assignment does not flag it
            hit = manifest[
                (manifest["image_id"] == rec.image_id)
                & (manifest["map_source"] == INTACT)
                & np.isclose(manifest["level"], rec.level)
            ]
        if hit.empty:
            raise InputError(
                f"no stimulus for image {rec.image_id!r} at level {rec.level} from map source "
                f"{source!r} in the manifest",
                field="level",
            )
        rows.append(hit.iloc[0])
    return pd.DataFrame(rows).reset_index(drop=True)


def _balanced_blocks(stim, n_blocks, per_block, rng) -> list[pd.DataFrame]:
    need = n_blocks * per_block // 2
    targets, distractors = stim[stim["target"]], stim[~stim["target"]]
    if len(targets) < need or len(distractors) < need:
        raise InputError(
            f"{n_blocks} blocks x {per_block} trials need {need} targets and {need} distractors per "
            f"participant; the list has {len(targets)} and {len(distractors)}",
            field="trials_per_block",
        )
    targets = targets.iloc[rng.permutation(len(targets))[:need]]
    distractors = distractors.iloc[rng.permutation(len(distractors))[:need]]
    half = per_block // 2
    blocks = []
    for b in range(n_blocks):
        block = pd.concat([targets.iloc[b * half : (b + 1) * half], distractors.iloc[b * half : (b + 1) * half]])
        blocks.append(block.iloc[rng.permutation(len(block))])
    return blocks


def _training_rows(manifest, used, group, n, rng) -> pd.DataFrame:
    """Training stimuli: intact images not in the test list when possible (else any image)."""
    if n == 0:
        return manifest.iloc[:0]
    source = INTACT if (manifest["map_source"] == INTACT).any() else group
    pool = manifest[manifest["map_source"] == source]
    if source != INTACT:
        pool = pool[pool["level"] == pool["level"].max()]
    fresh = pool[~pool["image_id"].isin(used)]
    pool = fresh if len(fresh[fresh["target"]]) >= (n + 1) // 2 and len(fresh[~fresh["target"]]) >= n // 2 else pool
    targets = pool[pool["target"]].iloc[rng.permutation(int(pool["target"].sum()))]
    distractors = pool[~pool["target"]].iloc[rng.permutation(int((~pool["target"]).sum()))]
    chosen = pd.concat([targets.iloc[: (n + 1) // 2], distractors.iloc[: n // 2]])
    if len(chosen) < n:
        raise InputError(
            f"{n} training trials need {(n + 1) // 2} target and {n // 2} distractor images", field="n_training"
        )
    return chosen.iloc[rng.permutation(len(chosen))]


def build_trials(
    manifest: pd.DataFrame, assignment: pd.DataFrame, index: int, config: ExperimentConfig
) -> tuple[dict, pd.DataFrame]:
    """Trial list of participant ``index``: training then ``n_blocks`` balanced blocks.

    Parameters
    ----------
    manifest : pandas.DataFrame
        From :func:`load_manifest`.
    assignment : pandas.DataFrame
        From :func:`load_assignment` or :func:`latin_square`.
    index : int
        Participant rotation index (>= 0).
    config : ExperimentConfig
        Design settings; the seed is ``(config.seed, index)``.

    Returns
    -------
    info : dict
        :func:`assign_participant`'s record.
    trials : pandas.DataFrame
        ``phase`` (``training`` / ``test``), ``block`` (0 for training), ``trial`` (1-based in
        its block), ``image_id, category, target, map_source, level, path`` and
        ``fixation_duration`` (s, uniform in the configured range).
    """
    lists = sorted(assignment["participant_list"].unique())
    info = assign_participant(index, config, len(lists))
    rng = _participant_rng(config, index)
    assigned = assignment[assignment["participant_list"] == lists[info["participant_list"]]]
    stim = _stimulus_rows(manifest, assigned, info["group"])
    blocks = _balanced_blocks(stim, config.n_blocks, config.trials_per_block, rng)
    used = pd.concat(blocks)["image_id"].unique()
    parts = []
    training = _training_rows(manifest, used, info["group"], config.n_training, rng)
    if len(training):
        parts.append(training.assign(phase="training", block=0, trial=np.arange(1, len(training) + 1)))
    for b, block in enumerate(blocks, start=1):
        parts.append(block.assign(phase="test", block=b, trial=np.arange(1, len(block) + 1)))
    trials = pd.concat(parts, ignore_index=True)
    trials["fixation_duration"] = rng.uniform(config.fixation_min, config.fixation_max, len(trials))
    return info, trials[list(TRIAL_COLUMNS)]


def frames_for(duration: float, fps: float, allow_rounding: bool = False, tolerance: float = 0.01) -> int:
    """Number of frames showing ``duration`` seconds at ``fps`` Hz.

    Raises InputError when the duration is not a whole number of frames (within ``tolerance``
    frames) unless ``allow_rounding``, in which case it rounds to the nearest frame.

    Examples
    --------
    >>> frames_for(0.4, 60), frames_for(0.4, 85, allow_rounding=True)
    (24, 34)
    """
    if not (fps > 0 and duration > 0 and math.isfinite(fps)):
        raise InputError(f"expected a positive duration and refresh rate, got {duration} s at {fps} Hz", field="fps")
    exact = duration * fps
    frames = max(1, round(exact))
    if abs(exact - frames) > tolerance and not allow_rounding:
        raise InputError(
            f"{duration * 1000:g} ms at {fps:g} Hz is {exact:.2f} frames, not a whole number; use a "
            f"refresh rate where it is (60, 75, 100, 120 Hz for 400 ms) or set allow_frame_rounding "
            f"(it would show {frames} frames = {frames / fps * 1000:.1f} ms)",
            field="fps",
        )
    return frames


def score_response(key: str | None, target: bool, info: dict) -> dict:
    """Response record of one trial: pressed key -> ``response, correct, timed_out``.

    Examples
    --------
    >>> score_response("s", True, {"target_key": "s", "distractor_key": "l"})
    {'response': 's', 'responded_target': True, 'correct': True, 'timed_out': False}
    """
    if key is None:
        return {"response": "", "responded_target": None, "correct": False, "timed_out": True}
    said_target = key == info["target_key"]
    return {
        "response": key,
        "responded_target": said_target,
        "correct": said_target == bool(target),
        "timed_out": False,
    }
