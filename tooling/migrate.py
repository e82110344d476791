"""Apply, roll back and list migrations with yoyo, safely under concurrency and crashes.

yoyo keeps the migration state (``_yoyo_migration``, ``_yoyo_log``) and reads
the ``NNNN_*.sql`` / ``NNNN_*.rollback.sql`` files.  Two of its behaviours
do not meet SPEC.md, so its PostgreSQL backend is subclassed here:

* **Lock.** yoyo serialises runs with a row in ``yoyo_lock``; a run that is
  killed leaves the row behind and every later run fails until someone runs
  ``yoyo break-lock``.  We hold a session-level advisory lock instead: the
  server releases it when the holder's connection ends, however it ends.
  ``client_connection_check_interval`` makes the server notice a killed client
  even in the middle of a long statement, so the lock really dies with it.
* **Atomicity.** yoyo applies a migration on one connection and records it
  as applied on another, in a second transaction: a crash between the two
  leaves a migration applied but unrecorded, and the next run fails on
  "already exists".  We run the migration's statements and its bookkeeping in
  one transaction, so a migration is either wholly applied and recorded or
  not there at all.  (A ``-- transactional: false`` migration cannot be made
  atomic; it keeps yoyo's behaviour and holds a single statement.)
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import psycopg
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI
from yoyo.migrations import Migration, MigrationList, default_migration_table

from tooling import checksums
from tooling.config import describe_target
from tooling.errors import ToolError, describe_connect_failure, one_line

# One fixed advisory-lock key for "migrating this database" (advisory locks are
# per database, so runs against different databases never block each other).
MIGRATION_LOCK_KEY = int.from_bytes(hashlib.sha256(b"tododb:migrations").digest()[:7], "big")
APPLICATION_NAME = "tododb-migrate"


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend with an advisory lock and atomic migrations."""

    lock_wait_seconds: float = 60.0

    def connect(self, dburi: DatabaseURI) -> psycopg.Connection:
        # The libpq URL is passed through untouched (sslmode, options, several
        # hosts...); yoyo's own URL parser would drop what it does not know.
        conninfo = dburi.args["conninfo"]
        extra = {} if "connect_timeout" in psycopg.conninfo.conninfo_to_dict(conninfo) else {"connect_timeout": 10}
        conn = psycopg.connect(conninfo, autocommit=True, application_name=APPLICATION_NAME, **extra)
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
        self._acquire_advisory_lock()
        self._is_locked = True
        try:
            yield
        finally:
            self._is_locked = False
            if not self.connection.closed and not self.connection.broken:
                self.execute("select pg_advisory_unlock(%s)" % MIGRATION_LOCK_KEY)

    def _acquire_advisory_lock(self) -> None:
        got = self.execute("select pg_try_advisory_lock(%s)" % MIGRATION_LOCK_KEY).fetchone()[0]
        if got:
            return
        holder = self.execute(
            "select l.pid from pg_locks l"
            " where l.locktype = 'advisory' and l.granted and l.database ="
            " (select oid from pg_database where datname = current_database())"
            " and ((l.classid::bigint << 32) | l.objid::bigint) = %s" % MIGRATION_LOCK_KEY
        ).fetchone()
        who = f"server pid {holder[0]}" if holder else "another session"
        print(
            f"another migration run holds the lock ({who}); waiting up to {self.lock_wait_seconds:g} s",
            file=sys.stderr,
            flush=True,
        )
        self.execute("set lock_timeout = '%dms'" % int(self.lock_wait_seconds * 1000))
        try:
            self.execute("select pg_advisory_lock(%s)" % MIGRATION_LOCK_KEY)
        except psycopg.errors.LockNotAvailable:
            raise ToolError(
                f"another migration run ({who}) still holds the lock after {self.lock_wait_seconds:g} s;"
                " wait for it to finish, or raise TODODB_LOCK_WAIT"
            ) from None
        finally:
            if not self.connection.broken:
                self.execute("reset lock_timeout")

    def apply_one(self, migration: Migration, force: bool = False, mark: bool = True) -> None:
        self.ensure_internal_schema_updated()
        migration.load()
        if not migration.use_transactions:
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

    def rollback_one(self, migration: Migration, force: bool = False) -> None:
        self.ensure_internal_schema_updated()
        migration.load()
        if not migration.use_transactions:
            super().rollback_one(migration, force=force)
            with self.transaction():
                checksums.forget(self, migration)
            return
        with self.transaction():
            migration.process_steps(self, "rollback", force=force)
            self.log_migration(migration, "rollback")
            self.unmark_one(migration, log=False)
            checksums.forget(self, migration)


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
    try:
        backend = _Backend(dburi, default_migration_table)
    except psycopg.Error as exc:
        raise describe_connect_failure(exc, describe_target(url)) from None
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


def _failure(action: str, migration: Migration, exc: psycopg.Error) -> ToolError:
    diag = exc.diag
    detail = f"{exc.sqlstate} {diag.message_primary}" if exc.sqlstate and diag.message_primary else one_line(exc)
    if diag.context:
        detail += f" ({one_line(diag.context)})"
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


def apply_pending(
    url: str,
    migrations_dir: Path,
    lock_wait_seconds: float = 60.0,
    echo=print,
    upto: str | None = None,
    accept_edited: str | None = None,
    only: set[str] | None = None,
) -> list[str]:
    """Apply pending migrations in order (all, up to and including ``upto``, or
    just those with an id in ``only``); return their ids."""
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
                raise _failure("migration", migration, exc) from None
            echo(f"applied  {migration.id}")
            applied.append(migration.id)
    return applied


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
                raise _failure("rollback of", migration, exc) from None
            echo(f"rolled back  {migration.id}")
            rolled_back.append(migration.id)
    return rolled_back


def states(url: str, migrations_dir: Path) -> list[MigrationState]:
    """Every migration known to the folder or the database, in order, with its state."""
    migrations = load_migrations(migrations_dir)
    with open_backend(url) as backend:
        records = _applied_records(backend, create=False)
        if records:
            applied_hashes = {h for h, _, _ in records}
            checksums.verify(backend, [m for m in migrations if m.hash in applied_hashes], adopt=False)
    applied = {h: (mid, when) for h, mid, when in records}
    result = [
        MigrationState(m.id, applied.get(m.hash, (None, None))[1], _description(m), True) for m in migrations
    ]
    known = {m.hash for m in migrations}
    result += [MigrationState(mid, when, "", False) for h, mid, when in records if h not in known]
    return result
