"""Shared test fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def pytest_configure(config):
    """Import PsychoPy once in the main process before pytest-xdist starts its workers.

    PsychoPy's first import creates its user folder (``~/.psychopy3``); two workers doing that at
    once on a fresh machine race, and one fails to collect its tests.
    """
    if not hasattr(config, "workerinput"):  # the controller (or a run without -n)
        try:
            import psychopy.preferences  # noqa: F401
        except ImportError:
            pass


@pytest.fixture
def realdata():
    """Path to ``../shared/realdata``; skips the test cleanly when it is absent."""
    path = SHARED / "realdata"
    if not path.is_dir():
        pytest.skip(f"real data not available at {path}")
    return path


@pytest.fixture(scope="session")
def xdisplay():
    """The process's one private Xvfb for PsychoPy windows (shared by every test package).

    pyglet stays bound to the first X display a process opens, so all window tests share one
    server. Skips, saying why, when no X server can start.
    """
    from experiments.display import virtual_display

    try:
        with virtual_display(size=(1024, 768)) as name:
            from psychopy import logging

            logging.console.setLevel(logging.ERROR)
            yield name
    except RuntimeError as err:
        pytest.skip(f"no X server for PsychoPy windows: {err}")
