"""Pages and files of ``clickme serve``: the task pages, stimuli and game images."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Header, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from PIL import Image

from experiments.online.storage import TASKS

WEB = Path(__file__).resolve().parent / "web"
router = APIRouter()


async def online(request: Request):
    """The request's :class:`experiments.online.app.Online` (a FastAPI dependency; ``async``, so
    FastAPI does not send it to a worker thread)."""
    return request.app.state.online


#: Handler parameters: the request's Online, and its ``Authorization`` header
Ctx = Annotated[object, Depends(online)]
Authorization = Annotated[str | None, Header()]


def http_error(status: int, detail: str, **extra) -> HTTPException:
    """An HTTP refusal whose ``detail`` is the message (or ``{"message": ..., **extra}``)."""
    return HTTPException(status_code=status, detail={"message": detail, **extra} if extra else detail)


@router.get("/", response_class=HTMLResponse)
def index(ctx: Ctx):
    tasks = [t for t in TASKS if getattr(ctx, t) is not None]
    links = "".join(f'<li><a href="/{t}?PROLIFIC_PID=YOUR_ID">{t}</a></li>' for t in tasks)
    return f"<!doctype html><title>clickme serve</title><h1>clickme serve</h1><ul>{links}</ul>"


@router.get("/favicon.ico", include_in_schema=False)
def favicon():
    return Response(status_code=204)


@router.get("/experiment", response_class=FileResponse)
def experiment_page(ctx: Ctx):
    ctx.task("experiment")
    return FileResponse(WEB / "experiment.html", headers={"Cache-Control": "no-store"})


@router.get("/game", response_class=FileResponse)
def game_page(ctx: Ctx):
    ctx.task("game")
    return FileResponse(WEB / "game.html", headers={"Cache-Control": "no-store"})


@router.get("/stimuli/{number}.png")
def stimulus(ctx: Ctx, number: int):
    task = ctx.task("experiment")
    if not 0 <= number < len(task.stimuli):
        raise http_error(404, f"no stimulus {number}")
    return FileResponse(task.stimuli[number], headers={"Cache-Control": "max-age=86400"})


@router.get("/images/{image_id}.png")
def game_image(ctx: Ctx, image_id: str):
    task = ctx.task("game")
    if image_id not in task.images:
        raise http_error(404, "no such image")
    buffer = io.BytesIO()
    Image.fromarray(task.images[image_id].image).save(buffer, format="PNG")
    return Response(buffer.getvalue(), media_type="image/png", headers={"Cache-Control": "max-age=86400"})
