"""Real LOGIN roles with passwords, as a backend (or an attacker who stole its
credentials) connects: not the tests' superuser, and not `set role`.

The test server authenticates every role but its superuser by password; on
its Unix socket where it can (the embedded server), else on 127.0.0.1
(Debian's cluster uses peer authentication on the socket).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from psycopg import sql

from tests.support import PARAMS
from tooling.target import login_url


def reachable_url(dbname: str, user: str, password: str) -> str:
    """A URL on which ``user`` can log in to ``dbname`` with ``password`` (the tool's own choice of host)."""
    url = login_url(PARAMS.url(dbname), user, password)
    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.OperationalError:
        pytest.fail(f"the test server accepts {user}'s password on neither its socket nor 127.0.0.1")
    return url


@contextmanager
def login_role(
    admin: psycopg.Connection, dbname: str, *, in_role: str | None = "todo_app", attributes: str = ""
) -> Iterator[str]:
    """A LOGIN role with a password (member of ``in_role``); yields a URL for ``dbname``.

    ``admin`` is a superuser connection in autocommit mode, on ``dbname``. The role is
    dropped afterwards, with anything it left behind there.
    """
    name, password = f"tododb_login_{uuid.uuid4().hex[:10]}", uuid.uuid4().hex
    statement = sql.SQL("create role {} login password {} " + attributes).format(
        sql.Identifier(name), sql.Literal(password)
    )
    if in_role:
        statement += sql.SQL(" in role {}").format(sql.Identifier(in_role))
    admin.execute(statement)
    try:
        yield reachable_url(dbname, name, password)
    finally:
        admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", [name])
        drop_login(admin, name)


def drop_login(admin: psycopg.Connection, name: str) -> None:
    """Drop a login role and whatever it owns or was granted in ``admin``'s database."""
    admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
    admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
