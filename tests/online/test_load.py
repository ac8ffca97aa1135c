"""200 simulated participants at once against a loopback server: no trial lost or duplicated,
on SQLite and (where a throwaway cluster can start) PostgreSQL (``make test-slow``); 20 on SQLite
in the default run."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.online.helpers import running_server, serve_config

N_PARTICIPANTS = 200


def _check(store, result, n: int = N_PARTICIPANTS) -> None:
    assert result["completed"] == n
    assert set(result["status"]) == {201}  # every first post stored
    assert set(result["retry_status"]) == {200}  # every retry answered "duplicate", nothing added
    rows = store.rows("trials")
    people = {p["id"]: p["participant_id"] for p in store.all_participants("experiment")}
    per = Counter(people[r["participant_pk"]] for r in rows)
    assert dict(per) == result["expected"]  # none lost
    places = Counter((r["participant_pk"], r["phase"], r["block"], r["trial"]) for r in rows)
    assert max(places.values()) == 1  # none twice
    indices = sorted(p["participant_index"] for p in store.all_participants("experiment"))
    assert indices == list(range(n))  # the rotation has no gap and no repeat


def _run(online_files, db, n: int = N_PARTICIPANTS):
    from experiments.online.app import create_app
    from experiments.online.simulate import load_test

    app = create_app(serve_config(online_files, db))
    with running_server(app) as url:
        result = load_test(url, n, timeout=90)
    return app.state.online.store, result


def test_load_sqlite_smoke(online_files, tmp_path):
    store, result = _run(online_files, f"sqlite:///{tmp_path / 'load.db'}", n=20)
    _check(store, result, n=20)


@pytest.mark.slow
def test_load_sqlite(online_files, tmp_path):
    store, result = _run(online_files, f"sqlite:///{tmp_path / 'load.db'}")
    _check(store, result)


@pytest.mark.slow
def test_load_postgresql(online_files, postgres_url):
    import sqlalchemy as sa

    engine = sa.create_engine(postgres_url)
    with engine.begin() as conn:  # a clean schema per run
        conn.execute(sa.text("DROP TABLE IF EXISTS trials, rounds, participants"))
    engine.dispose()
    store, result = _run(online_files, postgres_url)
    _check(store, result)
    assert store.dialect == "postgresql"
