"""What one borrower leaves in its session never reaches the next one: every
connection is reset with DISCARD ALL when it returns to the pool.

The attack: a compromised (or buggy) request plants, in its session's pg_temp,
a domain named `uuid`. pg_temp is searched first for types when the search path
does not name it, so every later `::uuid` on that connection (the named
queries' casts, app.current_user_id() inside every policy) would run the
domain's check: a function that copies the value and the identity in force.
All pools here hold one connection, so every borrower gets the same backend.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from tests.logins import login_role
from tests.package.test_pool import login_pool
from tests.support import new_task, new_user
from tododb.pool import act_as, as_user
from tododb.queries import QUERIES

UUID_OID = 2950  # pg_catalog.uuid


@pytest.fixture
def people(superuser_migrated):
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    tasks = new_task(superuser_migrated, ann, "ann's secret"), new_task(superuser_migrated, bob, "bob's secret")
    superuser_migrated.commit()
    return (ann, bob), tasks


def plant_trap(conn: psycopg.Connection) -> None:
    """As the borrower acting now: a pg_temp domain `uuid` whose check copies what it sees."""
    conn.execute("create temp table loot (value text, identity text)")
    conn.execute("""
        create function pg_temp.evil(x uuid) returns boolean language sql volatile as $$
          insert into pg_temp.loot values (x::text, pg_catalog.current_setting('app.user_id', true));
          select pg_catalog.set_config('evil.ran', 'yes', false) is not null
        $$""")
    conn.execute("create domain pg_temp.uuid as pg_catalog.uuid check (pg_temp.evil(value))")
    conn.execute("prepare stolen as select * from app.tasks")
    # Just to check that the trap is valid: in its own session it captures a cast.
    conn.execute("select %s::uuid", ["00000000-0000-0000-0000-000000000000"])
    assert conn.execute("select count(*) from pg_temp.loot").fetchone() == (1,)


def traces_of_the_trap(conn: psycopg.Connection) -> dict[str, object]:
    """Everything the trap would leave visible in the current session."""
    return {
        "temp objects": conn.execute("""
            select (select count(*) from pg_catalog.pg_class where relnamespace = pg_catalog.pg_my_temp_schema())
                 + (select count(*) from pg_catalog.pg_type where typnamespace = pg_catalog.pg_my_temp_schema())
                 + (select count(*) from pg_catalog.pg_proc where pronamespace = pg_catalog.pg_my_temp_schema())
            """).fetchone()[0],
        "evil ran": conn.execute("select current_setting('evil.ran', true)").fetchone()[0] not in ("", None),
        "prepared": [r[0] for r in conn.execute("select name from pg_catalog.pg_prepared_statements")],
    }


CLEAN = {"temp objects": 0, "evil ran": False, "prepared": []}


def test_a_temp_domain_planted_by_one_borrower_never_captures_the_next_ones_casts(superuser_migrated, people):
    (ann, bob), (_, bobs_task) = people
    with login_pool(superuser_migrated) as pool:
        with as_user(pool, ann) as conn:
            plant_trap(conn)
            backend = conn.info.backend_pid
        with as_user(pool, bob) as conn:
            assert conn.info.backend_pid == backend  # the very same server connection
            assert traces_of_the_trap(conn) == CLEAN
            # A parameter cast to uuid, and a named query (`:task_id::uuid`, and the policy's
            # app.current_user_id()), resolve to pg_catalog.uuid and run no planted code.
            assert conn.execute("select pg_typeof(%s::uuid)::oid", [str(bobs_task)]).fetchone() == (UUID_OID,)
            assert QUERIES.get_task(conn, task_id=bobs_task)[1] == "bob's secret"
            assert traces_of_the_trap(conn) == CLEAN
            assert conn.execute("select to_regclass('pg_temp.loot')").fetchone() == (None,)


def test_without_the_reset_the_same_trap_captures_the_next_borrower(superuser_migrated, people):
    """Why the reset is there: the same two borrowers on a pool built with reset=None."""
    (ann, bob), (_, bobs_task) = people
    superuser_migrated.autocommit = True
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url:
        with ConnectionPool(url, min_size=1, max_size=1, reset=None, open=True) as pool:
            with pool.connection() as conn, conn.transaction():
                act_as(conn, "todo_app", ann)
                plant_trap(conn)
                backend = conn.info.backend_pid
            with pool.connection() as conn, conn.transaction():
                act_as(conn, "todo_app", bob)
                assert conn.info.backend_pid == backend
                assert conn.execute("select pg_typeof(%s::uuid)::oid", [str(bobs_task)]).fetchone() != (UUID_OID,)
                assert QUERIES.get_task(conn, task_id=bobs_task)[1] == "bob's secret"
                loot = set(conn.execute("select value, identity from pg_temp.loot"))
                assert (str(bobs_task), str(bob)) in loot  # bob's task id, under bob's identity
                assert traces_of_the_trap(conn)["evil ran"] and "stolen" in traces_of_the_trap(conn)["prepared"]


def test_a_session_wide_identity_role_or_search_path_never_reaches_the_next_borrower(superuser_migrated, people):
    (ann, _), _ = people
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            defaults = conn.execute("select current_setting('search_path'), current_user").fetchone()
            backend = conn.info.backend_pid
        # Inside as_user: set_config(..., false) outlives the transaction, unlike the helper's own.
        with as_user(pool, ann) as conn:
            conn.execute("select set_config('app.user_id', %s, false)", [str(ann)])
        with pool.connection() as conn:
            assert conn.info.backend_pid == backend
            assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)  # ann's task exists
        # Outside as_user, straight on the pooled connection.
        with pool.connection() as conn:
            conn.execute("select set_config('app.user_id', %s, false)", [str(ann)])
            conn.execute("set role todo_app")
            conn.execute("set search_path = pg_temp, app")
            assert conn.execute("select count(*) from app.tasks").fetchone() == (1,)  # the leak, if kept
        with pool.connection() as conn:
            assert conn.info.backend_pid == backend
            assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in ("", None)
            assert conn.execute("select current_setting('search_path'), session_user").fetchone() == defaults
            assert conn.execute("select current_user = session_user").fetchone() == (True,)
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)
        with as_user(pool, None) as conn:
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)
        with as_user(pool, ann) as conn:  # the boundary: with her identity, her task is there
            assert conn.execute("select count(*) from app.tasks").fetchone() == (1,)


def test_prepared_statements_are_forgotten_by_the_server_and_by_psycopg(superuser_migrated, people):
    query = "select count(*) from app.tasks"
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            assert conn.prepare_threshold is None  # the pool's connections prepare nothing by themselves
            # What a borrower may still do: prepare in SQL, or turn psycopg's preparing on.
            conn.execute("prepare mine as select 1")
            conn.prepare_threshold = 0
            assert conn.execute(query).fetchone() == (0,)
            prepared = traces_of_the_trap(conn)["prepared"]
            assert "mine" in prepared and any(name.startswith("_pg3_") for name in prepared)
            backend = conn.info.backend_pid
        for _ in range(3):
            with pool.connection() as conn:
                assert conn.info.backend_pid == backend and conn.prepare_threshold is None
                assert traces_of_the_trap(conn)["prepared"] == []
                assert conn.execute(query).fetchone() == (0,)  # not through the name the server dropped


def test_client_side_transaction_characteristics_are_restored(superuser_migrated, people):
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            conn.autocommit = True
            conn.read_only = True
            conn.isolation_level = psycopg.IsolationLevel.SERIALIZABLE
        with pool.connection() as conn:
            assert (conn.autocommit, conn.read_only, conn.isolation_level, conn.deferrable) == (False, None, None, None)
            assert conn.execute("select current_setting('transaction_read_only')").fetchone() == ("off",)


def test_a_connection_that_cannot_be_reset_is_replaced(superuser_migrated, people):
    """The server drops the connection while a borrower holds it idle: DISCARD ALL fails on
    its return, the pool discards it and opens a fresh one for the next borrower."""
    with login_pool(superuser_migrated) as pool:
        with pool.connection() as conn:
            backend = conn.info.backend_pid
            superuser_migrated.execute("select pg_terminate_backend(%s)", [backend])
            deadline = time.monotonic() + 5
            while (
                superuser_migrated.execute(
                    "select count(*) from pg_stat_activity where pid = %s", [backend]
                ).fetchone()[0]
                and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            assert not conn.closed  # the client has not noticed yet
        with pool.connection() as fresh:
            assert fresh.info.backend_pid != backend
            assert fresh.execute("select 1").fetchone() == (1,)
        assert conn.closed
        stats = pool.get_stats()  # found broken on its return (by the reset), not by the check on lending
        assert stats.get("returns_bad") == 1 and stats.get("connections_lost", 0) == 0
