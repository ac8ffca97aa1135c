"""Game configuration: one dataclass, read from a flat TOML file (fields absent keep their defaults)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.io import read_toml

BACKGROUNDS = ("mean", "noise")


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
    partner_background : {"mean", "noise"}
        What the partner sees outside its bubbles: the ImageNet mean grey or uniform noise.
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
        Window grey in PsychoPy's [-1, 1] units.
    seed : int
        Image order, partner query intervals and noise backgrounds; participant-specific.
    """

    round_seconds: float = 7.0
    image_size: int = 256
    player_bubble: int = 14
    partner_bubble: int = 21
    partner_background: str = "mean"
    query_min: float = 0.1
    query_max: float = 0.25
    top_k: int = 5
    overlay_alpha: float = 0.5
    overlay_color: tuple[int, int, int] = (255, 40, 40)
    skip_key: str = "s"
    continue_key: str = "space"
    abort_key: str = "escape"
    feedback_max: float = 60.0
    n_rounds: int = 0
    window_size: tuple[int, int] = (800, 600)
    fullscreen: bool = True
    screen: int = 0
    background: float = 0.0
    seed: int = 0

    def __post_init__(self):
        def bad(field, expected):
            raise InputError(f"expected {expected}, got {getattr(self, field)!r}", field=field)

        if not self.round_seconds > 0:
            bad("round_seconds", "a duration > 0")
        for field in ("image_size", "player_bubble", "partner_bubble", "top_k"):
            if getattr(self, field) < 1:
                bad(field, "an integer >= 1")
        if self.partner_background not in BACKGROUNDS:
            bad("partner_background", f"one of {BACKGROUNDS}")
        if not 0 < self.query_min <= self.query_max:
            bad("query_max", f"a duration >= query_min ({self.query_min}) > 0")
        if not 0 <= self.overlay_alpha <= 1:
            bad("overlay_alpha", "an opacity in [0, 1]")
        if len(self.overlay_color) != 3 or not all(0 <= c <= 255 for c in self.overlay_color):
            bad("overlay_color", "three values in 0-255")
        if len({self.skip_key, self.continue_key, self.abort_key}) != 3:
            bad("skip_key", "skip, continue and abort keys that differ")
        if self.n_rounds < 0:
            bad("n_rounds", "a count >= 0")
        if self.feedback_max < 0:
            bad("feedback_max", "a duration >= 0")

    def to_dict(self) -> dict:
        """Plain-JSON form (tuples as lists)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()}


def load_game_config(path=None, **overrides) -> GameConfig:
    """Read a flat TOML game configuration; ``overrides`` (e.g. from the command line) win.

    Examples
    --------
    >>> load_game_config(round_seconds=2).round_seconds
    2
    """
    values: dict = {}
    if path is not None:
        path = Path(path)
        values = read_toml(path, "game config file")
    values.update({k: v for k, v in overrides.items() if v is not None})
    fields = {f.name for f in dataclasses.fields(GameConfig)}
    for key, value in values.items():
        if key not in fields:
            raise InputError(f"unknown setting; expected one of {sorted(fields)}", path=path, field=key)
        if isinstance(value, list):
            values[key] = tuple(value)
    try:
        return GameConfig(**values)
    except InputError as err:
        raise InputError(err.message, path=path, field=err.field) from None
