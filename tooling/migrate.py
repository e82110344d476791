"""Apply, roll back and list migrations with yoyo, safely under concurrency and crashes.

yoyo keeps the migration state (``_yoyo_migration``, ``_yoyo_log``) and reads
the ``NNNN_*.sql`` / ``NNNN_*.rollback.sql`` files.  Two of its behaviours
do not meet SPEC.md, so its PostgreSQL backend is subclassed here:

* **Lock.** yoyo serialises runs with a row in ``yoyo_lock``, which a killed
  run leaves behind; a run here locks a table instead, on a connection of its
  own, a lock that dies with its holder and that no app role can take
  (tooling/migration_lock.py says how). Before each migration commits, the
  run checks the lock is still held.
* **Atomicity.** yoyo applies a migration on one connection and records it
  as applied on another, in a second transaction: a crash between the two
  leaves a migration applied but unrecorded, and the next run fails on
  "already exists".  We run the migration's statements and its bookkeeping in
  one transaction, so a migration is either wholly applied and recorded or
  not there at all.  (A ``-- transactional: false`` migration cannot be made
  atomic; it keeps yoyo's behaviour, and is written to be run again after
  stopping part-way: concurrent index builds, a backfill in batches.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI
from yoyo.migrations import Migration, MigrationList, default_migration_table

from tooling import checksums, migration_lock
from tooling.errors import ToolError, one_line

APPLICATION_NAME = "tododb-migrate"


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend with a lock that dies with its holder, and atomic migrations."""

    lock_wait_seconds: float = 60.0
    _lock_conn: psycopg.Connection | None = None
    _is_locked: bool

    def connect(self, dburi: DatabaseURI) -> psycopg.Connection:
        self._conninfo = dburi.args["conninfo"]
        conn = migration_lock.connect_migrator(self._conninfo, APPLICATION_NAME)
        conn.execute("set client_connection_check_interval = '2s'")
        return conn

    def init_database(self) -> None:
        # No yoyo_lock table (see the module docstring); PostgreSQL has
        # transactional DDL, no need for yoyo's probe table.
        self.has_transactional_ddl = True

    @contextmanager
    def lock(self, timeout: float | None = None) -> Iterator[None]:
        if self._is_locked:
            yield
            return
        self._lock_conn = migration_lock.take_lock(self._conninfo, self.lock_wait_seconds)
        self._is_locked = True
        try:
            yield
        finally:
            self._is_locked = False
            self._lock_conn.close()  # ends its transaction: the server releases the lock
            self._lock_conn = None

    def _check_lock(self, migration: Migration) -> None:
        """The lock lives on another connection, which may have ended (a terminated
        session) while this one went on: stop before committing anything more."""
        if self._lock_conn is None:
            return
        pid = self._lock_conn.info.backend_pid
        held = self.execute(
            "select exists (select from pg_locks where pid = :pid and locktype = 'relation'"
            " and relation = to_regclass(:table) and mode = 'ExclusiveLock' and granted)",
            {"pid": pid, "table": migration_lock.LOCK_TABLE},
        ).fetchone()[0]
        if not held:
            raise ToolError(
                f"the migration lock was lost (its session, server pid {pid}, ended): stopped before committing "
                f"{migration.id}, which is left as it was; run the command again"
            )

    def apply_one(self, migration: Migration, force: bool = False, mark: bool = True) -> None:
        self.ensure_internal_schema_updated()
        migration.load()
        if not migration.use_transactions:
            self._check_lock(migration)
            super().apply_one(migration, force=force, mark=mark)
            with self.transaction():
                checksums.record(self, migration)
            return
        with self.transaction():
            migration.process_steps(self, "apply", force=force)
            self.log_migration(migration, "apply")
            if mark:
                self.mark_one(migration, log=False)
                checksums.record(self, migration)
            self._check_lock(migration)

    def rollback_one(self, migration: Migration, force: bool = False) -> None:
        self.ensure_internal_schema_updated()
        migration.load()
        if not migration.use_transactions:
            self._check_lock(migration)
            super().rollback_one(migration, force=force)
            with self.transaction():
                checksums.forget(self, migration)
            return
        with self.transaction():
            migration.process_steps(self, "rollback", force=force)
            self.log_migration(migration, "rollback")
            self.unmark_one(migration, log=False)
            checksums.forget(self, migration)
            self._check_lock(migration)


