"""A private X server (Xvfb) for running PsychoPy windows on machines without a screen."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path


def xvfb_available() -> bool:
    """Whether the ``Xvfb`` program is on the PATH."""
    return shutil.which("Xvfb") is not None


@contextlib.contextmanager
def virtual_display(size: tuple[int, int] = (1024, 768), first: int = 90, tries: int = 40, timeout: float = 10.0):
    """Start ``Xvfb`` on a free display number, point ``DISPLAY`` at it, stop it on exit.

    Yields the display name (``:N``). Raises RuntimeError when Xvfb is missing or no server
    starts (the message says why), so callers can fall back or skip.
    """
    if not xvfb_available():
        raise RuntimeError("Xvfb is not installed (apt-get install xvfb, or `make system-deps`)")
    last_error = ""
    for number in range(first, first + tries):
        if Path(f"/tmp/.X{number}-lock").exists() or Path(f"/tmp/.X11-unix/X{number}").exists():
            continue
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{size[0]}x{size[1]}x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and proc.poll() is None and not Path(f"/tmp/.X11-unix/X{number}").exists():
            time.sleep(0.05)
        if proc.poll() is None and Path(f"/tmp/.X11-unix/X{number}").exists():
            previous = os.environ.get("DISPLAY")
            os.environ["DISPLAY"] = f":{number}"
            try:
                yield f":{number}"
            finally:
                if previous is None:
                    os.environ.pop("DISPLAY", None)
                else:
                    os.environ["DISPLAY"] = previous
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:  # pragma: no cover
                    proc.kill()
            return
        proc.kill()
        last_error = (proc.stderr.read() or b"").decode(errors="replace").strip()[-300:]
    raise RuntimeError(f"no Xvfb server could start (last error: {last_error or 'timeout'})")
