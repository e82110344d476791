"""The one documented way for a backend to talk to the database as a user.

    from tododb.pool import create_pool, as_user
    pool = create_pool()                       # from the environment
    with as_user(pool, user_id) as conn:       # one transaction, identity set
        QUERIES.open_tasks_by_due_date(conn, ...)

Round trips, each of which costs the network's latency: ``read(pool, user_id,
"open_tasks_by_due_date", ...)`` sends the role, identity, limits and the query
together and they run in one implicit transaction: one round trip in all.
``as_user`` sends BEGIN with the role, identity and limits (one round trip),
then the block's statements, then COMMIT (one). A connection just returned to
the pool is lent again without a liveness check; one idle for longer than
CHECK_AFTER_IDLE_S is checked first. (Counted on the wire by
tests/package/test_round_trips.py: a one-query transaction went from 6 to 3.)

``as_user`` opens a transaction, switches to the application role and, in one
``select``, sets the identity and the transaction's time limits with
``set_config(..., true)``: transaction-scoped, so the next borrower of the same
pooled connection (or a transaction-pooling PgBouncer's next client) never
inherits them, and nothing travels in the startup packet's ``options`` (which
PgBouncer refuses). Leaving the block commits; an exception rolls back.

A borrower that leaves session state behind (temporary tables, functions or
domains in ``pg_temp``, ``set_config(..., false)``, ``set role``,
``set search_path``, prepared statements) does not hand it to the next one:
every connection is reset with ``DISCARD ALL`` when it returns to the pool, and
one whose reset fails is discarded. psycopg's own prepared statements are off
(they would not outlive the reset). Behind a transaction-pooling PgBouncer the
reset may reach another server connection: there only the per-transaction
settings above are guaranteed.

A transaction left idle past its limit ends the whole session (FATAL 25P03 on
the next statement): the pool drops that connection and opens a new one.

``create_pool`` refuses, with one line, a login role that could escape
row-level security or change the schema: a superuser, a role with BYPASSRLS, the
owner of schema ``app``, or a member of any such role.  Give the app its own
login role, member of ``todo_app`` only.

Settings (environment):

- APP_DATABASE_URL, else DATABASE_URL: the libpq URL the app connects with
  (``sslmode``, ``options`` and the rest pass through untouched);
- TODODB_POOL_MIN (5), TODODB_POOL_MAX (20): pool size;
- TODODB_CONNECT_TIMEOUT (10 s): to open a connection, and to get one from the pool;
- TODODB_STATEMENT_TIMEOUT (30 s), TODODB_LOCK_TIMEOUT (5 s),
  TODODB_IDLE_IN_TRANSACTION_TIMEOUT (30 s): set in every ``as_user``
  transaction; 0 disables one. Work outside ``as_user`` (``pool.connection()``
  directly) runs with the server's defaults;
- TODODB_APP_ROLE (todo_app): the role ``as_user`` switches to.
"""

from __future__ import annotations

import os
import random
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from aiosql.types import SQLOperationType
from psycopg import sql
from psycopg_pool import ConnectionPool

from tododb.conninfo import validate_database_url
from tododb.errors import (
    RETRYABLE,
    Contention,
    OutcomeUnknown,
    TododbError,
    Unavailable,
    classify,
    describe_connect_failure,
    one_line,
)

# PostgreSQL keeps timeouts as milliseconds in an int: anything longer is refused by the server.
_MAX_TIMEOUT_S = (2**31 - 1) / 1000


def _number(env: Mapping[str, str], name: str, default: float, maximum: float | None = None) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise TododbError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise TododbError(f"{name} must not be negative, not {raw!r}")
    if maximum is not None and value > maximum:
        raise TododbError(f"{name} must be at most {maximum:g}, not {raw!r}")
    return value


def _ms(seconds: float) -> str:
    """A duration as PostgreSQL takes it (0 disables the limit)."""
    return f"{round(seconds * 1000)}ms"


