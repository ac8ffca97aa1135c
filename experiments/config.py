"""Experiment configuration: one frozen dataclass, read from a flat TOML file.

Every field has a default taken from the paper's rapid-categorization paradigm (Linsley et al.,
2019, and its 2017 predecessor); a TOML file only names what it changes. Files are read by
:func:`clickme_analysis.config.load_config` (typed, range-checked, located errors). Relative
paths in the file are resolved against the file's folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import field
from pathlib import Path
from typing import Literal

from clickme_analysis import config as typed_config
from clickme_analysis.errors import InputError

#: PsychoPy rgb of the paper's background ("overlaid onto a white background") and of the mid-gray option
WHITE, GRAY = 1.0, 0.0


def _luminance(rgb: float) -> float:
    """Relative luminance (sRGB, as WCAG) of a PsychoPy gray in [-1, 1]."""
    value = (rgb + 1.0) / 2.0
    return value / 12.92 if value <= 0.04045 else ((value + 0.055) / 1.055) ** 2.4


def contrast_ratio(a: float, b: float) -> float:
    """WCAG contrast ratio of two PsychoPy grays in [-1, 1] (1 = none, 21 = black on white).

    Examples
    --------
    >>> round(contrast_ratio(-1.0, 1.0), 1)
    21.0
    """
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def text_color(background: float) -> float:
    """The text gray (black -1 or white +1) with the higher contrast on ``background``.

    Black text on the paper's white background, and on mid-gray too (contrast 5.3 against 3.9
    for white text); white text on dark backgrounds.

    Examples
    --------
    >>> text_color(WHITE), text_color(GRAY), text_color(-0.8)
    (-1.0, -1.0, 1.0)
    """
    return -1.0 if contrast_ratio(-1.0, background) >= contrast_ratio(1.0, background) else 1.0


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
        Background grey in PsychoPy's [-1, 1] RGB units: 1.0 (white, the paper's: trials were
        "overlaid onto a white background"), 0.0 mid-gray. Text (fixation cross, messages,
        feedback) takes the color of :func:`text_color`: black on both.
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
    n_training: int = field(default=6, metadata={"min": 0})
    n_blocks: int = field(default=5, metadata={"min": 1})
    trials_per_block: int = field(default=16, metadata={"min": 2})
    fixation_min: float = field(default=1.1, metadata={"gt": 0})
    fixation_max: float = field(default=1.6, metadata={"gt": 0})
    stimulus_duration: float = field(default=0.4, metadata={"gt": 0})
    response_window: float = field(default=0.55, metadata={"gt": 0})
    too_slow_duration: float = field(default=1.0, metadata={"min": 0})
    training_feedback_duration: float = field(default=1.0, metadata={"min": 0})
    block_feedback_max: float = field(default=30.0, metadata={"min": 0})
    allow_frame_rounding: bool = False
    dropped_frame_factor: float = field(default=1.5, metadata={"gt": 1})
    keyboard_backend: Literal["ptb", "event", "iohub", ""] = "ptb"
    screen_size: tuple[int, int] = (1024, 768)
    fullscreen: bool = True
    screen: int = field(default=0, metadata={"min": 0})
    monitor: str = ""
    image_size: int = field(default=256, metadata={"min": 1})
    background: float = field(default=WHITE, metadata={"min": -1.0, "max": 1.0})
    seed: int = 0

    def __post_init__(self):
        _check_config(self)

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def check_ranges(config) -> None:
    """Check a config dataclass's fields against their metadata ranges (``min``, ``max``, ``gt``).

    :func:`clickme_analysis.config.load_config` checks these when it reads a file; this guards
    direct construction with the same messages.

    Examples
    --------
    >>> check_ranges(ExperimentConfig())
    """
    for f in dataclasses.fields(config):
        meta = {k: f.metadata[k] for k in ("min", "max", "gt") if k in f.metadata}
        if meta:
            typed_config.check_value(f.name, getattr(config, f.name), **meta)


def _check_config(cfg: ExperimentConfig) -> None:
    """Checks that span fields, or that also guard direct construction (the loader checks types and ranges)."""

    def bad(name, expected):
        raise InputError(f"expected {expected}, got {getattr(cfg, name)!r}", field=name)

    if len(cfg.groups) < 1 or len(set(cfg.groups)) != len(cfg.groups):
        bad("groups", "one or more distinct group names")
    if cfg.target_key == cfg.distractor_key:
        bad("distractor_key", f"a key other than target_key {cfg.target_key!r}")
    if len(cfg.screen_size) != 2 or min(cfg.screen_size) < 1:
        bad("screen_size", "[width, height] in pixels, both >= 1")
    check_ranges(cfg)
    if cfg.trials_per_block % 2:
        bad("trials_per_block", "an even number (targets and distractors balanced per block)")
    if cfg.fixation_min > cfg.fixation_max:
        bad("fixation_max", f"a duration >= fixation_min ({cfg.fixation_min})")
    if cfg.stimulus_duration > cfg.response_window:
        bad("response_window", f"a duration >= stimulus_duration ({cfg.stimulus_duration})")
    if cfg.keyboard_backend not in ("ptb", "event", "iohub", ""):
        bad("keyboard_backend", "one of 'ptb', 'event', 'iohub', ''")


def load_experiment_config(path=None, **overrides) -> ExperimentConfig:
    """Read a flat TOML config; fields absent from the file keep their defaults.

    Parameters
    ----------
    path : str or Path, optional
        TOML file; None gives the defaults.
    **overrides
        Fields set after reading the file (e.g. from the command line), checked the same way.

    Returns
    -------
    ExperimentConfig
        With ``manifest`` and ``assignment`` resolved against the file's folder.

    Raises
    ------
    InputError
        Naming the file and the key: unknown keys, wrong types (``seed = 1.5``,
        ``fullscreen = "no"``, ``screen_size = 512``), values out of range.

    Examples
    --------
    >>> load_experiment_config(n_blocks=2).n_blocks
    2
    >>> load_experiment_config(seed=1.5)
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'seed': expected int, got 1.5
    """
    base = Path.cwd() if path is None else Path(path).resolve().parent
    try:
        config = typed_config.load_config(ExperimentConfig, path, overrides=overrides)
    except InputError as err:  # cross-field checks of __post_init__ know the field, not the file
        raise InputError(err.message, path=err.path or path, line=err.line, field=err.field) from None
    paths = {
        key: str((base / getattr(config, key)).resolve()) for key in ("manifest", "assignment") if getattr(config, key)
    }
    return dataclasses.replace(config, **paths)
