"""Rows 3-8 and 11-13 of the audit (issue 25): the server enforces the study's rules, the game
cannot be faked, secrets are secret, one participant cannot starve the others, bots cannot skew
the counterbalancing, and idle sockets are closed. Each test failed on the code before."""

from __future__ import annotations

import logging
import socket
import threading
import time

import numpy as np
import pytest

from tests.online.helpers import ADMIN, running_server, serve_config
from tests.online.sim import auth, check_browser, token, trial_body


def make_client(online_files, tmp_path, **settings):
    from fastapi.testclient import TestClient

    from experiments.online.app import create_app

    return TestClient(create_app(serve_config(online_files, f"sqlite:///{tmp_path / 'online.db'}", **settings)))


@pytest.fixture
def client(online_files, tmp_path):
    with make_client(online_files, tmp_path) as c:
        yield c


def start(client, pid, task="experiment", secret=None):
    secret = secret or token()
    r = client.post(f"/api/{task}/start", json={"participant_id": pid, "token": secret}, headers=auth(secret))
    assert r.status_code == 200, r.text
    return secret, r.json()


def design(client, pid, task="experiment"):
    return client.app.state.online.store.participant(task, pid)["design"]


def post_all(client, pid, secret):
    full = design(client, pid)
    for t in full["trials"]:
        key = full["info"]["target_key"] if t["target"] else full["info"]["distractor_key"]
        r = client.post("/api/experiment/trials", json=trial_body(pid, t, key, 400.0), headers=auth(secret))
        assert r.status_code == 201, r.text
    return client.post("/api/experiment/complete", json={"participant_id": pid}, headers=auth(secret))


# ---------------------------------------------------------------- row 3: the browser check is required
def test_row03_no_trial_round_or_completion_without_an_accepted_check(client):
    secret, reply = start(client, "R3")
    trial = design(client, "R3")["trials"][0]
    r = client.post("/api/experiment/trials", json=trial_body("R3", trial, "s", 400.0), headers=auth(secret))
    assert r.status_code == 409 and "browser check" in r.json()["detail"]
    assert (
        client.post("/api/experiment/complete", json={"participant_id": "R3"}, headers=auth(secret)).status_code == 409
    )
    assert check_browser(client, "experiment", "R3", secret, mobile=True).status_code == 422
    r = client.post("/api/experiment/trials", json=trial_body("R3", trial, "s", 400.0), headers=auth(secret))
    assert r.status_code == 409
    g_secret, _ = start(client, "R3", task="game")
    body = {
        "participant_id": "R3",
        "idempotency_key": "R3-r1-abcdef",
        "round": 1,
        "image_id": "a0",
        "x": [],
        "y": [],
        "t": [],
        "skipped": True,
        "duration_ms": 100.0,
    }
    assert client.post("/api/game/rounds", json=body, headers=auth(g_secret)).status_code == 409
    assert client.get("/admin/summary", headers=auth(ADMIN)).json()["sessions"] == {"refused check": 1, "partial": 1}


def test_row03_too_fast_session_is_flagged_gets_no_code_and_is_not_exported(online_files, tmp_path):
    from experiments.online.export import export_all

    with make_client(online_files, tmp_path, pacing_factor=0.8) as client:
        secret, _ = start(client, "BOT")
        assert check_browser(client, "experiment", "BOT", secret).status_code == 200
        done = post_all(client, "BOT", secret).json()
        assert done["completion_code"] == "" and done["flagged"].startswith("too fast")
        assert start(client, "BOT", secret=secret)[1]["completion"]["completion_code"] == ""  # not on reload either
        sessions = client.get("/admin/summary", headers=auth(ADMIN)).json()["sessions"]
        assert sessions == {"flagged": 1}
        written = export_all(client.app.state.online.store, tmp_path / "out")
        assert [p.name for p in written] == ["sessions.csv"]
        assert "flagged" in (tmp_path / "out" / "sessions.csv").read_text()


