"""The connection helper: a psycopg_pool pool from the environment, and
as_user() transactions that never leak an identity or a half-done write.

Pools connect as real LOGIN roles with passwords (tests.logins), as the app
does: the pool refuses the tests' superuser (test_pool_login_roles.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest

from tests.logins import login_role
from tests.support import db_url, new_user
from tododb.errors import TododbError as ToolError
from tododb.pool import AppPool, PoolSettings, as_user, create_pool, health
from tododb.queries import FIRST_ASC, QUERIES


@contextmanager
def login_pool(superuser_migrated: psycopg.Connection, **settings: object) -> Iterator[AppPool]:
    """A one-connection pool (every borrower gets the same server connection: the case that
    could leak) as a fresh LOGIN role that is a member of todo_app.

    Commits the fixture's pending work and leaves it in autocommit (login_role needs that).
    """
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url:
        with create_pool(PoolSettings(url=url, min_size=1, max_size=1, **settings)) as pool:
            yield pool


@pytest.fixture
def pool(superuser_migrated):
    users = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    with login_pool(superuser_migrated, statement_timeout=1) as pool:
        yield pool, users


URL = "postgresql://app:secret@db.example/tododb?sslmode=require&options=-c%20search_path%3Dapp"


def test_pool_settings_come_from_the_environment_with_the_documented_defaults():
    settings = PoolSettings.from_env(env={"APP_DATABASE_URL": URL})
    assert (
        settings.min_size,
        settings.max_size,
        settings.connect_timeout,
        settings.statement_timeout,
        settings.lock_timeout,
        settings.idle_in_transaction_timeout,
        settings.app_role,
    ) == (5, 20, 10.0, 30.0, 5.0, 30.0, "todo_app")
    assert settings.url == URL  # sslmode, options and the rest pass through to libpq untouched
    assert settings.transaction_settings() == {
        "statement_timeout": "30000ms",
        "lock_timeout": "5000ms",
        "idle_in_transaction_session_timeout": "30000ms",
    }
    custom = PoolSettings.from_env(
        env={
            "APP_DATABASE_URL": URL,
            "TODODB_POOL_MIN": "2",
            "TODODB_POOL_MAX": "4",
            "TODODB_STATEMENT_TIMEOUT": "1.5",
            "TODODB_LOCK_TIMEOUT": "0.25",
            "TODODB_IDLE_IN_TRANSACTION_TIMEOUT": "0",
        }
    )
    assert (custom.min_size, custom.max_size) == (2, 4)
    assert custom.transaction_settings() == {
        "statement_timeout": "1500ms",
        "lock_timeout": "250ms",
        "idle_in_transaction_session_timeout": "0ms",
    }


def test_the_pool_adds_no_startup_options_for_pgbouncer():
    """A transaction-pooling PgBouncer refuses the `options` startup parameter: we add none,
    and a user's own `options` stays in the URL, untouched."""
    assert "options" not in PoolSettings.from_env(env={"APP_DATABASE_URL": URL}).connection_kwargs()
    plain = PoolSettings.from_env(env={"APP_DATABASE_URL": "postgresql://app:secret@db.example/tododb"})
    assert "options" not in plain.connection_kwargs()
    assert "options" not in psycopg.conninfo.conninfo_to_dict(plain.url)


def test_the_app_url_wins_over_the_migrators_and_database_url_is_the_fallback():
    migrator = "postgresql://owner:secret@db.example/tododb"
    assert PoolSettings.from_env(env={"APP_DATABASE_URL": URL, "DATABASE_URL": migrator}).url == URL
    assert PoolSettings.from_env(env={"APP_DATABASE_URL": "", "DATABASE_URL": migrator}).url == migrator
    assert PoolSettings.from_env(env={"DATABASE_URL": migrator}).url == migrator


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"DATABASE_URL": ""},
        {"APP_DATABASE_URL": "mysql://x", "DATABASE_URL": "postgresql://h/db"},
        {"DATABASE_URL": "mysql://x"},
        {"DATABASE_URL": "postgresql://h/db", "TODODB_POOL_MAX": "many"},
        {"DATABASE_URL": "postgresql://h/db", "TODODB_POOL_MIN": "9", "TODODB_POOL_MAX": "3"},
        {"DATABASE_URL": "postgresql://h/db", "TODODB_LOCK_TIMEOUT": "-1"},
        {"DATABASE_URL": "postgresql://h/db", "TODODB_IDLE_IN_TRANSACTION_TIMEOUT": "soon"},
        # PostgreSQL keeps a timeout as an int of milliseconds: 2147483.647 s at most.
        {"DATABASE_URL": "postgresql://h/db", "TODODB_STATEMENT_TIMEOUT": "2147484"},
    ],
)
def test_bad_pool_settings_are_one_clear_error(env):
    with pytest.raises(ToolError) as caught:
        PoolSettings.from_env(env=env)
    assert "\n" not in str(caught.value)


