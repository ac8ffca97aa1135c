"""``clickme serve export``: the database -> the PsychoPy versions' files, read by the analyses;
the CLI's refusals; a server killed between two posts loses nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.online.helpers import ADMIN, free_port, serve_config
from tests.online.sim import auth, check_browser, simulate_participants, token, trial_body

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def filled(online_files, tmp_path):
    """A database with 12 simulated experiment sessions and one game session of two rounds."""
    from fastapi.testclient import TestClient

    from experiments.online.app import create_app

    db = f"sqlite:///{tmp_path / 'online.db'}"
    app = create_app(serve_config(online_files, db))
    with TestClient(app) as client:
        simulate_participants(client, [f"P{k:03d}" for k in range(12)], seed=1)
        secret = token()
        order = client.post(
            "/api/game/start", json={"participant_id": "G001", "token": secret}, headers=auth(secret)
        ).json()["design"]["order"]
        assert check_browser(client, "game", "G001", secret).status_code == 200
        for number, item in enumerate(order, start=1):
            x = [60.0 + 7 * i for i in range(20)]
            y = [128.0] * 20
            body = {
                "participant_id": "G001",
                "idempotency_key": f"G001-r{number}-000000",
                "round": number,
                "image_id": item["image_id"],
                "x": x,
                "y": y,
                "t": [300.0 + 50 * i for i in range(20)],
                "guesses": [],
                "first_press_t": 300.0,
                "duration_ms": 2000.0,
                "skipped": number == 2,
            }
            assert client.post("/api/game/rounds", json=body, headers=auth(secret)).status_code == 201
        done = client.post("/api/game/complete", json={"participant_id": "G001"}, headers=auth(secret))
        assert done.json()["completion_code"] == "G4ME42"
    return db, app.state.online.store


def test_export_is_the_lab_format_and_the_analyses_read_it(filled, tmp_path):
    from clickme_analysis.clicklog import read_clicks
    from clickme_app.cli import main
    from experiments.session import DATA_COLUMNS

    db, store = filled
    out = tmp_path / "export"
    assert main(["serve", "export", "--db", db, "--out", str(out)]) == 0
    data = out / "experiment" / "data"
    csv = data / "P000.csv"
    assert csv.read_text().splitlines()[0] == ",".join(DATA_COLUMNS)
    frame = pd.read_csv(csv)
    assert len(frame) == 6 and list(frame["phase"]) == ["training"] * 2 + ["test"] * 4
    assert set(frame["timing"]) == {"browser-raf"} and set(frame["correct"]) <= {0, 1}
    record = json.loads((data / "P000.json").read_text())
    assert record["participant_index"] == 0 and record["status"] == "completed"
    timing = pd.read_csv(out / "experiment" / "browser_timing.csv")
    assert len(timing) == 12 * 6 and set(timing["refresh_hz"]) == {60.0}
    assert (
        main(
            [
                "experiment",
                "analyze",
                str(data),
                "--out",
                str(tmp_path / "analysis"),
                "--permutations",
                "50",
                "--boot",
                "5",
            ]
        )
        == 0
    )
    accuracy = pd.read_csv(tmp_path / "analysis" / "accuracy.csv")
    assert len(accuracy) > 0

    log = out / "game" / "game_log.jsonl"
    rounds = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["round"] for r in rounds] == [1, 2] and rounds[1]["skipped"] and rounds[1]["x"] == []
    clicks = read_clicks(log)
    assert len(clicks.clicks) == 20  # the skipped round keeps no points
    assert main(["maps", str(log), "--out", str(tmp_path / "maps.npz")]) == 0
    sessions = json.loads((out / "game" / "session.json").read_text())["sessions"]
    assert sessions[0]["rounds_played"] == 2 and sessions[0]["point_rule"]["rule"] == "interval"


def test_export_twice_gives_the_same_files(filled, tmp_path):
    from experiments.online.export import export_all

    _, store = filled
    a = {p.name: p.read_bytes() for p in export_all(store, tmp_path / "a") if p.suffix == ".csv"}
    b = {p.name: p.read_bytes() for p in export_all(store, tmp_path / "b") if p.suffix == ".csv"}
    assert a == b


@pytest.mark.parametrize(
    "argv, message",
    [
        (["serve", "export", "--db", "sqlite:///{tmp}/missing.db", "--out", "{tmp}/x"], "no such SQLite database"),
        (["serve", "export", "--db", "mysql://u@h/db", "--out", "{tmp}/x"], "sqlite or postgresql"),
        (["serve", "export", "--db", "not a url", "--out", "{tmp}/x"], "database URL"),
        (["serve", "--check"], "nothing to serve"),
        (["serve", "--check", "--images", "{tmp}"], "needs both images and labels"),
    ],
)
def test_cli_refusals_exit_2(argv, message, tmp_path, capsys):
    from clickme_app.cli import main

    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_cli_bad_option_and_config(tmp_path, online_files, capsys):
    from clickme_app.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["serve", "--port", "-3"])
    assert stop.value.code == 2
    bad = tmp_path / "serve.toml"
    bad.write_text(f'[serve]\nexperiment_config = "{online_files["experiment"]}"\nprot = 80\n')
    assert main(["serve", "--config", str(bad), "--check"]) == 2
    assert "prot" in capsys.readouterr().err
    good = tmp_path / "good.toml"
    good.write_text(f'[serve]\nexperiment_config = "{online_files["experiment"]}"\nport = 8123\n')
    assert (
        main(
            [
                "serve",
                "--config",
                str(good),
                "--check",
                "--db",
                f"sqlite:///{tmp_path / 'x.db'}",
                "--admin-token",
                ADMIN,
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "http://127.0.0.1:8123/experiment?PROLIFIC_PID=" in printed and "http://127.0.0.1:8123/admin" in printed
    assert ADMIN not in printed and not (tmp_path / "x.db").exists()  # --check writes nothing


def _wait_up(url: str, proc, timeout: float = 30.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {proc.stderr.read()}")
        try:
            httpx.get(url + "/favicon.ico", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError("server did not start")


def test_killed_server_loses_no_trial_and_the_participant_resumes(online_files, tmp_path):
    """SIGKILL between two posts, restart on the same SQLite file: every acknowledged trial is
    there, a retried post is not duplicated, and the participant resumes after the last one."""
    import httpx

    db = f"sqlite:///{tmp_path / 'kill.db'}"
    port = free_port()
    argv = [
        sys.executable,
        "-m",
        "clickme_app",
        "serve",
        "--experiment",
        str(online_files["experiment"]),
        "--db",
        db,
        "--port",
        str(port),
        "--admin-token",
        ADMIN,
    ]
    url = f"http://127.0.0.1:{port}"
    secret, posted = token(), []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=10) as client:
            reply = client.post(
                "/api/experiment/start", json={"participant_id": "K1", "token": secret}, headers=auth(secret)
            ).json()
            assert check_browser(client, "experiment", "K1", secret).status_code == 200
            trials = reply["design"]["trials"]
            for t in trials[:3]:
                body = trial_body("K1", t, None, None)
                assert client.post("/api/experiment/trials", json=body, headers=auth(secret)).status_code == 201
                posted.append(body)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_up(url, proc)
        with httpx.Client(base_url=url, timeout=10) as client:
            again = client.post("/api/experiment/trials", json=posted[-1], headers=auth(secret))
            assert again.status_code == 200 and again.json()["status"] == "duplicate"
            resumed = client.post(
                "/api/experiment/start", json={"participant_id": "K1", "token": secret}, headers=auth(secret)
            ).json()
            assert resumed["done"] == [[t["phase"], t["block"], t["trial"]] for t in trials[:3]]
            summary = client.get("/admin/summary", headers=auth(ADMIN)).json()
            assert summary["counts"]["trials"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    assert np.isfinite(len(posted))


def test_export_and_analyze_list_sessions_by_status(filled, tmp_path, capsys):
    """Row 3 of issue 25: only complete sessions are exported and analysed unless asked; both list them."""
    from clickme_app.cli import main
    from experiments.online.export import export_all, online_sessions

    db, store = filled
    row, _ = store.create_participant(
        "experiment", "HALF", token(), lambda i: store.participant("experiment", "P000")["design"]
    )
    store.update_participant(row["id"], browser={"accepted": True})
    refused, _ = store.create_participant("experiment", "MOBILE", token(), lambda i: row["design"])
    store.update_participant(refused["id"], browser={"accepted": False})
    assert main(["serve", "export", "--db", db, "--out", str(tmp_path / "default")]) == 0
    printed = capsys.readouterr().out
    assert "experiment sessions: complete 12, partial 1, refused check 1, flagged 0" in printed
    assert not (tmp_path / "default" / "experiment" / "data" / "HALF.csv").exists()
    sessions = pd.read_csv(tmp_path / "default" / "sessions.csv")
    assert dict(zip(sessions["participant_id"], sessions["session_status"]))["MOBILE"] == "refused check"
    export_all(store, tmp_path / "all", include="all")
    data = tmp_path / "all" / "experiment" / "data"
    kept, listing = online_sessions([data])
    assert len(kept) == 12 and listing.startswith("online sessions: complete 12, partial 1, refused check 1")
    assert len(online_sessions([data], include_all=True)[0]) == 14
    assert (
        main(["experiment", "analyze", str(data), "--out", str(tmp_path / "an"), "--permutations", "20", "--boot", "2"])
        == 0
    )
    assert "online sessions: complete 12, partial 1" in capsys.readouterr().out