def test_row03_pacing_rule_against_hand_computed_times(online_files):
    from experiments.online.tasks import ExperimentTask

    task = ExperimentTask(online_files["experiment"])
    full = task.design(0)
    need = [task.min_trial_s(t) for t in full["trials"]]  # fixation + 0.4 s (+ 0.2 s feedback in training)
    assert need[0] == pytest.approx(full["trials"][0]["fixation_duration"] + 0.4 + 0.2)

    def rows(gaps):
        t, out = 1_700_000_000.0, []
        for trial, gap in zip(full["trials"], [0.0, *gaps]):
            t += gap
            out.append(
                {
                    "phase": trial["phase"],
                    "block": trial["block"],
                    "trial": trial["trial"],
                    "received": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1000):03d}+00:00",
                }
            )
        return out

    assert task.pacing_flags(full, rows([n + 0.05 for n in need[1:]]), 0.8) == []  # a person: plausible
    assert task.pacing_flags(full, rows([0.02] * 5), 0.8)[0].startswith("too fast")  # a bot
    one_quick = [n + 0.5 for n in need[1:]]
    one_quick[2] = 0.1
    assert task.pacing_flags(full, rows(one_quick), 0.8) == [
        "impossible pacing: 1 trials arrived sooner after the previous one than the trial lasts"
    ]
    assert task.pacing_flags(full, rows([0.02] * 5), 0.0) == []


# ---------------------------------------------------------------- row 4: no answers in the design
def test_row04_targets_only_for_training_and_test_trials_scored_on_the_server(client):
    secret, reply = start(client, "R4")
    sent = reply["design"]["trials"]
    assert all(("target" in t) == (t["phase"] == "training") for t in sent) and any(t["phase"] == "test" for t in sent)
    assert check_browser(client, "experiment", "R4", secret).status_code == 200
    full = design(client, "R4")
    info = full["info"]
    right = []
    for k, t in enumerate(full["trials"]):
        good = k % 2 == 0
        key = info["target_key"] if t["target"] == good else info["distractor_key"]
        r = client.post("/api/experiment/trials", json=trial_body("R4", t, key, 400.0 + k), headers=auth(secret)).json()
        if t["phase"] == "training":
            assert r["correct"] is good
        else:
            right.append((good, 400.0 + k))
            assert "correct" not in r
    assert r["block_summary"] == {
        "n": len(right),
        "accuracy": sum(g for g, _ in right) / len(right),
        "mean_rt_ms": pytest.approx(np.mean([rt for _, rt in right])),
    }


# ---------------------------------------------------------------- row 5: per-task codes, no code for all-skipped
def play_game(client, pid, skipped):
    secret, reply = start(client, pid, task="game")
    assert check_browser(client, "game", pid, secret).status_code == 200
    for number, item in enumerate(reply["design"]["order"], start=1):
        x = [] if skipped else [60.0 + 7 * i for i in range(5)]
        body = {
            "participant_id": pid,
            "idempotency_key": f"{pid}-r{number}-abcdef",
            "round": number,
            "image_id": item["image_id"],
            "x": x,
            "y": [128.0] * len(x),
            "t": [300.0 + 50 * i for i in range(len(x))],
            "skipped": skipped,
            "duration_ms": 260.0 if skipped else 2000.0,
        }
        assert client.post("/api/game/rounds", json=body, headers=auth(secret)).status_code == 201
    return client.post("/api/game/complete", json={"participant_id": pid}, headers=auth(secret)).json()


def test_row05_game_has_its_own_code_and_an_all_skipped_game_none(client, online_files, tmp_path):
    from clickme_analysis.errors import InputError

    assert play_game(client, "G5", skipped=False)["completion_code"] == "G4ME42"
    skipped = play_game(client, "S5", skipped=True)
    assert skipped["completion_code"] == "" and skipped["flagged"] == "every round was skipped"
    with pytest.raises(InputError, match="different completion codes"):
        serve_config(online_files, "sqlite://", game_completion_code="C0DE42")


