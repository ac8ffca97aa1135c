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
``GET /admin``, ``/admin/summary``,       admin token
``/admin/export.zip``,                    (the same token)
``POST /admin/release``                   (the same token)
========================================  ===========================================================

Refusals: 413 a body over ``max_body_bytes`` (before parsing), 408 a body sent too slowly, 422
malformed post (the reply quotes at most a short excerpt of the input) or a trial/round not in
the participant's design, 401 no token, 403 wrong token (whether or not the id exists) or an id
not on the allow-list, 409 a different post already holds that place, an idempotency key reused
with another body, no accepted browser check yet, or completion with data missing; 429 too many
starts from one address or a second partner query in flight. A refused post stores nothing.
The routes are in :mod:`~experiments.online.pages`, :mod:`~experiments.online.participants` and
:mod:`~experiments.online.admin`.
"""

import concurrent.futures
import contextlib
import gc
import json
import os
import secrets
import time
from pathlib import Path

from clickme_analysis.errors import InputError
from experiments.online import admin, pages, participants
from experiments.online.config import ServeConfig, load_serve_config, read_allow_list
from experiments.online.guard import Guard, InFlight, RateLimit
from experiments.online.pages import http_error
from experiments.online.storage import Store
from experiments.online.tasks import ExperimentTask, GameTask, trial_places
from experiments.online.writer import GroupWriter

WEB = Path(__file__).resolve().parent / "web"
#: Environment variable that hands the settings to uvicorn worker processes
SETTINGS_ENV = "CLICKME_SERVE_SETTINGS"
#: Characters of an input quoted in a 422 reply
EXCERPT = 40
#: Seconds a checked participant's credentials are reused without reading the database
CREDENTIALS_TTL_S = 30.0


def web_libraries() -> Path:
    """``web/node_modules`` (jsPsych); InputError saying how to install it when absent."""
    lib = WEB / "node_modules"
    if not (lib / "jspsych" / "dist" / "index.browser.min.js").is_file():
        raise InputError(
            "jsPsych is not installed; run scripts/install_web_deps.sh (npm install from the npm "
            "registry into experiments/online/web)",
            path=lib,
        )
    return lib


class Online:
    """Everything a request may read besides the database: settings, the two tasks (read-only),
    the partner's executor and the per-process limits (starts per address, queries in flight)."""

    def __init__(self, config: ServeConfig, store: Store | None = None):
        self.config = config
        self.admin_token = config.admin_token or secrets.token_urlsafe(24)
        self.store = store or Store(config.db, hold_s=60 * config.hold_minutes)
        #: stores trials and rounds, many to a transaction under load
        self.writer = GroupWriter(self.store)
        self.allowed = read_allow_list(config.allow_list) if config.allow_list else None
        self.experiment = ExperimentTask(config.experiment_config) if config.experiment_config else None
        self.game = (
            GameTask(
                config.game_config,
                config.images,
                config.labels,
                config.partner or None,
                config.classes or None,
                config.device,
                config.standin_threshold,
                self.store.secret("partner_signing_key"),
            )
            if config.images
            else None
        )
        self.starts = RateLimit(config.start_limit_per_minute)
        self.querying = InFlight()
        #: the partner's forwards run here, never in the threads that store posts
        self.partner_pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="partner")
        #: participant pk -> design (a design never changes once stored)
        self.designs: dict[int, dict] = {}
        #: participant pk -> trial_places of its experiment design
        self._places: dict[int, dict] = {}
        #: (task, id) -> (credentials row, expiry): checked sessions, re-read every CREDENTIALS_TTL_S
        self._credentials: dict[tuple, tuple] = {}

    def task(self, name: str):
        task = self.experiment if name == "experiment" else self.game if name == "game" else None
        if task is None:
            raise http_error(404, f"task {name!r} is not served here")
        return task

    def credentials(self, task: str, participant_id: str):
        """:meth:`Store.credentials`, kept for :data:`CREDENTIALS_TTL_S` once the browser check
        is accepted (the steady state of trial posts: one query fewer per post). An admin
        release reaches other worker processes within that time."""
        key = (task, participant_id)
        now = time.monotonic()
        hit = self._credentials.get(key)
        if hit is not None and hit[1] > now:
            return hit[0]
        row = self.store.credentials(task, participant_id)
        if row is not None and (row["browser"] or {}).get("accepted"):
            if len(self._credentials) > 100_000:
                self._credentials.clear()
            self._credentials[key] = (row, now + CREDENTIALS_TTL_S)
        return row

    def credentials_cached(self, task: str, participant_id: str) -> bool:
        """Whether :meth:`credentials` would answer without reading the database."""
        hit = self._credentials.get((task, participant_id))
        return hit is not None and hit[1] > time.monotonic()

    def forget(self, task: str, participant_id: str) -> None:
        self._credentials.pop((task, participant_id), None)

    def trial_places(self, pk: int, design: dict) -> dict:
        """:func:`~experiments.online.tasks.trial_places` of a participant's design, made once."""
        places = self._places.get(pk)
        if places is None:
            if len(self._places) > 100_000:
                self._places.clear()
            places = self._places[pk] = trial_places(design)
        return places

    def design(self, pk: int) -> dict:
        design = self.designs.get(pk)
        if design is None:
            design = self.store.design(pk)
            if len(self.designs) > 100_000:
                self.designs.clear()
            self.designs[pk] = design
        return design


