"""The game's frame loop, in a PsychoPy window (:class:`WindowScreen`) or window-free
(:class:`HeadlessScreen`, a virtual clock for demos without a display).

Every frame: the simulated player (if any) moves the cursor, the task reads the cursor and the
keys through the screen, paints a new point, polls the partner (never waiting for it), ends the
round on success, skip or time-out, and flips. Each round is appended to the log as it ends.
PsychoPy is imported inside :class:`WindowScreen` and :func:`open_window` only.
"""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import numpy as np

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as progress_bar
from experiments.config import text_color
from experiments.game.config import GameConfig
from experiments.game.partner import PartnerQueries
from experiments.game.player import saliency_parts
from experiments.game.task import (
    GameLog,
    RoundState,
    image_coordinates,
    now_iso,
    overlay,
    participant_rng,
    play_order,
    save_session,
    window_coordinates,
)

INSTRUCTIONS = (
    "Paint the parts of each picture that show what it is.\n\n"
    "The category name is shown above the picture. Press the mouse button to start painting: "
    "from then on, wherever the cursor goes is painted. Your partner, a computer, sees only what "
    "you paint and tries to recognize the picture. The sooner it does, the more points you earn "
    "(a round lasts at most {seconds:g} s).\n\n"
    "Press '{skip}' to skip a picture that is broken or wrongly labelled; '{abort}' ends the session.\n\n"
    "Press {cont} to start."
)


class GameAborted(Exception):
    """The abort key was pressed."""


def open_window(config: GameConfig, fullscreen: bool | None = None):
    """A PsychoPy window (pixel units, cursor visible) from the config."""
    from psychopy import visual

    win = visual.Window(
        size=list(config.window_size),
        fullscr=config.fullscreen if fullscreen is None else fullscreen,
        screen=config.screen,
        units="pix",
        color=config.background,
        colorSpace="rgb",
        allowGUI=False,
        checkTiming=False,
    )
    win.mouseVisible = True
    return win


class WindowScreen:
    """The game on a PsychoPy window; the mouse is read through :class:`psychopy.event.Mouse`.

    A simulated player drives the same mouse: ``Mouse.setPos`` moves the pointer and PsychoPy's
    emulated press and key hooks press the button and keys.
    """

    def __init__(self, win, config: GameConfig, pace_fps: float | None = None):
        from psychopy import event, visual

        self.win, self.config, self.event, self.pace = win, config, event, pace_fps
        size = config.image_size
        self.center = (0.0, -20.0)
        self.mouse = event.Mouse(visible=True, win=win)
        self.image = visual.ImageStim(win, image=np.zeros((size, size, 3)), size=(size, size), pos=self.center)
        ink = text_color(config.background)
        self.title = visual.TextStim(
            win, "", pos=(0, self.center[1] + size / 2 + 30), height=28, color=ink, colorSpace="rgb"
        )
        self.text = visual.TextStim(
            win, "", height=20, color=ink, colorSpace="rgb", wrapWidth=min(700, win.size[0] * 0.9)
        )
        self._last, self._pressed, self._skip_sent = None, False, False

    def show(self, state: RoundState, title: bool = False) -> None:
        """Draw the round's image with its painted overlay (and its label as the title)."""
        cfg = self.config
        screen_image = overlay(state.image.image, state.painted, cfg.overlay_color, cfg.overlay_alpha)
        self.image.image = screen_image[::-1]  # numpy textures are drawn bottom row first
        if title:
            self.title.text = state.image.label

    def _flip(self) -> float:
        if self.pace and self._last is not None:
            time.sleep(max(0.0, self._last + 1.0 / self.pace - time.perf_counter()))
        self._last = time.perf_counter()
        return self.win.flip()

    def flip(self) -> float:
        self.image.draw()
        self.title.draw()
        return self._flip()

    def pointer(self) -> tuple[float, float, bool]:
        x, y = image_coordinates(self.mouse.getPos(), self.center, self.config.image_size)
        return x, y, bool(self.mouse.getPressed()[0])

    def keys(self) -> list[str]:
        cfg = self.config
        return list(self.event.getKeys(keyList=[cfg.skip_key, cfg.continue_key, cfg.abort_key]))

    def drive(self, plan, t: float) -> None:
        """Move the simulated player's cursor and press through PsychoPy's mouse and key hooks."""
        self.mouse.setPos(window_coordinates(plan.position(t), self.center, self.config.image_size))
        if t >= plan.press_time and not self._pressed:
            self.event._onPygletMousePress(0, 0, self.event.LEFT, 0, emulated=True)
            self._pressed = True
        if plan.skip_time is not None and t >= plan.skip_time and not self._skip_sent:
            self.event._onPygletKey(self.config.skip_key, 0, emulated=True)
            self._skip_sent = True

    def end_round(self) -> None:
        if self._pressed:
            self.event._onPygletMouseRelease(0, 0, self.event.LEFT, 0, emulated=True)
        self._pressed = self._skip_sent = False

    def message(self, text: str, simulated: bool, max_seconds: float) -> None:
        """Show ``text`` until the continue key (a simulated player presses it on frame 3)."""
        self.text.text = text
        self.event.clearEvents()
        start = None
        for n in itertools.count():
            self.text.draw()
            flip = self._flip()
            start = flip if start is None else start
            if simulated and n == 2:
                self.event._onPygletKey(self.config.continue_key, 0, emulated=True)
            keys = self.keys()
            if self.config.abort_key in keys:
                raise GameAborted
            if self.config.continue_key in keys or flip - start >= max_seconds:
                return

    def describe(self) -> dict:
        import psychopy

        return {
            "window": {
                "size": [int(v) for v in self.win.size],
                "fullscreen": bool(self.win._isFullScr),
                "type": self.win.winType,
            },
            "psychopy": psychopy.__version__,
        }


