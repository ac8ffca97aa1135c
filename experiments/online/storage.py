"""The database of ``clickme serve``: participants, trials and game rounds (SQLAlchemy Core).

SQLite is the default (one file, WAL journal, ``synchronous=NORMAL``: every committed post is in
the journal before the reply, so it survives a killed server; only a power cut or an operating
system crash can lose the last commits, which PostgreSQL's ``fsync`` guards against); PostgreSQL is chosen by its URL (``postgresql+psycopg://...``) when several
server processes share one database. The server keeps nothing else: every request reads what it
needs from here, so any worker can answer any participant.

Each post is one transaction. A trial or round carries an idempotency key, unique per
participant, and its place in the session (``phase, block, trial`` or the round number) is
unique too: a retried post finds its first copy and stores nothing new
(:func:`insert_once`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import threading
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import now_iso

TASKS = ("experiment", "game")
#: Status of a participant row whose design is still being built
ALLOCATING = "allocating"


def token_hash(token: str) -> str:
    """SHA-256 of a participant's secret token (only the hash is stored).

    Examples
    --------
    >>> token_hash("abc")[:12]
    'ba7816bf8f01'
    """
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str | None, stored_hash: str) -> bool:
    """Constant-time check of a presented token against the stored hash."""
    return token is not None and hmac.compare_digest(token_hash(token), stored_hash)


def _tables():
    import sqlalchemy as sa

    meta = sa.MetaData()
    participants = sa.Table(
        "participants", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        sa.Column("participant_index", sa.Integer, nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("design", sa.JSON, nullable=True),
        sa.Column("browser", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("finished", sa.String(40), nullable=True),
        sa.UniqueConstraint("task", "participant_id", name="uq_participant"),
        sa.UniqueConstraint("task", "participant_index", name="uq_participant_index"),
    )
    trials = sa.Table(
        "trials", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("participant_pk", sa.Integer, sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("block", sa.Integer, nullable=False),
        sa.Column("trial", sa.Integer, nullable=False),
        sa.Column("row", sa.JSON, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        sa.Column("received", sa.String(40), nullable=False),
        sa.UniqueConstraint("participant_pk", "idempotency_key", name="uq_trial_key"),
        sa.UniqueConstraint("participant_pk", "phase", "block", "trial", name="uq_trial_place"),
    )
    rounds = sa.Table(
        "rounds", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("participant_pk", sa.Integer, sa.ForeignKey("participants.id"), nullable=False),
        sa.Column("idempotency_key", sa.String(100), nullable=False),
        sa.Column("round_number", sa.Integer, nullable=False),
        sa.Column("image_id", sa.String(256), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("received", sa.String(40), nullable=False),
        sa.UniqueConstraint("participant_pk", "idempotency_key", name="uq_round_key"),
        sa.UniqueConstraint("participant_pk", "round_number", name="uq_round_place"),
    )
    return meta, participants, trials, rounds


class Store:
    """The server's database.

    Parameters
    ----------
    url : str
        SQLAlchemy URL: ``sqlite:///path/online.db`` (default kind) or
        ``postgresql+psycopg://user@host/db``.
    pool_size : int
        Connections kept per process (PostgreSQL).
    create : bool
        Create missing tables (the server); False (export): the database must exist already.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> store.counts()
    {'participants': 0, 'trials': 0, 'rounds': 0}
    """

    def __init__(self, url: str, pool_size: int = 10, create: bool = True):
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise InputError(f"expected a database URL (sqlite:///file.db or postgresql+psycopg://...), "
                             f"got {url!r}", field="db") from None
        self.dialect = parsed.get_backend_name()
        if self.dialect not in ("sqlite", "postgresql"):
            raise InputError(f"expected a sqlite or postgresql URL, got {url!r}", field="db")
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs = {}
        if not create and self.dialect == "sqlite" and not Path(parsed.database or "").is_file():
            raise InputError("no such SQLite database file", path=parsed.database, field="db")
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if parsed.database in (None, "", ":memory:"):
                kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except Exception as err:  # a missing driver, a bad option
            raise InputError(f"cannot open database {url!r}: {err}", field="db") from None
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        # SQLite takes one writer at a time and makes the others sleep and poll; queueing this
        # process's writers on a lock instead keeps the polling to other processes' writes
        self._write = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        self.meta, self.participants, self.trials, self.rounds = _tables()
        try:
            if create:
                self.meta.create_all(self.engine)
            elif not sa.inspect(self.engine).has_table("participants"):
                raise InputError("not a clickme serve database (no participants table)", field="db")
        except sa.exc.OperationalError as err:
            raise InputError(f"cannot open database {parsed.render_as_string(hide_password=True)}: "
                             f"{err.orig}", field="db") from None

    # ------------------------------------------------------------------ participants
    def participant(self, task: str, participant_id: str):
        """The participant's row (a mapping) or None."""
        import sqlalchemy as sa

        p = self.participants
        with self.engine.connect() as conn:
            return conn.execute(sa.select(p).where(p.c.task == task, p.c.participant_id == participant_id)
                                ).mappings().first()

    def create_participant(self, task: str, participant_id: str, token: str, design_for, *,
                           study_id=None, session_id=None, retries: int = 200):
        """Insert a participant with the next free rotation index; returns ``(row, created)``.

        The index is allocated by one ``INSERT ... SELECT max + 1`` (atomic in SQLite; under
        PostgreSQL the loser of a race for an index retries), then ``design_for(index)`` gives
        the JSON design stored with the row. A participant created meanwhile by another request
        with the same id is returned as it is.
        """
        import sqlalchemy as sa

        p = self.participants
        for _ in range(retries):
            existing = self.participant(task, participant_id)
            if existing is not None:
                return existing, False
            next_index = sa.select(sa.func.coalesce(sa.func.max(p.c.participant_index) + 1, 0)).where(
                p.c.task == task).scalar_subquery()
            values = dict(task=task, participant_id=participant_id, participant_index=next_index,
                          token_hash=token_hash(token), study_id=study_id, session_id=session_id,
                          status=ALLOCATING, created=now_iso())
            try:
                with self._write, self.engine.begin() as conn:
                    conn.execute(p.insert().values(**values))
            except sa.exc.IntegrityError:
                continue
            row = self.participant(task, participant_id)
            try:
                design = design_for(row["participant_index"])
            except BaseException:
                with self._write, self.engine.begin() as conn:
                    conn.execute(p.delete().where(p.c.id == row["id"]))
                raise
            self.update_participant(row["id"], design=design, status="started")
            return self.participant(task, participant_id), True
        raise RuntimeError("could not allocate a participant index")  # pragma: no cover

    def update_participant(self, pk: int, **values) -> None:
        with self._write, self.engine.begin() as conn:
            conn.execute(self.participants.update().where(self.participants.c.id == pk).values(**values))

    def all_participants(self, task: str | None = None) -> list:
        import sqlalchemy as sa

        p = self.participants
        query = sa.select(p).where(p.c.status != ALLOCATING).order_by(p.c.task, p.c.participant_index)
        if task is not None:
            query = query.where(p.c.task == task)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    # ------------------------------------------------------------------ trials and rounds
    def insert_once(self, table: str, participant_pk: int, key: str, values: dict):
        """Insert a trial or round unless its key (or its place) is already stored.

        Returns
        -------
        status : {"stored", "duplicate", "conflict"}
            ``duplicate``: the same key was stored before (a retry; nothing new is written);
            ``conflict``: another key already holds this place in the session.
        row : mapping or None
            The stored values (the new ones, or the row found; None on a conflict).
        """
        import sqlalchemy as sa

        t = getattr(self, table)
        values = dict(values, participant_pk=participant_pk, idempotency_key=key, received=now_iso())
        try:
            with self._write, self.engine.begin() as conn:
                conn.execute(t.insert().values(**values))
            return "stored", values
        except sa.exc.IntegrityError:
            pass
        with self.engine.connect() as conn:
            found = conn.execute(sa.select(t).where(t.c.participant_pk == participant_pk,
                                                    t.c.idempotency_key == key)).mappings().first()
        return ("duplicate" if found is not None else "conflict"), found

    def rows(self, table: str, participant_pk: int | None = None) -> list:
        """Trials or rounds (of one participant), in arrival order."""
        import sqlalchemy as sa

        t = getattr(self, table)
        query = sa.select(t).order_by(t.c.id)
        if participant_pk is not None:
            query = query.where(t.c.participant_pk == participant_pk)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def iter_rows(self, table: str, batch: int = 1000):
        """Every trial or round in arrival order, read ``batch`` rows at a time (bounded memory)."""
        import sqlalchemy as sa

        t = getattr(self, table)
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(sa.select(t).order_by(t.c.id))
            yield from result.mappings()

    def per_participant(self) -> dict:
        """``participant pk -> (trials or rounds stored, trials flagged)`` by SQL aggregates."""
        import sqlalchemy as sa

        out = {}
        with self.engine.connect() as conn:
            t = self.trials
            flagged = sa.func.sum(sa.case((t.c.flagged, 1), else_=0))
            for pk, n, bad in conn.execute(sa.select(t.c.participant_pk, sa.func.count(), flagged)
                                           .group_by(t.c.participant_pk)):
                out[pk] = (int(n), int(bad or 0))
            r = self.rounds
            for pk, n in conn.execute(sa.select(r.c.participant_pk, sa.func.count()).group_by(r.c.participant_pk)):
                out[pk] = (int(n), 0)
        return out

    def counts(self) -> dict:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return {name: int(conn.execute(sa.select(sa.func.count()).select_from(getattr(self, name))).scalar())
                    for name in ("participants", "trials", "rounds")}

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
