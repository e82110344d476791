"""The one documented way for a backend to talk to the database as a user.

    from tooling.pool import create_pool, as_user
    pool = create_pool()                       # from the environment
    with as_user(pool, user_id) as conn:       # one transaction, identity set
        QUERIES.open_tasks_by_due_date(conn, ...)

``as_user`` opens a transaction, switches to the application role and sets the
identity with ``set_config('app.user_id', ..., true)``: transaction-scoped, so
the next borrower of the same pooled connection (or a transaction-pooling
PgBouncer's next client) never inherits it.  Leaving the block commits; an
exception rolls back.

Settings (environment): DATABASE_URL (libpq URL; ``sslmode`` and the rest pass
through), TODODB_POOL_MIN (5), TODODB_POOL_MAX (20), TODODB_CONNECT_TIMEOUT
(10 s), TODODB_STATEMENT_TIMEOUT (30 s), TODODB_APP_ROLE (todo_app).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool

from tooling.config import validate_database_url
from tooling.errors import ToolError, describe_connect_failure


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name) or str(default)
    try:
        value = float(raw)
    except ValueError:
        raise ToolError(f"{name} must be a number, not {raw!r}") from None
    if value < 0:
        raise ToolError(f"{name} must not be negative, not {raw!r}")
    return value


@dataclass(frozen=True)
class PoolSettings:
    url: str
    min_size: int = 5
    max_size: int = 20
    connect_timeout: float = 10.0
    statement_timeout: float = 30.0
    app_role: str = "todo_app"

    @classmethod
    def from_env(cls, url: str | None = None, env: Mapping[str, str] = os.environ) -> "PoolSettings":
        url = url or env.get("DATABASE_URL")
        if not url:
            raise ToolError("DATABASE_URL is not set: the pool needs the server the app talks to")
        validate_database_url(url)
        settings = cls(
            url=url,
            min_size=int(_number(env, "TODODB_POOL_MIN", 5)),
            max_size=int(_number(env, "TODODB_POOL_MAX", 20)),
            connect_timeout=_number(env, "TODODB_CONNECT_TIMEOUT", 10),
            statement_timeout=_number(env, "TODODB_STATEMENT_TIMEOUT", 30),
            app_role=env.get("TODODB_APP_ROLE") or "todo_app",
        )
        if not 0 < settings.max_size or settings.min_size > settings.max_size:
            raise ToolError("TODODB_POOL_MIN must not exceed TODODB_POOL_MAX, and the maximum must be positive")
        return settings

    def connection_kwargs(self) -> dict[str, object]:
        """What every pooled connection is opened with (on top of the URL)."""
        params = psycopg.conninfo.conninfo_to_dict(self.url)
        options = " ".join(
            part for part in (params.get("options"), f"-c statement_timeout={int(self.statement_timeout * 1000)}") if part
        )
        return {
            "connect_timeout": max(1, int(self.connect_timeout)),
            "options": options,
            "application_name": params.get("application_name") or "tododb-app",
        }


def create_pool(settings: PoolSettings | None = None, *, wait: bool = True) -> ConnectionPool:
    """A pool of connections to the configured server; with ``wait``, fails fast and clearly if unreachable."""
    settings = settings or PoolSettings.from_env()
    pool = ConnectionPool(
        settings.url,
        min_size=settings.min_size,
        max_size=settings.max_size,
        kwargs=settings.connection_kwargs(),
        timeout=settings.connect_timeout,
        name="tododb",
        open=True,
        check=ConnectionPool.check_connection,
    )
    if wait:
        try:
            pool.wait(timeout=settings.connect_timeout)
        except Exception:
            pool.close()
            try:  # one direct attempt, for the server's own reason
                psycopg.connect(settings.url, **settings.connection_kwargs()).close()
            except psycopg.Error as exc:
                raise describe_connect_failure(exc, "the pool's server") from None
            raise ToolError("the pool could not open its connections in time") from None
    return pool


def act_as(conn: psycopg.Connection, role: str, user_id: uuid.UUID | str | None) -> None:
    """Inside the current transaction: switch to ``role`` and set the end user's identity.

    Both are transaction-scoped (`set local`, `set_config(..., true)`), so they
    end with the transaction. ``user_id`` None means no user: nothing is visible.
    """
    conn.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    conn.execute("select set_config('app.user_id', %s, true)", ["" if user_id is None else str(user_id)])


@contextmanager
def as_user(pool: ConnectionPool, user_id: uuid.UUID | str | None, role: str | None = None) -> Iterator[psycopg.Connection]:
    """One transaction acting as ``user_id`` (None: no user, sees nothing) under the app role."""
    role = role or os.environ.get("TODODB_APP_ROLE") or "todo_app"
    with pool.connection() as conn:
        with conn.transaction():
            act_as(conn, role, user_id)
            yield conn


@dataclass(frozen=True)
class Health:
    server_version: str
    round_trip_ms: float


def health(url: str, connect_timeout: float = 10.0) -> Health:
    """Connect, ask the server one question, and time the round trip."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, int(connect_timeout))) as conn:
            started = time.perf_counter()
            version = conn.execute("select current_setting('server_version')").fetchone()[0]
            elapsed = (time.perf_counter() - started) * 1000
    except psycopg.OperationalError as exc:
        raise describe_connect_failure(exc, "the configured server") from None
    return Health(version, elapsed)
