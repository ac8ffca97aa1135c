"""PsychoPy runner of the rapid-categorization experiment: :class:`WindowScreen`, the window
behind the one trial loop of :func:`experiments.session.conduct`.

Each trial: a fixation cross for the trial's jittered duration (the image is loaded meanwhile),
the image for a whole number of frames (400 ms), a blank until 550 ms after onset while a key
is accepted, then a "too slow" screen when none came. Timing counts frames and takes onset and
offset from the timestamps ``win.flip()`` returns; the keyboard clock is reset on the stimulus
flip. Each trial's row is flushed to the CSV as the trial ends (:class:`experiments.session.TrialLog`).
The background is the config's (white by default, as the paper); text is drawn in
:func:`experiments.config.text_color` (black on white or gray).

PsychoPy is imported inside :func:`run_session` and :class:`WindowScreen` only.
"""

from __future__ import annotations

import math

import numpy as np

from clickme_analysis.errors import InputError
from experiments.config import ExperimentConfig, text_color
from experiments.design import frames_for, score_response
from experiments.observer import SimulatedObserver
from experiments.session import Session, SessionAborted, conduct

__all__ = ["SessionAborted", "WindowScreen", "measure_fps", "open_window", "run_session"]


def open_window(config: ExperimentConfig, fullscreen: bool | None = None):
    """A PsychoPy window from the config (``fullscreen`` overrides ``config.fullscreen``)."""
    from psychopy import visual

    return visual.Window(
        size=list(config.screen_size),
        fullscr=config.fullscreen if fullscreen is None else fullscreen,
        screen=config.screen,
        monitor=config.monitor or None,
        units="pix",
        color=config.background,
        colorSpace="rgb",
        allowGUI=False,
        checkTiming=False,
        waitBlanking=True,
    )


def measure_fps(win, assume_fps: float | None) -> tuple[float, float | None]:
    """``(nominal, measured)`` refresh rate; the nominal rate is ``assume_fps`` or the measured
    rate rounded to whole Hz (refused when no stable rate can be measured)."""
    measured = win.getActualFrameRate(nIdentical=10, nMaxFrames=120, nWarmUpFrames=10, threshold=1)
    if assume_fps is not None:
        if not assume_fps > 0:
            raise InputError(f"expected a positive refresh rate, got {assume_fps}", field="assume_fps")
        return float(assume_fps), measured
    if measured is None:
        raise InputError(
            "could not measure a stable refresh rate (no vsync?); fix the display or pass --assume-fps", field="fps"
        )
    return float(round(measured)), float(measured)


def _poll(kb, keys) -> list[tuple[str, float]]:
    """Key presses since the last poll as ``(name, rt)`` with rt on the keyboard clock.

    PsychoPy 2026.2's 'event' backend returns the name as ``[name, time]`` and times the key at
    the poll; the press time it carries (``core.getTime()``, zeroed at PsychoPy's start) is used
    instead, relative to the keyboard clock's last reset (raw timebase).
    """
    from psychopy import core

    presses = []
    for press in kb.getKeys(waitRelease=False):
        name, rt = press.name, press.rt
        if isinstance(name, (list, tuple)):
            name, rt = name[0], name[1] + core.monotonicClock.getLastResetTime() - kb.clock.getLastResetTime()
        if name in keys:
            presses.append((str(name), float(rt)))
    return presses