@dataclass(frozen=True)
class PoolSettings:
    url: str
    min_size: int = 5
    max_size: int = 20
    connect_timeout: float = 10.0
    statement_timeout: float = 30.0
    lock_timeout: float = 5.0
    idle_in_transaction_timeout: float = 30.0
    app_role: str = "todo_app"

    @classmethod
    def from_env(cls, url: str | None = None, env: Mapping[str, str] = os.environ) -> PoolSettings:
        # The app's own URL first, so the app never borrows the migrator's credentials by accident.
        source = "the given URL" if url else "APP_DATABASE_URL" if env.get("APP_DATABASE_URL") else "DATABASE_URL"
        url = url or env.get("APP_DATABASE_URL") or env.get("DATABASE_URL")
        if not url:
            raise TododbError(
                "APP_DATABASE_URL (or DATABASE_URL) is not set: the pool needs the server the app talks to"
            )
        try:
            validate_database_url(url)
        except TododbError as exc:  # its message names DATABASE_URL: name the variable really read
            raise TododbError(str(exc).replace("DATABASE_URL", source, 1)) from None
        settings = cls(
            url=url,
            min_size=int(_number(env, "TODODB_POOL_MIN", 5)),
            max_size=int(_number(env, "TODODB_POOL_MAX", 20)),
            connect_timeout=_number(env, "TODODB_CONNECT_TIMEOUT", 10),
            statement_timeout=_number(env, "TODODB_STATEMENT_TIMEOUT", 30, _MAX_TIMEOUT_S),
            lock_timeout=_number(env, "TODODB_LOCK_TIMEOUT", 5, _MAX_TIMEOUT_S),
            idle_in_transaction_timeout=_number(env, "TODODB_IDLE_IN_TRANSACTION_TIMEOUT", 30, _MAX_TIMEOUT_S),
            app_role=env.get("TODODB_APP_ROLE") or "todo_app",
        )
        if not 0 < settings.max_size or settings.min_size > settings.max_size:
            raise TododbError("TODODB_POOL_MIN must not exceed TODODB_POOL_MAX, and the maximum must be positive")
        return settings

    def connection_kwargs(self) -> dict[str, Any]:
        """What every pooled connection is opened with (on top of the URL).

        No ``options``: a transaction-pooling PgBouncer refuses that startup
        parameter, so the limits are set per transaction (``transaction_settings``).
        No client-side prepared statements either: DISCARD ALL drops the server's
        copies at every return (psycopg notices that only the first time a
        connection runs it, then would reuse names the server no longer has),
        and they would not survive a transaction pooler anyway. A borrower that
        turns them on (``conn.prepare_threshold``) does so for one borrow only.
        """
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        return {
            "connect_timeout": max(1, int(self.connect_timeout)),
            "application_name": params.get("application_name") or "tododb-app",
            "prepare_threshold": None,
        }

    def transaction_settings(self) -> dict[str, str]:
        """The settings ``as_user`` gives every transaction, beside the identity."""
        return {
            "statement_timeout": _ms(self.statement_timeout),
            "lock_timeout": _ms(self.lock_timeout),
            "idle_in_transaction_session_timeout": _ms(self.idle_in_transaction_timeout),
        }


class AppPool(ConnectionPool):
    """A ``ConnectionPool`` that remembers its settings, for ``as_user``'s limits and role."""

    def __init__(self, settings: PoolSettings, **kwargs: Any) -> None:
        self.settings = settings
        super().__init__(settings.url, **kwargs)


