"""The real PsychoPy runner in a private Xvfb window, driven by the simulated observer."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from clickme_analysis.errors import InputError
from experiments.config import ExperimentConfig, load_experiment_config
from experiments.observer import SimulatedObserver
from experiments.session import DATA_COLUMNS, simulate_session

pytest.importorskip("psychopy")


def test_simulated_session_in_a_window(xdisplay, config_file, tmp_path):
    from experiments.runner import run_session

    cfg = load_experiment_config(config_file)
    observer = SimulatedObserver(rt_median=0.48, rt_sigma=0.2)
    csv = run_session(cfg, "P005", tmp_path / "win", observer=observer, assume_fps=60)
    rows = pd.read_csv(csv)
    assert tuple(rows.columns) == DATA_COLUMNS and len(rows) == 10
    # timing columns: whole frames at the nominal rate, measured values from win.flip() timestamps
    assert (rows["stim_frames"] == 24).all() and np.allclose(rows["stim_duration_nominal"], 0.4)
    assert (rows["stim_duration"] > 0).all()
    assert rows["frame_intervals_ms"].map(lambda s: len(str(s).split(";"))).eq(24).all()
    intervals = rows["frame_intervals_ms"].map(lambda s: sum(map(float, str(s).split(";"))) / 1000)
    assert np.allclose(intervals, rows["stim_duration"], atol=5e-5)
    assert rows["dropped_frames"].between(0, 24).all()
    assert rows["fixation_frames"].between(3, 6).all()
    answered = rows[rows["timed_out"] == 0]
    assert np.allclose(answered["rt"], answered["rt_frames"] / 60) and (answered["rt_frames"] < 33).all()
    assert (answered["rt_keyboard"] >= 0).all() and (answered["timing"] == "nominal").all()
    record = json.loads(csv.with_suffix(".json").read_text())
    run = record["runs"][0]
    assert record["status"] == "completed" and run["keyboard_backend"] == "event"
    assert run["fps_nominal"] == 60 and run["psychopy"]["psychopy"]
    # the window run and the window-free simulation share design and seeds: same answers
    free = pd.read_csv(simulate_session(cfg, "P005", tmp_path / "free", observer))
    cols = ["image_id", "level", "map_source", "response", "correct", "timed_out", "rt_frames"]
    pd.testing.assert_frame_equal(rows[cols], free[cols])


def test_escape_aborts_cleanly_and_resume_finishes(xdisplay, config_file, tmp_path):
    from experiments.runner import run_session

    cfg = load_experiment_config(config_file)
    run_session(cfg, "P006", tmp_path, observer=SimulatedObserver(abort_at=4), assume_fps=60)
    record = json.loads((tmp_path / "P006.json").read_text())
    assert record["status"] == "aborted" and len(pd.read_csv(tmp_path / "P006.csv")) == 3
    run_session(cfg, "P006", tmp_path, observer=SimulatedObserver(), assume_fps=60, resume=True)
    rows = pd.read_csv(tmp_path / "P006.csv")
    assert len(rows) == 10 and not rows.duplicated(["phase", "block", "trial"]).any()
    assert json.loads((tmp_path / "P006.json").read_text())["status"] == "completed"


def test_refuses_a_refresh_rate_without_whole_frames(xdisplay, config_file, tmp_path):
    from experiments.runner import run_session

    with pytest.raises(InputError, match="144 Hz is 57.60 frames"):
        run_session(load_experiment_config(config_file), "P007", tmp_path, observer=SimulatedObserver(), assume_fps=144)
    # a refused start leaves no session behind: the same ID starts again without --resume
    run_session(load_experiment_config(config_file), "P007", tmp_path, observer=SimulatedObserver(), assume_fps=60)
    assert len(pd.read_csv(tmp_path / "P007.csv")) == 10
    csv = run_session(
        load_experiment_config(config_file, allow_frame_rounding=True),
        "P008",
        tmp_path,
        observer=SimulatedObserver(),
        assume_fps=144,
    )
    assert (pd.read_csv(csv)["stim_frames"] == 58).all()


def test_cli_session_killed_mid_run_resumes(xdisplay, config_file, tmp_path):
    """SIGKILL during `clickme experiment run --simulate` loses at most the trial in flight."""
    config_file.write_text(
        config_file.read_text()
        .replace("fixation_min = 0.05", "fixation_min = 1.1")
        .replace("fixation_max = 0.1", "fixation_max = 1.6")
    )
    cmd = [
        sys.executable,
        "-m",
        "clickme_app",
        "experiment",
        "run",
        "--config",
        str(config_file),
        "--participant",
        "P009",
        "--simulate",
        "--assume-fps",
        "60",
        "--windowed",
        "--data",
        str(tmp_path),
    ]
    env = {**os.environ, "DISPLAY": xdisplay}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    csv = tmp_path / "P009.csv"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if csv.exists() and csv.read_text().count("\n") >= 4:  # header + 3 trials
            break
        time.sleep(0.005)
    assert proc.poll() is None, f"the session ended before it could be killed: {proc.stderr.read()[-500:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = pd.read_csv(csv)
    assert 3 <= len(done) < 10
    assert json.loads((tmp_path / "P009.json").read_text())["status"] == "running"
    result = subprocess.run(cmd + ["--resume"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-1000:]
    rows = pd.read_csv(csv)
    assert len(rows) == 10 and not rows.duplicated(["phase", "block", "trial"]).any()
    pd.testing.assert_frame_equal(rows.iloc[: len(done)], done)
    record = json.loads((tmp_path / "P009.json").read_text())
    assert record["status"] == "completed" and record["resumed"][0]["trials_done"] == len(done)


def test_virtual_display_is_one_server_per_process(xdisplay):
    """pyglet keeps its first X connection, so every caller in a process shares one Xvfb."""
    from experiments.display import virtual_display

    before = os.environ.get("DISPLAY")
    with virtual_display() as again:
        assert again == xdisplay and os.environ["DISPLAY"] == again
    assert os.environ.get("DISPLAY") == before


def _luminance(pixels):
    """WCAG relative luminance of sRGB uint8 pixels."""
    v = np.asarray(pixels, float) / 255
    v = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    return v @ [0.2126, 0.7152, 0.0722]


@pytest.mark.parametrize("background, expected_rgb", [(1.0, 255), (0.0, 128)])
def test_rendered_frames_are_legible_on_the_background(xdisplay, background, expected_rgb):
    """The paper's white background (and the grey option): cross, messages and feedback in dark ink."""
    from experiments.runner import WindowScreen, open_window

    config = ExperimentConfig(fullscreen=False, screen_size=(320, 240), background=background)
    win = open_window(config, fullscreen=False)
    try:
        screen = WindowScreen(win, None, config, fps=60)
        shots = {}
        for name, stim, text in [
            ("fixation", screen.fixation, None),
            ("message", screen.text, "Practice done."),
            ("feedback", screen.text, "Too slow!"),
        ]:
            if text is not None:
                stim.text = text
            stim.draw()
            shots[name] = np.asarray(win.getMovieFrame(buffer="back"))[..., :3]
            win.movieFrames = []
            win.clearBuffer()
    finally:
        win.close()
    for name, shot in shots.items():
        corner = shot[:10, :10].reshape(-1, 3)
        assert np.abs(corner.astype(int) - expected_rgb).max() <= 1, name  # the background itself
        ink = _luminance(shot.reshape(-1, 3)).min()
        contrast = (_luminance(corner[:1])[0] + 0.05) / (ink + 0.05)
        assert contrast >= (15 if background == 1.0 else 4.5), (name, contrast)  # WCAG AA is 4.5
        assert (shot.reshape(-1, 3).max(axis=1) < 64).sum() > 20, name  # dark text is drawn, not a speck