@dataclass(frozen=True)
class MigrationState:
    """One line of ``status``: a migration file, an applied record, or both."""

    migration_id: str
    applied_at: datetime | None
    description: str
    has_file: bool


@contextmanager
def open_backend(url: str, lock_wait_seconds: float = 60.0) -> Iterator[_Backend]:
    """Connect yoyo to ``url``; connection failures become one-line errors."""
    dburi = DatabaseURI("postgresql+psycopg", None, None, None, None, None, {"conninfo": url})
    backend = _Backend(dburi, default_migration_table)  # connects through tooling.target: one-line failures
    backend.lock_wait_seconds = lock_wait_seconds
    backend.init_database()
    try:
        yield backend
    finally:
        backend.connection.close()


def load_migrations(migrations_dir: Path) -> MigrationList:
    if not migrations_dir.is_dir():
        raise ToolError(f"migrations folder {migrations_dir} does not exist")
    migrations = read_migrations(str(migrations_dir))
    if not migrations:
        raise ToolError(f"no migrations found in {migrations_dir}")
    return migrations


def _description(migration: Migration) -> str:
    migration.load()
    doc = (migration.module.__doc__ or "").strip()
    return doc.splitlines()[0] if doc else ""


def _failure(action: str, migration: Migration, exc: psycopg.Error, command: str) -> ToolError:
    """The one line for a migration that failed, true to what is left of it.

    A transactional migration is rolled back whole. One marked ``-- transactional: false`` commits as it
    goes (a concurrent index build, the batches of a backfill): what it committed stays (yoyo may also have
    run the rollback statements that pair with the steps it completed: such a rollback only drops what a
    rerun builds again), it is not recorded, and running ``command`` again finishes it (such a migration is
    written to be rerun).
    """
    diag = exc.diag
    detail = f"{exc.sqlstate} {diag.message_primary}" if exc.sqlstate and diag.message_primary else one_line(exc)
    if diag.context:
        detail += f" ({one_line(diag.context)})"
    if not migration.use_transactions:
        return ToolError(
            f"{action} {migration.id} stopped part-way: it runs outside a transaction, so what it committed is"
            f" kept and it is not recorded; run `{command}` again to finish it: {detail}"
        )
    return ToolError(f"{action} {migration.id} failed and was rolled back, nothing of it is kept: {detail}")


def _applied_migrations(backend: _Backend, migrations: MigrationList) -> list[Migration]:
    applied = set(backend.get_applied_migration_hashes())
    return [m for m in migrations if m.hash in applied]


def _checked(backend: _Backend, migrations: MigrationList, accept: str | None = None) -> None:
    """Create the checksum table, accept one deliberate edit if asked, then verify every applied file."""
    backend.ensure_internal_schema_updated()  # yoyo creates its own tables outside any transaction
    with backend.transaction():
        checksums.ensure_table(backend)
        applied = _applied_migrations(backend, migrations)
        if accept is not None:
            chosen = [m for m in applied if m.id == accept]
            if not chosen:
                raise ToolError(f"--accept-edited {accept}: no applied migration has that id")
            checksums.record(backend, chosen[0])
        checksums.verify(backend, applied, adopt=True)


def apply_pending(url: str, migrations_dir: Path, **options: Any) -> list[str]:
    """Apply pending migrations in order (all, up to and including ``upto``, or just those with an id in
    ``only``); return their ids. ``options``: those of ``apply_and_list``."""
    return apply_and_list(url, migrations_dir, **options)[0]


