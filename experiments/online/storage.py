"""The database of ``clickme serve``: participants, trials and game rounds (SQLAlchemy Core).

SQLite is the default (one file, WAL journal, ``synchronous=NORMAL``: every committed post is in
the journal before the reply, so it survives a killed server; only a power cut or an operating
system crash can lose the last commits, which PostgreSQL's ``fsync`` guards against);
PostgreSQL is chosen by its URL (``postgresql+psycopg://...``) when several server processes
share one database. The server keeps nothing else: every request reads what it
needs from here, so any worker can answer any participant.

Trials and rounds are stored by :meth:`Store.insert_many`, many posts to a transaction when
they arrive together (:class:`experiments.online.writer.GroupWriter`: group commit; a post is
answered only once its transaction has committed). A trial or round carries an idempotency key,
unique per participant, and its place in the session (``phase, block, trial`` or the round
number) is unique too: a retried post finds its first copy and stores nothing new; a post that
reuses a key with another body is a conflict (the SHA-256 of each stored body is kept).

Counterbalancing (:meth:`Store.create_participant`): a new participant gets the smallest rotation
index not *held*. A session holds its index once it has stored a trial or round; one that has not
holds it only for ``hold_s`` seconds after its start, or until its browser check is refused. So
bots, refused browsers and abandoned tabs do not use up Latin-square lists. A released session
that comes back keeps its design (its list may then be shared with a later participant).
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import hmac
import secrets
import threading
from pathlib import Path

from clickme_analysis.errors import InputError
from clickme_analysis.fileio import now_iso

TASKS = ("experiment", "game")
#: Status of a participant row whose design is still being built
ALLOCATING = "allocating"
#: Token hash of a participant released by the admin: the next browser to start claims it
RELEASED = "released"
#: Tables of a clickme serve database
TABLES = ("participants", "trials", "rounds", "settings")


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
        "participants",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("task", sa.String(16), nullable=False),
        sa.Column("participant_id", sa.String(128), nullable=False),
        # the id in lower case: ids differing only in case would collide as file names
        sa.Column("participant_key", sa.String(128), nullable=False),
        # the rotation index held (None once released: the design keeps the one it was built for)
        sa.Column("participant_index", sa.Integer, nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("study_id", sa.String(128), nullable=True),
        sa.Column("session_id", sa.String(128), nullable=True),
        sa.Column("design", sa.JSON, nullable=True),
        sa.Column("browser", sa.JSON, nullable=True),
        sa.Column("flags", sa.JSON, nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created", sa.String(40), nullable=False),
        sa.Column("finished", sa.String(40), nullable=True),
        sa.UniqueConstraint("task", "participant_key", name="uq_participant"),
        sa.UniqueConstraint("task", "participant_index", name="uq_participant_index"),
    )

    def posts(name, *columns, place):
        return sa.Table(
            name,
            meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("participant_pk", sa.Integer, sa.ForeignKey("participants.id"), nullable=False),
            sa.Column("idempotency_key", sa.String(100), nullable=False),
            sa.Column("body_hash", sa.String(64), nullable=False),
            *columns,
            sa.Column("received", sa.String(40), nullable=False),
            sa.UniqueConstraint("participant_pk", "idempotency_key", name=f"uq_{name}_key"),
            sa.UniqueConstraint("participant_pk", *place, name=f"uq_{name}_place"),
        )

    trials = posts(
        "trials",
        sa.Column("phase", sa.String(16), nullable=False),
        sa.Column("block", sa.Integer, nullable=False),
        sa.Column("trial", sa.Integer, nullable=False),
        sa.Column("row", sa.JSON, nullable=False),
        sa.Column("flagged", sa.Boolean, nullable=False),
        place=("phase", "block", "trial"),
    )
    rounds = posts(
        "rounds",
        sa.Column("round_number", sa.Integer, nullable=False),
        sa.Column("image_id", sa.String(256), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        place=("round_number",),
    )
    settings = sa.Table(
        "settings",
        meta,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(256), nullable=False),
    )
    return meta, participants, trials, rounds, settings


def _engine_options(parsed, read_only: bool, pool_size: int):
    """``(url, create_engine keyword arguments)``: SQLite read-only through a ``mode=ro`` URI."""
    import sqlalchemy as sa

    if parsed.get_backend_name() != "sqlite":
        return parsed, {"pool_size": pool_size, "max_overflow": pool_size, "pool_pre_ping": True}
    kwargs = {"connect_args": {"timeout": 30, "check_same_thread": False}}
    if parsed.database in (None, "", ":memory:"):
        kwargs["poolclass"] = sa.pool.StaticPool  # one shared in-memory database
    elif read_only:
        uri = Path(parsed.database).resolve().as_uri() + "?mode=ro"
        parsed = sa.engine.make_url(f"sqlite:///{uri}").update_query_dict({"uri": "true"})
    return parsed, kwargs


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
        Create missing tables (the server); False (export, ``--check``): the database is opened
        read-only (SQLite: ``mode=ro``, its journal mode left as it is) and must exist already.
    hold_s : float
        Seconds a session that has stored nothing holds its rotation index.
    allow_empty : bool
        With ``create=False``: a database without tables is accepted (``serve --check``).

    A database that holds other tables than a clickme serve database's is refused either way.

    Examples
    --------
    >>> store = Store("sqlite://")
    >>> store.counts()
    {'participants': 0, 'trials': 0, 'rounds': 0}
    """

    def __init__(
        self, url: str, pool_size: int = 10, create: bool = True, hold_s: float = 1200.0, allow_empty: bool = False
    ):
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError:
            raise InputError(
                f"expected a database URL (sqlite:///file.db or postgresql+psycopg://...), got {url!r}", field="db"
            ) from None
        self.dialect = parsed.get_backend_name()
        self.hold_s = hold_s
        if self.dialect not in ("sqlite", "postgresql"):
            raise InputError(f"expected a sqlite or postgresql URL, got {url!r}", field="db")
        if self.dialect == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        if not create and self.dialect == "sqlite" and not Path(parsed.database or "").is_file():
            raise InputError("no such SQLite database file", path=parsed.database, field="db")
        shown = parsed.render_as_string(hide_password=True)
        parsed, kwargs = _engine_options(parsed, not create, pool_size)
        try:
            self.engine = sa.create_engine(parsed, **kwargs)
        except Exception as err:  # a missing driver, a bad option
            raise InputError(f"cannot open database {url!r}: {err}", field="db") from None
        if self.dialect == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas if create else _sqlite_read_only)
        # SQLite takes one writer at a time and makes the others sleep and poll; queueing this
        # process's writers on a lock instead keeps the polling to other processes' writes
        self._write = threading.Lock() if self.dialect == "sqlite" else contextlib.nullcontext()
        self.meta, self.participants, self.trials, self.rounds, self.settings = _tables()
        self._insert_new = {
            name: _insert_or_nothing(self.dialect, getattr(self, name)) for name in ("trials", "rounds")
        }
        try:
            self._check_schema(create, allow_empty)
        except (sa.exc.OperationalError, sa.exc.DatabaseError) as err:
            self.engine.dispose()
            raise InputError(
                f"cannot open database {shown}: {str(err.orig).splitlines()[0]} (not a database?)", field="db"
            ) from None
        except InputError:
            self.engine.dispose()
            raise

    def _check_schema(self, create: bool, allow_empty: bool) -> None:
        import sqlalchemy as sa

        inspector = sa.inspect(self.engine)
        present = set(inspector.get_table_names())
        if present - set(TABLES) or (present and "participants" not in present):
            raise InputError(
                f"not a clickme serve database (it holds other tables: "
                f"{', '.join(sorted(present - set(TABLES))[:5])}); give a new or a clickme serve "
                f"database",
                field="db",
            )
        if "participants" in present:
            columns = {c["name"] for c in inspector.get_columns("participants")}
            missing = {c.name for c in self.participants.columns} - columns
            if missing:
                raise InputError(
                    f"database made by an older clickme serve (participants lacks "
                    f"{', '.join(sorted(missing))}); export it with that version",
                    field="db",
                )
        elif not create and not allow_empty:
            raise InputError("not a clickme serve database (no participants table)", field="db")
        if create:
            self.meta.create_all(self.engine)

    # ------------------------------------------------------------------ settings
    def secret(self, name: str) -> bytes:
        """A random 32-byte secret kept in the database (made by the first process that asks)."""
        import sqlalchemy as sa

        s = self.settings
        with self.engine.connect() as conn:
            value = conn.execute(sa.select(s.c.value).where(s.c.name == name)).scalar()
        if value is None:
            try:
                with self._write, self.engine.begin() as conn:
                    conn.execute(s.insert().values(name=name, value=secrets.token_hex(32)))
            except sa.exc.IntegrityError:
                pass  # another process made it first
            with self.engine.connect() as conn:
                value = conn.execute(sa.select(s.c.value).where(s.c.name == name)).scalar()
        return bytes.fromhex(value)

    # ------------------------------------------------------------------ participants
    def participant(self, task: str, participant_id: str):
        """The participant's row (a mapping) or None; its id matched case-insensitively."""
        import sqlalchemy as sa

        p = self.participants
        with self.engine.connect() as conn:
            return (
                conn.execute(sa.select(p).where(p.c.task == task, p.c.participant_key == participant_id.lower()))
                .mappings()
                .first()
            )

    def credentials(self, task: str, participant_id: str):
        """What every post checks (pk, exact id, token hash, status, browser check): one small row."""
        import sqlalchemy as sa

        p = self.participants
        with self.engine.connect() as conn:
            return (
                conn.execute(
                    sa.select(p.c.id, p.c.participant_id, p.c.token_hash, p.c.status, p.c.browser, p.c.created).where(
                        p.c.task == task, p.c.participant_key == participant_id.lower()
                    )
                )
                .mappings()
                .first()
            )

    def design(self, pk: int) -> dict | None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return conn.execute(sa.select(self.participants.c.design).where(self.participants.c.id == pk)).scalar()

    def _release_stale(self, conn, task: str) -> None:
        """Free the indices of sessions that stored nothing within ``hold_s`` of their start."""
        import sqlalchemy as sa

        p = self.participants
        posts = self.trials if task == "experiment" else self.rounds
        cutoff = (datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=self.hold_s)).isoformat(
            timespec="milliseconds"
        )
        stored = sa.select(posts.c.id).where(posts.c.participant_pk == p.c.id).exists()
        conn.execute(
            p.update()
            .where(
                p.c.task == task,
                p.c.participant_index.is_not(None),
                p.c.created < cutoff,
                p.c.status != ALLOCATING,
                ~stored,
            )
            .values(participant_index=None)
        )

    def _next_index(self, task: str):
        """The smallest index no session holds (a scalar subquery)."""
        import sqlalchemy as sa

        p = self.participants
        held = sa.select(p.c.participant_index).where(p.c.task == task, p.c.participant_index.is_not(None))
        candidates = sa.union_all(
            sa.select(sa.literal(0).label("c")),
            sa.select((p.c.participant_index + 1).label("c")).where(
                p.c.task == task, p.c.participant_index.is_not(None)
            ),
        ).subquery()
        return sa.select(sa.func.min(candidates.c.c)).where(candidates.c.c.not_in(held)).scalar_subquery()

    def create_participant(
        self,
        task: str,
        participant_id: str,
        token: str,
        design_for,
        *,
        study_id=None,
        session_id=None,
        retries: int = 200,
    ):
        """Insert a participant with the smallest free rotation index; returns ``(row, created)``.

        The index is allotted by one ``INSERT ... SELECT`` (atomic in SQLite; under PostgreSQL
        the loser of a race for an index retries), then ``design_for(index)`` gives the JSON
        design stored with the row. A participant created meanwhile by another request with the
        same id (in any case) is returned as it is.
        """
        import sqlalchemy as sa

        p = self.participants
        for _ in range(retries):
            existing = self.participant(task, participant_id)
            if existing is not None:
                return existing, False
            values = dict(
                task=task,
                participant_id=participant_id,
                participant_key=participant_id.lower(),
                participant_index=self._next_index(task),
                token_hash=token_hash(token),
                study_id=study_id,
                session_id=session_id,
                status=ALLOCATING,
                created=now_iso(),
            )
            try:
                with self._write, self.engine.begin() as conn:
                    self._release_stale(conn, task)
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

    def claim(self, pk: int, token: str) -> bool:
        """Bind a released participant to a new browser's token (False: another browser was first)."""
        p = self.participants
        with self._write, self.engine.begin() as conn:
            done = conn.execute(
                p.update().where(p.c.id == pk, p.c.token_hash == RELEASED).values(token_hash=token_hash(token))
            )
        return done.rowcount == 1

    def all_participants(self, task: str | None = None) -> list:
        import sqlalchemy as sa

        p = self.participants
        query = sa.select(p).where(p.c.status != ALLOCATING).order_by(p.c.task, p.c.created, p.c.id)
        if task is not None:
            query = query.where(p.c.task == task)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    # ------------------------------------------------------------------ trials and rounds
    def insert_many(self, posts) -> list:
        """Store trials and rounds in one transaction, each unless its key (or its place) is stored.

        Parameters
        ----------
        posts : list of (table, participant_pk, key, values, digest)
            ``table`` is ``"trials"`` or ``"rounds"``, ``key`` the post's idempotency key and
            ``digest`` its :func:`~experiments.online.schemas.body_hash`.

        Returns
        -------
        list of (status, row), one per post
            ``status`` is ``stored``, ``duplicate`` (the same key and body were stored before: a
            retry; nothing new is written), ``reused`` (that key was stored with another body) or
            ``conflict`` (another key already holds this place). ``row``: the stored values (the
            new ones, or the row found; None on a conflict).

        Examples
        --------
        >>> store = Store("sqlite://")
        >>> pk = store.create_participant("game", "P1", "x" * 32, lambda index: {})[0]["id"]
        >>> post = ("rounds", pk, "key-0001", {"round_number": 1, "image_id": "a", "record": {}}, "d1")
        >>> [status for status, _ in store.insert_many([post, post, (*post[:4], "d2")])]
        ['stored', 'duplicate', 'reused']
        """
        import sqlalchemy as sa

        received = now_iso()
        out = []
        with self._write, self.engine.begin() as conn:
            for table, pk, key, values, digest in posts:
                row = dict(values, participant_pk=pk, idempotency_key=key, received=received, body_hash=digest)
                if conn.execute(self._insert_new[table], row).first() is not None:
                    out.append(("stored", row))
                    continue
                t = getattr(self, table)
                found = (
                    conn.execute(sa.select(t).where(t.c.participant_pk == pk, t.c.idempotency_key == key))
                    .mappings()
                    .first()
                )
                if found is None:
                    out.append(("conflict", None))
                else:
                    out.append(("duplicate" if found["body_hash"] == digest else "reused", found))
        return out

    def rows(self, table: str, participant_pk: int | None = None) -> list:
        """Trials or rounds (of one participant), in arrival order."""
        import sqlalchemy as sa

        t = getattr(self, table)
        query = sa.select(t).order_by(t.c.id)
        if participant_pk is not None:
            query = query.where(t.c.participant_pk == participant_pk)
        with self.engine.connect() as conn:
            return list(conn.execute(query).mappings())

    def block_summaries(self, blocks) -> dict:
        """Accuracy and mean RT (ms) of blocks' stored trials: the page's block feedback.

        Parameters
        ----------
        blocks : iterable of (participant_pk, phase, block)

        Returns
        -------
        dict
            ``(participant_pk, phase, block) -> {"n", "accuracy", "mean_rt_ms"}`` for every
            block asked for (``n`` 0 and None values for a block with no trial stored).

        One query for all the blocks (the group writer asks for those of a whole batch: the
        posts that end a block arrive together when participants start together), SQL
        aggregates over the rows' JSON read by the ``(participant, phase, block, trial)`` index:
        no row is decoded in Python. A trial without a response counts as wrong and has no RT.

        Examples
        --------
        >>> store = Store("sqlite://")
        >>> pk = store.create_participant("experiment", "P1", "x" * 32, lambda index: {})[0]["id"]
        >>> posts = [("trials", pk, f"key-{k:04d}", {"phase": "test", "block": 1, "trial": k, "flagged": False,
        ...           "row": {"correct": k != 2, "rt": None if k == 2 else 0.4 + k / 10}}, "d") for k in (1, 2, 3, 4)]
        >>> _ = store.insert_many(posts)
        >>> out = store.block_summaries([(pk, "test", 1), (pk, "test", 2)])
        >>> out[(pk, "test", 1)], out[(pk, "test", 2)]
        ({'n': 4, 'accuracy': 0.75, 'mean_rt_ms': 666.7}, {'n': 0, 'accuracy': None, 'mean_rt_ms': None})
        """
        import sqlalchemy as sa

        keys = sorted(set(blocks))
        out = {key: {"n": 0, "accuracy": None, "mean_rt_ms": None} for key in keys}
        if not keys:
            return out
        t = self.trials
        place = (t.c.participant_pk, t.c.phase, t.c.block)
        right = sa.func.sum(sa.case((t.c.row["correct"].as_boolean(), 1), else_=0))
        query = (
            sa.select(*place, sa.func.count(), right, sa.func.avg(t.c.row["rt"].as_float()))
            .where(sa.tuple_(*place).in_(keys))
            .group_by(*place)
        )
        with self.engine.connect() as conn:
            for pk, phase, block, n, correct, mean_rt in conn.execute(query):
                out[(pk, phase, block)] = {
                    "n": int(n),
                    "accuracy": int(correct) / n,
                    "mean_rt_ms": round(1000 * float(mean_rt), 1) if mean_rt is not None else None,
                }
        return out

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
            for pk, n, bad in conn.execute(
                sa.select(t.c.participant_pk, sa.func.count(), flagged).group_by(t.c.participant_pk)
            ):
                out[pk] = (int(n), int(bad or 0))
            r = self.rounds
            for pk, n in conn.execute(sa.select(r.c.participant_pk, sa.func.count()).group_by(r.c.participant_pk)):
                out[pk] = (int(n), 0)
        return out

    def counts(self) -> dict:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return {
                name: int(conn.execute(sa.select(sa.func.count()).select_from(getattr(self, name))).scalar())
                for name in ("participants", "trials", "rounds")
            }

    def dispose(self) -> None:
        self.engine.dispose()


def _insert_or_nothing(dialect: str, table):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` on ``table``: a row comes back when the row
    is new (under psycopg the row count of such an insert did not say so: stored rows looked like retries)."""
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        from sqlalchemy.dialects.postgresql import insert
    return insert(table).on_conflict_do_nothing().returning(table.c.id)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _sqlite_read_only(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
