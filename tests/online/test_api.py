"""The HTTP API of ``clickme serve`` through FastAPI's test client (no browser, no sockets)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.online.helpers import ADMIN, serve_config
from tests.online.sim import answer, auth, check_browser, token, trial_body


@pytest.fixture
def app(online_files, tmp_path):
    from experiments.online.app import create_app

    return create_app(serve_config(online_files, f"sqlite:///{tmp_path / 'online.db'}"))


@pytest.fixture
def client(app):
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        yield c


def start(client, task, pid, secret, check=True, **ids):
    """Start (or resume) ``pid``; a new session also passes the browser check unless ``check`` is False."""
    r = client.post(f"/api/{task}/start", json={"participant_id": pid, "token": secret, **ids}, headers=auth(secret))
    assert r.status_code == 200, r.text
    if check and not r.json()["browser_checked"]:
        assert check_browser(client, task, pid, secret).status_code == 200
    return r.json()


def full_design(client, pid):
    """The participant's stored design (the server's view, with paths and categories)."""
    row = client.app.state.online.store.participant("experiment", pid)
    return row["design"]


def test_design_is_the_lab_design(client, online_files):
    from experiments.config import load_experiment_config
    from experiments.design import build_trials, latin_square, load_manifest

    secret = token()
    reply = start(client, "experiment", "P7", secret, study_id="S1", session_id="X1")
    config = load_experiment_config(online_files["experiment"])
    manifest = load_manifest(config.manifest)
    info, trials = build_trials(manifest, latin_square(manifest), 0, config)
    assert reply["design"]["info"] == info  # first participant: rotation index 0
    got = [(t["phase"], t["block"], t["trial"], t["fixation_duration"]) for t in reply["design"]["trials"]]
    assert got == list(zip(trials["phase"], trials["block"], trials["trial"], trials["fixation_duration"]))
    assert "path" not in reply["design"]["trials"][0]  # browsers see stimulus numbers, never paths
    second = start(client, "experiment", "P8", token())
    assert second["design"]["info"]["participant_index"] == 1
    row = client.app.state.online.store.participant("experiment", "P7")
    assert (row["study_id"], row["session_id"]) == ("S1", "X1")


def test_trials_stored_once_scored_on_the_server_and_resumed(client):
    secret = token()
    reply = start(client, "experiment", "P1", secret)
    design = full_design(client, "P1")
    info = design["info"]
    first = design["trials"][0]
    right = info["target_key"] if first["target"] else info["distractor_key"]
    body = trial_body("P1", first, right, 420.0)
    r = client.post("/api/experiment/trials", json=body, headers=auth(secret))
    assert r.status_code == 201 and r.json() == {"status": "stored", "correct": True, "timing_flag": False}
    again = client.post("/api/experiment/trials", json=body, headers=auth(secret))  # a retry
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    other = trial_body("P1", first, right, 300.0)  # another key for the same trial: refused
    assert client.post("/api/experiment/trials", json=other, headers=auth(secret)).status_code == 409
    assert client.app.state.online.store.counts()["trials"] == 1
    row = client.app.state.online.store.rows("trials")[0]["row"]
    assert row["rt"] == pytest.approx(0.42) and row["timing"] == "browser-raf" and row["path"] == first["path"]
    # a reload (same browser token) resumes after the stored trial
    resumed = start(client, "experiment", "P1", secret)
    assert resumed["done"] == [[first["phase"], first["block"], first["trial"]]]
    assert resumed["design"] == reply["design"]


def test_wrong_key_scored_wrong_and_late_key_is_a_miss(client):
    secret = token()
    start(client, "experiment", "P2", secret)
    design = full_design(client, "P2")
    info, (a, b) = design["info"], design["trials"][:2]
    wrong = info["distractor_key"] if a["target"] else info["target_key"]
    r = client.post("/api/experiment/trials", json=trial_body("P2", a, wrong, 400.0), headers=auth(secret))
    assert r.json()["correct"] is False
    r = client.post("/api/experiment/trials", json=trial_body("P2", b, info["target_key"], 600.0), headers=auth(secret))
    rows = [x["row"] for x in client.app.state.online.store.rows("trials")]
    assert rows[1]["timed_out"] is True and rows[1]["rt"] is None and rows[1]["response"] == ""


def test_timing_flag_when_off_by_more_than_one_frame(client):
    secret = token()
    start(client, "experiment", "P3", secret)
    trials = full_design(client, "P3")["trials"]
    one = client.post(
        "/api/experiment/trials", json=trial_body("P3", trials[0], None, None, stim_frames=25), headers=auth(secret)
    )
    two = client.post(
        "/api/experiment/trials", json=trial_body("P3", trials[1], None, None, stim_frames=26), headers=auth(secret)
    )
    assert one.json()["timing_flag"] is False and two.json()["timing_flag"] is True
    row = client.app.state.online.store.rows("trials")[1]["row"]
    assert row["off_frames"] == 2 and row["stim_ms_requested"] == pytest.approx(400.0)
    assert row["stim_duration"] == pytest.approx(26 / 60)


@pytest.mark.parametrize(
    "change, status",
    [
        ({"phase": "warmup"}, 422),
        ({"block": "one"}, 422),
        ({"rt_ms": -5}, 422),
        ({"unknown": 1}, 422),
        ({"frame_intervals_ms": [1.0] * 3000}, 422),
        ({"idempotency_key": "x"}, 422),
        ({"trial": 999}, 422),
        ({"response": "q"}, 422),
        ({"response": None}, 422),
    ],
)
def test_malformed_posts_refused_and_nothing_stored(client, change, status):
    secret = token()
    start(client, "experiment", "P4", secret)
    trial = full_design(client, "P4")["trials"][0]
    body = {**trial_body("P4", trial, "s", 400.0), **change}
    r = client.post("/api/experiment/trials", json=body, headers=auth(secret))
    assert r.status_code == status, r.text
    assert client.app.state.online.store.counts()["trials"] == 0


def test_participants_cannot_touch_each_other(client):
    alice, bob = token(), token()
    start(client, "experiment", "A1", alice)
    start(client, "experiment", "B1", bob)
    trial = full_design(client, "B1")["trials"][0]
    body = trial_body("B1", trial, "s", 400.0)
    assert client.post("/api/experiment/trials", json=body, headers=auth(alice)).status_code == 403
    assert client.post("/api/experiment/trials", json=body).status_code == 401
    assert (
        client.post("/api/experiment/trials", json={**body, "participant_id": "C1"}, headers=auth(bob)).status_code
        == 403
    )  # as for a wrong token: ids cannot be enumerated
    # another browser (another token) cannot read or resume B1's session
    r = client.post("/api/experiment/start", json={"participant_id": "B1", "token": alice}, headers=auth(alice))
    assert r.status_code == 403
    assert client.app.state.online.store.counts()["trials"] == 0


def test_browser_check_refuses_a_slow_display(client):
    secret = token()
    start(client, "experiment", "P5", secret, check=False)
    body = {"participant_id": "P5", "refresh_hz": 30.0, "width": 1280, "height": 800}
    r = client.post("/api/experiment/browser", json=body, headers=auth(secret))
    assert r.status_code == 422 and "30.0 Hz" in r.json()["detail"]
    assert client.app.state.online.store.participant("experiment", "P5")["browser"]["accepted"] is False
    ok = client.post("/api/experiment/browser", json={**body, "refresh_hz": 60.0}, headers=auth(secret))
    assert ok.status_code == 200


def test_completion_needs_every_trial(client):
    secret = token()
    start(client, "experiment", "P6", secret)
    design = full_design(client, "P6")
    assert (
        client.post("/api/experiment/complete", json={"participant_id": "P6"}, headers=auth(secret)).status_code == 409
    )
    rng = np.random.default_rng(0)
    for t in design["trials"]:
        key, rt = answer(t, design["info"], rng)
        assert (
            client.post("/api/experiment/trials", json=trial_body("P6", t, key, rt), headers=auth(secret)).status_code
            == 201
        )
    r = client.post("/api/experiment/complete", json={"participant_id": "P6"}, headers=auth(secret))
    assert r.json() == {"completion_code": "C0DE42", "redirect_url": "http://127.0.0.1:9/done?cc=C0DE42"}
    assert start(client, "experiment", "P6", secret)["completion"]["completion_code"] == "C0DE42"


def test_game_round_record_and_signed_answers(client):
    from experiments.game.task import GameImage, RoundState

    secret = token()
    reply = start(client, "game", "G1", secret)
    first = reply["design"]["order"][0]
    assert reply["design"]["point_interval_ms"] == pytest.approx(50) and reply["design"]["point_step_px"] == 7
    x, y = [100.0, 107.0, 114.0], [100.0, 100.0, 100.0]
    a = client.post("/api/game/query", json={"participant_id": "G1", "round": 1, "x": x, "y": y}, headers=auth(secret))
    assert a.status_code == 200, a.text
    a = a.json()
    # the stand-in guesses from the 4 labels: 3 wrong ones, or the right one and 3 others
    assert len(a["top"]) in (3, 4) and set(a["top"]) <= {"cat", "dog", "car", "cup"} and a["n_points"] == 3
    guess = {
        "t_sent": 500.0,
        "t": 520.0,
        "n_points": 3,
        "top": a["top"],
        "compute_ms": a["compute_ms"],
        "asked": a["asked"],
        "signature": a["signature"],
    }
    body = {
        "participant_id": "G1",
        "idempotency_key": "G1-r1-abcdef",
        "round": 1,
        "image_id": first["image_id"],
        "x": x,
        "y": y,
        "t": [400.0, 450.0, 500.0],
        "guesses": [guess],
        "first_press_t": 400.0,
        "duration_ms": 2000.0,
    }
    forged = {**body, "guesses": [{**guess, "top": [first["label"]] + a["top"][:4]}]}
    if first["label"] not in a["top"]:
        assert client.post("/api/game/rounds", json=forged, headers=auth(secret)).status_code == 422
    too_far = {**body, "x": [100.0, 110.0, 114.0]}  # a 10 px step: not the game's point rule
    too_soon = {**body, "t": [400.0, 420.0, 500.0]}  # 20 ms apart: the rule makes one every 50 ms
    for bad in (too_far, too_soon):
        assert client.post("/api/game/rounds", json=bad, headers=auth(secret)).status_code == 422
    wrong_image = {**body, "image_id": reply["design"]["order"][1]["image_id"]}
    assert client.post("/api/game/rounds", json=wrong_image, headers=auth(secret)).status_code == 422
    r = client.post("/api/game/rounds", json=body, headers=auth(secret))
    assert r.status_code == 201, r.text
    assert client.post("/api/game/rounds", json=body, headers=auth(secret)).json()["status"] == "duplicate"
    record = client.app.state.online.store.rows("rounds")[0]["record"]
    reference = RoundState(GameImage(first["image_id"], first["label"], np.zeros((256, 256, 3), np.uint8)), 256, 14)
    expected_keys = set(reference.record("G1", 1, 2.0, 2.0, n_frames=0, max_frame_ms=0.0, session_id="s"))
    assert set(record) == expected_keys
    assert record["x"] == x and record["success"] == (first["label"] in a["top"])
    assert record["points"] == pytest.approx((2.0 - 0.52) / 2.0 if record["success"] else 0.0)
    assert start(client, "game", "G1", secret)["done"] == [1]


def test_admin_needs_the_token(client):
    assert client.get("/admin").status_code == 401
    assert client.get("/admin").headers["www-authenticate"].startswith("Basic")
    assert client.get(f"/admin?token={ADMIN}").status_code == 401  # never in a URL
    assert client.get("/admin/export.zip").status_code == 401
    assert client.get("/admin", auth=("admin", "wrong")).status_code == 401
    start(client, "experiment", "P9", token())
    page = client.get("/admin", auth=("anyone", ADMIN))
    assert page.status_code == 200 and "P9" in page.text
    summary = client.get("/admin/summary", headers=auth(ADMIN)).json()
    assert summary["counts"]["participants"] == 1 and summary["sessions"] == {"partial": 1}


def test_pages_and_files(client):
    assert client.get("/experiment?PROLIFIC_PID=x").status_code == 200
    assert client.get("/stimuli/0.png").headers["content-type"] == "image/png"
    assert client.get("/stimuli/999.png").status_code == 404
    assert client.get("/images/a0.png").status_code == 200
    assert client.get("/images/nope.png").status_code == 404
    assert client.get("/static/app/common.js").status_code == 200