class WindowScreen:
    """Frame-counted screens of one session in a PsychoPy window (keyboard, stimuli, simulated presses).

    Parameters
    ----------
    win : psychopy.visual.Window
    kb : psychopy.hardware.keyboard.Keyboard
    config : ExperimentConfig
    fps : float
        Nominal refresh rate: frames are counted at it.
    simulated : bool
        A simulated observer drives the session (it presses the continue key on messages).
    timing : {"measured", "nominal"}
        Which reaction time the trial loop keeps (keyboard clock, or response frame / fps).
    """

    def __init__(
        self, win, kb, config: ExperimentConfig, fps: float, simulated: bool = False, timing: str = "measured"
    ):
        from psychopy import event, visual

        self.win, self.kb, self.config, self.fps = win, kb, config, fps
        self.event, self.simulated, self.timing = event, simulated, timing
        ink = text_color(config.background)
        self.fixation = visual.TextStim(win, "+", height=40, color=ink, colorSpace="rgb")
        self.text = visual.TextStim(
            win, "", height=24, color=ink, colorSpace="rgb", wrapWidth=min(900, win.size[0] * 0.9)
        )
        self.image = visual.ImageStim(win, image=None, size=(config.image_size, config.image_size))

    def press(self, key: str) -> None:
        """Simulated key press through PsychoPy's event path (its documented emulation hook)."""
        self.event._onPygletKey(key, 0, emulated=True)

    def check_abort(self, presses) -> None:
        if any(name == self.config.abort_key for name, _ in presses):
            raise SessionAborted

    def frames(self, seconds: float) -> int:
        return max(1, round(seconds * self.fps))

    def show(self, stim, n_frames: int) -> None:
        for _ in range(n_frames):
            stim.draw()
            self.win.flip()
            self.check_abort(_poll(self.kb, [self.config.abort_key]))

    def show_text(self, text: str, seconds: float) -> None:
        """Show ``text`` for ``seconds`` (whole frames)."""
        self.text.text = text
        self.show(self.text, self.frames(seconds))

    def message(self, text: str, max_seconds: float = math.inf) -> None:
        """Show ``text`` until the continue key (the simulated observer presses it on frame 3)."""
        self.text.text = text
        keys = [self.config.continue_key, self.config.abort_key]
        n = 0
        while n < max_seconds * self.fps:
            self.text.draw()
            self.win.flip()
            if self.simulated and n == 2:
                self.press(self.config.continue_key)
            presses = _poll(self.kb, keys)
            self.check_abort(presses)
            if presses:
                return
            n += 1

    def trial(self, trial, info, plan) -> dict:
        """One trial; returns the response and timing fields of its data row."""
        cfg, win, kb = self.config, self.win, self.kb
        n_stim = frames_for(cfg.stimulus_duration, self.fps, cfg.allow_frame_rounding)
        n_window = frames_for(cfg.response_window, self.fps, cfg.allow_frame_rounding)
        n_fix = self.frames(trial["fixation_duration"])
        for f in range(n_fix):
            self.fixation.draw()
            win.flip()
            if f == 0:
                self.image.image = trial["path"]  # load the texture while the cross is up
            self.check_abort(_poll(kb, [cfg.abort_key]))
        keys = [info["target_key"], info["distractor_key"], cfg.abort_key]
        win.callOnFlip(kb.clock.reset)
        win.callOnFlip(kb.clearEvents)
        win.recordFrameIntervals = True
        flips, key, rt_keyboard, rt_frames = [], None, None, None
        for f in range(max(n_window, n_stim + 1)):
            if f < n_stim:
                self.image.draw()
            flips.append(win.flip())
            if f == n_stim:
                win.recordFrameIntervals = False
            if plan is not None and f == plan[1]:
                self.press(plan[0])
            presses = _poll(kb, keys)
            self.check_abort(presses)
            if key is None and presses and f < n_window:
                key, rt_keyboard = presses[0]
                rt_frames = f
            if key is not None and f >= n_stim:
                break
        win.recordFrameIntervals = False
        intervals = np.diff(flips[: n_stim + 1])
        return {
            **score_response(key, trial["target"], info),
            "rt_keyboard": rt_keyboard,
            "rt_frames": rt_frames,
            "fixation_frames": n_fix,
            "stim_frames": n_stim,
            "stim_duration": flips[n_stim] - flips[0],
            "stim_duration_nominal": n_stim / self.fps,
            "dropped_frames": int(np.sum(intervals > cfg.dropped_frame_factor / self.fps)),
            "frame_intervals_ms": ";".join(f"{1000 * x:.3f}" for x in intervals),
            "onset_time": flips[0],
        }


