"""Demo stage: a short simulated ClickMe game on the demo images, its maps and its statistics.

Reads ``ROOT/clickme/images/`` and ``ROOT/clickme/labels.csv``; writes ``ROOT/game/``:
``game_log.jsonl``, ``session.json``, ``maps.npz`` (the game's maps, built by the map pipeline),
``game_statistics.csv``, ``learning_check.csv`` and ``demo_log.txt`` (which path ran).

Two simulated players play six rounds each against the stand-in partner: a 7 s game compressed
in time, with 2 s rounds, and the original game's point rule (7 px steps toward the cursor) at a
point every 15 ms instead of 50 ms, the player's path moving at the same pace.
"""

from __future__ import annotations

import logging
import pathlib
import subprocess
import sys

from clickme_analysis.clicklog import read_clicks
from clickme_analysis.errors import InputError
from clickme_analysis.game_stats import game_statistics, learning_check, read_game_log
from clickme_analysis.labels import label_map, read_labels
from clickme_analysis.pipeline import MapOptions, make_map_archive
from clickme_analysis.synthetic import demo_images
from experiments.display import virtual_display
from experiments.game.config import GameConfig
from experiments.game.partner import StandInPartner
from experiments.game.play import open_window, run_game
from experiments.game.player import SimulatedPlayer
from experiments.game.task import load_images

log = logging.getLogger(__name__)

#: (participant, skill, skip rate) of the demo's simulated players
DEMO_PLAYERS = (("G01", 0.9, 0.0), ("G02", 0.6, 0.25))
#: seconds between points in the demo (the original game: 0.05 s over 7 s rounds; the demo's are 2 s)
DEMO_POINT_INTERVAL = 0.015


def _demo_parts(labels_path) -> dict:
    """Labelled parts of the embedded demo images (ids absent there fall back to saliency peaks)."""

    table = read_labels(labels_path, required=("label",))
    if not table["category"].ne("").any():
        return {}
    per_category = int(table["category"].value_counts().max())
    try:
        return demo_images(per_category=per_category)[2]
    except InputError:
        return {}


def _setup(root: pathlib.Path, seed: int, n_rounds: int, round_seconds: float):
    """Images, config, stand-in partner, players and parts of the demo game."""

    source = root / "clickme"
    labels_path = source / "labels.csv"
    if not labels_path.is_file():
        raise InputError("the game demo needs the ClickMe stage's images and labels (run it first)", path=labels_path)
    images, labels = load_images(source / "images", labels_path)
    config = GameConfig(
        round_seconds=round_seconds,
        n_rounds=n_rounds,
        fullscreen=False,
        window_size=(640, 480),
        feedback_max=0.5,
        point_interval=DEMO_POINT_INTERVAL,
        seed=seed,
    )
    partner = StandInPartner.from_images(images, labels, top_k=config.top_k, seed=seed)
    players = [
        (pid, SimulatedPlayer(skill=skill, point_interval=DEMO_POINT_INTERVAL, press_delay=(0.1, 0.3), skip_rate=skip))
        for pid, skill, skip in DEMO_PLAYERS
    ]
    return images, config, partner, players, _demo_parts(labels_path)


def play(
    root, *, seed: int = 0, n_rounds: int = 6, round_seconds: float = 2.0, window: str = "none", progress: bool = False
) -> None:
    """Play the demo game (every player) into ``root/game``, window-free or in a PsychoPy window
    on the current display."""

    root = pathlib.Path(root)
    images, config, partner, players, parts = _setup(root, seed, n_rounds, round_seconds)
    out = root / "game"
    if window == "none":
        for pid, player in players:
            run_game(images, pid, out, config, partner, player=player, parts=parts, window="none", progress=progress)
        return
    from psychopy import logging as psychopy_logging

    psychopy_logging.console.setLevel(psychopy_logging.ERROR)
    win = open_window(config)
    try:
        for pid, player in players:
            run_game(
                images, pid, out, config, partner, player=player, parts=parts, win=win, pace_fps=60.0, progress=progress
            )
    finally:
        win.close()


def run_demo(
    root: pathlib.Path,
    *,
    seed: int = 0,
    progress: bool = True,
    window: str = "auto",
    n_rounds: int = 6,
    round_seconds: float = 2.0,
) -> None:
    """Play the simulated game and write its log, maps and statistics.

    Parameters
    ----------
    root : Path
        Demo output root (reads ``clickme/``, writes ``game/``).
    seed : int
        Image order, player paths, partner query intervals.
    progress : bool
        Progress bars (on a terminal only).
    window : {"auto", "xvfb", "none"}
        ``auto``: the PsychoPy game in a private Xvfb when one starts, else window-free (logged);
        ``xvfb``: require it; ``none``: window-free. The window runs in a child process:
        pyglet binds a process to the first X display it opens, which an earlier stage may
        have closed.
    n_rounds : int
        Rounds per player.
    round_seconds : float
        Longest round (s).
    """

    root = pathlib.Path(root)
    out = root / "game"
    _setup(root, seed, n_rounds, round_seconds)  # refuse missing inputs before any window
    out.mkdir(parents=True, exist_ok=True)
    notes = [
        f"{len(DEMO_PLAYERS)} simulated players x {n_rounds} rounds of at most {round_seconds:g} s, stand-in partner"
    ]
    ran_window = False
    if window in ("auto", "xvfb"):
        _clear(out)
        try:
            _play_in_xvfb(root, seed, n_rounds, round_seconds)
            ran_window = True
            notes.append(
                "played in a PsychoPy window on a private Xvfb display (cursor moved through PsychoPy's mouse)"
            )
        except (RuntimeError, OSError) as err:
            if window == "xvfb":
                raise
            notes.append(f"no PsychoPy window ({err}); played window-free on a virtual 60 Hz clock")
    if not ran_window:
        if window == "none":
            notes.append("played window-free on a virtual 60 Hz clock (window='none')")
        _clear(out)
        play(root, seed=seed, n_rounds=n_rounds, round_seconds=round_seconds, window="none", progress=progress)
    clicks = read_clicks(out / "game_log.jsonl").clicks
    make_map_archive(
        clicks,
        out / "maps.npz",
        MapOptions(),
        labels=label_map(root / "clickme" / "labels.csv", id_rule="stem"),
        progress=progress,
    )
    rounds = read_game_log(out / "game_log.jsonl")
    game_statistics(rounds).to_csv(out / "game_statistics.csv", index=False)
    learning_check(rounds).to_csv(out / "learning_check.csv", index=False)
    (out / "demo_log.txt").write_text("\n".join(notes) + "\n", encoding="utf-8")
    for note in notes:
        log.info(note)


def _clear(out: pathlib.Path) -> None:
    for name in ("game_log.jsonl", "session.json"):
        (out / name).unlink(missing_ok=True)


def _play_in_xvfb(root, seed, n_rounds, round_seconds, timeout: float = 300.0) -> None:
    """Play in a PsychoPy window in a child process on a private Xvfb display."""

    code = (
        "from experiments.game.demo import play; "
        f"play({str(root)!r}, seed={seed}, n_rounds={n_rounds}, round_seconds={round_seconds}, window='psychopy')"
    )
    with virtual_display():
        try:
            done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"the windowed game did not finish within {timeout:g} s") from None
    if done.returncode != 0:
        raise RuntimeError(f"the windowed game failed: {done.stderr.strip()[-300:]}")
