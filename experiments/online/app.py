"""The web application of ``clickme serve`` (FastAPI).

Pages: ``/experiment`` and ``/game`` (participants; ids from the URL as recruitment platforms
pass them: ``PROLIFIC_PID``, ``STUDY_ID``, ``SESSION_ID``), ``/admin`` (token). The browser
libraries (jsPsych and its plugins) are served from ``web/node_modules``, installed by
``scripts/install_web_deps.sh``; nothing is fetched from elsewhere at run time.

API (JSON; every participant call carries ``Authorization: Bearer <token>``, the secret the
participant's browser made at the start; only its hash is stored):

========================================  ===========================================================
``POST /api/{task}/start``                create or resume the participant; returns design and progress
``POST /api/{task}/browser``              the browser check (refresh rate, screen, user agent)
``POST /api/experiment/trials``           one trial (idempotency key; 201 stored, 200 a retry's copy)
``POST /api/game/query``                  the partner's top-k on the round's points (signed answer)
``POST /api/game/rounds``                 one round (idempotency key)
``POST /api/{task}/complete``             all data stored: completion code and redirect
``GET /admin``, ``/admin/summary``,       admin token (header or ``?token=``)
``/admin/export.zip``                     (the same token)
========================================  ===========================================================

Refusals: 422 malformed post or a trial/round not in the participant's design, 401 no token,
403 wrong token, 404 unknown participant or file, 409 a different post already holds that
place (or completion with data missing). A refused post stores nothing.
"""

import contextlib
import hashlib
import io
import json
import os
import secrets
import tempfile
import zipfile
from pathlib import Path

from clickme_analysis.errors import InputError
from experiments.online.config import ServeConfig, load_serve_config
from experiments.online.storage import ALLOCATING, TASKS, Store, now_iso, token_matches

WEB = Path(__file__).resolve().parent / "web"
#: Environment variable that hands the settings to uvicorn worker processes
SETTINGS_ENV = "CLICKME_SERVE_SETTINGS"


def web_libraries() -> Path:
    """``web/node_modules`` (jsPsych); InputError saying how to install it when absent."""
    lib = WEB / "node_modules"
    if not (lib / "jspsych" / "dist" / "index.browser.min.js").is_file():
        raise InputError("jsPsych is not installed; run scripts/install_web_deps.sh (npm install from the npm "
                         "registry into experiments/online/web)", path=lib)
    return lib


class Online:
    """Everything a request may read besides the database: settings and the two tasks (read-only)."""

    def __init__(self, config: ServeConfig, store: Store | None = None):
        from experiments.online.tasks import ExperimentTask, GameTask

        self.config = config
        self.admin_token = config.admin_token or secrets.token_urlsafe(24)
        self.store = store or Store(config.db)
        self.experiment = ExperimentTask(config.experiment_config) if config.experiment_config else None
        secret = hashlib.sha256(b"clickme-partner:" + self.admin_token.encode()).digest()
        self.game = GameTask(config.game_config, config.images, config.labels, config.partner or None,
                             config.classes or None, config.device, config.standin_threshold, secret) \
            if config.images else None

    def task(self, name: str):
        task = self.experiment if name == "experiment" else self.game if name == "game" else None
        if task is None:
            raise _http(404, f"task {name!r} is not served here")
        return task


def _http(status: int, detail: str, **extra):
    from fastapi import HTTPException

    return HTTPException(status_code=status, detail={"message": detail, **extra} if extra else detail)


def _bearer(authorization: str | None) -> str | None:
    if not authorization or not authorization.startswith("Bearer "):
        return None
    return authorization[len("Bearer "):].strip() or None


def _authorised(ctx: Online, task: str, participant_id: str, authorization: str | None):
    token = _bearer(authorization)
    if token is None:
        raise _http(401, "missing 'Authorization: Bearer <token>'")
    row = ctx.store.participant(task, participant_id)
    if row is None:
        raise _http(404, f"no {task} participant {participant_id!r}; start the task first")
    if not token_matches(token, row["token_hash"]):
        raise _http(403, "this token does not belong to that participant")
    if row["status"] == ALLOCATING:
        raise _http(503, "the session is being set up; retry")
    return row


