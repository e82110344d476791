"""Apply, roll back and list migrations with yoyo, safely under concurrency and crashes.

yoyo keeps the migration state (``_yoyo_migration``, ``_yoyo_log``) and reads
the ``NNNN_*.sql`` / ``NNNN_*.rollback.sql`` files.  Two of its behaviours
do not meet SPEC.md, so its PostgreSQL backend is subclassed here:

* **Lock.** yoyo serialises runs with a row in ``yoyo_lock``; a run that is
  killed leaves the row behind and every later run fails until someone runs
  ``yoyo break-lock``.  An advisory lock would die with its holder, but any
  role may call ``pg_advisory_lock``: an app login could take the key and
  block every deploy.  So a run locks a table instead,
  ``_tododb_migration_lock`` (created by the tool next to yoyo's tables,
  empty, no privilege granted to anyone: only its owner, the migrating role,
  or a superuser may lock it; an app role's attempt is refused before it
  queues, and a run refuses to go on if an app role owns the table or was
  granted a privilege that would let it lock it), ``in exclusive mode``: two
  runs conflict, pg_dump's ACCESS SHARE does not.  The lock is held by a second, dedicated connection
  (``tododb-migrate-lock``) in a transaction left open for the whole run, so
  it is a heavyweight lock the server releases when that connection ends,
  however it ends: no idle-in-transaction or transaction timeout cuts it
  short, ``client_connection_check_interval`` and TCP keepalives make the
  server notice a vanished client.  Before each migration commits, the run
  checks the lock is still held (a terminated lock session stops the run,
  the migration rolled back).
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

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI
from yoyo.migrations import Migration, MigrationList, default_migration_table

from tooling import checksums, target
from tooling.errors import ToolError, one_line
from tooling.rows import one

# The table a run locks (see the module docstring). Unqualified, like yoyo's
# tables and the checksums: it lands where they do. Its name starts with
# `_tododb`, so the drift check and the schema snapshot leave it out
# (tooling.catalog's runner filter; the snapshot dumps only app and app_private).
LOCK_TABLE = "_tododb_migration_lock"
APPLICATION_NAME = "tododb-migrate"
LOCK_APPLICATION_NAME = "tododb-migrate-lock"  # the connection that holds the lock, so it can be found
# The lock connection sits idle in a transaction for the whole run: nothing may
# end it early, and a client that vanished must be noticed (keepalives: the
# socket of a crashed host never says goodbye; they do nothing on a Unix socket).
_LOCK_SESSION_SETTINGS = {
    "idle_in_transaction_session_timeout": "0",
    "client_connection_check_interval": "2s",
    "tcp_keepalives_idle": "30",
    "tcp_keepalives_interval": "10",
    "tcp_keepalives_count": "3",
}


def _connect(conninfo: str, application_name: str) -> psycopg.Connection:
    # The libpq URL is passed through untouched (sslmode, options, several hosts...); yoyo's own URL
    # parser would drop what it does not know.
    conn = target.connect(conninfo, autocommit=True, application_name=application_name)
    if conn.info.server_version >= 160000:
        # A role the migrator creates (0002, 0016a) grants the migrator ADMIN OPTION on it, and with a
        # per-role `createrole_self_grant` also INHERIT and SET: a standing hold on a cluster-wide role.
        conn.execute("set createrole_self_grant = ''")
    return conn


def _ensure_lock_table(conn: psycopg.Connection) -> None:
    """Create the lock table on a first run; refuse one an app role can lock.

    Two first-ever runs may race to create it: the loser's ``create table``
    waits for the winner's commit and then fails on the catalog's unique
    index; the table exists by then, which is all it wanted.
    """
    if one(conn.execute("select to_regclass(%s)", [LOCK_TABLE]))[0] is None:
        try:
            with conn.transaction():
                conn.execute(f"create table {LOCK_TABLE} ()")
                conn.execute(
                    f"comment on table {LOCK_TABLE} is 'tododb: a migration run holds this (empty) table locked in "
                    "exclusive mode for the whole run; no privilege is granted on it, so no app role can take the lock'"
                )
                # Default privileges (alter default privileges ... on tables) may have granted something: take it back.
                grantees = conn.execute(
                    "select distinct a.grantee from pg_class c, aclexplode(c.relacl) a "
                    "where c.oid = to_regclass(%s) and a.grantee <> c.relowner",
                    [LOCK_TABLE],
                ).fetchall()
                for (grantee,) in grantees:
                    role = (
                        sql.SQL("public")
                        if grantee == 0
                        else sql.Identifier(
                            one(conn.execute("select rolname from pg_roles where oid = %s", [grantee]))[0]
                        )
                    )
                    conn.execute(sql.SQL("revoke all on table {} from {}").format(sql.Identifier(LOCK_TABLE), role))
        except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject):
            pass  # a concurrent first run created it (which error says so depends on where they collided)
        except psycopg.Error as exc:
            raise ToolError(f"cannot create the migration lock table {LOCK_TABLE}: {one_line(exc)}") from None
    _refuse_app_roles_that_can_lock(conn)


# The roles the lock must be out of reach of: the app's, and every login in them.
APP_ROLES = ("todo_app", "todo_readonly", "todo_auth")


def _refuse_app_roles_that_can_lock(conn: psycopg.Connection) -> None:
    """An app role that owns the lock table (one planted it), or was granted a
    privilege that lets it lock the table, could block every run: say so, and which.

    "App role": one with the privileges of todo_app, todo_readonly or todo_auth
    (their logins inherit them). The migrators themselves (this role, the
    database owner) and superusers are not suspects, whatever they belong to.
    """
    privileges = "update, delete, truncate" + (", maintain" if conn.info.server_version >= 170000 else "")
    row = conn.execute(
        "select r.rolname from pg_roles r, pg_class c"
        " where c.oid = to_regclass(%(table)s) and not r.rolsuper and r.rolname <> current_user"
        "   and r.oid <> (select datdba from pg_database where datname = current_database())"
        "   and exists (select from pg_roles app where app.rolname = any(%(app)s)"
        "               and pg_has_role(r.oid, app.oid, 'USAGE'))"
        "   and (pg_has_role(r.oid, c.relowner, 'USAGE') or has_table_privilege(r.oid, c.oid, %(privileges)s))"
        " order by r.rolcanlogin, r.rolname limit 1",  # a group granted it is the cause: name it first
        {"table": LOCK_TABLE, "app": list(APP_ROLES), "privileges": privileges},
    ).fetchone()
    if row:
        raise ToolError(
            f"role {row[0]} (an app role or a member of one) owns or may write the migration lock table {LOCK_TABLE}, "
            f"so it could block every run: revoke that (`revoke all on {LOCK_TABLE} from {row[0]}`), or drop the "
            "table if another role created it (the next run creates it again)"
        )


def _lock_holder(conn: psycopg.Connection) -> str:
    row = conn.execute(
        "select pid from pg_locks where locktype = 'relation' and granted and pid <> pg_backend_pid()"
        " and database = (select oid from pg_database where datname = current_database())"
        " and relation = to_regclass(%s) limit 1",
        [LOCK_TABLE],
    ).fetchone()
    return f"server pid {row[0]}" if row else "another session"


def take_lock(conninfo: str, wait_seconds: float) -> psycopg.Connection:
    """Open the lock connection and lock the table, waiting up to ``wait_seconds``.

    The returned connection is in an open transaction holding the lock;
    closing it (or its process dying) releases the lock.
    """
    conn = _connect(conninfo, LOCK_APPLICATION_NAME)
    try:
        for name, value in _LOCK_SESSION_SETTINGS.items():
            conn.execute("select set_config(%s, %s, false)", [name, value])
        if conn.info.server_version >= 170000:
            conn.execute("set transaction_timeout = 0")
        _ensure_lock_table(conn)
        conn.autocommit = False
        lock = f"lock table {LOCK_TABLE} in exclusive mode"
        try:
            conn.execute(lock + " nowait")
            return conn
        except psycopg.errors.LockNotAvailable:
            conn.rollback()
        who = _lock_holder(conn)
        print(
            f"another migration run holds the lock ({who}); waiting up to {wait_seconds:g} s",
            file=sys.stderr,
            flush=True,
        )
        conn.execute("select set_config('lock_timeout', %s, true)", [f"{max(1, int(wait_seconds * 1000))}ms"])
        conn.execute("set local statement_timeout = 0")  # lock_timeout alone decides how long the wait is
        try:
            conn.execute(lock)
        except psycopg.errors.LockNotAvailable:
            raise ToolError(
                f"another migration run ({who}) still holds the lock after {wait_seconds:g} s;"
                " wait for it to finish, or raise TODODB_LOCK_WAIT"
            ) from None
        return conn
    except BaseException:
        conn.close()
        raise


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's psycopg 3 backend with a lock that dies with its holder, and atomic migrations."""

    lock_wait_seconds: float = 60.0
    _lock_conn: psycopg.Connection | None = None
    _is_locked: bool

    def connect(self, dburi: DatabaseURI) -> psycopg.Connection:
        self._conninfo = dburi.args["conninfo"]
        conn = _connect(self._conninfo, APPLICATION_NAME)
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
        self._lock_conn = take_lock(self._conninfo, self.lock_wait_seconds)
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
            {"pid": pid, "table": LOCK_TABLE},
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
