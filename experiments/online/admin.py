"""The admin side of ``clickme serve``: progress, the export as a ZIP, releasing a participant.

Every admin route needs the admin token, as ``Authorization: Bearer <token>`` or as the password
of HTTP Basic authentication (any user name; the browser asks for it on ``/admin``). Tokens in
query strings are not accepted: they end up in logs and browser histories. Replies are never
cached (``Cache-Control: no-store``, :class:`experiments.online.guard.Guard`).
"""

from __future__ import annotations

import base64
import binascii
import io
import secrets
import tempfile
import zipfile
from html import escape
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse, Response

from experiments.online.export import INCLUDE, export_all, session_status
from experiments.online.pages import Authorization, Ctx, http_error
from experiments.online.participants import bearer
from experiments.online.schemas import ReleaseIn
from experiments.online.storage import RELEASED, Store

router = APIRouter(prefix="/admin")


def presented_token(authorization: str | None) -> str | None:
    """The admin token of a Bearer or a Basic ``Authorization`` header (Basic: the password).

    Examples
    --------
    >>> presented_token("Basic " + base64.b64encode(b"admin:s3cret").decode()), presented_token("bearer t")
    ('s3cret', 't')
    """
    token = bearer(authorization)
    if token is not None:
        return token
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8").partition(":")[2] or None
    except (binascii.Error, UnicodeDecodeError):
        return None


def admin_only(ctx: Ctx, authorization: Authorization = None):
    """FastAPI dependency: 401 (asking for Basic credentials) without the admin token."""
    from fastapi import HTTPException

    token = presented_token(authorization)
    if token is None or not secrets.compare_digest(token.encode(), ctx.admin_token.encode()):
        raise HTTPException(
            401,
            "admin token required (Authorization: Bearer <token>, or as the Basic password)",
            headers={"WWW-Authenticate": 'Basic realm="clickme serve admin", charset="UTF-8"'},
        )
    return ctx


#: Handler parameter: the Online of a request that carries the admin token
Admin = Annotated[object, Depends(admin_only)]


def summary(store: Store) -> dict:
    """Per-participant progress and session status (complete, partial, refused check, flagged)."""
    counts = store.per_participant()
    people, by_status = [], {}
    for p in store.all_participants():
        n, flagged = counts.get(p["id"], (0, 0))
        expected = len(p["design"].get("trials", p["design"].get("order", [])))
        status = session_status(p, n, expected)
        by_status[status] = by_status.get(status, 0) + 1
        people.append(
            {
                "task": p["task"],
                "participant_id": p["participant_id"],
                "study_id": p["study_id"],
                "session_id": p["session_id"],
                "status": p["status"],
                "session_status": status,
                "flags": "; ".join(p["flags"] or []),
                "created": p["created"],
                "finished": p["finished"],
                "stored": n,
                "expected": expected,
                "timing_flagged": flagged,
                "refresh_hz": (p["browser"] or {}).get("refresh_hz"),
                "released": p["token_hash"] == RELEASED,
            }
        )
    return {"counts": store.counts(), "sessions": by_status, "participants": people}


def admin_html(data: dict) -> str:
    head = [
        "task",
        "participant_id",
        "study_id",
        "session_id",
        "session_status",
        "flags",
        "stored",
        "expected",
        "timing_flagged",
        "refresh_hz",
        "created",
        "finished",
    ]
    rows = "".join(
        "<tr>" + "".join(f"<td>{escape(str(p[h]) if p[h] is not None else '')}</td>" for h in head) + "</tr>"
        for p in data["participants"]
    )
    counts = ", ".join(f"{k}: {v}" for k, v in data["counts"].items())
    sessions = ", ".join(f"{escape(k)}: {v}" for k, v in sorted(data["sessions"].items()))
    return (
        f"<!doctype html><meta charset='utf-8'><title>clickme serve: admin</title>"
        f"<style>td,th{{padding:2px 8px;font:13px monospace}}</style><h1>clickme serve</h1><p>{counts}</p>"
        f"<p>sessions: {sessions or 'none'}</p>"
        f"<table><tr>{''.join(f'<th>{h}</th>' for h in head)}</tr>{rows}</table>"
        f"<p>Export: <code>clickme serve export --db URL --out DIR</code> or <a href='/admin/export.zip'>"
        f"/admin/export.zip</a>. Release a participant locked in another browser: <code>POST /admin/release"
        f'</code> with <code>{{"task": ..., "participant_id": ...}}</code>.</p>'
    )


@router.get("/summary")
def admin_summary(ctx: Admin):
    return summary(ctx.store)


@router.get("", response_class=HTMLResponse)
def admin_page(ctx: Admin):
    return admin_html(summary(ctx.store))


@router.get("/export.zip")
def admin_export(ctx: Admin, include: str = "complete"):
    if include not in INCLUDE:
        raise http_error(422, f"expected include= one of {', '.join(INCLUDE)}")
    with tempfile.TemporaryDirectory() as tmp:
        export_all(ctx.store, Path(tmp), include=include)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(Path(tmp).rglob("*")):
                if path.is_file():
                    archive.write(path, path.relative_to(tmp).as_posix())
    return Response(
        buffer.getvalue(),
        media_type="application/zip",
        headers={"Content-Disposition": 'attachment; filename="clickme_export.zip"'},
    )


@router.post("/release")
def admin_release(ctx: Admin, body: ReleaseIn):
    """Unbind a participant from its browser: the next browser that starts with the id continues
    the session (its stored trials and rounds stay)."""
    row = ctx.store.participant(body.task, body.participant_id)
    if row is None or row["participant_id"] != body.participant_id:
        raise http_error(404, f"no {body.task} participant {body.participant_id!r}")
    ctx.store.update_participant(row["id"], token_hash=RELEASED)
    ctx.forget(body.task, body.participant_id)
    return {"released": body.participant_id, "task": body.task}