class HeadlessScreen:
    """Window-free play on a virtual clock at ``fps`` (demos without a display; simulated players only)."""

    def __init__(self, config: GameConfig, fps: float = 60.0):
        self.config, self.fps, self.clock = config, fps, 0.0
        self._pos, self._pressed, self._keys, self._skip_sent = (0.0, 0.0), False, [], False

    def show(self, state, title=False) -> None:
        pass

    def flip(self) -> float:
        self.clock += 1.0 / self.fps
        return self.clock

    def pointer(self):
        return (*self._pos, self._pressed)

    def keys(self) -> list[str]:
        keys, self._keys = self._keys, []
        return keys

    def drive(self, plan, t: float) -> None:
        self._pos = plan.position(t)
        self._pressed = self._pressed or t >= plan.press_time
        if plan.skip_time is not None and t >= plan.skip_time and not self._skip_sent:
            self._keys.append(self.config.skip_key)
            self._skip_sent = True

    def end_round(self) -> None:
        self._pressed = self._skip_sent = False

    def message(self, text: str, simulated: bool, max_seconds: float) -> None:
        self.flip()

    def describe(self) -> dict:
        return {"window": None, "virtual_fps": self.fps}


def play_round(screen, state: RoundState, queries: PartnerQueries, config: GameConfig, *, plan=None) -> dict:
    """Play one round on ``screen``.

    Returns
    -------
    dict
        ``duration`` (s), ``n_frames`` and ``max_frame_ms`` (longest interval between flips: a
        stalled frame loop shows here).
    """
    screen.show(state, title=True)
    start = screen.flip()
    t, frames, longest = 0.0, 1, 0.0
    try:
        while True:
            if plan is not None:
                screen.drive(plan, t)
            x, y, pressed = screen.pointer()
            keys = screen.keys()
            if config.abort_key in keys:
                raise GameAborted
            if config.skip_key in keys:
                state.skipped = True
                break
            if state.update(t, x, y, pressed):
                screen.show(state)
            queries.poll(t)
            if state.success_time is not None or t >= config.round_seconds:
                break
            now = screen.flip() - start
            t, frames, longest = now, frames + 1, max(longest, now - t)
    finally:
        screen.end_round()
    return {"duration": t, "n_frames": frames, "max_frame_ms": round(1000 * longest, 1)}


def _feedback(record: dict, session: dict, config: GameConfig) -> str:
    if record["skipped"]:
        head = "Picture skipped."
    elif record["success"]:
        head = (
            f"Your partner recognized the {record['label']} after {record['success_t'] / 1000:.1f} s: "
            f"+{record['points']:.2f} points."
        )
    else:
        head = f"Your partner did not recognize the {record['label']}: 0 points."
    score, n_rounds = session["score"], record["round"]
    return f"{head}\n\nScore: {score:.2f} after {n_rounds} rounds.\n\nPress {config.continue_key} for the next picture."


