"""A private X server (Xvfb) for running PsychoPy windows on machines without a screen.

pyglet keeps the X connection it opened first for the life of the process, so a process gets
one Xvfb: the first :func:`virtual_display` starts it, later ones (the game and experiment demo
stages, both test fixtures) reuse it, and it is stopped when the process exits.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

_process_server: dict = {}  # {"proc": Popen, "name": ":N"}: the one Xvfb this process started


def xvfb_available() -> bool:
    """Whether the ``Xvfb`` program is on the PATH."""
    return shutil.which("Xvfb") is not None


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()


def _start_server(size, first, tries, timeout) -> str:
    running = _process_server.get("proc")
    if running is not None and running.poll() is None:
        return _process_server["name"]
    if not xvfb_available():
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb, or `make system-deps`)")
    last_error = ""
    for number in range(first, first + tries):
        socket = Path(f"/tmp/.X11-unix/X{number}")
        if Path(f"/tmp/.X{number}-lock").exists() or socket.exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not socket.exists():
            time.sleep(0.05)
        if proc.poll() is None and socket.exists():
            _process_server.update(proc=proc, name=f":{number}")
            atexit.register(_stop, proc)
            return f":{number}"
        proc.kill()
        last_error = (proc.stderr.read() or b"").decode(errors="replace").strip()[-300:]
    raise RuntimeError(f"no Xvfb server could start (last error: {last_error or 'timeout'})")


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1024, 768), first: int = 90, tries: int = 40, timeout: float = 10.0):
    """Point ``DISPLAY`` at this process's private Xvfb (started on a free display if needed).

    Yields the display name (``:N``) and restores ``DISPLAY`` on exit; the server itself lives
    until the process ends (the first call's ``size`` holds). Raises RuntimeError when Xvfb is
    missing or no server starts (the message says why), so callers can fall back or skip.
    """
    name = _start_server(size, first, tries, timeout)
    previous = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = name
    try:
        yield name
    finally:
        if previous is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = previous
