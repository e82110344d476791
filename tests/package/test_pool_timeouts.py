"""The time limits of pooled work: statement_timeout, lock_timeout and
idle_in_transaction_session_timeout, set in every as_user transaction in the
same `select` as the identity (set_config(..., true)), never in the startup
packet's `options` (a transaction-pooling PgBouncer refuses those).
"""

from __future__ import annotations

import threading
import time

import psycopg
import pytest
from psycopg import sql

from tests.logins import login_role
from tests.package.test_pool import login_pool
from tests.support import PARAMS, new_user
from tododb.pool import PoolSettings, as_user, create_pool

LIMITS = ("statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout")
READ_LIMITS = "select " + ", ".join(f"current_setting('{name}')" for name in LIMITS)


@pytest.fixture
def ann(superuser_migrated):
    user = new_user(superuser_migrated, "ann@example.com")
    superuser_migrated.commit()
    return user


def test_as_user_sets_the_default_limits_and_they_end_with_the_transaction(superuser_migrated, ann):
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            server_defaults = conn.execute(READ_LIMITS).fetchone()
            backend = conn.info.backend_pid
        assert server_defaults != ("30s", "5s", "30s")  # just to check that the test is valid
        with as_user(pool, ann) as conn:
            assert conn.execute(READ_LIMITS).fetchone() == ("30s", "5s", "30s")
        with pool.connection() as conn:  # the same server connection, next borrower, outside as_user
            assert conn.info.backend_pid == backend
            assert conn.execute(READ_LIMITS).fetchone() == server_defaults


def test_as_user_sets_the_configured_limits(superuser_migrated, ann):
    with login_pool(superuser_migrated, statement_timeout=4, lock_timeout=0.25, idle_in_transaction_timeout=0) as pool:
        with as_user(pool, ann) as conn:
            assert conn.execute(READ_LIMITS).fetchone() == ("4s", "250ms", "0")  # 0: no limit
        with pool.connection() as conn:
            assert conn.execute(READ_LIMITS).fetchone()[:2] != ("4s", "250ms")


def test_the_limits_cost_no_extra_round_trip(superuser_migrated, ann, monkeypatch):
    """as_user sends what it sent before the limits: `set local role`, then one `select`."""
    with login_pool(superuser_migrated) as pool:
        with pool.connection():  # warm: the pool's own check on lending is not ours to count
            pass
        sent: list[str] = []
        real_execute = psycopg.Connection.execute

        borrower = threading.get_ident()  # not the pool's workers (the reset runs in one)

        def counting_execute(self, query, *args, **kwargs):
            if threading.get_ident() == borrower:
                sent.append(query.as_string(self) if isinstance(query, sql.Composable) else str(query))
            return real_execute(self, query, *args, **kwargs)

        monkeypatch.setattr(psycopg.Connection, "execute", counting_execute)
        with as_user(pool, ann):
            statements = [s for s in sent if s]  # the pool's liveness check sends an empty query
        monkeypatch.undo()
    assert len(statements) == 1 and statements[0].startswith("begin; select ")  # one message, one round trip
    assert all(name in statements[0] for name in ("'role'", "app.user_id", *LIMITS))


def test_a_statement_past_statement_timeout_is_cancelled(superuser_migrated, ann):
    with login_pool(superuser_migrated, statement_timeout=0.5) as pool:
        with as_user(pool, ann) as conn:  # the boundary: within the limit
            conn.execute("select pg_sleep(0.1)")
        with pytest.raises(psycopg.Error) as caught:
            with as_user(pool, ann) as conn:
                conn.execute("select pg_sleep(5)")
        assert caught.value.sqlstate == "57014"  # query_canceled


def test_waiting_for_a_lock_past_lock_timeout_fails(superuser_migrated, ann):
    with login_pool(superuser_migrated, lock_timeout=0.3) as pool:
        with psycopg.connect(PARAMS.url(superuser_migrated.info.dbname)) as holder:
            holder.execute("lock table app.tasks in access exclusive mode")  # held until holder commits
            with pytest.raises(psycopg.Error) as caught:
                with as_user(pool, ann) as conn:
                    conn.execute("select count(*) from app.tasks")
            assert caught.value.sqlstate == "55P03"  # lock_not_available
            holder.commit()
        with as_user(pool, ann) as conn:  # the boundary: the lock released, the same query runs
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)


def test_a_transaction_left_idle_past_the_limit_ends_its_session_and_the_pool_replaces_it(superuser_migrated, ann):
    """PostgreSQL (15 and 18 alike) ends the whole session, FATAL 25P03, not just the
    transaction: the next statement gets that error, the connection is closed, and the
    pool opens a new one for the next borrower."""
    with login_pool(superuser_migrated, idle_in_transaction_timeout=0.3) as pool:
        with as_user(pool, ann) as conn:  # the boundary: idle for less than the limit
            backend = conn.info.backend_pid
            time.sleep(0.1)
            conn.execute("select 1")
        with pytest.raises(psycopg.Error) as caught:
            with as_user(pool, ann) as conn:
                assert conn.info.backend_pid == backend
                time.sleep(1)
                conn.execute("select 1")
        assert caught.value.sqlstate == "25P03"  # idle_in_transaction_session_timeout
        assert isinstance(caught.value, psycopg.errors.IdleInTransactionSessionTimeout) and conn.closed
        with as_user(pool, ann) as fresh:
            assert fresh.info.backend_pid != backend
            assert fresh.execute("select 1").fetchone() == (1,)
        assert superuser_migrated.execute(
            "select count(*) from pg_stat_activity where pid = %s", [backend]
        ).fetchone() == (0,)


def test_the_limits_never_travel_in_the_startup_packet(superuser_migrated, ann):
    """Server side: no limit comes from the client's startup parameters; a user's own
    `options` in the URL still passes through, and survives the reset on return."""
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    from_client = ("select name from pg_settings where source = 'client' and name = any(%s)", [list(LIMITS)])
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            assert conn.execute(*from_client).fetchall() == []
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url:
        url += ("&" if "?" in url else "?") + "options=-c%20work_mem%3D8MB"
        settings = PoolSettings(url=url, min_size=1, max_size=1)
        assert "options" not in settings.connection_kwargs()
        with create_pool(settings) as pool:
            for _ in range(2):  # the second borrow comes after a DISCARD ALL
                with pool.connection() as conn:
                    assert conn.execute("select current_setting('work_mem')").fetchone() == ("8MB",)
                    conn.execute("set work_mem = '1MB'")