def _session_label(row) -> str:
    return f"{row['participant_id']}_{row['created']}"


def create_app(config: ServeConfig, store: Store | None = None):
    """The FastAPI application for ``config`` (tests pass an in-memory ``store``)."""
    from fastapi import FastAPI, Header, Request
    from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
    from fastapi.staticfiles import StaticFiles

    from experiments.online import models

    ctx = Online(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        import anyio.to_thread

        # database-bound handlers: a few threads queue better than 40 that contend for the GIL
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(os.environ.get("CLICKME_THREADS", "8"))
        yield

    app = FastAPI(title="clickme serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.online = ctx
    app.mount("/static/app", StaticFiles(directory=WEB / "app"), name="app")
    if (WEB / "node_modules").is_dir():
        app.mount("/static/lib", StaticFiles(directory=WEB / "node_modules"), name="lib")

    @app.exception_handler(InputError)
    async def _input_error(request: Request, err: InputError):
        return JSONResponse(status_code=422, content={"detail": err.message, "field": err.field})

    # ------------------------------------------------------------------ pages and files
    @app.get("/", response_class=HTMLResponse)
    def index():
        tasks = [t for t in TASKS if getattr(ctx, t) is not None]
        links = "".join(f'<li><a href="/{t}?PROLIFIC_PID=YOUR_ID">{t}</a></li>' for t in tasks)
        return f"<!doctype html><title>clickme serve</title><h1>clickme serve</h1><ul>{links}</ul>"

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon():
        return Response(status_code=204)

    @app.get("/experiment", response_class=FileResponse)
    def experiment_page():
        ctx.task("experiment")
        return FileResponse(WEB / "experiment.html", headers={"Cache-Control": "no-store"})

    @app.get("/game", response_class=FileResponse)
    def game_page():
        ctx.task("game")
        return FileResponse(WEB / "game.html", headers={"Cache-Control": "no-store"})

    @app.get("/stimuli/{number}.png")
    def stimulus(number: int):
        task = ctx.task("experiment")
        if not 0 <= number < len(task.stimuli):
            raise _http(404, f"no stimulus {number}")
        return FileResponse(task.stimuli[number], headers={"Cache-Control": "max-age=86400"})

    @app.get("/images/{image_id}.png")
    def game_image(image_id: str):
        task = ctx.task("game")
        if image_id not in task.images:
            raise _http(404, f"no image {image_id!r}")
        from PIL import Image

        buffer = io.BytesIO()
        Image.fromarray(task.images[image_id].image).save(buffer, format="PNG")
        return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "max-age=86400"})

    # ------------------------------------------------------------------ participants
    @app.post("/api/{task}/start")
    def start(task: str, body: models.StartIn):
        handler = ctx.task(task)
        design_for = (lambda index: handler.design(index)) if task == "experiment" \
            else (lambda index: handler.design(body.participant_id))
        row = ctx.store.participant(task, body.participant_id)
        created = False
        if row is None:
            row, created = ctx.store.create_participant(task, body.participant_id, body.token, design_for,
                                                        study_id=body.study_id, session_id=body.session_id)
        if not token_matches(body.token, row["token_hash"]):
            raise _http(403, f"participant {body.participant_id!r} started in another browser; continue there")
        if row["status"] == ALLOCATING:  # set up by a request still running, or by a killed server
            ctx.store.update_participant(row["id"], design=design_for(row["participant_index"]), status="started")
            row = ctx.store.participant(task, body.participant_id)
        return _progress(ctx, task, row, created)

    @app.post("/api/{task}/browser")
    def browser(task: str, body: models.BrowserIn, authorization: str | None = Header(None)):
        ctx.task(task)
        row = _authorised(ctx, task, body.participant_id, authorization)
        cfg = ctx.config
        ok = cfg.min_refresh_hz <= body.refresh_hz <= cfg.max_refresh_hz and not body.mobile
        ctx.store.update_participant(row["id"], browser={**body.model_dump(), "accepted": ok, "time": now_iso()})
        if not ok:
            raise _http(422, f"this study needs a desktop browser refreshing at {cfg.min_refresh_hz:g}-"
                             f"{cfg.max_refresh_hz:g} Hz; measured {body.refresh_hz:.1f} Hz"
                             f"{' on a mobile device' if body.mobile else ''}")
        return {"accepted": True}

    @app.post("/api/experiment/trials")
    def post_trial(body: models.TrialIn, authorization: str | None = Header(None)):
        task = ctx.task("experiment")
        row = _authorised(ctx, "experiment", body.participant_id, authorization)
        trial = task.trial_row(body.participant_id, row["design"], body)
        status, stored = ctx.store.insert_once("trials", row["id"], body.idempotency_key, {
            "phase": body.phase, "block": body.block, "trial": body.trial, "row": trial,
            "flagged": bool(trial["timing_flag"])})
        return _stored_reply(status, {"correct": stored["row"]["correct"] if stored else None,
                                      "timing_flag": stored["row"]["timing_flag"] if stored else None})

    @app.post("/api/game/query")
    def query(body: models.QueryIn, authorization: str | None = Header(None)):
        task = ctx.task("game")
        row = _authorised(ctx, "game", body.participant_id, authorization)
        if len(body.x) != len(body.y):
            raise _http(422, f"expected x and y of equal length, got {len(body.x)} and {len(body.y)}")
        return task.query(body.participant_id, row["design"], body.round, body.x, body.y)

    @app.post("/api/game/rounds")
    def post_round(body: models.RoundIn, authorization: str | None = Header(None)):
        task = ctx.task("game")
        row = _authorised(ctx, "game", body.participant_id, authorization)
        record = task.round_record(body.participant_id, _session_label(row), row["design"], body)
        status, stored = ctx.store.insert_once("rounds", row["id"], body.idempotency_key, {
            "round_number": body.round, "image_id": body.image_id, "record": record})
        rec = stored["record"] if stored else {}
        return _stored_reply(status, {"success": rec.get("success"), "points": rec.get("points")})

    @app.post("/api/{task}/complete")
    def complete(task: str, body: models.ParticipantIn, authorization: str | None = Header(None)):
        ctx.task(task)
        row = _authorised(ctx, task, body.participant_id, authorization)
        expected = len(row["design"]["trials"] if task == "experiment" else row["design"]["order"])
        done = len(ctx.store.rows("trials" if task == "experiment" else "rounds", row["id"]))
        if done < expected:
            raise _http(409, f"{expected - done} of {expected} {'trials' if task == 'experiment' else 'rounds'} "
                             f"are not stored yet")
        if row["status"] != "completed":
            ctx.store.update_participant(row["id"], status="completed", finished=now_iso())
        return _completion(ctx.config)

    # ------------------------------------------------------------------ admin
    def admin_check(request: Request, authorization: str | None):
        token = _bearer(authorization) or request.query_params.get("token")
        if token is None or not secrets.compare_digest(token.encode(), ctx.admin_token.encode()):
            raise _http(401, "admin token required (Authorization: Bearer <token> or ?token=)")

    @app.get("/admin/summary")
    def admin_summary(request: Request, authorization: str | None = Header(None)):
        admin_check(request, authorization)
        return summary(ctx.store)

    @app.get("/admin", response_class=HTMLResponse)
    def admin_page(request: Request, authorization: str | None = Header(None)):
        admin_check(request, authorization)
        return _admin_html(summary(ctx.store))

    @app.get("/admin/export.zip")
    def admin_export(request: Request, authorization: str | None = Header(None)):
        admin_check(request, authorization)
        from experiments.online.export import export_all

        with tempfile.TemporaryDirectory() as tmp:
            export_all(ctx.store, Path(tmp))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                for path in sorted(Path(tmp).rglob("*")):
                    if path.is_file():
                        archive.write(path, path.relative_to(tmp).as_posix())
        return Response(buffer.getvalue(), media_type="application/zip",
                        headers={"Content-Disposition": 'attachment; filename="clickme_export.zip"'})

    return app


