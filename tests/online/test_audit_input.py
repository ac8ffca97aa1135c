"""Rows 1, 2, 9, 10, 14-18 of the audit (issue 25): what a participant or an attacker can send,
and what the researcher's files and commands do with it. Each test failed on the code before."""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.online.helpers import ADMIN, serve_config
from tests.online.sim import auth, check_browser, token, trial_body


@pytest.fixture(scope="module")
def client(online_files, tmp_path_factory):
    from fastapi.testclient import TestClient

    from experiments.online.app import create_app

    db = tmp_path_factory.mktemp("audit") / "online.db"
    with TestClient(create_app(serve_config(online_files, f"sqlite:///{db}"))) as c:
        yield c


def started(client, pid, task="experiment", check=True):
    secret = token()
    r = client.post(f"/api/{task}/start", json={"participant_id": pid, "token": secret}, headers=auth(secret))
    assert r.status_code == 200, r.text
    if check:
        assert check_browser(client, task, pid, secret).status_code == 200
    return secret, client.app.state.online.store.participant(task, pid)


# ---------------------------------------------------------------- row 1: bounded before parsed
def test_row01_oversized_body_is_413_before_parsing_and_not_echoed(client):
    big = b'{"participant_id": "' + b"A" * 1_000_000 + b'"}'
    r = client.post("/api/experiment/start", content=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and len(r.content) < 200
    chunks = (b"[" + b"1," * 100_000 for _ in range(3))  # no Content-Length: counted as it arrives
    r = client.post("/api/experiment/trials", content=chunks, headers={"Content-Type": "application/json"})
    assert r.status_code == 413
    long_id = {"participant_id": "A" * 100_000, "token": "x" * 40}  # under the limit, invalid: short excerpt
    r = client.post("/api/experiment/start", json=long_id)
    assert r.status_code == 422 and len(r.content) < 1000 and "AAAA..." in r.text


# ---------------------------------------------------------------- row 2: no input makes a 500
BROWSER = {"participant_id": "N1", "width": 1280, "height": 800}


@pytest.mark.parametrize(
    "path, raw",
    [
        ("/api/experiment/browser", '{"participant_id": "N1", "refresh_hz": NaN, "width": 1, "height": 1}'),
        ("/api/experiment/browser", '{"participant_id": "N1", "refresh_hz": Infinity, "width": 1, "height": 1}'),
        ("/api/experiment/browser", '{"participant_id": "N1", "refresh_hz": 1e400, "width": 1, "height": 1}'),
        ("/api/experiment/browser", '{"participant_id": "N1", "refresh_hz": 1e-305, "width": 1, "height": 1}'),
        ("/api/game/query", '{"participant_id": "N1", "round": 1, "x": [NaN], "y": [-Infinity]}'),
        ("/api/experiment/start", '{"participant_id": NaN}'),
        ("/api/experiment/start", '{"participant_id": "N1", "token": "'),
        ("/api/experiment/start", "[]"),
    ],
)
def test_row02_non_finite_numbers_and_broken_json_are_422_never_500(client, path, raw):
    r = client.post(path, content=raw.encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text  # the test client raises on a 500
    assert isinstance(r.json()["detail"], str) and len(r.content) < 1000


def test_row02_non_finite_trial_fields_with_a_valid_token(client):
    secret, row = started(client, "N2")
    trial = row["design"]["trials"][0]
    body = json.dumps(trial_body("N2", trial, "s", 400.0)).replace("400.0", "NaN", 1)
    r = client.post(
        "/api/experiment/trials", content=body.encode(), headers={**auth(secret), "Content-Type": "application/json"}
    )
    assert r.status_code == 422 and "finite" in r.json()["detail"]
    for hz in (0.5, 1e-305, 5000.0):  # refresh rates no display has
        assert check_browser(client, "experiment", "N2", secret, refresh_hz=hz).status_code == 422


# ---------------------------------------------------------------- row 9: a reused idempotency key
def test_row09_a_key_reused_for_another_trial_is_409(client):
    secret, row = started(client, "K9")
    a, b = row["design"]["trials"][:2]
    first = trial_body("K9", a, "s", 400.0, idempotency_key="K9-key-000001")
    assert client.post("/api/experiment/trials", json=first, headers=auth(secret)).status_code == 201
    assert client.post("/api/experiment/trials", json=first, headers=auth(secret)).status_code == 200  # retry
    other = trial_body("K9", b, "l", 300.0, idempotency_key="K9-key-000001")
    r = client.post("/api/experiment/trials", json=other, headers=auth(secret))
    assert r.status_code == 409 and "idempotency key" in r.json()["detail"]
    assert len(client.app.state.online.store.rows("trials", row["id"])) == 1


# ---------------------------------------------------------------- row 10: formulas in exports
@pytest.mark.parametrize("value", ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "@SUM(1+1)", "+1", "\t=1"])
def test_row10_client_time_must_be_iso_8601(client, value):
    secret, row = started(client, f"F{abs(hash(value)) % 10**6}")
    body = {**trial_body(row["participant_id"], row["design"]["trials"][0], "s", 400.0), "client_time": value}
    assert client.post("/api/experiment/trials", json=body, headers=auth(secret)).status_code == 422


def test_row10_exported_cells_never_start_a_formula(client, tmp_path):
    import csv

    from experiments.online.export import export_all, safe_cell

    assert [safe_cell(v) for v in ("=1+1", "+1", "-1", "@A1", "\tx", "\rx", "ok", 3.5)] == [
        "'=1+1",
        "'+1",
        "'-1",
        "'@A1",
        "'\tx",
        "'\rx",
        "ok",
        3.5,
    ]
    secret = token()
    r = client.post(
        "/api/experiment/start",
        json={"participant_id": "-F10", "study_id": "@SUM", "session_id": "=1", "token": secret},
        headers=auth(secret),
    )
    assert r.status_code == 422  # '=' is not in an id
    r = client.post(
        "/api/experiment/start",
        json={"participant_id": "-F10", "study_id": "@SUM", "token": secret},
        headers=auth(secret),
    )
    assert r.status_code == 200
    export_all(client.app.state.online.store, tmp_path / "out", include="all")
    for path in (tmp_path / "out").rglob("*.csv"):
        with open(path, newline="") as f:
            for row in csv.reader(f):
                assert not [c for c in row if c[:1] in ("=", "+", "-", "@", "\t", "\r")], (path, row)


# ---------------------------------------------------------------- row 14: ids cannot be enumerated
def test_row14_wrong_token_is_403_whether_or_not_the_id_exists(client):
    started(client, "E14")
    body = {"participant_id": "E14"}
    known = client.post("/api/experiment/complete", json=body, headers=auth(token()))
    unknown = client.post("/api/experiment/complete", json={"participant_id": "NOPE14"}, headers=auth(token()))
    assert known.status_code == unknown.status_code == 403 and known.json() == unknown.json()


# ---------------------------------------------------------------- row 15: ids that make bad file names
@pytest.mark.parametrize("pid", [".", "..", ".hidden", "a/b", "c:d", "x\\y"])
def test_row15_ids_that_make_hidden_or_foreign_file_names_are_refused(client, pid):
    secret = token()
    r = client.post("/api/experiment/start", json={"participant_id": pid, "token": secret}, headers=auth(secret))
    assert r.status_code == 422


def test_row15_ids_differing_only_in_case_collide_and_are_refused(client):
    from experiments.online.export import file_stem

    started(client, "Pcase")
    secret = token()
    r = client.post("/api/experiment/start", json={"participant_id": "pcase", "token": secret}, headers=auth(secret))
    assert r.status_code == 409 and "other case" in r.json()["detail"]
    assert file_stem("CON") == "_CON" and file_stem("console") == "console"


# ---------------------------------------------------------------- row 16: the first accepted check is kept
def test_row16_browser_check_after_acceptance_does_not_overwrite(client):
    secret, row = started(client, "B16")
    kept = row["browser"]
    r = check_browser(client, "experiment", "B16", secret, refresh_hz=30.0, mobile=True)
    assert r.status_code == 200
    assert client.app.state.online.store.participant("experiment", "B16")["browser"] == kept


# ---------------------------------------------------------------- row 17: printed URLs, tokens, busy ports
def test_row17_template_url_gets_a_readable_message(client):
    secret = token()
    r = client.post(
        "/api/experiment/start", json={"participant_id": "{{%PROLIFIC_PID%}}", "token": secret}, headers=auth(secret)
    )
    assert r.status_code == 422 and isinstance(r.json()["detail"], str)
    assert r.json()["detail"].startswith("field 'participant_id'")


def test_row17_weak_admin_token_refused_and_busy_port_prints_nothing(online_files, tmp_path, capsys):
    import socket

    from clickme_app.cli import main

    base = ["serve", "--experiment", str(online_files["experiment"]), "--db", f"sqlite:///{tmp_path / 'x.db'}"]
    for weak in ("a", "study2026", "has space"):
        assert main([*base, "--check", "--admin-token", weak]) == 2
        assert "128 bits" in capsys.readouterr().err
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main([*base, "--port", str(port), "--admin-token", ADMIN]) == 2
    printed = capsys.readouterr()
    assert printed.out == "" and "cannot listen" in printed.err


# ---------------------------------------------------------------- row 18: export on foreign files
def test_row18_export_and_check_refuse_foreign_files_and_write_nothing(online_files, tmp_path, capsys):
    from clickme_app.cli import main

    junk = tmp_path / "notes.db"
    junk.write_bytes(b"this is not a database at all, just text" * 50)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE people (name TEXT)")
    before = other.read_bytes()
    for db in (junk, other):
        url = f"sqlite:///{db}"
        assert main(["serve", "export", "--db", url, "--out", str(tmp_path / "out")]) == 2
        assert main(["serve", "--check", "--experiment", str(online_files["experiment"]), "--db", url]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and ("not a database" in err or "not a clickme serve database" in err)
    assert other.read_bytes() == before  # still in its own journal mode, untouched
    with sqlite3.connect(other) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
