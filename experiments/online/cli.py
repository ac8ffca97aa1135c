"""``clickme serve`` (both tasks in the browser) and ``clickme serve export`` (the lab formats)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import socket
from collections import Counter
from pathlib import Path

from clickme_analysis.cliargs import existing_path, nonnegative_int, positive_int
from clickme_analysis.errors import InputError
from experiments.online.config import load_serve_config
from experiments.online.export import STATUSES, export_all, sessions_table
from experiments.online.storage import Store


def register(subparsers) -> None:
    """Add ``serve`` with its ``export`` action."""
    serve = subparsers.add_parser(
        "serve",
        help="serve the experiment and the ClickMe game in the browser (online collection)",
        description="Serve the rapid-categorization experiment (jsPsych) and the ClickMe game over HTTP, "
        "configured by the lab versions' TOML files, storing every trial and round in SQLite or "
        "PostgreSQL as it arrives (docs/online.md). `clickme serve export` writes the PsychoPy "
        "versions' files.",
    )
    serve.add_argument("--config", type=existing_path, help="serve TOML (keys of ServeConfig, top level or [serve])")
    serve.add_argument(
        "--experiment", dest="experiment_config", type=existing_path, help="experiment TOML of `clickme experiment run`"
    )
    serve.add_argument("--game-config", type=existing_path, help="game TOML of `clickme game`")
    serve.add_argument("--images", type=existing_path, help="game images folder (<image_id>.png)")
    serve.add_argument("--labels", type=existing_path, help="game labels.csv (image_id, label[, category])")
    serve.add_argument("--partner", type=existing_path, help="partner checkpoint (default: the stand-in)")
    serve.add_argument("--classes", type=existing_path, help="class names of the checkpoint, one per line")
    serve.add_argument("--device", help="torch device of the partner (default cpu)")
    serve.add_argument("--db", help="database URL (default sqlite:///online.db; postgresql+psycopg://...)")
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=nonnegative_int, help="port (default 8000)")
    serve.add_argument("--workers", type=positive_int, help="uvicorn worker processes (default 1)")
    serve.add_argument(
        "--admin-token", help="admin token, >= 128 bits (default $CLICKME_ADMIN_TOKEN, else a random one, printed once)"
    )
    serve.add_argument("--completion-code", help="code shown at the end of the experiment")
    serve.add_argument("--game-completion-code", help="code shown at the end of the game (not the experiment's)")
    serve.add_argument("--allow-list", type=existing_path, help="file of the participant ids allowed, one per line")
    serve.add_argument(
        "--access-log",
        action="store_true",
        default=None,
        help="log every request to stderr (address, method, path without query, status, ms)",
    )
    serve.add_argument("--completion-url", help="redirect at the end; {code} is replaced by the code")
    serve.add_argument("--public-url", help="base URL printed for participants (default http://HOST:PORT)")
    serve.add_argument("--check", action="store_true", help="load everything, print the URLs, do not serve")
    serve.set_defaults(func=_serve)
    sub = serve.add_subparsers(dest="serve_command", metavar="ACTION")
    export = sub.add_parser(
        "export",
        help="write the trial CSVs and the game log from the database",
        description="Database -> OUT/experiment/data/<participant>.csv|json, "
        "OUT/experiment/browser_timing.csv, OUT/game/game_log.jsonl, "
        "OUT/game/session.json (the PsychoPy versions' formats).",
    )
    export.add_argument("--db", required=True, help="database URL the server used")
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.add_argument(
        "--all", action="store_true", help="export every session (default: complete ones only; sessions.csv lists all)"
    )
    export.set_defaults(func=_export)


#: Seconds an idle participant connection stays open (a trial every ~2 s reuses it)
KEEP_ALIVE_S = 30

_OPTIONS = (
    "experiment_config",
    "game_config",
    "images",
    "labels",
    "partner",
    "classes",
    "device",
    "db",
    "host",
    "port",
    "workers",
    "admin_token",
    "completion_code",
    "game_completion_code",
    "completion_url",
    "public_url",
    "allow_list",
    "access_log",
)


def _settings(args):
    overrides = {k: (str(v) if isinstance(v, Path) else v) for k in _OPTIONS if (v := getattr(args, k)) is not None}
    if "admin_token" not in overrides and os.environ.get("CLICKME_ADMIN_TOKEN"):
        overrides["admin_token"] = os.environ["CLICKME_ADMIN_TOKEN"]
    return load_serve_config(args.config, overrides)


def urls(config) -> list[str]:
    """The lines ``clickme serve`` prints: participant URLs per task and the admin page (the
    admin token is never put in a URL: the page asks for it)."""
    base = (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")
    params = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    lines = []
    if config.experiment_config:
        lines.append(f"participant URL (experiment): {base}/experiment?{params}")
    if config.images:
        lines.append(f"participant URL (game):       {base}/game?{params}")
    lines.append(f"admin page:                   {base}/admin (any user name; the admin token as password)")
    return lines


def check_port(host: str, port: int) -> None:
    """InputError when ``host:port`` cannot be bound (in use, or not this machine's address)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
    except OSError as err:
        raise InputError(f"cannot listen on {host}:{port}: {err.strerror or err}", field="port") from None


def check_database(url: str) -> None:
    """``--check``: the database opens as a clickme serve database, read-only (nothing written)."""
    try:
        from sqlalchemy.engine import make_url

        database = make_url(url).database if url.startswith("sqlite") else None
    except Exception:  # a bad URL: Store says why
        database = None
    if url.startswith("sqlite") and not (database and Path(database).is_file()):
        return  # an in-memory database, or a file the server will make
    Store(url, create=False, allow_empty=True).dispose()


def _serve(args) -> int:
    # the server's modules import FastAPI and uvicorn at their top: loaded only to serve
    from experiments.online.app import SETTINGS_ENV, Online, create_app, web_libraries
    from experiments.online.guard import HEADER_TIMEOUT_ENV, GuardedHttpToolsProtocol

    config = _settings(args)
    web_libraries()
    made_token = not config.admin_token
    if made_token:
        config = dataclasses.replace(config, admin_token=secrets.token_urlsafe(24))
    if args.check:
        check_database(config.db)
        Online(config, Store("sqlite://")).store.dispose()  # every file and setting loads; nothing written
    else:
        check_port(config.host, config.port)
        if config.workers > 1:
            Online(config).store.dispose()  # errors exit 2 here, not in a worker
    for line in urls(config):
        print(line, flush=True)
    if made_token:
        print(
            f"admin token (made for this run; keep one with --admin-token or $CLICKME_ADMIN_TOKEN): "
            f"{config.admin_token}",
            flush=True,
        )
    if args.check:
        return 0
    import uvicorn

    if config.access_log:
        logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
        logging.getLogger("clickme.serve.access").setLevel(logging.INFO)
    os.environ[HEADER_TIMEOUT_ENV] = str(config.header_timeout_s)
    options = dict(
        host=config.host,
        port=config.port,
        log_level="warning",
        access_log=False,
        timeout_keep_alive=KEEP_ALIVE_S,
        http=GuardedHttpToolsProtocol,
    )
    if config.workers == 1:
        uvicorn.run(create_app(config), **options)
    else:
        os.environ[SETTINGS_ENV] = json.dumps(config.to_dict())
        uvicorn.run("experiments.online.app:create_app_from_env", factory=True, workers=config.workers, **options)
    return 0


def _export(args) -> int:
    store = Store(args.db, create=False)
    try:
        written = export_all(store, args.out, include="all" if args.all else "complete")
        for path in written:
            print(path)
        print_sessions(store)
    finally:
        store.dispose()
    return 0


def print_sessions(store) -> None:
    """Sessions by task and status (what ``serve export`` and ``experiment analyze`` list)."""
    counts = Counter((r["task"], r["session_status"]) for r in sessions_table(store))
    for task in ("experiment", "game"):
        if any(t == task for t, _ in counts):
            print(f"{task} sessions: " + ", ".join(f"{s} {counts[(task, s)]}" for s in STATUSES))