# ---------------------------------------------------------------- row 6: the game cannot be faked
def test_row06_answers_are_bound_to_their_points_and_times(client):
    secret, reply = start(client, "R6", task="game")
    assert check_browser(client, "game", "R6", secret).status_code == 200
    image = reply["design"]["order"][0]["image_id"]
    xs = [20.0 + 7 * i for i in range(30)]  # the point rule: <= 7 px and 50 ms apart
    ys = [100.0] * 30
    ts = [300.0 + 50 * i for i in range(30)]
    a = client.post(
        "/api/game/query", json={"participant_id": "R6", "round": 1, "x": xs, "y": ys}, headers=auth(secret)
    ).json()
    guess = {
        "t_sent": 1800.0,
        "t": 1810.0,
        "n_points": 30,
        "top": a["top"],
        "compute_ms": a["compute_ms"],
        "asked": a["asked"],
        "signature": a["signature"],
    }
    body = {
        "participant_id": "R6",
        "idempotency_key": "R6-r1-abcdef",
        "round": 1,
        "image_id": image,
        "x": xs,
        "y": ys,
        "t": ts,
        "guesses": [guess],
        "first_press_t": 300.0,
        "duration_ms": 2000.0,
    }

    def refused(change, **g):
        r = client.post("/api/game/rounds", json={**body, **change, "guesses": [{**guess, **g}]}, headers=auth(secret))
        return r.status_code == 422 and r.json()["field"] == "guesses"

    assert refused({"x": xs[:1], "y": ys[:1], "t": ts[:1]})  # the audit's forgery: 1 painted point
    assert refused({}, n_points=676)  # a larger claim than was signed
    assert refused({"x": [xs[0] + 1, *xs[1:]]})  # other points than the answer saw
    assert refused({}, t_sent=0.001, t=0.002)  # asked before its 30th point was painted
    assert refused({}, asked=a["asked"] - 5000)  # another time than the server answered
    r = client.post("/api/game/rounds", json=body, headers=auth(secret))
    assert r.status_code == 201, r.text


def test_row06_answers_gaps_must_match_the_servers_clock(client):
    from experiments.online.tasks import CLOCK_SLACK_MS

    secret, reply = start(client, "R6b", task="game")
    assert check_browser(client, "game", "R6b", secret).status_code == 200
    xs, ys, ts = [60.0, 67.0], [100.0, 100.0], [300.0, 350.0]
    answers = [
        client.post(
            "/api/game/query",
            json={"participant_id": "R6b", "round": 1, "x": xs[:n], "y": ys[:n]},
            headers=auth(secret),
        ).json()
        for n in (1, 2)
    ]
    gap = answers[1]["asked"] - answers[0]["asked"]
    guesses = [
        {
            "t_sent": 400.0 + k * (gap + CLOCK_SLACK_MS + 500),
            "t": 401.0 + k * (gap + CLOCK_SLACK_MS + 500),
            "n_points": a["n_points"],
            "top": a["top"],
            "compute_ms": a["compute_ms"],
            "asked": a["asked"],
            "signature": a["signature"],
        }
        for k, a in enumerate(answers)
    ]
    body = {
        "participant_id": "R6b",
        "idempotency_key": "R6b-r1-abcdef",
        "round": 1,
        "image_id": reply["design"]["order"][0]["image_id"],
        "x": xs,
        "y": ys,
        "t": ts,
        "guesses": guesses,
        "first_press_t": 300.0,
        "duration_ms": 2000.0 + gap + CLOCK_SLACK_MS,
    }
    r = client.post("/api/game/rounds", json=body, headers=auth(secret))
    assert r.status_code == 422 and "clock" in r.json()["detail"]


# ---------------------------------------------------------------- row 7 and 8: secrets
def test_row07_signing_key_is_random_stored_and_stable_across_restarts(online_files, tmp_path):
    from experiments.online.app import Online
    from experiments.online.storage import Store

    db = f"sqlite:///{tmp_path / 'k.db'}"
    one = Online(serve_config(online_files, db))
    two = Online(serve_config(online_files, db, admin_token="another-admin-token-ABCDEFGHIJ0123456789"))
    other = Online(serve_config(online_files, f"sqlite:///{tmp_path / 'other.db'}"))
    assert one.game.secret == two.game.secret == Store(db).secret("partner_signing_key")
    assert one.game.secret != other.game.secret and len(one.game.secret) == 32
    import hashlib

    assert one.game.secret != hashlib.sha256(b"clickme-partner:" + ADMIN.encode()).digest()


