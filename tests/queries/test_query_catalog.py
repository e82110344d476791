"""Which named queries are reads, and where a list's first page is written: derived from the SQL files, so
that a new query is plan-tested (test_query_plans.py) and benchmarked (make bench) without touching a list."""

from __future__ import annotations

import aiosql
import pytest

from tests.support import acting_as
from tests.worlds import two_users
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES, SQL_FILES, first_page, first_page_params, parameters, reads

LISTS = [name for name in reads() if "page_size" in parameters(name)]


def test_reads_are_the_selects_that_call_no_acting_function():
    found = set(reads())
    assert {"get_task", "count_overdue_tasks", "current_user_profile", "upcoming_tasks"} <= found
    # Beside them, selects that act (sharing, sign-up) or run as todo_auth, and the writes: none is a read.
    assert found.isdisjoint({"invite_to_project", "accept_invitation", "sign_up", "user_for_login", "create_task"})


def test_every_read_writes_nothing(superuser_migrated):
    """As todo_app, on its first page: no read is given a transaction id (the server assigns one at the
    first write), and every parameter it takes is found (from its comment, or by name)."""
    ann = two_users(superuser_migrated)["ann"]
    inbox = superuser_migrated.execute("select id from app.projects where owner_id = %s", [ann.id]).fetchone()[0]
    values = {
        "task_id": ann.tasks[0],
        "tag_id": ann.tags[0],
        "project_id": inbox,
        "user_id": ann.id,
        "status": "pending",
    }
    superuser_migrated.commit()  # each read then runs in a transaction of its own
    wrote = {}
    for name in reads():
        with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
            conn.execute(getattr(QUERIES, name).sql, first_page_params(name, 50, **values)).fetchall()
            wrote[name] = conn.execute("select pg_current_xact_id_if_assigned() is not null").fetchone()[0]
    assert wrote and not any(wrote.values()), wrote
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:  # the probe sees a write
        conn.execute("insert into app.tags (name) values ('probe')")
        assert conn.execute("select pg_current_xact_id_if_assigned() is not null").fetchone()[0]


@pytest.mark.parametrize("name", LISTS)
def test_every_list_states_its_first_page_in_its_comment(name):
    cursor = first_page(name)
    assert set(cursor) == {p for p in parameters(name) if p.startswith("after_")}
    assert tuple(cursor.values()) in (FIRST_ASC, FIRST_DESC)


def test_a_new_read_is_found_with_its_first_page():
    scratch = """
-- name: notes_by_date(after_created_at, after_id, page_size)
-- The identity's notes, newest first.
-- First page: after_created_at = 'infinity', after_id = 'ffffffff-ffff-ffff-ffff-ffffffffffff'.
select n.id from app.notes as n
where (n.created_at, n.id) < (:after_created_at::timestamptz, :after_id::uuid)
order by n.created_at desc, n.id desc
limit :page_size::int;
"""
    queries = aiosql.from_str("\n\n".join([*(f.read_text() for f in SQL_FILES), scratch]), "psycopg")
    assert "notes_by_date" in reads(queries) and "notes_by_date" not in reads()
    assert first_page_params("notes_by_date", 50, queries=queries) == {
        "after_created_at": FIRST_DESC[0],
        "after_id": FIRST_DESC[1],
        "page_size": 50,
    }
    with pytest.raises(KeyError):
        first_page_params("get_task", 50)  # it takes task_id, and none was given
