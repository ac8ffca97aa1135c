"""Group commit for ``clickme serve``: one thread stores the trials and rounds of every request.

A handler hands its post to :meth:`GroupWriter.insert` and awaits the answer; the writer thread
takes every post waiting when it starts a transaction (up to ``max_batch``), stores them with
:meth:`~experiments.online.storage.Store.insert_many` in that one transaction, commits, and only
then answers each of them. Under load many posts share one commit (and one journal write); a
lone post is committed on its own at once, as before: nothing waits for a batch to fill. A post
is never answered before its row is committed, so a 201 is as durable as the database makes a
commit (:mod:`experiments.online.storage`).

When a batch's transaction fails, its posts are stored one transaction each, so one bad post
(or a database error) reaches only the requests it concerns.

A trial that ends its block asks for the block's feedback (``block=``): once the batch has
committed, the writer reads the feedback of every such post of the batch in one query
(:meth:`~experiments.online.storage.Store.block_summaries`), a group read beside the group
commit. Participants who started together end their blocks together: on PostgreSQL with two
workers, 500 such reads, one a request, took the offered-load p99 from about 40 ms to 280-640
ms (``benchmarks/serve.py``).
"""

from __future__ import annotations

import asyncio
import queue
import threading

#: What the writer is handed to stop
_STOP = object()


def _settle(outcomes) -> None:
    """Answer the awaiting requests (on their event loop): ``(future, result, error)`` each."""
    for future, result, error in outcomes:
        if future.done():  # the request went away (its post is stored all the same)
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class GroupWriter:
    """The writer thread of one server process (started at the first post).

    Parameters
    ----------
    store : Store
        The database the posts go to.
    max_batch : int
        Most posts in one transaction.
    """

    def __init__(self, store, max_batch: int = 256):
        self.store = store
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

    async def insert(
        self, table: str, participant_pk: int, key: str, values: dict, *, digest: str, block: tuple | None = None
    ):
        """:meth:`Store.insert_many` of one post, answered once its transaction has committed.

        Returns ``(status, row, summary)``: the post's outcome and, when ``block`` (``(phase,
        block)`` of a trial) is given, that block's :meth:`Store.block_summaries` entry read
        after the commit (else None).
        """
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._ensure_started()
        read = None if block is None else (participant_pk, *block)
        self._queue.put((loop, future, (table, participant_pk, key, values, digest), read))
        return await future

    def close(self, timeout: float = 30.0) -> None:
        """Store what is queued, then stop the thread."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def _ensure_started(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name="clickme-writer", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        while True:
            batch, stop = self._take()
            if batch:
                self._store(batch)
            if stop:
                return

    def _take(self) -> tuple[list, bool]:
        """The posts waiting now (blocking for the first), and whether the writer was stopped."""
        item = self._queue.get()
        batch = []
        while item is not _STOP:
            batch.append(item)
            if len(batch) >= self.max_batch:
                return batch, False
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return batch, False
        return batch, True

    def _store(self, batch: list) -> None:
        try:
            results = [(r, None) for r in self.store.insert_many([item[2] for item in batch])]
        except Exception as err:  # noqa: BLE001 - one transaction per post decides who gets which error
            results = [self._store_one(item[2]) for item in batch] if len(batch) > 1 else [(None, err)]
        summaries, failed = self._read(
            [item[3] for item, (_, error) in zip(batch, results) if error is None and item[3]]
        )
        by_loop: dict = {}
        for (loop, future, _, read), (result, error) in zip(batch, results):
            if error is None and read is not None:
                result, error = (None, failed) if failed is not None else ((*result, summaries[read]), None)
            elif error is None:
                result = (*result, None)
            by_loop.setdefault(loop, []).append((future, result, error))
        for loop, outcomes in by_loop.items():
            try:
                loop.call_soon_threadsafe(_settle, outcomes)
            except RuntimeError:  # that event loop has closed: nobody is waiting
                pass

    def _read(self, reads: list) -> tuple:
        """``(block summaries, None)`` of the stored posts that asked for one, or ``({}, error)``
        (those posts are stored all the same: their retries are duplicates, read again)."""
        if not reads:
            return {}, None
        try:
            return self.store.block_summaries(reads), None
        except Exception as err:  # noqa: BLE001 - handed to the requests that asked
            return {}, err

    def _store_one(self, post) -> tuple:
        try:
            return self.store.insert_many([post])[0], None
        except Exception as err:  # noqa: BLE001 - handed to the request that made the post
            return None, err