def test_row07_admin_headers_bearer_case_and_access_log(client, caplog):
    r = client.get("/admin/summary", headers={"Authorization": f"bearer {ADMIN}"})
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY" and r.headers["referrer-policy"] == "no-referrer"
    secret, _ = start(client, "R7")
    assert check_browser(client, "experiment", "R7", secret.join(["", ""])).status_code == 200
    r = client.post(
        "/api/experiment/complete", json={"participant_id": "R7"}, headers={"Authorization": f"BEARER {secret}"}
    )
    assert r.status_code == 409  # authorised (data missing), whatever the scheme's case
    with caplog.at_level(logging.INFO, logger="clickme.serve.access"):
        client.get("/admin/summary?token=secret-in-query", headers=auth(ADMIN))
    assert "GET /admin/summary 200" in caplog.text and "secret-in-query" not in caplog.text


def test_row08_a_restart_keeps_signed_answers_valid(online_files, tmp_path):
    with make_client(online_files, tmp_path) as first:
        secret, reply = start(first, "R8", task="game")
        assert check_browser(first, "game", "R8", secret).status_code == 200
        a = first.post(
            "/api/game/query", json={"participant_id": "R8", "round": 1, "x": [60.0], "y": [60.0]}, headers=auth(secret)
        ).json()
    with make_client(online_files, tmp_path, admin_token="a-new-admin-token-after-restart-0123456") as second:
        body = {
            "participant_id": "R8",
            "idempotency_key": "R8-r1-abcdef",
            "round": 1,
            "image_id": reply["design"]["order"][0]["image_id"],
            "x": [60.0],
            "y": [60.0],
            "t": [300.0],
            "guesses": [
                {
                    "t_sent": 400.0,
                    "t": 420.0,
                    "n_points": 1,
                    "top": a["top"],
                    "compute_ms": a["compute_ms"],
                    "asked": a["asked"],
                    "signature": a["signature"],
                }
            ],
            "duration_ms": 2000.0,
        }
        assert second.post("/api/game/rounds", json=body, headers=auth(secret)).status_code == 201


# ---------------------------------------------------------------- row 11: one partner query in flight
def test_row11_one_query_in_flight_per_participant_in_its_own_executor(client):
    game = client.app.state.online.game
    entered, release, threads = threading.Event(), threading.Event(), []
    original = game.partner

    def slow_partner(view):
        threads.append(threading.current_thread().name)
        entered.set()
        release.wait(10)
        return original(view)

    game.partner = slow_partner
    secret, _ = start(client, "Q11", task="game")
    assert check_browser(client, "game", "Q11", secret).status_code == 200
    other, _ = start(client, "T11")
    assert check_browser(client, "experiment", "T11", other).status_code == 200
    query = {"participant_id": "Q11", "round": 1, "x": [60.0], "y": [60.0]}
    first = []
    worker = threading.Thread(
        target=lambda: first.append(client.post("/api/game/query", json=query, headers=auth(secret)))
    )
    worker.start()
    try:
        assert entered.wait(10)
        assert client.post("/api/game/query", json=query, headers=auth(secret)).status_code == 429
        trial = design(client, "T11")["trials"][0]
        t0 = time.perf_counter()  # another participant's post is not held up by the busy partner
        assert (
            client.post(
                "/api/experiment/trials", json=trial_body("T11", trial, "s", 400.0), headers=auth(other)
            ).status_code
            == 201
        )
        assert time.perf_counter() - t0 < 5
    finally:
        release.set()
        worker.join(10)
        game.partner = original
    assert first[0].status_code == 200 and threads == ["partner_0"]
    assert client.post("/api/game/query", json=query, headers=auth(secret)).status_code == 200  # free again


# ---------------------------------------------------------------- row 12: counterbalancing and starts
def test_row12_start_rate_limit_per_address(online_files, tmp_path):
    with make_client(online_files, tmp_path, start_limit_per_minute=3) as client:
        codes = [
            client.post("/api/experiment/start", json={"participant_id": f"B{k}", "token": token()}).status_code
            for k in range(5)
        ]
    assert codes == [200, 200, 200, 429, 429]


