"""Helpers of the online-collection tests: configs, a loopback server, a throwaway PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path


def serve_config(files: dict, db: str, **extra):
    from experiments.online.config import load_serve_config

    return load_serve_config({"experiment_config": str(files["experiment"]), "game_config": str(files["game"]),
                              "images": str(files["images"]), "labels": str(files["labels"]), "db": db,
                              "admin_token": "admin-secret-token", "completion_code": "C0DE42",
                              "completion_url": "http://127.0.0.1:9/done?cc={code}", **extra})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app):
    """uvicorn serving ``app`` on a loopback port in a thread; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           limit_concurrency=1000, backlog=2048))
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


@contextlib.contextmanager
def postgres_cluster():
    """A throwaway PostgreSQL cluster in a temporary folder (initdb + pg_ctl on a loopback port),
    run as the ``postgres`` user when this process is root; yields its SQLAlchemy URL. Raises
    RuntimeError saying why when it cannot start."""
    initdb = shutil.which("initdb") or next(iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None)
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install -y postgresql)")
    bindir = Path(os.path.realpath(initdb)).parent
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            raise RuntimeError("running as root without runuser to start PostgreSQL as another user")
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            raise RuntimeError("running as root and no 'postgres' user to start PostgreSQL as") from None
        prefix = ["runuser", "-u", "postgres", "--"]
    folder = Path(tempfile.mkdtemp(prefix="clickme-pg-"))
    if prefix:
        shutil.chown(folder, "postgres")
    data, port = folder / "data", free_port()

    def run(*cmd, timeout=60):
        done = subprocess.run([*prefix, *map(str, cmd)], capture_output=True, text=True, timeout=timeout)
        if done.returncode:
            raise RuntimeError(f"{Path(cmd[0]).name} failed: {done.stderr.strip()[-300:]}")

    try:
        run(bindir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        run(bindir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-t", "30", "start", "-o",
            f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=200")
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(bindir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
