"""A real PgBouncer (Debian's package, transaction mode) in front of the test server, for one
database and one LOGIN role: what a backend behind a transaction pooler sees.

Each helper starts its own PgBouncer process (tooling.bouncer.running: its own ini and auth
file in a temporary folder, 127.0.0.1 on a free port) and stops it on the way out. Without a
pgbouncer binary the tests that need one skip, saying "no pgbouncer".

Through PgBouncer, ``conn.info.backend_pid`` is PgBouncer's own key for the client connection,
not a server process: ``server_pid`` asks the server which backend runs the transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.logins import login_role
from tododb.pool import AppPool, PoolSettings, create_pool
from tooling import bouncer

SKIP_REASON = "no pgbouncer"
needs_pgbouncer = pytest.mark.skipif(bouncer.find() is None, reason=SKIP_REASON)


def require_pgbouncer():
    binary = bouncer.find()
    if binary is None:
        pytest.skip(SKIP_REASON)
    return binary


@contextmanager
def pgbouncer(
    admin: psycopg.Connection, login_url: str, *, pool_size: int = bouncer.DEFAULT_POOL_SIZE, **options: object
) -> Iterator[str]:
    """A PgBouncer in front of ``login_url``'s database for its role; yields the URL through it.

    ``admin`` (a superuser connection) reads the role's SCRAM secret for the auth file.
    ``pool_size`` is PgBouncer's ``default_pool_size``: 1 makes every client share one server connection.
    """
    binary = require_pgbouncer()
    params = psycopg.conninfo.conninfo_to_dict(login_url)
    user, password = params["user"], params["password"]
    secret = bouncer.secret_for(user, password, admin)
    with bouncer.running(login_url, {user: secret}, pool_size=pool_size, binary=binary, **options) as running:
        yield running.url(user, password)


@contextmanager
def bouncer_login_role(
    admin: psycopg.Connection, dbname: str, *, pool_size: int = 1, **role_options: object
) -> Iterator[str]:
    """``tests.logins.login_role``, reached through its own PgBouncer: yields the PgBouncer URL."""
    with login_role(admin, dbname, **role_options) as url, pgbouncer(admin, url, pool_size=pool_size) as through:
        yield through


@contextmanager
def bouncer_login_pool(
    superuser_migrated: psycopg.Connection,
    *,
    pool_size: int = 1,
    min_size: int = 1,
    max_size: int = 1,
    **settings: object,
) -> Iterator[AppPool]:
    """``tests.package.test_pool.login_pool`` through PgBouncer: the app's pool (``create_pool``) as a fresh
    LOGIN member of todo_app, whose connections are PgBouncer clients sharing ``pool_size`` server
    connections.

    Commits the fixture's pending work and leaves it in autocommit (login_role needs that).
    """
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    with bouncer_login_role(superuser_migrated, superuser_migrated.info.dbname, pool_size=pool_size) as url:
        with create_pool(PoolSettings(url=url, min_size=min_size, max_size=max_size, **settings)) as pool:
            yield pool


def server_pid(conn: psycopg.Connection) -> int:
    """The server backend running ``conn``'s current transaction (behind PgBouncer: the one lent to it)."""
    return conn.execute("select pg_catalog.pg_backend_pid()").fetchone()[0]