def reset_connection(conn: psycopg.Connection) -> None:
    """The pool's ``reset``: forget everything the last borrower left in the session.

    DISCARD ALL drops pg_temp objects, prepared statements, cursors, listens and
    advisory locks, and restores role, session authorization and every setting
    to the session's start. psycopg_pool runs this in a worker, off the
    borrower's request, and discards the connection if it raises.
    """
    # First, so the reset itself is never prepared and psycopg never reuses a statement name
    # that DISCARD ALL drops (a borrower may have turned preparing on for its own queries).
    conn.prepare_threshold = None
    conn.autocommit = True  # DISCARD ALL cannot run inside a transaction block
    conn.execute("discard all")
    # The other client-side state a borrower may have changed, back to the pool's defaults.
    conn.autocommit = False
    conn.isolation_level = conn.read_only = conn.deferrable = None
    _idle_since[conn] = time.monotonic()


# When each pooled connection was last made or reset: a connection that has just been is handed out
# without a liveness check (a round trip on every request); one idle for longer is checked first.
_idle_since: weakref.WeakKeyDictionary[psycopg.Connection, float] = weakref.WeakKeyDictionary()
CHECK_AFTER_IDLE_S = 30.0


def mark_fresh(conn: psycopg.Connection) -> None:
    """The pool's ``configure``: a connection just made needs no check when it is first handed out."""
    _idle_since[conn] = time.monotonic()


def check_if_idle(conn: psycopg.Connection) -> None:
    """The pool's ``check``: ask the server one empty query only of a connection idle for more than
    CHECK_AFTER_IDLE_S (a server, proxy or NAT may have dropped it meanwhile). One that failed is not
    handed out at all: psycopg_pool drops a broken connection when it comes back."""
    since = _idle_since.get(conn)
    if since is None or time.monotonic() - since > CHECK_AFTER_IDLE_S:
        ConnectionPool.check_connection(conn)


# Every role the session's login role is, or can become (SET ROLE) or inherit from, that would
# take it past row-level security (superuser, BYPASSRLS) or own the schema (and so its policies).
# 'MEMBER' counts every membership, direct or through other roles, whatever its INHERIT/SET
# options: stricter than needed on 16+, where a grant may carry neither, and simple to explain.
_DANGEROUS_ROLES = """
select session_user, r.rolname, r.rolsuper, r.rolbypassrls, r.oid is not distinct from n.nspowner
from pg_catalog.pg_roles as r
left join pg_catalog.pg_namespace as n on n.nspname = 'app'
where pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER')
  and (r.rolsuper or r.rolbypassrls or r.oid is not distinct from n.nspowner)
order by r.rolname = session_user desc, r.rolname
limit 1
"""


def login_role_refusal(conn: psycopg.Connection) -> str | None:
    """Why the pool must not run as this connection's login role, or None if it may."""
    row = conn.execute(_DANGEROUS_ROLES).fetchone()
    if row is None:
        return None
    login, name, is_super, bypasses, owns = row
    powers = [
        p for p, has in (("is a superuser", is_super), ("has BYPASSRLS", bypasses), ("owns schema app", owns)) if has
    ]
    who = "it" if name == login else f"its role {name!r}"
    return (
        f"the pool refuses to run as {login!r}: {who} {' and '.join(powers)}, which can escape "
        f"row-level security; set APP_DATABASE_URL to a login role that is only a member of todo_app"
    )


