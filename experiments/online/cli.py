"""``clickme serve`` (both tasks in the browser) and ``clickme serve export`` (the lab formats)."""

from __future__ import annotations

import os
from pathlib import Path

from clickme_analysis.cliargs import existing_path, nonnegative_int, positive_int


def register(subparsers) -> None:
    """Add ``serve`` with its ``export`` action."""
    serve = subparsers.add_parser(
        "serve", help="serve the experiment and the ClickMe game in the browser (online collection)",
        description="Serve the rapid-categorization experiment (jsPsych) and the ClickMe game over HTTP, "
                    "configured by the lab versions' TOML files, storing every trial and round in SQLite or "
                    "PostgreSQL as it arrives (docs/online.md). `clickme serve export` writes the PsychoPy "
                    "versions' files.")
    serve.add_argument("--config", type=existing_path, help="serve TOML (keys of ServeConfig, top level or [serve])")
    serve.add_argument("--experiment", dest="experiment_config", type=existing_path,
                       help="experiment TOML of `clickme experiment run`")
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
    serve.add_argument("--admin-token", help="admin token (default $CLICKME_ADMIN_TOKEN, else a random one)")
    serve.add_argument("--completion-code", help="code shown at the end of a task")
    serve.add_argument("--completion-url", help="redirect at the end; {code} is replaced by the code")
    serve.add_argument("--public-url", help="base URL printed for participants (default http://HOST:PORT)")
    serve.add_argument("--check", action="store_true", help="load everything, print the URLs, do not serve")
    serve.set_defaults(func=_serve)
    sub = serve.add_subparsers(dest="serve_command", metavar="ACTION")
    export = sub.add_parser("export", help="write the trial CSVs and the game log from the database",
                            description="Database -> OUT/experiment/data/<participant>.csv|json, "
                                        "OUT/experiment/browser_timing.csv, OUT/game/game_log.jsonl, "
                                        "OUT/game/session.json (the PsychoPy versions' formats).")
    export.add_argument("--db", required=True, help="database URL the server used")
    export.add_argument("--out", type=Path, required=True, help="output folder")
    export.set_defaults(func=_export)


#: Seconds an idle participant connection stays open (a trial every ~2 s reuses it)
KEEP_ALIVE_S = 30

_OPTIONS = ("experiment_config", "game_config", "images", "labels", "partner", "classes", "device", "db", "host",
            "port", "workers", "admin_token", "completion_code", "completion_url", "public_url")


def _settings(args):
    from experiments.online.config import load_serve_config

    overrides = {k: (str(v) if isinstance(v, Path) else v) for k in _OPTIONS if (v := getattr(args, k)) is not None}
    if "admin_token" not in overrides and os.environ.get("CLICKME_ADMIN_TOKEN"):
        overrides["admin_token"] = os.environ["CLICKME_ADMIN_TOKEN"]
    return load_serve_config(args.config, overrides)


def urls(config, admin_token: str) -> list[str]:
    """The lines ``clickme serve`` prints: participant URLs per task and the admin URL."""
    base = (config.public_url or f"http://{config.host}:{config.port}").rstrip("/")
    params = "PROLIFIC_PID={{%PROLIFIC_PID%}}&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}"
    lines = []
    if config.experiment_config:
        lines.append(f"participant URL (experiment): {base}/experiment?{params}")
    if config.images:
        lines.append(f"participant URL (game):       {base}/game?{params}")
    lines.append(f"admin URL:                    {base}/admin?token={admin_token}")
    return lines


def _serve(args) -> int:
    import dataclasses
    import json
    import secrets

    from experiments.online.app import SETTINGS_ENV, Online, create_app, web_libraries

    config = _settings(args)
    web_libraries()
    if not config.admin_token:
        config = dataclasses.replace(config, admin_token=secrets.token_urlsafe(24))
    if args.check or config.workers > 1:
        Online(config).store.dispose()  # every file and setting loads (errors exit 2 here, not in a worker)
    for line in urls(config, config.admin_token):
        print(line, flush=True)
    if args.check:
        return 0
    import uvicorn

    if config.workers == 1:
        uvicorn.run(create_app(config), host=config.host, port=config.port, log_level="warning",
                    timeout_keep_alive=KEEP_ALIVE_S)
    else:
        os.environ[SETTINGS_ENV] = json.dumps(config.to_dict())
        uvicorn.run("experiments.online.app:create_app_from_env", factory=True, host=config.host,
                    port=config.port, workers=config.workers, log_level="warning", timeout_keep_alive=KEEP_ALIVE_S)
    return 0


def _export(args) -> int:
    from experiments.online.export import export_all
    from experiments.online.storage import Store

    store = Store(args.db, create=False)
    try:
        for path in export_all(store, args.out):
            print(path)
    finally:
        store.dispose()
    return 0