def run_session(
    config: ExperimentConfig,
    participant: str,
    data_dir,
    *,
    index: int | None = None,
    resume: bool = False,
    observer: SimulatedObserver | dict | None = None,
    assume_fps: float | None = None,
    win=None,
    fullscreen: bool | None = None,
    progress: bool = False,
):
    """Run (or resume) one participant's session in a PsychoPy window.

    Parameters
    ----------
    config : ExperimentConfig
        Experiment settings.
    participant : str
        Participant ID.
    data_dir : str or Path
        Where ``<participant>.csv`` and ``<participant>.json`` go.
    index : int, optional
        Rotation index (default: the ID's trailing digits).
    resume : bool
        Continue the trials missing from an existing session's CSV.
    observer : SimulatedObserver or dict of group -> SimulatedObserver, optional
        Drive the session with a simulated observer pressing keys through PsychoPy's event path
        (the keyboard backend is then 'event').
    assume_fps : float, optional
        Nominal refresh rate for displays without vsync (Xvfb): frames are counted at this rate
        and the reaction time is the response frame over it; measured values are still recorded.
    win : psychopy.visual.Window, optional
        Reuse an open window (left open); by default one is opened and closed.
    fullscreen : bool, optional
        Override ``config.fullscreen`` when opening the window.
    progress : bool
        A progress bar over trials (on a terminal only).

    Returns
    -------
    pathlib.Path
        The per-trial CSV.
    """
    session = Session(config, participant, data_dir, index=index, resume=resume)
    if isinstance(observer, dict):
        observer = observer[session.info["group"]]
    own_window = win is None
    if own_window:
        win = open_window(config, fullscreen)
    try:
        fps, measured = measure_fps(win, assume_fps)
        frames_for(config.stimulus_duration, fps, config.allow_frame_rounding)  # refuse early
        frames_for(config.response_window, fps, config.allow_frame_rounding)
        kb, backend, requested = _keyboard(config, simulated=observer is not None)
        timing = "nominal" if assume_fps is not None else "measured"
        screen = WindowScreen(win, kb, config, fps, simulated=observer is not None, timing=timing)
        run = {
            "mode": "simulate" if observer is not None else "lab",
            "fps_nominal": fps,
            "fps_measured": measured,
            "keyboard_backend": backend,
            "keyboard_backend_requested": requested,
            "timing": timing,
            "window": _window_record(win, config),
            "psychopy": _psychopy_versions(win),
        }
        return conduct(session, screen, observer, run, progress=progress)
    finally:
        session.log.close()
        if own_window:
            win.close()


def _keyboard(config: ExperimentConfig, simulated: bool):
    """PsychoPy's keyboard, its backend and the one requested (``event`` for a simulated observer)."""
    from psychopy.hardware import keyboard

    requested = "event" if simulated else config.keyboard_backend
    kb = keyboard.Keyboard(backend=requested)
    backend = kb.getBackend()
    if simulated and backend != "event":
        raise RuntimeError(
            f"simulated key presses need PsychoPy's 'event' keyboard backend, but this process "
            f"already uses {backend!r} (PsychoPy fixes it per process); run the simulation in "
            f"a fresh process"
        )
    return kb, backend, requested


def _window_record(win, config: ExperimentConfig) -> dict:
    return {
        "size": [int(x) for x in win.size],
        "fullscreen": bool(win._isFullScr),
        "background": config.background,
        "text_color": text_color(config.background),
    }


def _psychopy_versions(win) -> dict:
    import psychopy

    versions = {"psychopy": psychopy.__version__, "window_type": win.winType}
    try:
        import pyglet
        from pyglet import gl

        versions["pyglet"] = pyglet.version
        versions["gl_renderer"] = gl.gl_info.get_renderer()
    except Exception:  # pragma: no cover - no pyglet
        pass
    return versions
