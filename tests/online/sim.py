"""A simulated browser for the online tests: the posts the pages make, without a page."""

from __future__ import annotations

import secrets

import numpy as np


def trial_body(participant_id: str, trial: dict, key: str | None, rt_ms: float | None, *, hz: float = 60.0,
               stim_frames: int = 24, idempotency_key: str | None = None) -> dict:
    """The JSON the experiment page posts for one trial."""
    period = 1000.0 / hz
    return {"participant_id": participant_id,
            "idempotency_key": idempotency_key or f"{participant_id}-{trial['phase']}-{trial['block']}-"
                                                  f"{trial['trial']}-{secrets.token_hex(3)}",
            "phase": trial["phase"], "block": trial["block"], "trial": trial["trial"], "response": key,
            "rt_ms": rt_ms, "rt_frames": None if rt_ms is None else int(rt_ms // period), "refresh_hz": hz,
            "fixation_frames": round(trial["fixation_duration"] * hz), "fixation_ms": 1000 * trial["fixation_duration"],
            "stim_frames_requested": 24, "stim_frames": stim_frames, "stim_ms": stim_frames * period,
            "frame_intervals_ms": [period] * stim_frames, "onset_ms": 12345.0}


def answer(trial: dict, info: dict, rng: np.random.Generator, p_correct: float = 0.8):
    """A simulated observer's key and RT (ms): right with ``p_correct``, 8% misses."""
    if rng.random() < 0.08:
        return None, None
    right = info["target_key"] if trial["target"] else info["distractor_key"]
    wrong = info["distractor_key"] if trial["target"] else info["target_key"]
    return (right if rng.random() < p_correct else wrong), float(rng.uniform(250, 540))


def token() -> str:
    return secrets.token_hex(32)


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}
