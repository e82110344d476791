"""app.current_user_id(): fail closed when unset, refuse a malformed identity,
evaluated once per statement, and never outliving its transaction."""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest

from tests.support import PARAMS, acting_as, db_url, new_tag, new_task, new_user, refused

USER_TABLES = [
    "users",
    "projects",
    "project_members",
    "project_invitations",
    "tasks",
    "tags",
    "task_tags",
    "task_events",
    "tasks_archive",
    "task_tags_archive",
]


def test_current_user_id_is_null_when_unset_or_empty_and_the_uuid_when_set(superuser_migrated):
    assert superuser_migrated.execute("select app.current_user_id()").fetchone() == (None,)
    superuser_migrated.execute("select set_config('app.user_id', '', true)")
    assert superuser_migrated.execute("select app.current_user_id()").fetchone() == (None,)
    user_id = uuid.uuid4()
    superuser_migrated.execute("select set_config('app.user_id', %s, true)", [str(user_id)])
    assert superuser_migrated.execute("select app.current_user_id()").fetchone() == (user_id,)


@pytest.mark.parametrize("malformed", ["42", "not-a-uuid", "' or true --", "00000000-0000-0000-0000-00000000000"])
def test_current_user_id_refuses_a_malformed_identity(superuser_migrated, malformed):
    superuser_migrated.execute("select set_config('app.user_id', %s, true)", [malformed])
    with refused(superuser_migrated, "22P02"):
        superuser_migrated.execute("select app.current_user_id()")


@pytest.mark.parametrize("table", USER_TABLES)
def test_a_malformed_identity_is_an_error_on_every_table_never_a_wider_view(superuser_migrated, table):
    # Rows to read: a membership subquery is evaluated only once there is a row to test against it.
    user = new_user(superuser_migrated)
    task, tag = new_task(superuser_migrated, user), new_tag(superuser_migrated, user)
    superuser_migrated.execute(
        "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [user, task, tag]
    )
    superuser_migrated.execute(
        "insert into app.project_invitations (project_id, email, invited_by) values (%s, 'guest@example.com', %s)",
        [user, user],
    )
    superuser_migrated.execute(
        "insert into app.tasks_archive (id, user_id, project_id, title, status, priority, completed_at, created_at,"
        " updated_at) values (gen_random_uuid(), %s, %s, 'archived', 'completed', 'medium', now(), now(), now())",
        [user, user],
    )
    with acting_as(superuser_migrated, "todo_app", "not-a-uuid") as conn:
        with refused(conn, "22P02"):
            conn.execute(f"select count(*) from app.{table}")


def _seq_scan_plan(conn, owner) -> str:
    with acting_as(conn, "todo_app", owner) as acting:
        acting.execute("set local enable_indexscan = off")
        acting.execute("set local enable_bitmapscan = off")  # a sequential scan: every row meets the policy
        rows = acting.execute("explain (analyze, costs off, timing off) select count(*) from app.tasks").fetchall()
    return "\n".join(row[0] for row in rows)


def test_policies_evaluate_the_identity_and_the_memberships_once_per_statement_not_per_row(superuser_migrated):
    owner = new_user(superuser_migrated)
    superuser_migrated.execute(
        "insert into app.tasks (user_id, title) select %s, 'task ' || i from generate_series(1, 300) as i", [owner]
    )
    plan = _seq_scan_plan(superuser_migrated, owner)
    # The memberships are read once (a hashed SubPlan, one loop) and each row is a hash probe against them.
    filter_line = next(line for line in plan.splitlines() if "Filter:" in line)
    assert "hashed SubPlan" in filter_line, plan
    assert "current_setting" not in filter_line and "project_members" not in filter_line, plan
    assert re.search(r"Scan on project_members m \(actual rows=\d+(\.00)? loops=1\)", plan), plan

    # The check bites: a policy that looks the membership up per row runs it 300 times. (A correlated EXISTS on
    # plain equality would not show it: the planner turns that into the same hashed SubPlan; a range does not.)
    with superuser_migrated.transaction(force_rollback=True):
        superuser_migrated.execute(
            "alter policy tasks_select_member on app.tasks using (exists ("
            " select from app.project_members as m"
            " where m.project_id >= tasks.project_id and m.project_id <= tasks.project_id"
            " and m.user_id = (select app.current_user_id())))"
        )
        mutant = _seq_scan_plan(superuser_migrated, owner)
    assert re.search(r"Scan on project_members m \(actual rows=\d+(\.00)? loops=300\)", mutant), mutant


def test_explain_shows_the_status_in_the_index_condition_ahead_of_the_policy(superuser_migrated):
    """Text equality is leakproof, so the status filter joins the project in the index condition, ahead of
    the policy (see 0007_create_task_types); the policy is a hash probe on the rows the index returns."""
    owner, other = new_user(superuser_migrated), new_user(superuser_migrated)
    for user in (owner, other):
        superuser_migrated.execute(
            "insert into app.tasks (user_id, title, status) "
            "select %s, 'task ' || i, case when i %% 10 = 0 then 'pending' else 'completed' end "
            "from generate_series(1, 3000) as i",
            [user],
        )
    superuser_migrated.execute("analyze app.tasks")
    query = (
        "explain select id from app.tasks where project_id = %s and status = 'pending' and deleted_at is null "
        "order by created_at desc, id desc limit 20"
    )
    with acting_as(superuser_migrated, "todo_app", owner) as conn:
        plan = "\n".join(row[0] for row in conn.execute(query, [owner]))  # an inbox's id is its owner's id
    assert "tasks_project_id_status_created_at_live_idx" in plan, plan
    index_cond = [line for line in plan.splitlines() if "Index Cond" in line]
    assert index_cond and re.search(r"status\)?(::text)? = 'pending'", index_cond[0]), plan
    assert "project_id =" in index_cond[0], plan
    assert "Sort" not in plan, plan
    assert "current_user_id" not in plan.split("SubPlan")[0], plan  # not called per row


def test_identity_set_for_one_transaction_does_not_leak_into_the_next(superuser_migrated):
    owner = new_user(superuser_migrated)
    superuser_migrated.commit()
    with psycopg.connect(db_url(superuser_migrated)) as conn:  # one connection, as a pooler would reuse it
        with conn.transaction():
            conn.execute("set local role todo_app")
            conn.execute("select set_config('app.user_id', %s, true)", [str(owner)])
            assert conn.execute("select count(*) from app.users").fetchone() == (1,)
        with conn.transaction():
            conn.execute("set local role todo_app")
            assert conn.execute("select current_setting('app.user_id', true)").fetchone()[0] in (None, "")
            assert conn.execute("select count(*) from app.users").fetchone() == (0,)
    assert PARAMS.user  # the server the tests use; nothing else to clean: the database is dropped
