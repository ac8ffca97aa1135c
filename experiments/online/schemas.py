"""Pydantic models of every post ``clickme serve`` accepts (FastAPI refuses others with 422).

Every field is bounded (string lengths, list sizes, plausible value ranges) and every number
must be finite (``NaN``, ``Infinity`` and overflowing literals such as ``1e400`` are 422), so a
malformed or oversized post is refused before anything is stored. The body itself is bounded
before it is parsed (:class:`experiments.online.guard.Guard`).
"""

from __future__ import annotations

import datetime
import hashlib
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

#: Participant, study and session ids: no leading dot (hidden files), no path or drive separators;
#: ids differing only in case are refused at the start (:meth:`Store.create_participant`)
Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_@-][A-Za-z0-9_.@-]*$")]
Key = Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Token = Annotated[str, Field(min_length=32, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Ms = Annotated[float, Field(ge=0, le=3_600_000)]
Coordinate = Annotated[float, Field(ge=-10_000, le=10_000)]
#: Display refresh rates a browser may report (Hz)
Hz = Annotated[float, Field(ge=20, le=1000)]


def _iso_time(value: str) -> str:
    """An ISO 8601 time (what ``Date.toISOString()`` gives) or empty.

    Examples
    --------
    >>> _iso_time("2026-12-02T10:00:00.123Z")
    '2026-12-02T10:00:00.123Z'
    >>> _iso_time("=HYPERLINK(1)")
    Traceback (most recent call last):
    ...
    ValueError: expected an ISO 8601 time such as 2026-12-02T10:00:00.000Z
    """
    if value:
        try:
            datetime.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("expected an ISO 8601 time such as 2026-12-02T10:00:00.000Z") from None
    return value


IsoTime = Annotated[str, Field(default="", max_length=40), AfterValidator(_iso_time)]


def body_hash(post: BaseModel) -> str:
    """SHA-256 of a validated post's JSON form (fields in the model's order, whatever order the
    browser sent): what a reused idempotency key is compared by.

    Examples
    --------
    >>> a = ParticipantIn.model_validate_json('{"participant_id": "P1"}')
    >>> body_hash(a) == body_hash(ParticipantIn(participant_id="P1")), body_hash(a)[:12]
    (True, 'dcec64242d22')
    """
    return hashlib.sha256(post.model_dump_json().encode()).hexdigest()


class Strict(BaseModel):
    """Base of every request body: unknown fields and non-finite numbers are refused (422)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class StartIn(Strict):
    """A participant opens a task page (ids as recruitment platforms pass them in the URL)."""

    participant_id: Id
    study_id: Id | None = None
    session_id: Id | None = None
    token: Token = Field(description="secret made by the browser; only its hash is stored")


class BrowserIn(Strict):
    """The browser check: what the page measured."""

    participant_id: Id
    refresh_hz: Hz
    width: int = Field(ge=0, le=100_000)
    height: int = Field(ge=0, le=100_000)
    browser: str = Field(default="", max_length=64)
    browser_version: str = Field(default="", max_length=64)
    os: str = Field(default="", max_length=64)
    mobile: bool = False
    user_agent: str = Field(default="", max_length=512)


class TrialIn(Strict):
    """One rapid-categorization trial as the browser measured it."""

    participant_id: Id
    idempotency_key: Key
    phase: Literal["training", "test"]
    block: int = Field(ge=0, le=10_000)
    trial: int = Field(ge=1, le=100_000)
    response: Annotated[str, Field(min_length=1, max_length=16)] | None = None
    rt_ms: Ms | None = None
    rt_frames: int | None = Field(default=None, ge=0, le=100_000)
    refresh_hz: Hz
    fixation_frames: int = Field(ge=0, le=100_000)
    fixation_ms: Ms
    stim_frames_requested: int = Field(ge=1, le=100_000)
    stim_frames: int = Field(ge=0, le=100_000)
    stim_ms: Ms
    frame_intervals_ms: list[Ms] = Field(default_factory=list, max_length=2000)
    onset_ms: Annotated[float, Field(ge=0, le=1e9)]
    client_time: IsoTime = ""


class QueryIn(Strict):
    """The points painted so far in a round: the partner is asked what it sees."""

    participant_id: Id
    round: int = Field(ge=1, le=100_000)
    x: list[Coordinate] = Field(max_length=5000)
    y: list[Coordinate] = Field(max_length=5000)


class GuessIn(Strict):
    """A partner answer as the page received it (signed by the server)."""

    t_sent: Ms
    t: Ms
    n_points: int = Field(ge=0, le=5000)
    top: list[Annotated[str, Field(max_length=256)]] = Field(max_length=100)
    compute_ms: Ms
    asked: int = Field(ge=0, le=10**15, description="server time the answer was given (ms since 1970)")
    signature: str = Field(min_length=64, max_length=64)


class RoundIn(Strict):
    """One finished game round."""

    participant_id: Id
    idempotency_key: Key
    round: int = Field(ge=1, le=100_000)
    image_id: str = Field(min_length=1, max_length=256)
    x: list[Coordinate] = Field(max_length=5000)
    y: list[Coordinate] = Field(max_length=5000)
    t: list[Ms] = Field(max_length=5000)
    guesses: list[GuessIn] = Field(default_factory=list, max_length=1000)
    skipped: bool = False
    first_press_t: Ms | None = None
    duration_ms: Ms
    n_frames: int = Field(default=0, ge=0, le=10_000_000)
    max_frame_ms: Ms = 0.0


class ParticipantIn(Strict):
    """A participant named by the recruitment platform's id."""

    participant_id: Id


class ReleaseIn(Strict):
    """Admin: free a participant id locked to another browser (its data stay)."""

    task: Literal["experiment", "game"]
    participant_id: Id