def test_row12_sessions_that_store_nothing_give_their_list_back(online_files, tmp_path):
    with make_client(online_files, tmp_path, hold_minutes=0.04) as client:  # 2.4 s
        store = client.app.state.online.store
        start(client, "IDLE")  # never posts: holds index 0 for 2.4 s only
        secret, _ = start(client, "MOBILE")  # refused check: gives index 1 back at once
        assert check_browser(client, "experiment", "MOBILE", secret, mobile=True).status_code == 422
        assert start(client, "NEXT")[1]["design"]["info"]["participant_index"] == 1
        time.sleep(2.6)
        assert start(client, "LATER")[1]["design"]["info"]["participant_index"] == 0
        held = {p["participant_id"]: p["participant_index"] for p in store.all_participants("experiment")}
        assert held == {"IDLE": None, "MOBILE": None, "NEXT": None, "LATER": 0}
        # a session that stored a trial keeps its list however long it takes
        secret, reply = start(client, "WORKER")
        assert reply["design"]["info"]["participant_index"] == 1
        assert check_browser(client, "experiment", "WORKER", secret).status_code == 200
        t = design(client, "WORKER")["trials"][0]
        assert (
            client.post(
                "/api/experiment/trials", json=trial_body("WORKER", t, "s", 400.0), headers=auth(secret)
            ).status_code
            == 201
        )
        time.sleep(2.6)
        assert start(client, "LAST")[1]["design"]["info"]["participant_index"] == 0  # LATER's, not WORKER's
        assert store.participant("experiment", "WORKER")["participant_index"] == 1


def test_row12_allow_list_and_admin_release(online_files, tmp_path):
    allowed = tmp_path / "allowed.txt"
    allowed.write_text("# recruited\nALICE\nBOB\n")
    with make_client(online_files, tmp_path, allow_list=str(allowed)) as client:
        r = client.post("/api/experiment/start", json={"participant_id": "MALLORY", "token": token()})
        assert r.status_code == 403 and "not on this study's list" in r.json()["detail"]
        first, reply = start(client, "ALICE")
        second = token()
        r = client.post("/api/experiment/start", json={"participant_id": "ALICE", "token": second})
        assert r.status_code == 403 and "release" in r.json()["detail"]
        assert client.post("/admin/release", json={"task": "experiment", "participant_id": "ALICE"}).status_code == 401
        assert (
            client.post(
                "/admin/release", json={"task": "experiment", "participant_id": "ALICE"}, headers=auth(ADMIN)
            ).status_code
            == 200
        )
        again = start(client, "ALICE", secret=second)[1]
        assert again["design"] == reply["design"]  # the same session continues in the new browser
        r = client.post("/api/experiment/start", json={"participant_id": "ALICE", "token": first})
        assert r.status_code == 403


# ---------------------------------------------------------------- row 13: idle and half-sent sockets
def test_row13_idle_and_half_sent_connections_are_closed(online_files, tmp_path, monkeypatch):
    from experiments.online.app import create_app
    from experiments.online.guard import HEADER_TIMEOUT_ENV

    monkeypatch.setenv(HEADER_TIMEOUT_ENV, "0.5")
    app = create_app(serve_config(online_files, f"sqlite:///{tmp_path / 't.db'}", body_timeout_s=0.5))
    with running_server(app) as url:
        port = int(url.rsplit(":", 1)[1])

        def closed_after(payload: bytes) -> tuple[float, bytes]:
            with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                s.sendall(payload)
                t0, got = time.monotonic(), b""
                while chunk := s.recv(4096):
                    got += chunk
                return time.monotonic() - t0, got

        idle, _ = closed_after(b"")
        after_reply, first = closed_after(b"GET /favicon.ico HTTP/1.1\r\nHost: x\r\n\r\n")  # keep-alive is 30 s
        head, _ = closed_after(b"POST /api/experiment/start HTTP/1.1\r\nHost: x\r\n")
        body, reply = closed_after(
            b"POST /api/experiment/start HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
            b'\r\nContent-Length: 100\r\n\r\n{"participant_id"'
        )
    assert idle < 5 and head < 5 and body < 5 and after_reply < 5
    assert first.startswith(b"HTTP/1.1 ")
    assert reply.startswith(b"HTTP/1.1 408")
