"""The group writer: posts that arrive together share a transaction, each answered as before."""

import asyncio

import pytest
import sqlalchemy as sa

from experiments.online.storage import Store
from experiments.online.writer import GroupWriter


def _round(n: int) -> dict:
    return {"round_number": n, "image_id": "a", "record": {"round": n}}


@pytest.fixture
def store():
    store = Store("sqlite://")
    yield store
    store.dispose()


def _participant(store, pid="P1") -> int:
    return store.create_participant("game", pid, "x" * 32, lambda index: {})[0]["id"]


def _queued(store, inserts):
    """Await the writer's ``inserts`` (coroutines) with its first transaction held back, so that
    they queue up and share batches."""

    async def main():
        store._write.acquire()
        try:
            jobs = asyncio.gather(*inserts)
            await asyncio.sleep(0.2)
        finally:
            store._write.release()
        return await jobs

    return asyncio.run(main())


def test_posts_waiting_together_share_one_commit(store):
    pk = _participant(store)
    writer = GroupWriter(store)
    commits = []
    sa.event.listen(store.engine, "commit", lambda conn: commits.append(1))

    results = _queued(
        store, (writer.insert("rounds", pk, f"key-{n:04d}", _round(n), digest="d") for n in range(1, 101))
    )
    writer.close()
    assert [status for status, _, _ in results] == ["stored"] * 100
    assert [r["round_number"] for _, r, _ in results] == list(range(1, 101))
    assert len(commits) <= 2 and store.counts()["rounds"] == 100


def test_retries_reuses_and_conflicts_in_one_batch(store):
    pk = _participant(store)
    writer = GroupWriter(store)

    async def main():
        return await asyncio.gather(
            writer.insert("rounds", pk, "key-0001", _round(1), digest="d1"),
            writer.insert("rounds", pk, "key-0001", _round(1), digest="d1"),  # a retry
            writer.insert("rounds", pk, "key-0001", _round(2), digest="d2"),  # the key reused
            writer.insert("rounds", pk, "key-0002", _round(1), digest="d3"),  # round 1 is taken
        )

    statuses = [status for status, _, _ in asyncio.run(main())]
    writer.close()
    assert statuses == ["stored", "duplicate", "reused", "conflict"]
    assert store.counts()["rounds"] == 1


def test_a_failing_post_fails_alone(store):
    pk = _participant(store)
    writer = GroupWriter(store)

    async def main():
        return await asyncio.gather(
            writer.insert("rounds", pk, "key-0001", _round(1), digest="d"),
            writer.insert("rounds", pk + 999, "key-0002", _round(2), digest="d"),  # no such participant
            writer.insert("rounds", pk, "key-0003", _round(3), digest="d"),
            return_exceptions=True,
        )

    good, bad, other = asyncio.run(main())
    writer.close()
    assert good[0] == other[0] == "stored"
    assert isinstance(bad, sa.exc.IntegrityError)
    assert [r["round_number"] for r in store.rows("rounds")] == [1, 3]


def test_postgresql_tells_new_rows_from_retries(postgres_url):
    store = Store(postgres_url)
    try:
        pk = store.create_participant("game", "PG-writer", "x" * 32, lambda index: {})[0]["id"]
        post = ("rounds", pk, "key-pg-0001", _round(1), "d1")
        assert [s for s, _ in store.insert_many([post, post, (*post[:4], "d2")])] == ["stored", "duplicate", "reused"]
    finally:
        store.dispose()


def _block_summary_case(store, pid: str) -> tuple:
    """Two participants' trials over two blocks; returns the summaries and the ones computed by hand."""
    pks = [store.create_participant("experiment", f"{pid}-{k}", "x" * 32, lambda index: {})[0]["id"] for k in (0, 1)]
    rts = {1: 0.412, 2: None, 3: 0.5, 4: 0.733, 5: 0.25}  # trial 2: no response (wrong, no RT)
    posts = []
    for pk in pks:
        for trial, rt in rts.items():
            block = 1 if trial <= 4 else 2
            row = {"phase": "test", "block": block, "correct": rt is not None and trial != 3, "rt": rt}
            values = {"phase": "test", "block": block, "trial": trial, "row": row, "flagged": False}
            posts.append(("trials", pk, f"{pid}-key-{pk}-{trial}", values, "d"))
    store.insert_many(posts)
    asked = [(pks[0], "test", b) for b in (1, 2, 3)] + [(pks[0], "training", 1)]
    summaries = store.block_summaries(asked)
    got = [summaries[key] for key in asked]
    block1 = {"n": 4, "accuracy": 0.5, "mean_rt_ms": round(1000 * (0.412 + 0.5 + 0.733) / 3, 1)}
    empty = {"n": 0, "accuracy": None, "mean_rt_ms": None}
    return got, [block1, {"n": 1, "accuracy": 1.0, "mean_rt_ms": 250.0}, empty, empty]


def test_block_summary_aggregates_one_blocks_trials_in_sql(store):
    got, expected = _block_summary_case(store, "S")
    assert got == expected


def test_block_summary_on_postgresql(postgres_url):
    store = Store(postgres_url)
    try:
        got, expected = _block_summary_case(store, "PG-block")
        assert got == expected
    finally:
        store.dispose()


def _trial(block: int, trial: int, correct: bool) -> dict:
    row = {"phase": "test", "block": block, "correct": correct, "rt": 0.5}
    return {"phase": "test", "block": block, "trial": trial, "row": row, "flagged": False}


def test_block_ends_of_one_batch_are_read_in_one_query(store):
    pks = [store.create_participant("experiment", f"B{k}", "x" * 32, lambda index: {})[0]["id"] for k in range(3)]
    writer = GroupWriter(store)
    reads = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *a: reads.append(a[2]) if "avg(" in a[2] else None)

    plain = (
        writer.insert("trials", pk, f"key-{pk}-{t}", _trial(1, t, t != k + 1), digest="d")
        for k, pk in enumerate(pks)
        for t in (1, 2)
    )
    ends = (writer.insert("trials", pk, f"key-{pk}-3", _trial(1, 3, True), digest="d", block=("test", 1)) for pk in pks)
    results = _queued(store, [*plain, *ends])
    writer.close()
    assert [summary for _, _, summary in results[:6]] == [None] * 6
    # participant k answered trial k + 1 wrongly (k = 2: none of its first two)
    accuracy = [summary["accuracy"] for _, _, summary in results[6:]]
    assert accuracy == [2 / 3, 2 / 3, 1.0] and all(s["n"] == 3 for _, _, s in results[6:])
    assert len(reads) <= 2  # one read for the batch (two if the first post went alone)


def test_a_failed_block_read_fails_its_post_but_keeps_the_row(store, monkeypatch):
    pk = store.create_participant("experiment", "F1", "x" * 32, lambda index: {})[0]["id"]
    writer = GroupWriter(store)

    def broken(blocks):
        raise RuntimeError("the read failed")

    monkeypatch.setattr(store, "block_summaries", broken)

    async def main():
        return await asyncio.gather(
            writer.insert("trials", pk, "key-0001", _trial(1, 1, True), digest="d"),
            writer.insert("trials", pk, "key-0002", _trial(1, 2, True), digest="d", block=("test", 1)),
            return_exceptions=True,
        )

    plain, ends = asyncio.run(main())
    writer.close()
    assert plain[0] == "stored" and isinstance(ends, RuntimeError)
    assert store.counts()["trials"] == 2
