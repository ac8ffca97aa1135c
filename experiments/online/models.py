"""Pydantic models of every post ``clickme serve`` accepts (FastAPI refuses others with 422).

Every field is bounded (string lengths, list sizes, value ranges), so a malformed or oversized
post is refused before anything is stored.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@-]+$")]
Key = Annotated[str, Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]
Token = Annotated[str, Field(min_length=32, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]
Ms = Annotated[float, Field(ge=0, le=3_600_000)]
Coordinate = Annotated[float, Field(ge=-10_000, le=10_000)]


class Strict(BaseModel):
    """Base of every request body: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


class StartIn(Strict):
    """A participant opens a task page (ids as recruitment platforms pass them in the URL)."""

    participant_id: Id
    study_id: Id | None = None
    session_id: Id | None = None
    token: Token = Field(description="secret made by the browser; only its hash is stored")


class BrowserIn(Strict):
    """The browser check: what the page measured."""

    participant_id: Id
    refresh_hz: float = Field(gt=0, le=1000)
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
    refresh_hz: float = Field(gt=0, le=1000)
    fixation_frames: int = Field(ge=0, le=100_000)
    fixation_ms: Ms
    stim_frames_requested: int = Field(ge=1, le=100_000)
    stim_frames: int = Field(ge=0, le=100_000)
    stim_ms: Ms
    frame_intervals_ms: list[Ms] = Field(default_factory=list, max_length=2000)
    onset_ms: Ms
    client_time: str = Field(default="", max_length=40)


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