def _excerpt(value) -> str:
    text = repr(value)
    return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."


def validation_message(errors) -> dict:
    """A 422 reply from pydantic's errors: where, what was expected, a short excerpt of the input.

    Examples
    --------
    >>> validation_message([{"loc": ("body", "x", 2), "msg": "Input should be finite", "input": float("nan")}])
    {'detail': "field 'x.2': Input should be finite (got nan)",
     'errors': [{'field': 'x.2', 'message': 'Input should be finite'}]}
    """
    items = []
    for e in list(errors)[:5]:
        field = ".".join(str(part) for part in e.get("loc", ()) if part != "body")
        items.append({"field": field, "message": str(e.get("msg", ""))[:200]})
    first = list(errors)[0] if errors else {}
    got = f" (got {_excerpt(first['input'])})" if "input" in first and not isinstance(first["input"], dict) else ""
    head = f"field {items[0]['field']!r}: {items[0]['message']}{got}" if items else "malformed post"
    return {"detail": head, "errors": items}


def _handlers(app) -> None:
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse

    @app.exception_handler(InputError)
    async def _input_error(request, err: InputError):
        return JSONResponse(status_code=422, content={"detail": err.message, "field": err.field})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request, err: RequestValidationError):
        return JSONResponse(status_code=422, content=validation_message(err.errors()))


def create_app(config: ServeConfig, store: Store | None = None):
    """The FastAPI application for ``config`` (tests pass an in-memory ``store``)."""
    from fastapi import FastAPI
    from fastapi.staticfiles import StaticFiles

    ctx = Online(config, store)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        import anyio.to_thread

        # database-bound handlers: a few threads queue better than 40 that contend for the GIL
        anyio.to_thread.current_default_thread_limiter().total_tokens = int(os.environ.get("CLICKME_THREADS", "8"))
        # what the imports and settings made lives as long as the process: kept out of the
        # collector's full passes, which scanned it all (110-170 ms, two dozen times in a
        # benchmark run: the offered-load p99) and now scan what requests made (about 10 ms)
        gc.collect()
        gc.freeze()
        yield
        ctx.partner_pool.shutdown(wait=False, cancel_futures=True)
        ctx.writer.close()

    app = FastAPI(title="clickme serve", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.online = ctx
    app.add_middleware(Guard, max_body_bytes=config.max_body_bytes, body_timeout_s=config.body_timeout_s)
    app.mount("/static/app", StaticFiles(directory=WEB / "app"), name="app")
    if (WEB / "node_modules").is_dir():
        app.mount("/static/lib", StaticFiles(directory=WEB / "node_modules"), name="lib")
    _handlers(app)
    for module in (pages, participants, admin):
        app.include_router(module.router)
    return app


def create_app_from_env():
    """uvicorn factory for worker processes: the settings come from ``$CLICKME_SERVE_SETTINGS``."""
    raw = os.environ.get(SETTINGS_ENV)
    if not raw:
        raise InputError(f"${SETTINGS_ENV} is not set (start the server with `clickme serve`)", field=SETTINGS_ENV)
    return create_app(load_serve_config(json.loads(raw)))
