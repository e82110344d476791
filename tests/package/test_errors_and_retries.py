"""Typed errors a web backend maps directly, and retries that are safe.

Through `tododb.transaction` as a real LOGIN member of todo_app: each kind
of failure is forced and must come back as its class with its SQLSTATE and
constraint name; a serialization failure or deadlock runs the work again (a
bounded number of times, with jittered pauses); a connection lost while
COMMIT was under way is never run again.
"""

from __future__ import annotations

import threading

import pytest

from tests.package.test_pool import login_pool
from tests.support import new_user
from tododb import (
    QUERIES,
    Conflict,
    Contention,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutcomeUnknown,
    Unavailable,
    require,
    transaction,
)

TASK = dict(description=None, priority=None, due_at=None, estimated_hours=None)
FORCE = "do $$ begin raise exception 'forced' using errcode = '{}'; end $$"


@pytest.fixture
def app(superuser_migrated):
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    with login_pool(superuser_migrated) as pool:
        yield pool, ann, bob, superuser_migrated


def test_a_taken_name_is_a_conflict_naming_the_rule(app):
    pool, ann, _, _ = app
    transaction(pool, ann, lambda conn: QUERIES.create_tag(conn, name="home"))  # the boundary: the first is fine
    with pytest.raises(Conflict) as caught:
        transaction(pool, ann, lambda conn: QUERIES.create_tag(conn, name="HOME"))
    assert (caught.value.sqlstate, caught.value.constraint) == ("23505", "tags_user_id_name_key")


def test_broken_rules_and_malformed_data_are_invalid_input(app):
    pool, ann, _, _ = app
    with pytest.raises(InvalidInput) as caught:
        transaction(pool, ann, lambda conn: QUERIES.create_task(conn, title=" ", **TASK))
    assert (caught.value.sqlstate, caught.value.constraint) == ("23514", "tasks_title_not_blank_check")
    with pytest.raises(InvalidInput) as caught:
        transaction(pool, ann, lambda conn: QUERIES.get_task(conn, task_id="not-a-uuid"))
    assert caught.value.sqlstate == "22P02" and caught.value.constraint is None
    row = transaction(pool, ann, lambda conn: QUERIES.create_task(conn, title="fine", **TASK))
    assert row is not None


def test_another_users_row_is_not_found_and_writing_one_is_not_allowed(app):
    pool, ann, bob, admin = app
    bobs = transaction(pool, bob, lambda conn: QUERIES.create_task(conn, title="bob's", **TASK))[0]
    assert admin.execute("select count(*) from app.tasks where id = %s", [bobs]).fetchone() == (1,)  # it exists
    with pytest.raises(NotFound):
        transaction(pool, ann, lambda conn: require(QUERIES.get_task(conn, task_id=bobs), "task"))
    assert transaction(pool, bob, lambda conn: require(QUERIES.get_task(conn, task_id=bobs), "task"))[0] == bobs
    with pytest.raises(NotAllowed) as caught:
        transaction(
            pool, ann, lambda conn: conn.execute("insert into app.tasks (user_id, title) values (%s, 'planted')", [bob])
        )
    assert caught.value.sqlstate == "42501" and isinstance(caught.value, NotFound)


@pytest.mark.parametrize("sqlstate", ["40001", "40P01"])
def test_a_serialization_failure_or_deadlock_runs_the_work_again(app, sqlstate):
    pool, ann, _, _ = app
    runs, pauses = [], []

    def work(conn):
        runs.append(1)
        QUERIES.create_task(conn, title=f"run {len(runs)}", **TASK)
        if len(runs) < 3:
            conn.execute(FORCE.format(sqlstate))
        return len(runs)

    assert transaction(pool, ann, work, attempts=3, backoff=0.01, sleep=pauses.append) == 3
    assert len(pauses) == 2 and 0 <= pauses[0] <= 0.01 and 0 <= pauses[1] <= 0.02
    titles = transaction(pool, ann, lambda conn: conn.execute("select title from app.tasks").fetchall())
    assert titles == [("run 3",)]  # the failed runs were rolled back whole


def test_retries_are_bounded_and_end_as_contention(app):
    pool, ann, _, _ = app
    runs = []

    def work(conn):
        runs.append(1)
        conn.execute(FORCE.format("40001"))

    with pytest.raises(Contention) as caught:
        transaction(pool, ann, work, attempts=4, sleep=lambda _: None)
    assert len(runs) == 4 and caught.value.sqlstate == "40001" and isinstance(caught.value, Unavailable)


def test_a_real_deadlock_is_retried_and_both_transactions_land(app):
    pool, ann, _, admin = app
    first = transaction(pool, ann, lambda conn: QUERIES.create_task(conn, title="a", **TASK))[0]
    second = transaction(pool, ann, lambda conn: QUERIES.create_task(conn, title="b", **TASK))[0]
    with login_pool(admin) as other_pool:
        barrier, outcome = threading.Barrier(2, timeout=10), {}

        def crossing(which, pool_, order):
            def work(conn):
                conn.execute("update app.tasks set title = title || %s where id = %s", [which, order[0]])
                if not outcome.get(f"{which} waited"):
                    outcome[f"{which} waited"] = True
                    barrier.wait()
                conn.execute("update app.tasks set title = title || %s where id = %s", [which, order[1]])

            transaction(pool_, ann, work, attempts=3, backoff=0.01)
            outcome[which] = "done"

        threads = [
            threading.Thread(target=crossing, args=("1", pool, (first, second))),
            threading.Thread(target=crossing, args=("2", other_pool, (second, first))),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert outcome.get("1") == outcome.get("2") == "done"
    titles = dict(admin.execute("select id, title from app.tasks").fetchall())
    assert sorted(titles[first]) == sorted("a12") and sorted(titles[second]) == sorted("b12")


def test_a_connection_lost_during_commit_is_outcome_unknown_and_never_run_again(app):
    pool, ann, _, admin = app
    runs = []

    def work(conn):
        runs.append(1)
        QUERIES.create_task(conn, title="maybe", **TASK)
        admin.execute("select pg_terminate_backend(%s)", [conn.info.backend_pid])  # gone before COMMIT lands

    with pytest.raises(OutcomeUnknown) as caught:
        transaction(pool, ann, work, sleep=lambda _: None)
    assert runs == [1] and isinstance(caught.value, Unavailable)


def test_a_connection_lost_mid_work_and_an_exhausted_pool_are_unavailable(app):
    pool, ann, _, admin = app
    with pytest.raises(Unavailable) as caught:
        transaction(
            pool,
            ann,
            lambda conn: (
                admin.execute("select pg_terminate_backend(%s)", [conn.info.backend_pid]),
                conn.execute("select 1"),
            ),
        )
    assert not isinstance(caught.value, OutcomeUnknown)
    with pool.connection():  # the only connection is taken
        with pytest.raises(Unavailable) as caught:
            pool.timeout = 0.2
            transaction(pool, ann, lambda conn: conn.execute("select 1"))
    assert caught.value.sqlstate is None
    assert transaction(pool, ann, lambda conn: conn.execute("select 1").fetchone()) == (1,)  # and it recovers
