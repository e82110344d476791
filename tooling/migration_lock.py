"""A migration run's lock, and how a run connects (the lock's connection and yoyo's).

yoyo serialises runs with a row in ``yoyo_lock``; a run that is killed leaves
the row behind and every later run fails until someone runs ``yoyo
break-lock``.  An advisory lock would die with its holder, but any role may
call ``pg_advisory_lock``: an app login could take the key and block every
deploy.  So a run locks a table instead, ``_tododb_migration_lock`` (created
by the tool next to yoyo's tables, empty, no privilege granted to anyone:
only its owner, the migrating role, or a superuser may lock it; an app role's
attempt is refused before it queues, and a run refuses to go on if an app
role owns the table or was granted a privilege that would let it lock it),
``in exclusive mode``: two runs conflict, pg_dump's ACCESS SHARE does not.

The lock is held by a second, dedicated connection (``tododb-migrate-lock``)
in a transaction left open for the whole run, so it is a heavyweight lock the
server releases when that connection ends, however it ends: no
idle-in-transaction or transaction timeout cuts it short,
``client_connection_check_interval`` and TCP keepalives make the server
notice a vanished client.  Before each migration commits, the run checks the
lock is still held (tooling.migrate: a terminated lock session stops the run,
the migration rolled back).
"""

from __future__ import annotations

import sys

import psycopg
from psycopg import sql

from tooling import target
from tooling.errors import ToolError, one_line
from tooling.rows import one

# The table a run locks (see the module docstring). Unqualified, like yoyo's
# tables and the checksums: it lands where they do. Its name starts with
# `_tododb`, so the drift check and the schema snapshot leave it out
# (tooling.catalog's runner filter; the snapshot dumps only app and app_private).
LOCK_TABLE = "_tododb_migration_lock"
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


def connect_migrator(conninfo: str, application_name: str) -> psycopg.Connection:
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
    conn = connect_migrator(conninfo, LOCK_APPLICATION_NAME)
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