def create_pool(settings: PoolSettings | None = None, *, wait: bool = True) -> AppPool:
    """A pool of connections to the configured server, refusing a login role that escapes RLS.

    With ``wait``, waits for the minimum number of connections; either way one
    connection is checked (``login_role_refusal``) before the pool is returned,
    and an unreachable server or a refused role is one TododbError.
    """
    settings = settings or PoolSettings.from_env()
    pool = AppPool(
        settings,
        min_size=settings.min_size,
        max_size=settings.max_size,
        kwargs=settings.connection_kwargs(),
        timeout=settings.connect_timeout,
        name="tododb",
        open=True,
        configure=mark_fresh,
        check=check_if_idle,
        reset=reset_connection,
    )
    try:
        if wait:
            pool.wait(timeout=settings.connect_timeout)
        # Once, when the pool opens: every connection logs in with the same URL, so as the same role.
        conn = pool.getconn()
    except Exception:
        pool.close()
        try:  # one direct attempt, for the server's own reason
            psycopg.connect(settings.url, **settings.connection_kwargs()).close()
        except psycopg.Error as exc:
            raise describe_connect_failure(exc, "the pool's server") from None
        raise TododbError("the pool could not open its connections in time") from None
    try:
        refusal = login_role_refusal(conn)
        conn.rollback()  # the check's transaction: returned idle, not rolled back by the pool with a warning
    except psycopg.Error as exc:
        refusal = f"the pool could not check its login role: {one_line(exc)}"
    if refusal:
        # Close first: a connection returned to a closed pool is closed at once, while one handed
        # to the reset worker of a pool that closes meanwhile is dropped, its socket left to the GC.
        pool.close()
        pool.putconn(conn)
        raise TododbError(refusal)
    pool.putconn(conn)
    return pool


def _prologue(role: str, user_id: uuid.UUID | str | None, settings: Mapping[str, str]) -> sql.Composed:
    """The one ``select`` that sets role, identity and limits for the transaction, values as literals."""
    values = {"role": role, "app.user_id": "" if user_id is None else str(user_id), **settings}
    return sql.SQL("select {}").format(
        sql.SQL(", ").join(
            sql.SQL("pg_catalog.set_config({}, {}, true)").format(sql.Literal(name), sql.Literal(value))
            for name, value in values.items()
        )
    )


def _begin_as(
    conn: psycopg.Connection, role: str, user_id: uuid.UUID | str | None, settings: Mapping[str, str]
) -> None:
    """``act_as`` plus ``settings``: role, identity and limits in one ``select`` (``set_config('role', ...,
    true)`` is ``set local role``), so that it travels with the first query."""
    conn.execute(_prologue(role, user_id, settings))


def act_as(conn: psycopg.Connection, role: str, user_id: uuid.UUID | str | None) -> None:
    """Inside the current transaction: switch to ``role`` and set the end user's identity.

    Both are transaction-scoped (`set local`, `set_config(..., true)`), so they
    end with the transaction. ``user_id`` None means no user: nothing is visible.
    """
    _begin_as(conn, role, user_id, {})


def _settings_of(pool: ConnectionPool) -> PoolSettings:
    """The limits and role to act with: the pool's own, or the defaults for a pool not made by create_pool."""
    if isinstance(pool, AppPool):
        return pool.settings
    return PoolSettings(url=_conninfo(pool), app_role=os.environ.get("TODODB_APP_ROLE") or "todo_app")


def _conninfo(pool: ConnectionPool) -> str:
    """The pool's conninfo (psycopg_pool also takes a callable that makes it)."""
    return pool.conninfo if isinstance(pool.conninfo, str) else pool.conninfo()


@contextmanager
def as_user(
    pool: ConnectionPool, user_id: uuid.UUID | str | None, role: str | None = None
) -> Iterator[psycopg.Connection]:
    """One transaction acting as ``user_id`` (None: no user, sees nothing) under the app role,
    with the pool's time limits (a pool not made by ``create_pool`` gets the default ones)."""
    settings = _settings_of(pool)
    with pool.connection() as conn:
        # BEGIN and the role, identity and limits travel together: one round trip before the block, one
        # (COMMIT) after it. The block itself runs as usual, each statement answered before the next, so
        # an error is raised where it happens and the server's idle-in-transaction limit holds between them.
        conn.autocommit = True  # the BEGIN is ours (the pool's reset puts autocommit back)
        # One simple-protocol message, values quoted client-side: not a pipeline, whose trailing Flush
        # would leave the server waiting with its idle-in-transaction timer disarmed until the next statement.
        conn.execute(
            sql.SQL("begin; {}").format(_prologue(role or settings.app_role, user_id, settings.transaction_settings()))
        )
        try:
            yield conn
        except BaseException:
            if not conn.closed and not conn.broken:
                conn.execute("rollback")
            raise
        conn.execute("commit")


