"""Demo stage: simulated participants on the demo stimulus set, then the analysis.

Reads ``ROOT/stimuli/manifest.csv`` and ``assignment.csv``; writes ``ROOT/experiment/``
(docs/outputs.md): ``config.toml``, ``data/<participant>.csv|json``, ``accuracy.csv``,
``level_tests.csv``, ``psychometric.csv`` and the other analysis tables (the report draws the figure)
and ``demo_log.txt`` (which path ran: the PsychoPy window under Xvfb, or window-free).
"""

from __future__ import annotations

import logging
import pathlib

import pandas as pd

from clickme_analysis.errors import InputError
from clickme_analysis.progress import progress as progress_bar
from clickme_analysis.psychophysics.analysis import analyze, write_analysis
from clickme_analysis.psychophysics.trials import load_trials
from experiments.config import load_experiment_config
from experiments.design import load_assignment, load_manifest
from experiments.display import virtual_display
from experiments.observer import demo_observers
from experiments.runner import open_window, run_session
from experiments.session import simulate_session

log = logging.getLogger(__name__)


def demo_config_text(manifest, assignment, *, n_blocks: int, trials_per_block: int, seed: int) -> str:
    """The demo's experiment TOML: paper timing and background, fewer trials, a window instead of full screen.

    ``manifest`` and ``assignment`` are written as given: relative paths are read from the
    config file's folder, so the demo folder can move.
    """
    return (
        f'manifest = "{manifest}"\nassignment = "{assignment}"\ngroups = ["clickme", "saliency"]\n'
        f"n_training = 2\nn_blocks = {n_blocks}\ntrials_per_block = {trials_per_block}\n"
        f"fixation_min = 1.1\nfixation_max = 1.6\n"
        f"too_slow_duration = 0.5\ntraining_feedback_duration = 0.5\nblock_feedback_max = 1.0\n"
        f"fullscreen = false\nscreen_size = [512, 384]\nseed = {seed}\n"
    )


def _design_size(manifest: pd.DataFrame, assignment: pd.DataFrame) -> tuple[int, int]:
    """Blocks and trials per block that fit the images of one Latin-square list."""
    images = manifest.drop_duplicates("image_id")
    first = assignment[assignment["participant_list"] == assignment["participant_list"].min()]
    per_list = images[images["image_id"].isin(first["image_id"])]
    pairs = int(min(per_list["target"].sum(), (~per_list["target"]).sum()))
    if pairs < 1:
        raise InputError("the demo stimulus set needs at least one animal and one non-animal image", field="target")
    n_blocks = 2 if pairs >= 2 else 1
    return n_blocks, 2 * (pairs // n_blocks)


def run_demo(
    root: pathlib.Path,
    *,
    seed: int = 0,
    progress: bool = True,
    window: str = "auto",
    n_participants: int | None = None,
    n_window: int = 4,
) -> None:
    """Run the simulated experiment and its analysis on the demo stimuli.

    Parameters
    ----------
    root : Path
        Demo output root (reads ``stimuli/``, writes ``experiment/``).
    seed : int
        Design, observer, permutation and bootstrap seed.
    progress : bool
        Progress bars (on a terminal only).
    window : {"auto", "xvfb", "none"}
        ``auto``: the first ``n_window`` participants through the real PsychoPy runner under a
        private Xvfb when one can start, otherwise window-free (logged); ``xvfb``: require it;
        ``none``: all window-free. The window-free path runs the same design and observer with the
        same seeds, so it writes the same responses as the runner would.
    n_participants : int, optional
        Default: eight per Latin-square list (four per group), at least 24.
    n_window : int
        Participants run in the PsychoPy window (the rest window-free, to keep the demo fast).
    """

    root = pathlib.Path(root)
    stim_dir, out = root / "stimuli", root / "experiment"
    manifest_path, assignment_path = stim_dir / "manifest.csv", stim_dir / "assignment.csv"
    if not manifest_path.exists():
        raise InputError("the experiment demo needs the stimuli stage's manifest (run it first)", path=manifest_path)
    manifest = load_manifest(manifest_path)
    assignment = load_assignment(assignment_path)
    n_blocks, per_block = _design_size(manifest, assignment)
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "config.toml"
    text = demo_config_text(
        "../stimuli/manifest.csv", "../stimuli/assignment.csv", n_blocks=n_blocks, trials_per_block=per_block, seed=seed
    )
    config_path.write_text(text, encoding="utf-8")
    config = load_experiment_config(config_path)
    n_lists = assignment["participant_list"].nunique()
    n = n_participants or max(24, 8 * n_lists)
    ids = [f"P{k:03d}" for k in range(n)]
    observers = demo_observers()
    data = out / "data"
    for old in data.glob("P*.*") if data.exists() else []:
        old.unlink()
    notes = [f"{n} simulated participants, {n_blocks} blocks x {per_block} trials, {n_lists} lists"]

    ran_window = False
    if window in ("auto", "xvfb"):
        try:
            _run_in_xvfb(config, ids[:n_window], data, observers, progress)
            ran_window = True
            notes.append(
                f"participants {ids[0]}..{ids[min(n_window, n) - 1]} ran in the PsychoPy runner in a "
                f"private Xvfb window (nominal 60 Hz, 'event' keyboard); the others window-free"
            )
        except (RuntimeError, ImportError, OSError) as err:
            if window == "xvfb":
                raise
            notes.append(f"no PsychoPy window ({err}); ran the same design and observer window-free")
    if window == "none":
        notes.append("window='none': every participant ran window-free (same design and observer)")
    first = min(n_window, n) if ran_window else 0
    for k, pid in enumerate(progress_bar(ids[first:], enabled=progress, desc="simulated participants"), start=first):
        simulate_session(config, pid, data, observers, index=k)
    results = analyze(load_trials(data), n_permutations=2000, n_boot=100, seed=seed, progress=progress)
    write_analysis(results, out)
    (out / "demo_log.txt").write_text("\n".join(notes) + "\n", encoding="utf-8")
    for note in notes:
        log.info(note)


def _run_in_xvfb(config, ids, data, observers, progress) -> None:

    with virtual_display():
        from psychopy import logging as psychopy_logging

        psychopy_logging.console.setLevel(psychopy_logging.ERROR)
        win = open_window(config, fullscreen=False)
        try:
            for k, pid in enumerate(progress_bar(ids, enabled=progress, desc="simulated sessions (PsychoPy)")):
                run_session(config, pid, data, index=k, observer=observers, assume_fps=60.0, win=win)
        finally:
            win.close()