def apply_and_list(
    url: str,
    migrations_dir: Path,
    lock_wait_seconds: float = 60.0,
    echo=print,
    upto: str | None = None,
    accept_edited: str | None = None,
    only: set[str] | None = None,
) -> tuple[list[str], list[MigrationState]]:
    """``apply_pending``, and the state of every migration afterwards (what ``make migrate`` prints), from
    the same reading of the folder and the same verification, on the same connection."""
    every = load_migrations(migrations_dir)
    wanted = every
    if only is not None:
        wanted = every.filter(lambda m: m.id in only)
    if upto is not None:
        ids = [m.id for m in every]
        if upto not in ids:
            raise ToolError(f"no migration {upto!r} in {migrations_dir}")
        wanted = every.filter(lambda m: ids.index(m.id) <= ids.index(upto))
    applied: list[str] = []
    with open_backend(url, lock_wait_seconds) as backend, backend.lock():
        _checked(backend, every, accept_edited)  # every applied file is verified, not only the wanted ones
        for migration in backend.to_apply(wanted):
            try:
                backend.apply_one(migration)
            except psycopg.Error as exc:
                raise _failure("migration", migration, exc, "migrate") from None
            echo(f"applied  {migration.id}")
            applied.append(migration.id)
        return applied, _states(every, _applied_records(backend))


def _applied_records(backend: _Backend, create: bool = True) -> list[tuple[str, str, datetime]]:
    """Applied migrations, oldest first.  ``create=False`` keeps a read-only
    command read-only: a database yoyo never touched has none applied."""
    if create:
        backend.get_applied_migration_hashes()  # creates yoyo's tables on first use
    elif backend.execute("select to_regclass('_yoyo_migration')").fetchone()[0] is None:
        return []
    return backend.execute(
        "select migration_hash, migration_id, applied_at_utc from _yoyo_migration order by applied_at_utc, migration_id"
    ).fetchall()


def roll_back(url: str, migrations_dir: Path, every: bool, lock_wait_seconds: float = 60.0, echo=print) -> list[str]:
    """Roll back the latest applied migration (or all of them, newest first)."""
    rolled_back, _ = roll_back_and_list(url, migrations_dir, every, lock_wait_seconds, echo)
    return rolled_back


def roll_back_and_list(
    url: str, migrations_dir: Path, every: bool, lock_wait_seconds: float = 60.0, echo=print
) -> tuple[list[str], list[MigrationState]]:
    """``roll_back``, and the state of every migration afterwards, from one reading and one verification."""
    migrations = load_migrations(migrations_dir)
    by_hash = {m.hash: m for m in migrations}
    rolled_back: list[str] = []
    with open_backend(url, lock_wait_seconds) as backend, backend.lock():
        _checked(backend, migrations)
        records = _applied_records(backend)
        if not records:
            raise ToolError("nothing to roll back: no migration is applied to this database")
        for migration_hash, migration_id, _ in reversed(records if every else records[-1:]):
            migration = by_hash.get(migration_hash)
            if migration is None:
                raise ToolError(
                    f"cannot roll back {migration_id}: it is applied but its file is not in {migrations_dir}"
                )
            try:
                backend.rollback_one(migration)
            except psycopg.Error as exc:
                raise _failure("rollback of", migration, exc, "rollback") from None
            echo(f"rolled back  {migration.id}")
            rolled_back.append(migration.id)
        return rolled_back, _states(migrations, _applied_records(backend))


def _states(migrations: MigrationList, records: list[tuple[str, str, datetime]]) -> list[MigrationState]:
    """Every migration known to the folder (``migrations``) or the database (``records``), in order."""
    applied = {h: (mid, when) for h, mid, when in records}
    result = [MigrationState(m.id, applied.get(m.hash, (None, None))[1], _description(m), True) for m in migrations]
    known = {m.hash for m in migrations}
    result += [MigrationState(mid, when, "", False) for h, mid, when in records if h not in known]
    return result


def states(url: str, migrations_dir: Path) -> list[MigrationState]:
    """Every migration known to the folder or the database, in order, with its state (read-only)."""
    migrations = load_migrations(migrations_dir)
    with open_backend(url) as backend:
        records = _applied_records(backend, create=False)
        if records:
            applied_hashes = {h for h, _, _ in records}
            checksums.verify(backend, [m for m in migrations if m.hash in applied_hashes], adopt=False)
    return _states(migrations, records)