def read(pool: ConnectionPool, user_id: uuid.UUID | str | None, query: str, /, **params: object) -> Any:
    """One named read query (`QUERIES.<query>`) as ``user_id``, in one network round trip.

    The role, identity and limits and the query go out together and run in the one implicit transaction the
    protocol gives statements sent before a Sync: the settings hold for the query and end with it, and
    nothing waits for a BEGIN or a COMMIT. A list of rows, or one row or None for a `^` query. For writes,
    or several statements that must share a transaction, use ``as_user`` or ``transaction``.
    """
    from tododb.queries import QUERIES

    statement = getattr(QUERIES, query)
    one = statement.operation == SQLOperationType.SELECT_ONE
    if statement.operation not in (SQLOperationType.SELECT, SQLOperationType.SELECT_ONE):
        raise TododbError(f"read() runs select queries; {query} is a {statement.operation.name.lower()}")
    settings = _settings_of(pool)
    with pool.connection() as conn:
        conn.autocommit = True  # no BEGIN: the pipeline's Sync ends the implicit transaction (reset restores it)
        with conn.pipeline():
            _begin_as(conn, settings.app_role, user_id, settings.transaction_settings())
            cursor = conn.execute(statement.sql, params)
        # Leaving the pipeline sent its one Sync and read every answer; fetching inside it would have
        # asked for the rows first and cost a second round trip.
        return cursor.fetchone() if one else cursor.fetchall()


T = TypeVar("T")


def transaction(
    pool: ConnectionPool,
    user_id: uuid.UUID | str | None,
    work: Callable[[psycopg.Connection], T],
    *,
    attempts: int = 3,
    backoff: float = 0.05,
    role: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``work(conn)`` in one ``as_user`` transaction and return what it returns, with typed errors.

    A serialization failure or deadlock (40001, 40P01: the server rolled the transaction back) runs it again,
    after a jittered, growing pause (uniform in [0, backoff * 2**try)), up to ``attempts`` runs in all, then
    raises Contention. A connection lost once ``work`` had returned, while COMMIT was under way, raises
    OutcomeUnknown and is never run again: the write may or may not have landed. Everything else is raised
    as its class in ``tododb.errors`` (Conflict, InvalidInput, NotAllowed, Unavailable), or as it is.
    ``work`` must do nothing outside the database that it cannot do twice.
    """
    if attempts < 1:
        raise TododbError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(1, attempts + 1):
        finished = False
        try:
            with as_user(pool, user_id, role) as conn:
                result = work(conn)
                finished = True
            return result
        except Exception as exc:  # noqa: BLE001 - classified, then raised again
            typed = classify(exc)
            if finished and isinstance(typed, Unavailable) and (typed.sqlstate or "") not in RETRYABLE:
                unknown = OutcomeUnknown(
                    f"commit outcome unknown: the connection broke during COMMIT "
                    f"({one_line(exc)}); check before repeating the write",
                    typed.sqlstate,
                    None,
                )
                raise unknown from exc
            if isinstance(typed, Contention) and attempt < attempts:
                sleep(random.uniform(0, backoff * 2 ** (attempt - 1)))
                continue
            if typed is exc:
                raise
            raise typed from exc
    raise AssertionError("unreachable")  # the loop returns or raises


@dataclass(frozen=True)
class Health:
    server_version: str
    round_trip_ms: float


def health(url: str, connect_timeout: float = 10.0) -> Health:
    """Connect, ask the server one question, and time the round trip."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))) as conn:
            started = time.perf_counter()
            row = conn.execute("select current_setting('server_version')").fetchone()
            version = "" if row is None else str(row[0])
            elapsed = (time.perf_counter() - started) * 1000
    except psycopg.OperationalError as exc:
        raise describe_connect_failure(exc, "the configured server") from None
    return Health(version, elapsed)