def _stored_reply(status: str, extra: dict):
    from fastapi.responses import JSONResponse

    if status == "conflict":
        raise _http(409, "another post (a different idempotency key) already holds this trial or round")
    return JSONResponse(status_code=201 if status == "stored" else 200,
                        content={"status": status, **extra})


def _progress(ctx: Online, task: str, row, created: bool) -> dict:
    handler = ctx.task(task)
    reply = {"task": task, "participant_id": row["participant_id"], "created": created,
             "status": row["status"], "design": handler.client_view(row["design"])}
    if task == "experiment":
        from experiments.session import INSTRUCTIONS

        info = row["design"]["info"]
        cfg = handler.config
        reply["done"] = [[r["phase"], r["block"], r["trial"]] for r in ctx.store.rows("trials", row["id"])]
        reply["instructions"] = INSTRUCTIONS.format(target=info["target_key"].upper(),
                                                    distractor=info["distractor_key"].upper(),
                                                    n_training=cfg.n_training, cont="the space bar")
    else:
        rounds = [r["record"] for r in ctx.store.rows("rounds", row["id"])]
        reply["done"] = [r["round"] for r in rounds]
        reply["score"] = round(sum(r["points"] for r in rounds), 4)
    if row["status"] == "completed":
        reply["completion"] = _completion(ctx.config)
    return reply


