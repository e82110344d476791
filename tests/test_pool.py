"""The connection helper: a psycopg_pool pool from the environment, and
as_user() transactions that never leak an identity or a half-done write."""

from __future__ import annotations

import pytest

from tests.support import db_url, new_user
from tooling.errors import ToolError
from tooling.pool import PoolSettings, as_user, create_pool, health
from tooling.queries import FIRST_ASC, QUERIES


@pytest.fixture
def pool(postgresql):
    users = new_user(postgresql, "ann@example.com"), new_user(postgresql, "bob@example.com")
    postgresql.commit()
    # One connection, so every borrower gets the same one back: the case that could leak.
    settings = PoolSettings(url=db_url(postgresql), min_size=1, max_size=1, statement_timeout=1)
    with create_pool(settings) as pool:
        yield pool, users


def test_pool_settings_come_from_the_environment_with_the_documented_defaults():
    url = "postgresql://app:secret@db.example/tododb?sslmode=require&options=-c%20search_path%3Dapp"
    settings = PoolSettings.from_env(env={"DATABASE_URL": url})
    assert (settings.min_size, settings.max_size, settings.connect_timeout, settings.statement_timeout) == (
        5, 20, 10.0, 30.0)
    assert settings.url == url  # sslmode and the rest pass through to libpq untouched
    kwargs = settings.connection_kwargs()
    assert kwargs["options"] == "-c search_path=app -c statement_timeout=30000"
    custom = PoolSettings.from_env(env={"DATABASE_URL": url, "TODODB_POOL_MIN": "2", "TODODB_POOL_MAX": "4",
                                        "TODODB_STATEMENT_TIMEOUT": "1.5"})
    assert (custom.min_size, custom.max_size, custom.connection_kwargs()["options"].split()[-1]) == (
        2, 4, "statement_timeout=1500")


@pytest.mark.parametrize(
    "env",
    [{}, {"DATABASE_URL": "mysql://x"}, {"DATABASE_URL": "postgresql://h/db", "TODODB_POOL_MAX": "many"},
     {"DATABASE_URL": "postgresql://h/db", "TODODB_POOL_MIN": "9", "TODODB_POOL_MAX": "3"}],
)
def test_bad_pool_settings_are_one_clear_error(env):
    with pytest.raises(ToolError):
        PoolSettings.from_env(env=env)


def test_identity_never_leaks_from_one_borrower_to_the_next(pool):
    pool, (ann, bob) = pool
    with as_user(pool, ann) as conn:
        QUERIES.create_task(conn, title="ann's", description=None, priority=None, due_at=None, estimated_hours=None)
        backend = conn.info.backend_pid
    with as_user(pool, None) as conn:
        assert conn.info.backend_pid == backend  # the very same connection
        assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
        assert conn.execute("select current_user").fetchone() == ("todo_app",)
        assert list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1],
                                                   page_size=10)) == []
    with as_user(pool, bob) as conn:
        assert conn.info.backend_pid == backend
        assert list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1],
                                                   page_size=10)) == []
    with pool.connection() as conn:  # outside as_user: back to the login role, no identity
        assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
        assert conn.execute("select current_user = session_user").fetchone() == (True,)


def test_an_exception_inside_the_block_leaves_nothing_written(pool):
    pool, (ann, _) = pool
    with pytest.raises(RuntimeError):
        with as_user(pool, ann) as conn:
            QUERIES.create_task(conn, title="half", description=None, priority=None, due_at=None,
                                estimated_hours=None)
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
    with pytest.raises(Exception) as caught:
        with as_user(pool, ann) as conn:
            conn.execute("select pg_sleep(10)")
    assert getattr(caught.value, "sqlstate", None) == "57014"  # query_canceled


def test_health_reports_version_and_round_trip_or_one_clear_error(postgresql):
    result = health(db_url(postgresql))
    assert result.server_version.split(".")[0] in {"15", "16", "17", "18"} and result.round_trip_ms > 0
    with pytest.raises(ToolError, match="cannot connect"):
        health("postgresql://postgres@127.0.0.1:1/tododb", connect_timeout=2)
