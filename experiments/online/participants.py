"""The participants' API of ``clickme serve``: start, browser check, trials, partner queries,
rounds, completion (see :mod:`experiments.online.app` for the table of routes and refusals).

The server enforces the study's rules, not the page: trials, rounds and completion need an
accepted browser check (the first accepted check is kept); test trials are scored here and their
targets never leave the server (the reply to a block's last trial carries the block's accuracy
for the page's feedback); a completed session whose pacing no person could keep, or a game whose
every round was skipped, is flagged and gets no completion code.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from experiments.online.pages import Authorization, Ctx, http_error
from experiments.online.schemas import BrowserIn, ParticipantIn, QueryIn, RoundIn, StartIn, TrialIn, body_hash
from experiments.online.storage import ALLOCATING, RELEASED, now_iso, token_hash, token_matches
from experiments.session import INSTRUCTIONS

router = APIRouter(prefix="/api")
#: Compared against when no participant has the id, so both refusals take the same time
_NOBODY = token_hash("")


def bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header (the scheme in any case).

    Examples
    --------
    >>> bearer("bearer abc"), bearer("Basic abc"), bearer(None)
    ('abc', None, None)
    """
    scheme, _, token = (authorization or "").strip().partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authorised(ctx, task: str, participant_id: str, authorization: str | None, *, checked: bool = True):
    """The participant's credentials row: 401 without a token, 403 with a wrong one (whether or
    not the id exists), 409 before an accepted browser check when ``checked``."""
    token = bearer(authorization)
    if token is None:
        raise http_error(401, "missing 'Authorization: Bearer <token>'")
    row = ctx.credentials(task, participant_id)
    known = row is not None and row["participant_id"] == participant_id
    if not token_matches(token, row["token_hash"] if known else _NOBODY) or not known:
        raise http_error(403, "this token does not belong to that participant (or the task was not started)")
    if row["status"] == ALLOCATING:
        raise http_error(503, "the session is being set up; retry")
    if checked and not (row["browser"] or {}).get("accepted"):
        raise http_error(409, "the browser check has not been passed; reload the page")
    return row


async def authorised_async(ctx, task: str, participant_id: str, authorization: str | None):
    """:func:`authorised` (browser check required) on the event loop when the participant's
    credentials are cached (the steady state of posts: no database read), else in a worker thread."""
    if ctx.credentials_cached(task, participant_id):
        return authorised(ctx, task, participant_id, authorization)
    return await run_in_threadpool(authorised, ctx, task, participant_id, authorization)


async def read_post(request: Request, model):
    """The request's JSON body as ``model``, parsed and validated in one pass by pydantic's own
    JSON parser (FastAPI's body parameters build Python objects first, then validate them).
    Malformed bodies raise the same 422 as a body parameter's."""
    kind = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if kind != "application/json" and not kind.endswith("+json"):
        raise RequestValidationError(
            [{"loc": ("body",), "msg": f"expected Content-Type: application/json, got {kind[:40]!r}", "type": "json"}]
        )
    raw = await request.body()
    if not raw:
        raise RequestValidationError([{"loc": ("body",), "msg": "Field required", "type": "missing"}])
    try:
        return model.model_validate_json(raw)
    except ValidationError as err:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in err.errors(include_url=False, include_context=False)]
        ) from None


async def design_async(ctx, pk: int) -> dict:
    """The participant's design: from memory, else read in a worker thread."""
    design = ctx.designs.get(pk)
    return design if design is not None else await run_in_threadpool(ctx.design, pk)


