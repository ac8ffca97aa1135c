"""Game configuration: one frozen dataclass, read from a flat TOML file by
:func:`clickme_analysis.config.load_config` (typed, range-checked, located errors; fields absent
keep their defaults)."""

from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Literal

from clickme_analysis import config as typed_config
from clickme_analysis.errors import InputError
from experiments.config import check_ranges

BACKGROUNDS = ("mean", "noise")
POINT_RULES = ("interval", "frame")


@dataclasses.dataclass(frozen=True)
class GameConfig:
    """Settings of a ClickMe game session (defaults: the paper's game).

    Parameters
    ----------
    round_seconds : float
        Longest round (s); the paper's game gave 7 s per image.
    image_size : int
        Images are shown (and clicks recorded) on a square grid of this side (px).
    player_bubble : int
        Side of the square bubble painted on the player's screen (14 px in the paper).
    partner_bubble : int
        Side of the square bubble the partner sees at each painted point (21 px in the paper).
    partner_background : {"noise", "mean"}
        What the partner sees outside its bubbles: uniform noise (the paper's: the partner saw
        its bubbles "on a noise background"), or the ImageNet mean gray.
    point_rule : {"interval", "frame"}
        How the cursor becomes painted points. ``interval`` (the original ClickMe game's): from
        the first press, a point every ``point_interval`` s, each stepping at most
        ``point_step`` px from the last point toward the cursor, stored only when it differs
        from the last point. ``frame``: the cursor itself every frame it moved.
    point_interval : float
        Time between points under the ``interval`` rule (s; 50 ms in the original game).
    point_step : float
        Longest step between consecutive points under the ``interval`` rule (px; 7 px, half a
        player bubble, in the original game).
    query_min, query_max : float
        The partner is queried again this long (s, uniform in the range) after its previous
        query was sent, once that query has answered.
    top_k : int
        The round ends when the true label is in the partner's top ``top_k`` guesses.
    overlay_alpha : float
        Opacity of the painted overlay on the player's screen.
    overlay_color : tuple of int
        RGB (0-255) of the overlay.
    skip_key, continue_key, abort_key : str
        Skip the image (bad image, wrong label: recorded); leave a message screen; end the
        session cleanly.
    feedback_max : float
        Longest a between-rounds screen waits for the continue key (s).
    n_rounds : int
        Rounds per session (0: every image not yet played by the participant).
    window_size : tuple of int
        Window size (px; ignored in full screen).
    fullscreen : bool
        Full-screen window (the lab setting).
    screen : int
        Screen index.
    background : float
        Window gray in PsychoPy's [-1, 1] units.
    seed : int
        Image order, partner query intervals and noise backgrounds; participant-specific.
    """

    round_seconds: float = field(default=7.0, metadata={"gt": 0})
    image_size: int = field(default=256, metadata={"min": 1})
    player_bubble: int = field(default=14, metadata={"min": 1})
    partner_bubble: int = field(default=21, metadata={"min": 1})
    partner_background: Literal["mean", "noise"] = "noise"
    point_rule: Literal["interval", "frame"] = "interval"
    point_interval: float = field(default=0.05, metadata={"gt": 0})
    point_step: float = field(default=7.0, metadata={"gt": 0})
    query_min: float = field(default=0.1, metadata={"gt": 0})
    query_max: float = field(default=0.25, metadata={"gt": 0})
    top_k: int = field(default=5, metadata={"min": 1})
    overlay_alpha: float = field(default=0.5, metadata={"min": 0.0, "max": 1.0})
    overlay_color: tuple[int, int, int] = (255, 40, 40)
    skip_key: str = "s"
    continue_key: str = "space"
    abort_key: str = "escape"
    feedback_max: float = field(default=60.0, metadata={"min": 0})
    n_rounds: int = field(default=0, metadata={"min": 0})
    window_size: tuple[int, int] = (800, 600)
    fullscreen: bool = True
    screen: int = field(default=0, metadata={"min": 0})
    background: float = field(default=0.0, metadata={"min": -1.0, "max": 1.0})
    seed: int = 0

    def __post_init__(self):
        def bad(name, expected):
            raise InputError(f"expected {expected}, got {getattr(self, name)!r}", field=name)

        check_ranges(self)
        if self.partner_background not in BACKGROUNDS:
            bad("partner_background", f"one of {BACKGROUNDS}")
        if self.point_rule not in POINT_RULES:
            bad("point_rule", f"one of {POINT_RULES}")
        if self.query_min > self.query_max:
            bad("query_max", f"a duration >= query_min ({self.query_min})")
        if len(self.overlay_color) != 3 or not all(0 <= c <= 255 for c in self.overlay_color):
            bad("overlay_color", "three values in 0-255")
        if len(self.window_size) != 2 or min(self.window_size) < 1:
            bad("window_size", "[width, height] in pixels, both >= 1")
        if len({self.skip_key, self.continue_key, self.abort_key}) != 3:
            bad("skip_key", "skip, continue and abort keys that differ")

    def point_rule_record(self) -> dict:
        """How the cursor became points, as the session file records it (``session.json`` ``point_rule``).

        Examples
        --------
        >>> GameConfig().point_rule_record()["description"]
        'a point every 50 ms after the first press, each at most 7 px from the last point toward the cursor,
        stored only when new (the original ClickMe game)'
        """
        if self.point_rule == "frame":
            return {"rule": "frame", "description": "the cursor every frame it moved, stored only when new"}
        return {
            "rule": "interval",
            "interval_ms": 1000 * self.point_interval,
            "max_step_px": self.point_step,
            "description": f"a point every {1000 * self.point_interval:g} ms after the first press, each at "
            f"most {self.point_step:g} px from the last point toward the cursor, stored only "
            f"when new"
            + (" (the original ClickMe game)" if (self.point_interval, self.point_step) == (0.05, 7.0) else ""),
        }

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def load_game_config(path=None, **overrides) -> GameConfig:
    """Read a flat TOML game configuration; ``overrides`` (e.g. from the command line) win, None ones are ignored.

    Raises
    ------
    InputError
        Naming the file and key: unknown keys, wrong types (``round_seconds = "3"``), values out of range.

    Examples
    --------
    >>> load_game_config(round_seconds=2).round_seconds
    2.0
    >>> load_game_config(round_seconds="3")
    Traceback (most recent call last):
    ...
    clickme_analysis.errors.InputError: field 'round_seconds': expected float, got '3'
    """
    overrides = {k: v for k, v in overrides.items() if v is not None}
    try:
        return typed_config.load_config(GameConfig, path, overrides=overrides)
    except InputError as err:  # cross-field checks of __post_init__ know the field, not the file
        raise InputError(err.message, path=err.path or path, line=err.line, field=err.field) from None
