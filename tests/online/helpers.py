"""Helpers of the online-collection tests: configs and a loopback server."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

#: The tests' admin token (>= 128 bits, as the server requires)
ADMIN = "tests-admin-token-0123456789abcdefXYZ"


def serve_config(files: dict, db: str, **extra):
    """The tiny study's settings; simulated sessions post as fast as they can, so the pacing
    check is off unless a test turns it on (``pacing_factor=0.8``)."""
    from experiments.online.config import load_serve_config

    return load_serve_config(
        {
            "experiment_config": str(files["experiment"]),
            "game_config": str(files["game"]),
            "images": str(files["images"]),
            "labels": str(files["labels"]),
            "db": db,
            "admin_token": ADMIN,
            "completion_code": "C0DE42",
            "game_completion_code": "G4ME42",
            "completion_url": "http://127.0.0.1:9/done?cc={code}",
            "pacing_factor": 0.0,
            "start_limit_per_minute": 0,
            **extra,
        }
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app):
    """uvicorn serving ``app`` on a loopback port in a thread, with the protocol ``clickme serve``
    uses (:class:`experiments.online.guard.GuardedHttpToolsProtocol`); yields the base URL."""
    import uvicorn

    from experiments.online.guard import GuardedHttpToolsProtocol

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_level="warning",
            limit_concurrency=1000,
            backlog=2048,
            http=GuardedHttpToolsProtocol,
            timeout_keep_alive=30,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