@router.post("/{task}/start")
def start(ctx: Ctx, task: str, body: StartIn, request: Request):
    handler = ctx.task(task)
    if not ctx.starts.allow(request.client.host if request.client else "-"):
        raise http_error(429, "too many sessions started from this address; wait a minute and reload")
    pid = body.participant_id
    if ctx.allowed is not None and pid not in ctx.allowed:
        raise http_error(403, f"participant id {pid!r} is not on this study's list; check the link")
    design_for = (lambda index: handler.design(index)) if task == "experiment" else (lambda index: handler.design(pid))
    row = ctx.store.participant(task, pid)
    created = False
    if row is None:
        row, created = ctx.store.create_participant(
            task, pid, body.token, design_for, study_id=body.study_id, session_id=body.session_id
        )
    if row["participant_id"] != pid:
        raise http_error(409, f"participant {row['participant_id']!r} (the same id in other case) started already")
    if row["token_hash"] == RELEASED and ctx.store.claim(row["id"], body.token):
        row = ctx.store.participant(task, pid)
    if not token_matches(body.token, row["token_hash"]):
        raise http_error(
            403,
            f"participant {pid!r} started in another browser; continue there, or ask the researcher to release your id",
        )
    if row["status"] == ALLOCATING:  # set up by a request still running, or by a killed server
        ctx.store.update_participant(row["id"], design=design_for(row["participant_index"]), status="started")
        row = ctx.store.participant(task, pid)
    return progress(ctx, task, row, created)


@router.post("/{task}/browser")
def browser(ctx: Ctx, task: str, body: BrowserIn, authorization: Authorization = None):
    ctx.task(task)
    row = authorised(ctx, task, body.participant_id, authorization, checked=False)
    if (row["browser"] or {}).get("accepted"):
        return {"accepted": True}  # the first accepted check is kept
    cfg = ctx.config
    ok = cfg.min_refresh_hz <= body.refresh_hz <= cfg.max_refresh_hz and not body.mobile
    values = {"browser": {**body.model_dump(), "accepted": ok, "time": now_iso()}}
    if not ok:
        values["participant_index"] = None  # a refused browser does not keep a counterbalancing list
    ctx.store.update_participant(row["id"], **values)
    if not ok:
        raise http_error(
            422,
            f"this study needs a desktop browser refreshing at {cfg.min_refresh_hz:g}-"
            f"{cfg.max_refresh_hz:g} Hz; measured {body.refresh_hz:.1f} Hz"
            f"{' on a mobile device' if body.mobile else ''}",
        )
    return {"accepted": True}


def _stored_reply(status: str, extra: dict):
    if status == "conflict":
        raise http_error(409, "another post (a different idempotency key) already holds this trial or round")
    if status == "reused":
        raise http_error(409, "this idempotency key was used for a different post")
    return JSONResponse(status_code=201 if status == "stored" else 200, content={"status": status, **extra})


@router.post("/experiment/trials")
async def post_trial(request: Request, authorization: Authorization = None):
    """One trial: checked and scored on the event loop, stored by the group writer (the
    busiest route: its context is taken from the request, not by a FastAPI dependency)."""
    ctx = request.app.state.online
    task = ctx.task("experiment")
    body = await read_post(request, TrialIn)
    row = await authorised_async(ctx, "experiment", body.participant_id, authorization)
    design = await design_async(ctx, row["id"])
    places = ctx.trial_places(row["id"], design)
    trial = task.trial_row(body.participant_id, design, body, places=places)
    ends_block = body.phase == "test" and places[(body.phase, body.block, body.trial)][1]
    status, stored, summary = await ctx.writer.insert(
        "trials",
        row["id"],
        body.idempotency_key,
        {
            "phase": body.phase,
            "block": body.block,
            "trial": body.trial,
            "row": trial,
            "flagged": bool(trial["timing_flag"]),
        },
        digest=body_hash(body),
        block=(body.phase, body.block) if ends_block else None,
    )
    reply = {"timing_flag": stored["row"]["timing_flag"] if stored else None}
    if body.phase == "training":
        reply["correct"] = stored["row"]["correct"] if stored else None
    elif stored and ends_block:
        reply["block_summary"] = summary
    return _stored_reply(status, reply)


@router.post("/game/query")
async def query(ctx: Ctx, request: Request, authorization: Authorization = None):
    task = ctx.task("game")
    body = await read_post(request, QueryIn)
    row = await authorised_async(ctx, "game", body.participant_id, authorization)
    if len(body.x) != len(body.y):
        raise http_error(422, f"expected x and y of equal length, got {len(body.x)} and {len(body.y)}")
    pk = row["id"]
    if not ctx.querying.enter(pk):
        raise http_error(429, "one partner query at a time")
    try:
        design = await design_async(ctx, pk)
        job = ctx.partner_pool.submit(task.query, body.participant_id, design, body.round, x=body.x, y=body.y)
    except BaseException:
        ctx.querying.leave(pk)
        raise
    job.add_done_callback(lambda _: ctx.querying.leave(pk))  # even when the page has gone away
    return await asyncio.wrap_future(job)


