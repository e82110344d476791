"""Helpers shared by the tests: where the test server is, running the CLI,
acting as an application user, and a snapshot of the catalog."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql

from tododb.pool import act_as
from tooling import catalog, server
from tooling.config import ROOT, load_settings

MIGRATIONS_DIR = ROOT / "migrations"


@dataclass(frozen=True)
class ServerParams:
    """How the tests reach their server (a superuser on it)."""

    host: str
    port: int
    user: str
    password: str | None
    maintenance_dbname: str

    def url(self, dbname: str, user: str | None = None, password: str | None = None, host: str | None = None) -> str:
        """A ``postgresql://`` URL for ``dbname`` on this server, as the CLI takes it."""
        user = user or self.user
        password = password if password is not None else self.password
        auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
        host = host or self.host
        if host.startswith("/"):
            return f"postgresql://{auth}@/{quote(dbname)}?{urlencode({'host': host, 'port': self.port})}"
        return f"postgresql://{auth}@{host}:{self.port}/{quote(dbname)}"


def server_params() -> ServerParams:
    """``TEST_DATABASE_URL`` when set, else the embedded server (started if needed)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        params = psycopg.conninfo.conninfo_to_dict(url)
        if "sslmode" in params:
            os.environ.setdefault("PGSSLMODE", params["sslmode"])  # the janitor passes no sslmode
        return ServerParams(
            host=params.get("host", "/var/run/postgresql"),
            port=int(params.get("port", 5432)),
            user=params.get("user", getpass.getuser()),
            password=params.get("password"),
            maintenance_dbname=params.get("dbname", "postgres"),
        )
    embedded = server.ensure_running(load_settings().data_dir)
    return ServerParams(str(embedded.socket_dir), embedded.port, server.SUPERUSER, None, "postgres")


PARAMS = server_params()


def db_url(conn: psycopg.Connection) -> str:
    """The URL of the database ``conn`` is connected to, for the CLI and the tool's API."""
    return PARAMS.url(conn.info.dbname)


def run_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m tooling ARGS`` as a user would, capturing its output."""
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tooling", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess) -> str:
    """The CLI failed the way SPEC.md asks: non-zero, one line on stderr, no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert lines[0].startswith("tododb: ")
    return lines[0]


@contextmanager
def acting_as(conn: psycopg.Connection, role: str, user_id: uuid.UUID | str | None) -> Iterator[psycopg.Connection]:
    """Act exactly as the app does: in one transaction, switch to ``role`` and
    set the end user's identity with ``set_config(..., true)``.

    The transaction is rolled back at the end, so nothing the block does
    (nor the identity) outlives it.
    """
    with conn.transaction(force_rollback=True):
        act_as(conn, role, user_id)
        yield conn


# --- catalog snapshot ------------------------------------------------------

# The catalog reader lives in the tool (drift uses it too); the tests use it under these names.
catalog_snapshot = catalog.snapshot
snapshot_diff = catalog.diff


def rows_checksum(conn: psycopg.Connection, query: str, params=None) -> tuple[int, str]:
    """Row count and an order-independent md5 of ``query``'s rows: equal exactly when the rows are."""
    wrapped = f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) from ({query}) as t"
    return conn.execute(wrapped, params).fetchone()


def write_migration(folder: Path, name: str, forward: str, rollback: str | None = None) -> None:
    """Create a migration pair in a scratch migrations folder (for failure-path tests)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.sql").write_text(forward)
    if rollback is not None:
        (folder / f"{name}.rollback.sql").write_text(rollback)


# --- writing rows and asserting refusals -------------------------------------

# A syntactically valid bcrypt hash (60 characters); never a real password's.
BCRYPT_HASH = "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"


def _insert(conn: psycopg.Connection, table: str, values: dict[str, object], returning: str = "id"):
    query = sql.SQL("insert into app.{} ({}) values ({}) returning {}").format(
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, values)),
        sql.SQL(", ").join(sql.Placeholder() * len(values)),
        sql.Identifier(returning),
    )
    return conn.execute(query, list(values.values())).fetchone()[0]


def new_user(conn: psycopg.Connection, email: str | None = None, **columns) -> uuid.UUID:
    """Insert a user (as the connection's role) and return its id."""
    values = {"email": email or f"user-{uuid.uuid4().hex[:12]}@example.com", "password_hash": BCRYPT_HASH}
    return _insert(conn, "users", values | columns)


def new_task(conn: psycopg.Connection, user_id: uuid.UUID, title: str = "Water the plants", **columns) -> uuid.UUID:
    return _insert(conn, "tasks", {"user_id": user_id, "title": title} | columns)


def new_tag(conn: psycopg.Connection, user_id: uuid.UUID, name: str = "home", **columns) -> uuid.UUID:
    return _insert(conn, "tags", {"user_id": user_id, "name": name} | columns)


@contextmanager
def identity(conn: psycopg.Connection, user_id: uuid.UUID | str) -> Iterator[psycopg.Connection]:
    """A transaction (committed) in which ``user_id`` is the identity in force, without changing role.

    What an ordinary owner's maintenance does: under forced row-level security the history trigger (the
    owner's rights) may record only the events of the identity in force. A superuser needs none of it.
    """
    with conn.transaction():
        conn.execute("select set_config('app.user_id', %s, true)", [str(user_id)])
        yield conn


@contextmanager
def refused(conn: psycopg.Connection, sqlstate: str, constraint: str | None = None) -> Iterator[None]:
    """The block must fail with ``sqlstate`` (a class such as ``"23"`` or a full
    code) and, when given, name ``constraint``; the connection stays usable
    (the block runs in a savepoint)."""
    with pytest.raises(psycopg.Error) as caught:
        with conn.transaction():
            yield
    exc = caught.value
    assert exc.sqlstate is not None and exc.sqlstate.startswith(sqlstate), (exc.sqlstate, str(exc))
    if constraint is not None:
        assert exc.diag.constraint_name == constraint, (exc.diag.constraint_name, str(exc))
