"""Experiment configuration: one dataclass, read from a flat TOML file.

Every field has a default taken from the paper's rapid-categorization paradigm (Linsley et al.,
2019, and its 2017 predecessor); a TOML file only names what it changes. Relative paths in the
file are resolved against the file's folder.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.io import read_toml


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Design, timing and display settings of one rapid-categorization experiment.

    Parameters
    ----------
    manifest : str
        Stimulus manifest CSV (``image_id, category, target, map_source, level, path``).
    assignment : str
        Latin-square assignment CSV (``participant_list, image_id, level``); empty: built from
        the manifest as image ``i`` at condition ``(i + list) mod n_conditions``.
    groups : tuple of str
        Between-subject groups, one map source each (``clickme``, ``saliency``); participants
        rotate through them in order.
    target_key, distractor_key : str
        Response keys; the mapping is swapped for every other participant of a group.
    continue_key, abort_key : str
        Key that leaves instruction / feedback screens; key that aborts the session cleanly.
    n_training : int
        Training trials with trial-by-trial feedback (shown intact), before the blocks.
    n_blocks, trials_per_block : int
        Test blocks and trials per block (targets and distractors balanced in each block).
    fixation_min, fixation_max : float
        Fixation-cross duration, uniform in this range (s).
    stimulus_duration : float
        Stimulus exposure (s); must be a whole number of frames.
    response_window : float
        Time from stimulus onset within which a key counts (s).
    too_slow_duration, training_feedback_duration : float
        Duration of the "too slow" and of the training-feedback screens (s).
    block_feedback_max : float
        Longest the block-feedback screen waits for the continue key (s).
    allow_frame_rounding : bool
        Round durations that are not whole frames at the refresh rate instead of refusing.
    dropped_frame_factor : float
        A frame interval longer than this many nominal periods counts as a dropped frame.
    keyboard_backend : str
        PsychoPy keyboard backend asked for (``ptb`` in the lab); the one used is recorded.
    screen_size : tuple of int
        Window size in pixels (ignored in full screen).
    fullscreen : bool
        Full-screen window (the lab setting).
    screen : int
        Screen index for the window.
    monitor : str
        PsychoPy Monitor Center name (empty: PsychoPy's default).
    image_size : int
        Stimulus size on screen, pixels (square).
    background : float
        Background grey in PsychoPy's [-1, 1] RGB units.
    seed : int
        Base seed; participant ``k`` uses ``(seed, k)``.
    """

    manifest: str = "stimuli/manifest.csv"
    assignment: str = ""
    groups: tuple[str, ...] = ("clickme", "saliency")
    target_key: str = "s"
    distractor_key: str = "l"
    continue_key: str = "space"
    abort_key: str = "escape"
    n_training: int = 6
    n_blocks: int = 5
    trials_per_block: int = 16
    fixation_min: float = 1.1
    fixation_max: float = 1.6
    stimulus_duration: float = 0.4
    response_window: float = 0.55
    too_slow_duration: float = 1.0
    training_feedback_duration: float = 1.0
    block_feedback_max: float = 30.0
    allow_frame_rounding: bool = False
    dropped_frame_factor: float = 1.5
    keyboard_backend: str = "ptb"
    screen_size: tuple[int, int] = (1024, 768)
    fullscreen: bool = True
    screen: int = 0
    monitor: str = ""
    image_size: int = 256
    background: float = 0.0
    seed: int = 0

    def __post_init__(self):
        _check_config(self)

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def _check_config(cfg: ExperimentConfig) -> None:
    def bad(field, expected):
        raise InputError(f"expected {expected}, got {getattr(cfg, field)!r}", field=field)

    if len(cfg.groups) < 1 or len(set(cfg.groups)) != len(cfg.groups):
        bad("groups", "one or more distinct group names")
    if cfg.target_key == cfg.distractor_key:
        bad("distractor_key", f"a key other than target_key {cfg.target_key!r}")
    for field in ("n_training",):
        if getattr(cfg, field) < 0:
            bad(field, "a count >= 0")
    for field in ("n_blocks", "trials_per_block", "image_size"):
        if getattr(cfg, field) < 1:
            bad(field, "a count >= 1")
    if cfg.trials_per_block % 2:
        bad("trials_per_block", "an even number (targets and distractors balanced per block)")
    if not 0 < cfg.fixation_min <= cfg.fixation_max:
        bad("fixation_max", f"a duration >= fixation_min ({cfg.fixation_min}) > 0")
    if not 0 < cfg.stimulus_duration <= cfg.response_window:
        bad("response_window", f"a duration >= stimulus_duration ({cfg.stimulus_duration}) > 0")
    for field in ("too_slow_duration", "training_feedback_duration", "block_feedback_max"):
        if getattr(cfg, field) < 0:
            bad(field, "a duration >= 0")
    if cfg.dropped_frame_factor <= 1:
        bad("dropped_frame_factor", "a factor > 1")
    if cfg.keyboard_backend not in ("ptb", "event", "iohub", ""):
        bad("keyboard_backend", "one of 'ptb', 'event', 'iohub', ''")


def load_config(path=None, **overrides) -> ExperimentConfig:
    """Read a flat TOML config; fields absent from the file keep their defaults.

    Parameters
    ----------
    path : str or Path, optional
        TOML file; None gives the defaults.
    **overrides
        Fields set after reading the file (e.g. from the command line).

    Returns
    -------
    ExperimentConfig
        With ``manifest`` and ``assignment`` resolved against the file's folder.

    Examples
    --------
    >>> load_config(n_blocks=2).n_blocks
    2
    """
    values: dict = {}
    base = Path.cwd()
    if path is not None:
        path = Path(path)
        base = path.resolve().parent
        values = read_toml(path)
    values.update(overrides)
    fields = {f.name: f for f in dataclasses.fields(ExperimentConfig)}
    for key, value in values.items():
        if key not in fields:
            raise InputError(f"unknown setting; expected one of {sorted(fields)}", path=path, field=key)
        if isinstance(value, dict):
            raise InputError("expected a flat key = value setting, got a table", path=path, field=key)
        if isinstance(value, list):
            values[key] = tuple(value)
    for key in ("manifest", "assignment"):
        if values.get(key):
            values[key] = str((base / values[key]).resolve())
    try:
        return ExperimentConfig(**values)
    except InputError as err:
        raise InputError(err.message, path=path, field=err.field) from None
    except TypeError as err:  # pragma: no cover - dataclass signature errors
        raise InputError(str(err), path=path) from None
