"""The SQL store: SQLAlchemy Core on SQLite (one file, the default) or PostgreSQL.

Tables are in :mod:`orchestra_core.storage.schema`, migrations in ``storage/migrations``.
Rows and domain objects are converted here, explicitly; ``store.usage`` (samples and what
they led to) is :class:`~orchestra_core.storage.usage_sql.SQLUsageStore`, on the same engine.

SQLite files run in WAL mode (readers do not block the writer) with a busy timeout (a writer
waits for another process's write instead of failing); writers take the lock at BEGIN.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from orchestra_core.execution.results import OperationLog, State, StepResult, utcnow
from orchestra_core.model.servers import Route, Server
from orchestra_core.model.state import FileRecord, ObjectSnapshot, Placement, PlacementKey
from orchestra_core.storage.database import (
    Database,
    StoreError,
    create_engine,
    resolve,
)
from orchestra_core.storage.memory import MemoryStore
from orchestra_core.storage.migrate import current_revision, head_revision, prepare, upgrade
from orchestra_core.storage.protocol import (
    DEFAULT_LEASE,
    INTERRUPTED_NOTE,
    NotFound,
    ServerBusy,
    ServerLock,
    Store,
)
from orchestra_core.storage.schema import (
    FILE_CONTENTS,
    OBJECT_STATE,
    OPERATION_LOG_OBJECTS,
    OPERATION_LOGS,
    OPERATION_STEPS,
    PLACEMENT_FILES,
    PLACEMENTS,
    ROUTES,
    SERVER_LOCKS,
    SERVERS,
)
from orchestra_core.storage.sqlcore import KEYS_PER_QUERY, SQLPart, chunks, dialect_insert, upsert
from orchestra_core.storage.usage import UsageStore
from orchestra_core.storage.usage_sql import SQLUsageStore

# The schema functions are re-exported: ``storage.sql`` is the SQL store's whole surface.
__all__ = [
    "SQLStore",
    "StoreError",
    "current_revision",
    "head_revision",
    "open_store",
    "upgrade",
]

_CHUNK = KEYS_PER_QUERY
#: Seconds between two tries of a lock another holder has.
_LOCK_POLL = 0.05


def open_store(url: str | None = None) -> Store:
    """The store ``url`` names, ready to use.

    ``memory`` (or ``memory:``) is a :class:`MemoryStore`; a path or ``sqlite:///PATH`` an
    SQLite file; ``postgresql://USER@HOST:PORT/DB`` a PostgreSQL database. ``None`` or ``""``
    use ``$ORCHESTRA_DB``, else ``orchestra.sqlite`` in the current directory. A new file or
    an empty database gets the schema; any other problem is a :class:`StoreError`.
    """
    db = resolve(url)
    if db is None:
        return MemoryStore()
    return SQLStore._open(db)


class _LostRace(Exception):
    """Rolls back a lock attempt that another writer overtook."""


class SQLStore(SQLPart):
    """A :class:`~orchestra_core.storage.protocol.Store` in an SQL database; thread-safe.

    ``url`` is anything :func:`open_store` takes but ``memory``. Opening checks the schema:
    an empty database gets it, an older one asks for ``orchestra db upgrade``.
    """

    def __init__(self, url: str) -> None:
        db = resolve(url)
        if db is None:
            raise StoreError(
                f"{url!r} names the memory store, which keeps nothing in a database: give a "
                "path or a database URL",
                database=url,
            )
        self._setup(db)

    @classmethod
    def _open(cls, db: Database) -> SQLStore:
        store = cls.__new__(cls)
        store._setup(db)
        return store

    def _setup(self, db: Database) -> None:
        engine = create_engine(db)
        try:
            prepare(engine, db)
        except BaseException:
            engine.dispose()
            raise
        SQLPart.__init__(self, engine, db)
        #: Samples, lifetimes, allocations, resource states and usage records.
        self.usage: UsageStore = SQLUsageStore(self._engine, db)

    def __repr__(self) -> str:
        return f"SQLStore({self._db.label!r})"

    @property
    def database(self) -> str:
        """The database, as given (password hidden)."""
        return self._db.label

    def close(self) -> None:
        """Close the pooled connections (the store opens new ones if used again)."""
        self._engine.dispose()

    # -- operation logs -----------------------------------------------------------------------

    def save_log(self, log: OperationLog) -> None:
        """Insert ``log``, or replace the stored log with the same id (steps included)."""
        self.save_logs([log])

    def save_logs(self, logs: Sequence[OperationLog]) -> None:
        """Insert or replace each of ``logs`` (steps included), in one transaction."""
        # One row per id (the last save wins), in id order: concurrent transactions lock
        # rows in the same order and cannot deadlock each other.
        latest = {log.id: log for log in logs}
        ordered = [latest[id] for id in sorted(latest)]
        if not ordered:
            return
        with self._write() as conn:
            for chunk in chunks(ordered):
                ids = [log.id for log in chunk]
                # The upsert locks the rows first: concurrent saves of one log follow each
                # other.
                upsert(conn, OPERATION_LOGS, [_log_row(log) for log in chunk], keys=["id"])
                conn.execute(sa.delete(OPERATION_STEPS).where(OPERATION_STEPS.c.log_id.in_(ids)))
                conn.execute(
                    sa.delete(OPERATION_LOG_OBJECTS).where(OPERATION_LOG_OBJECTS.c.log_id.in_(ids))
                )
                steps = [_step_row(log.id, step) for log in chunk for step in log.steps]
                keys = [
                    {"log_id": log.id, "object_key": key}
                    for log in chunk
                    for key in dict.fromkeys(log.object_keys)
                ]
                if steps:
                    conn.execute(sa.insert(OPERATION_STEPS), steps)
                if keys:
                    conn.execute(sa.insert(OPERATION_LOG_OBJECTS), keys)

    def get_log(self, id: str) -> OperationLog:
        """The log with this id; :class:`NotFound` when there is none."""
        with self._read() as conn:
            row = conn.execute(sa.select(OPERATION_LOGS).where(OPERATION_LOGS.c.id == id)).first()
            if row is None:
                raise NotFound(id)
            return _log(row, self._steps(conn, [id]).get(id, []))

    def list_logs(
        self,
        *,
        state: State | None = None,
        server: str | None = None,
        object_key: str | None = None,
        limit: int | None = None,
    ) -> list[OperationLog]:
        """The matching logs, newest first (ties in ``created_at``: by id, descending)."""
        if limit is not None and limit < 0:
            raise ValueError("limit must not be negative")
        query = sa.select(OPERATION_LOGS)
        if state is not None:
            query = query.where(OPERATION_LOGS.c.state == State(state).value)
        if server is not None:
            query = query.where(OPERATION_LOGS.c.server == server)
        if object_key is not None:
            query = query.where(
                OPERATION_LOGS.c.id.in_(
                    sa.select(OPERATION_LOG_OBJECTS.c.log_id).where(
                        OPERATION_LOG_OBJECTS.c.object_key == object_key
                    )
                )
            )
        query = query.order_by(OPERATION_LOGS.c.created_at.desc(), OPERATION_LOGS.c.id.desc())
        if limit is not None:
            query = query.limit(limit)
        with self._read() as conn:
            rows = conn.execute(query).all()
            steps = self._steps(conn, [row.id for row in rows])
        return [_log(row, steps.get(row.id, [])) for row in rows]

    def _steps(self, conn: sa.Connection, ids: Sequence[str]) -> dict[str, list[StepResult]]:
        found: dict[str, list[StepResult]] = {}
        for chunk in chunks(ids):
            query = (
                sa.select(OPERATION_STEPS)
                .where(OPERATION_STEPS.c.log_id.in_(chunk))
                .order_by(OPERATION_STEPS.c.log_id, OPERATION_STEPS.c.index)
            )
            for row in conn.execute(query):
                found.setdefault(row.log_id, []).append(_step(row))
        return found

    def prune_logs(self, *, older_than: datetime) -> int:
        """Delete the logs created before ``older_than`` with their steps; how many went."""
        if older_than.tzinfo is None:
            raise ValueError("older_than must be timezone-aware (orchestra keeps UTC)")
        old = sa.select(OPERATION_LOGS.c.id).where(OPERATION_LOGS.c.created_at < older_than)
        with self._write() as conn:
            # Explicit as well as ON DELETE CASCADE: a connection without SQLite's
            # foreign_keys pragma leaves nothing behind either.
            conn.execute(sa.delete(OPERATION_STEPS).where(OPERATION_STEPS.c.log_id.in_(old)))
            conn.execute(
                sa.delete(OPERATION_LOG_OBJECTS).where(OPERATION_LOG_OBJECTS.c.log_id.in_(old))
            )
            result = conn.execute(
                sa.delete(OPERATION_LOGS).where(OPERATION_LOGS.c.created_at < older_than)
            )
            return int(result.rowcount)

    def interrupt_logs(self, servers: Sequence[str]) -> int:
        """Mark these servers' unfinished logs ``interrupted``; how many."""
        unfinished = [State.RECEIVED.value, State.STARTED.value]
        now = utcnow()
        count = 0
        with self._write() as conn:
            for chunk in chunks(sorted(set(servers))):
                result = conn.execute(
                    sa.update(OPERATION_LOGS)
                    .where(
                        OPERATION_LOGS.c.server.in_(chunk),
                        OPERATION_LOGS.c.state.in_(unfinished),
                    )
                    .values(
                        state=State.INTERRUPTED.value,
                        finished_at=now,
                        stderr=OPERATION_LOGS.c.stderr + INTERRUPTED_NOTE,
                    )
                )
                count += int(result.rowcount)
        return count

    # -- the applied state --------------------------------------------------------------------

    def placements(
        self,
        *,
        servers: Collection[str] | None = None,
        object_keys: Collection[str] | None = None,
    ) -> list[Placement]:
        """The applied placements (on these servers, of these objects), in key order."""
        query = sa.select(PLACEMENTS)
        files = sa.select(PLACEMENT_FILES)
        for column, files_column, wanted in (
            (PLACEMENTS.c.server, PLACEMENT_FILES.c.server, servers),
            (PLACEMENTS.c.object_key, PLACEMENT_FILES.c.object_key, object_keys),
        ):
            if wanted is not None:
                values = sorted(set(wanted))
                if len(values) > _CHUNK:
                    continue  # filtered below: too many for one IN (...)
                query = query.where(column.in_(values))
                files = files.where(files_column.in_(values))
        with self._read() as conn, conn.begin():
            rows = conn.execute(query).all()
            found: dict[tuple[str, str, str], list[FileRecord]] = {}
            for row in conn.execute(files.order_by(PLACEMENT_FILES.c.position)):
                found.setdefault((row.object_key, row.backend, row.server), []).append(
                    FileRecord(path=row.path, sha256=row.sha256, mode=row.mode)
                )
        out = [
            _placement(row, found.get((row.object_key, row.backend, row.server), []))
            for row in rows
            if (servers is None or row.server in servers)
            and (object_keys is None or row.object_key in object_keys)
        ]
        return sorted(out, key=lambda p: p.key)

    def record_placements(
        self,
        recorded: Sequence[Placement],
        forgotten: Sequence[PlacementKey] = (),
        *,
        contents: Mapping[str, str] | None = None,
    ) -> None:
        """Record, forget and keep contents in one transaction, in key order."""
        now = utcnow()
        latest = {p.key: p for p in recorded}
        gone = sorted({PlacementKey(*key) for key in forgotten} | set(latest))
        if not gone and not contents:
            return
        with self._write() as conn:
            replaced: set[str] = set()
            for keys in chunks(gone, size=_CHUNK // 3):
                files_in = _placement_in(PLACEMENT_FILES, keys)
                replaced.update(
                    digest
                    for digest in conn.execute(
                        sa.select(PLACEMENT_FILES.c.sha256).where(files_in)
                    ).scalars()
                    if digest
                )
                conn.execute(sa.delete(PLACEMENT_FILES).where(files_in))
                conn.execute(sa.delete(PLACEMENTS).where(_placement_in(PLACEMENTS, keys)))
            rows = [_placement_row(latest[key], now) for key in sorted(latest)]
            file_rows = [
                {
                    "object_key": key.object_key,
                    "backend": key.backend,
                    "server": key.server,
                    "position": position,
                    "path": record.path,
                    "sha256": record.sha256,
                    "mode": record.mode,
                }
                for key in sorted(latest)
                for position, record in enumerate(latest[key].files)
            ]
            for batch in chunks(rows):
                conn.execute(sa.insert(PLACEMENTS), list(batch))
            for batch in chunks(file_rows):
                conn.execute(sa.insert(PLACEMENT_FILES), list(batch))
            named = {r.sha256 for p in latest.values() for r in p.files if r.sha256}
            wanted = {h: c for h, c in (contents or {}).items() if h in named}
            if wanted:
                have: set[str] = set()
                for digests in chunks(sorted(wanted)):
                    have.update(
                        conn.execute(
                            sa.select(FILE_CONTENTS.c.sha256).where(
                                FILE_CONTENTS.c.sha256.in_(digests)
                            )
                        ).scalars()
                    )
                new_rows = [
                    {"sha256": h, "content": c} for h, c in sorted(wanted.items()) if h not in have
                ]
                for batch in chunks(new_rows):
                    conn.execute(sa.insert(FILE_CONTENTS), list(batch))
            # Content no placement names any more goes (of what this call replaced).
            for digests in chunks(sorted(replaced - set(wanted))):
                conn.execute(
                    sa.delete(FILE_CONTENTS).where(
                        FILE_CONTENTS.c.sha256.in_(digests),
                        FILE_CONTENTS.c.sha256.not_in(
                            sa.select(PLACEMENT_FILES.c.sha256).where(
                                PLACEMENT_FILES.c.sha256.in_(digests)
                            )
                        ),
                    )
                )

    def file_contents(self, hashes: Iterable[str]) -> dict[str, str]:
        """The kept content of these hashes."""
        found: dict[str, str] = {}
        with self._read() as conn:
            for chunk in chunks(sorted(set(hashes))):
                for row in conn.execute(
                    sa.select(FILE_CONTENTS).where(FILE_CONTENTS.c.sha256.in_(chunk))
                ):
                    found[row.sha256] = row.content
        return found

    def applied(self) -> dict[str, ObjectSnapshot]:
        """The newest snapshot of every placed object."""
        query = sa.select(
            PLACEMENTS.c.object_key,
            PLACEMENTS.c.kind,
            PLACEMENTS.c.snapshot,
            PLACEMENTS.c.active,
            PLACEMENTS.c.applied_at,
        )
        with self._read() as conn:
            rows = conn.execute(query).all()
        newest: dict[str, Any] = {}
        for row in rows:
            old = newest.get(row.object_key)
            if old is None or row.applied_at >= old.applied_at:
                newest[row.object_key] = row
        return {
            key: ObjectSnapshot(key=key, kind=row.kind, data=row.snapshot, active=bool(row.active))
            for key, row in newest.items()
        }

    def record_desired(self, snapshots: Sequence[ObjectSnapshot]) -> None:
        """Remember what was last asked of these objects."""
        now = utcnow()
        # The last snapshot of a key wins, as in a dict.
        latest = {snapshot.key: snapshot for snapshot in snapshots}
        rows = [
            {
                "key": snapshot.key,
                "kind": snapshot.kind,
                "desired": snapshot.data,
                "desired_active": snapshot.active,
                "desired_at": now,
            }
            for snapshot in latest.values()
        ]
        with self._write() as conn:
            for chunk in chunks(rows):
                upsert(conn, OBJECT_STATE, list(chunk), keys=["key"])

    def desired(self, key: str) -> ObjectSnapshot | None:
        """What was last asked of this object, or None."""
        query = sa.select(
            OBJECT_STATE.c.kind, OBJECT_STATE.c.desired, OBJECT_STATE.c.desired_active
        ).where(OBJECT_STATE.c.key == key, OBJECT_STATE.c.desired_at.is_not(None))
        with self._read() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return ObjectSnapshot(
            key=key, kind=row.kind, data=row.desired, active=bool(row.desired_active)
        )

    # -- topology -----------------------------------------------------------------------------

    def save_topology(self, servers: Sequence[Server], routes: Sequence[Route]) -> None:
        """Replace the stored servers and routes with these."""
        server_rows = [
            {
                "name": server.name,
                "position": position,
                "address": server.address,
                "transport": server.transport,
                "root": server.root,
                "settings": server.settings,
            }
            for position, server in enumerate(servers)
        ]
        route_rows = [
            {
                "position": position,
                "name": route.name,
                "backend": route.backend,
                "servers": list(route.servers),
                "match": route.match,
                "settings": route.settings,
            }
            for position, route in enumerate(routes)
        ]
        with self._write() as conn:
            conn.execute(sa.delete(SERVERS))
            conn.execute(sa.delete(ROUTES))
            if server_rows:
                conn.execute(sa.insert(SERVERS), server_rows)
            if route_rows:
                conn.execute(sa.insert(ROUTES), route_rows)

    def servers(self) -> list[Server]:
        """The stored servers, in the order they were saved."""
        with self._read() as conn:
            rows = conn.execute(sa.select(SERVERS).order_by(SERVERS.c.position)).all()
        return [
            Server(
                name=row.name,
                address=row.address,
                transport=row.transport,
                root=row.root,
                settings=row.settings,
            )
            for row in rows
        ]

    def routes(self) -> list[Route]:
        """The stored routes, in the order they were saved."""
        with self._read() as conn:
            rows = conn.execute(sa.select(ROUTES).order_by(ROUTES.c.position)).all()
        return [
            Route(
                backend=row.backend,
                servers=tuple(row.servers),
                match=row.match,
                settings=row.settings,
                name=row.name,
            )
            for row in rows
        ]

    # -- locks --------------------------------------------------------------------------------

    def lock_servers(
        self,
        names: Sequence[str],
        holder: str,
        *,
        wait: float = 0.0,
        lease: float = DEFAULT_LEASE,
    ) -> list[ServerLock]:
        """Take every server of ``names`` for ``holder`` for ``lease`` seconds, all or none,
        waiting up to ``wait`` seconds; :class:`ServerBusy` names the first one (by name)
        still held by another. The dead locks taken over are returned."""
        wanted = sorted(set(names))
        deadline = time.monotonic() + wait
        while True:
            taken, busy = self._try_lock(wanted, holder, lease)
            if busy is None:
                return taken
            if busy and time.monotonic() >= deadline:
                first = busy[0]
                raise ServerBusy(first.server, first.holder, first.acquired_at)
            time.sleep(_LOCK_POLL)

    def _try_lock(
        self, wanted: list[str], holder: str, lease: float
    ) -> tuple[list[ServerLock], list[ServerLock] | None]:
        """One all-or-none try: (dead locks taken over, None) when taken, else ([], who holds
        what; empty: lost a race with another writer, look again)."""
        if not wanted:
            return [], None
        try:
            with self._write() as conn:
                held = {
                    row.server: _lock(row)
                    for chunk in chunks(wanted)
                    for row in conn.execute(
                        sa.select(SERVER_LOCKS)
                        .where(SERVER_LOCKS.c.server.in_(chunk))
                        .with_for_update()
                    )
                }
                now = utcnow()
                busy = [
                    held[name]
                    for name in wanted
                    if name in held and held[name].holder != holder and not held[name].is_dead(now)
                ]
                if busy:
                    return [], busy
                until = now + timedelta(seconds=lease)
                taken_over = [held[n] for n in wanted if n in held and held[n].holder != holder]
                mine = [n for n in wanted if n in held and held[n].holder == holder]
                for chunk in chunks([lock.server for lock in taken_over]):
                    conn.execute(
                        sa.update(SERVER_LOCKS)
                        .where(SERVER_LOCKS.c.server.in_(chunk))
                        .values(holder=holder, acquired_at=now, expires_at=until)
                    )
                for chunk in chunks(mine):
                    conn.execute(
                        sa.update(SERVER_LOCKS)
                        .where(SERVER_LOCKS.c.server.in_(chunk))
                        .values(expires_at=until)
                    )
                fresh = [name for name in wanted if name not in held]
                for chunk in chunks(fresh):
                    rows = [
                        {"server": name, "holder": holder, "acquired_at": now, "expires_at": until}
                        for name in chunk
                    ]
                    conn.execute(
                        dialect_insert(conn, SERVER_LOCKS).values(rows).on_conflict_do_nothing()
                    )
                    # Counted, not rowcount: psycopg does not report one for this statement.
                    count = conn.execute(
                        sa.select(sa.func.count())
                        .select_from(SERVER_LOCKS)
                        .where(SERVER_LOCKS.c.server.in_(chunk), SERVER_LOCKS.c.holder == holder)
                    ).scalar_one()
                    if count != len(rows):
                        # Another writer inserted one since we looked (PostgreSQL): undo all.
                        raise _LostRace
                return taken_over, None
        except _LostRace:
            return [], []

    def renew_locks(
        self, names: Sequence[str], holder: str, *, lease: float = DEFAULT_LEASE
    ) -> int:
        """Extend ``holder``'s locks on ``names``; how many it still held."""
        until = utcnow() + timedelta(seconds=lease)
        count = 0
        with self._write() as conn:
            for chunk in chunks(sorted(set(names))):
                result = conn.execute(
                    sa.update(SERVER_LOCKS)
                    .where(SERVER_LOCKS.c.server.in_(chunk), SERVER_LOCKS.c.holder == holder)
                    .values(expires_at=until)
                )
                count += int(result.rowcount)
        return count

    def unlock_servers(self, names: Sequence[str], holder: str) -> None:
        """Give back the servers of ``names`` that ``holder`` holds."""
        with self._write() as conn:
            for chunk in chunks(sorted(set(names))):
                conn.execute(
                    sa.delete(SERVER_LOCKS).where(
                        SERVER_LOCKS.c.server.in_(chunk), SERVER_LOCKS.c.holder == holder
                    )
                )

    def locks(self) -> list[ServerLock]:
        """Every lock held now, by server name."""
        with self._read() as conn:
            rows = conn.execute(sa.select(SERVER_LOCKS).order_by(SERVER_LOCKS.c.server)).all()
        return [_lock(row) for row in rows]

    def break_lock(self, server: str, holder: str) -> bool:
        """Remove ``server``'s lock if ``holder`` still holds it."""
        with self._write() as conn:
            result = conn.execute(
                sa.delete(SERVER_LOCKS).where(
                    SERVER_LOCKS.c.server == server, SERVER_LOCKS.c.holder == holder
                )
            )
            return bool(result.rowcount)


# -- rows <-> domain objects ------------------------------------------------------------------


def _lock(row: sa.Row[Any]) -> ServerLock:
    return ServerLock(
        server=row.server,
        holder=row.holder,
        acquired_at=row.acquired_at,
        expires_at=row.expires_at,
    )


def _placement_in(table: sa.Table, keys: Sequence[PlacementKey]) -> sa.ColumnElement[bool]:
    """``(object_key, backend, server) IN (...)``: row values, which SQLite (3.15 and later)
    and PostgreSQL both take."""
    columns = sa.tuple_(table.c.object_key, table.c.backend, table.c.server)
    return columns.in_([tuple(key) for key in keys])


def _placement_row(placement: Placement, now: datetime) -> dict[str, Any]:
    return {
        "object_key": placement.object_key,
        "backend": placement.backend,
        "server": placement.server,
        "kind": placement.snapshot.kind,
        "snapshot": placement.snapshot.data,
        "active": placement.snapshot.active,
        "fingerprint": placement.fingerprint,
        "settings": placement.settings,
        "host": placement.host,
        "observed": placement.observed,
        "applied_at": now,
    }


def _placement(row: sa.Row[Any], files: Sequence[FileRecord]) -> Placement:
    return Placement(
        object_key=row.object_key,
        backend=row.backend,
        server=row.server,
        snapshot=ObjectSnapshot(
            key=row.object_key, kind=row.kind, data=row.snapshot, active=bool(row.active)
        ),
        fingerprint=row.fingerprint,
        settings=dict(row.settings or {}),
        host=dict(row.host or {}),
        files=tuple(files),
        observed=dict(row.observed or {}),
        applied_at=row.applied_at,
    )


def _log_row(log: OperationLog) -> dict[str, Any]:
    return {
        "id": log.id,
        "operation_id": log.operation_id,
        "server": log.server,
        "backend": log.backend,
        "action": log.action,
        "object_keys": list(log.object_keys),
        "state": State(log.state).value,
        "script": log.script,
        "exit_code": log.exit_code,
        "stdout": log.stdout,
        "stderr": log.stderr,
        "created_at": log.created_at,
        "started_at": log.started_at,
        "finished_at": log.finished_at,
        "retry_of": log.retry_of,
    }


def _step_row(log_id: str, step: StepResult) -> dict[str, Any]:
    return {
        "log_id": log_id,
        "index": step.index,
        "kind": step.kind,
        "description": step.description,
        "state": State(step.state).value,
        "exit_code": step.exit_code,
        "stdout": step.stdout,
        "stderr": step.stderr,
        "duration": step.duration,
    }


def _log(row: sa.Row[Any], steps: Iterable[StepResult]) -> OperationLog:
    return OperationLog(
        id=row.id,
        operation_id=row.operation_id,
        server=row.server,
        backend=row.backend,
        action=row.action,
        object_keys=tuple(row.object_keys),
        state=State(row.state),
        script=row.script,
        steps=list(steps),
        exit_code=row.exit_code,
        stdout=row.stdout,
        stderr=row.stderr,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        retry_of=row.retry_of,
    )


def _step(row: sa.Row[Any]) -> StepResult:
    return StepResult(
        # ``row.index`` would be the tuple method.
        index=row._mapping["index"],
        kind=row.kind,
        description=row.description,
        state=State(row.state),
        exit_code=row.exit_code,
        stdout=row.stdout,
        stderr=row.stderr,
        duration=row.duration,
    )