def run_game(
    images,
    participant: str,
    out_dir,
    config: GameConfig,
    partner,
    *,
    player=None,
    parts=None,
    window: str = "psychopy",
    win=None,
    pace_fps: float | None = None,
    progress: bool = False,
) -> Path:
    """Run (or continue) one participant's game session.

    Parameters
    ----------
    images : list of GameImage
        The images (:func:`experiments.game.task.load_images`), ``config.image_size`` square.
    participant : str
        Participant ID; images this participant already played (or skipped) in the log are not
        shown again and round numbers continue.
    out_dir : str or Path
        Folder of ``game_log.jsonl`` (appended) and ``session.json`` (one record per session).
    config : GameConfig
    partner : callable
        ``partner(PartnerView) -> labels`` (:class:`~experiments.game.partner.ModelPartner` or
        :class:`~experiments.game.partner.StandInPartner`); its ``description`` is recorded.
    player : SimulatedPlayer, optional
        Drive the session with a simulated player (required window-free).
    parts : dict, optional
        Image id -> (K, 3) part table for the simulated player; missing images use
        :func:`experiments.game.player.saliency_parts`.
    window : {"psychopy", "none"}
        A PsychoPy window (``win`` or a new one) or the window-free virtual clock.
    win : psychopy.visual.Window, optional
        Reuse an open window (left open).
    pace_fps : float, optional
        Cap the frame rate (displays without vsync such as Xvfb, to spare the CPU).
    progress : bool
        A progress bar over rounds (on a terminal only).

    Returns
    -------
    pathlib.Path
        The log.
    """
    _check_game(images, participant, config, player, window)
    out_dir = Path(out_dir)
    log = GameLog(out_dir / "game_log.jsonl")
    previous = log.rounds(participant)
    done = {r["image_id"] for r in previous}
    order = play_order(images, participant, config.seed, done=done, n_rounds=config.n_rounds)
    session = _new_session(participant, previous, order, config, partner, player, window)
    own_window = window == "psychopy" and win is None
    queries = PartnerQueries(partner, config, threaded=window == "psychopy")
    try:
        if own_window:
            win = open_window(config)
        screen = WindowScreen(win, config, pace_fps) if window == "psychopy" else HeadlessScreen(config)
        session.update(screen.describe())
        save_session(out_dir / "session.json", session)
        screen.message(_instructions(config), player is not None, np.inf)
        for k, item in enumerate(progress_bar(order, enabled=progress, desc=f"game {participant}")):
            plan = _plan(player, item, (parts or {}).get(item.image_id), config, participant, len(previous) + k + 1)
            record = _play(screen, item, queries, config, session, len(previous) + k + 1, plan)
            log.append(record)
            save_session(out_dir / "session.json", session)
            screen.message(_feedback(record, session, config), player is not None, config.feedback_max)
        session.update(status="completed", finished=now_iso())
    except GameAborted:
        session.update(status="aborted", finished=now_iso())
    finally:
        queries.close()
        log.close()
        if own_window and win is not None:
            win.close()
        save_session(out_dir / "session.json", session)
    return log.path


def _check_game(images, participant: str, config: GameConfig, player, window: str) -> None:
    """Raise :class:`InputError` on an empty participant, an unknown window, or images of another size."""
    if not participant or not participant.strip():
        raise InputError("expected a non-empty participant ID", field="participant")
    if window not in ("psychopy", "none"):
        raise InputError(f"expected window 'psychopy' or 'none', got {window!r}", field="window")
    if window == "none" and player is None:
        raise InputError("window-free play needs a simulated player", field="window")
    size = config.image_size
    wrong = [im.image_id for im in images if im.image.shape != (size, size, 3)]
    if wrong:
        raise InputError(
            f"expected {size}x{size} RGB images (config image_size), got other shapes for {wrong[:5]}", field="images"
        )


def _new_session(participant: str, previous: list, order: list, config: GameConfig, partner, player, window) -> dict:
    """The session record before its first round (``previous``: this participant's logged rounds)."""
    return {
        "session_id": f"{participant}_{now_iso()}_{len(previous)}",
        "participant_id": participant,
        "mode": "lab" if player is None else ("simulate" if window == "psychopy" else "simulate-headless"),
        "partner": getattr(partner, "description", type(partner).__name__),
        "player": None if player is None else repr(player),
        "config": config.to_dict(),
        "started": now_iso(),
        "status": "running",
        "rounds_before": len(previous),
        "rounds_played": 0,
        "rounds_skipped": 0,
        "score": float(sum(r.get("points", 0.0) for r in previous)),
        "order": [im.image_id for im in order],
        "point_rule": config.point_rule_record(),
    }


def _instructions(config: GameConfig) -> str:
    return INSTRUCTIONS.format(
        seconds=config.round_seconds, skip=config.skip_key, abort=config.abort_key, cont=config.continue_key
    )


def _plan(player, item, image_parts, config: GameConfig, participant: str, number: int):
    """The simulated player's plan of round ``number`` on the config's image grid (None: a real player)."""
    if player is None:
        return None
    rng = participant_rng(config.seed, participant, 2, number)
    targets = saliency_parts(item.image) if image_parts is None else image_parts
    return player.plan(item.image_id, targets, config.round_seconds, rng, size=config.image_size)


def _play(screen, item, queries, config: GameConfig, session: dict, number: int, plan) -> dict:
    """Play round ``number`` of ``session`` on ``item``, count it into the session record; its log record."""
    state = RoundState(
        item, config.image_size, config.player_bubble, config.point_rule, config.point_interval, config.point_step
    )
    participant = session["participant_id"]
    queries.start(state, participant_rng(config.seed, participant, 1, number))
    timing = play_round(screen, state, queries, config, plan=plan)
    duration = timing.pop("duration")
    record = state.record(
        participant, number, config.round_seconds, duration, **timing, session_id=session["session_id"]
    )
    session["rounds_played"] += 1
    session["rounds_skipped"] += int(record["skipped"])
    session["score"] += record["points"]
    return record
