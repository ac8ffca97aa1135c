"""A simulated browser for the online tests: the posts the pages make, without a page."""

from __future__ import annotations

import secrets

import numpy as np

from experiments.online.simulate import BROWSER_CHECK, trial_body
from experiments.online.simulate import observer_answer as answer

__all__ = ["answer", "auth", "check_browser", "simulate_participants", "token", "trial_body"]


def token() -> str:
    return secrets.token_hex(32)


def auth(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def check_browser(client, task: str, pid: str, secret: str, **changes):
    """Post a passing browser check (or one changed by ``changes``); returns the reply."""
    return client.post(
        f"/api/{task}/browser", json={"participant_id": pid, **BROWSER_CHECK, **changes}, headers=auth(secret)
    )


def simulate_participants(client, ids, seed: int = 0) -> None:
    """Run whole simulated experiment sessions through ``client`` (httpx or a test client)."""
    rng = np.random.default_rng(seed)
    for pid in ids:
        secret = token()
        reply = client.post(
            "/api/experiment/start", json={"participant_id": pid, "token": secret}, headers=auth(secret)
        ).json()
        assert check_browser(client, "experiment", pid, secret).status_code == 200
        info = reply["design"]["info"]
        for t in reply["design"]["trials"]:
            key, rt = answer(t, info, rng)
            r = client.post("/api/experiment/trials", json=trial_body(pid, t, key, rt), headers=auth(secret))
            assert r.status_code == 201, r.text
        assert (
            client.post("/api/experiment/complete", json={"participant_id": pid}, headers=auth(secret)).status_code
            == 200
        )