def test_an_unreachable_server_is_one_clear_error():
    settings = PoolSettings(url="postgresql://app:secret@127.0.0.1:1/tododb", min_size=1, max_size=1, connect_timeout=1)
    with pytest.raises(ToolError) as caught:
        create_pool(settings)
    assert "\n" not in str(caught.value)


def test_the_longest_timeout_postgresql_takes_is_accepted():
    env = {
        "DATABASE_URL": "postgresql://h/db",
        "TODODB_STATEMENT_TIMEOUT": "2147483.647",
        "TODODB_LOCK_TIMEOUT": "2147483",
        "TODODB_IDLE_IN_TRANSACTION_TIMEOUT": "2147483",
    }
    assert PoolSettings.from_env(env=env).transaction_settings()["statement_timeout"] == "2147483647ms"


def test_identity_never_leaks_from_one_borrower_to_the_next(pool):
    pool, (ann, bob) = pool
    with as_user(pool, ann) as conn:
        QUERIES.create_task(conn, title="ann's", description=None, priority=None, due_at=None, estimated_hours=None)
        backend = conn.info.backend_pid
    with as_user(pool, None) as conn:
        assert conn.info.backend_pid == backend  # the very same connection
        assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
        assert conn.execute("select current_user").fetchone() == ("todo_app",)
        assert (
            list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10))
            == []
        )
    with as_user(pool, bob) as conn:
        assert conn.info.backend_pid == backend
        assert (
            list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10))
            == []
        )
    with as_user(pool, ann) as conn:  # the boundary: ann still sees her own task
        assert (
            len(
                list(
                    QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10)
                )
            )
            == 1
        )
    with pool.connection() as conn:  # outside as_user: back to the login role, no identity
        assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
        assert conn.execute("select current_user = session_user").fetchone() == (True,)


def test_an_exception_inside_the_block_leaves_nothing_written(pool):
    pool, (ann, _) = pool
    with pytest.raises(RuntimeError):
        with as_user(pool, ann) as conn:
            QUERIES.create_task(conn, title="half", description=None, priority=None, due_at=None, estimated_hours=None)
            raise RuntimeError("the app failed mid-request")
    with as_user(pool, ann) as conn:
        assert list(QUERIES.count_tasks_by_status(conn))[0] == ("pending", 0)
        assert conn.execute("select count(*) from app.task_events").fetchone() == (0,)
    with as_user(pool, ann) as conn:  # and leaving normally commits
        QUERIES.create_task(conn, title="whole", description=None, priority=None, due_at=None, estimated_hours=None)
    with as_user(pool, ann) as conn:
        assert list(QUERIES.count_tasks_by_status(conn))[0] == ("pending", 1)


def test_statement_timeout_applies_to_pooled_connections(pool):
    pool, (ann, _) = pool
    with as_user(pool, ann) as conn:  # the boundary: within the limit (1 s)
        conn.execute("select pg_sleep(0.1)")
    with pytest.raises(psycopg.Error) as caught:
        with as_user(pool, ann) as conn:
            conn.execute("select pg_sleep(10)")
    assert caught.value.sqlstate == "57014"  # query_canceled


def test_health_reports_version_and_round_trip_or_one_clear_error(superuser_migrated):
    result = health(db_url(superuser_migrated))
    assert result.server_version.split(".")[0] in {"15", "16", "17", "18"} and result.round_trip_ms > 0
    with pytest.raises(ToolError, match="cannot connect"):
        health("postgresql://postgres@127.0.0.1:1/tododb", connect_timeout=2)