def _completion(config: ServeConfig) -> dict:
    code = config.completion_code
    url = config.completion_url.replace("{code}", code) if config.completion_url else ""
    return {"completion_code": code, "redirect_url": url}


def summary(store: Store) -> dict:
    """Per-participant progress (admin page): stored trials or rounds, flagged timing."""
    counts = store.per_participant()
    people = []
    for p in store.all_participants():
        n, flagged = counts.get(p["id"], (0, 0))
        expected = len(p["design"].get("trials", p["design"].get("order", [])))
        people.append({"task": p["task"], "participant_id": p["participant_id"], "study_id": p["study_id"],
                       "session_id": p["session_id"], "status": p["status"], "created": p["created"],
                       "finished": p["finished"], "stored": n, "expected": expected, "timing_flagged": flagged,
                       "refresh_hz": (p["browser"] or {}).get("refresh_hz")})
    return {"counts": store.counts(), "participants": people}


def _admin_html(data: dict) -> str:
    from html import escape

    head = ["task", "participant_id", "study_id", "session_id", "status", "stored", "expected", "timing_flagged",
            "refresh_hz", "created", "finished"]
    rows = "".join("<tr>" + "".join(f"<td>{escape(str(p[h]) if p[h] is not None else '')}</td>" for h in head)
                   + "</tr>" for p in data["participants"])
    counts = ", ".join(f"{k}: {v}" for k, v in data["counts"].items())
    return (f"<!doctype html><meta charset='utf-8'><title>clickme serve: admin</title>"
            f"<style>td,th{{padding:2px 8px;font:13px monospace}}</style><h1>clickme serve</h1><p>{counts}</p>"
            f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>"
            f"<p>Export: <code>clickme serve export --db URL --out DIR</code> or /admin/export.zip</p>")


def create_app_from_env():
    """uvicorn factory for worker processes: the settings come from ``$CLICKME_SERVE_SETTINGS``."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise InputError(f"${SETTINGS_ENV} is not set (start the server with `clickme serve`)", field=SETTINGS_ENV)
    return create_app(load_serve_config(json.loads(raw)))