@router.post("/game/rounds")
async def post_round(ctx: Ctx, request: Request, authorization: Authorization = None):
    """One round: checked in a worker thread (up to 5,000 points), stored by the group writer."""
    task = ctx.task("game")
    body = await read_post(request, RoundIn)
    row = await authorised_async(ctx, "game", body.participant_id, authorization)
    label = f"{row['participant_id']}_{row['created']}"
    design = await design_async(ctx, row["id"])
    record = await run_in_threadpool(task.round_record, body.participant_id, label, design, body)
    status, stored, _ = await ctx.writer.insert(
        "rounds",
        row["id"],
        body.idempotency_key,
        {"round_number": body.round, "image_id": body.image_id, "record": record},
        digest=body_hash(body),
    )
    rec = stored["record"] if stored else {}
    return _stored_reply(status, {"success": rec.get("success"), "points": rec.get("points")})


def session_flags(ctx, task: str, design: dict, stored: list) -> list[str]:
    """Why a finished session is flagged (empty: it is not)."""
    if task == "experiment":
        return ctx.experiment.pacing_flags(design, stored, ctx.config.pacing_factor)
    if stored and all(r["record"]["skipped"] for r in stored):
        return ["every round was skipped"]
    return []


@router.post("/{task}/complete")
def complete(ctx: Ctx, task: str, body: ParticipantIn, authorization: Authorization = None):
    ctx.task(task)
    row = authorised(ctx, task, body.participant_id, authorization)
    design = ctx.design(row["id"])
    expected = len(design["trials"] if task == "experiment" else design["order"])
    stored = ctx.store.rows("trials" if task == "experiment" else "rounds", row["id"])
    if len(stored) < expected:
        raise http_error(
            409,
            f"{expected - len(stored)} of {expected} "
            f"{'trials' if task == 'experiment' else 'rounds'} are not stored yet",
        )
    full = ctx.store.participant(task, body.participant_id)
    flags = full["flags"] or []
    if full["status"] != "completed":
        flags = session_flags(ctx, task, design, stored)
        ctx.store.update_participant(row["id"], status="completed", finished=now_iso(), flags=flags)
    return completion(ctx.config, task, flags)


def completion(config, task: str, flags: list) -> dict:
    """The end of a task: its own code and redirect, or, for a flagged session, why there is none."""
    if flags:
        return {
            "completion_code": "",
            "redirect_url": "",
            "flagged": "; ".join(flags),
            "message": "Your session was flagged for review, so no completion code is shown. If you took part "
            "in good faith, please contact the researcher with your participant id.",
        }
    code = config.completion_code if task == "experiment" else config.game_completion_code
    url = config.completion_url.replace("{code}", code) if config.completion_url and code else ""
    return {"completion_code": code, "redirect_url": url}


def progress(ctx, task: str, row, created: bool) -> dict:
    """The reply to a start: the design the page needs and what is stored already."""
    handler = ctx.task(task)
    ctx.designs[row["id"]] = row["design"]  # its posts will need it
    reply = {
        "task": task,
        "participant_id": row["participant_id"],
        "created": created,
        "status": row["status"],
        "design": handler.client_view(row["design"]),
        "browser_checked": bool((row["browser"] or {}).get("accepted")),
    }
    if task == "experiment":
        info = row["design"]["info"]
        reply["done"] = [[r["phase"], r["block"], r["trial"]] for r in ctx.store.rows("trials", row["id"])]
        reply["instructions"] = INSTRUCTIONS.format(
            target=info["target_key"].upper(),
            distractor=info["distractor_key"].upper(),
            n_training=handler.config.n_training,
            cont="the space bar",
        )
    else:
        rounds = [r["record"] for r in ctx.store.rows("rounds", row["id"])]
        reply["done"] = [r["round"] for r in rounds]
        reply["score"] = round(sum(r["points"] for r in rounds), 4)
    if row["status"] == "completed":
        reply["completion"] = completion(ctx.config, task, row["flags"] or [])
    return reply
