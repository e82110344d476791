"""task_events: the history written by triggers on tasks, and its
append-only rule."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.support import new_task, new_user, refused


@pytest.fixture
def owner(postgresql):
    return new_user(postgresql)


def _history(conn, task_id):
    return conn.execute(
        "select kind, old_status, new_status, actor_id from app.task_events where task_id = %s order by id", [task_id]
    ).fetchall()


def _identify(conn, user_id):
    conn.execute("select set_config('app.user_id', %s, true)", [str(user_id)])


def test_creation_records_the_first_status_and_the_acting_user(postgresql, owner):
    _identify(postgresql, owner)
    task = new_task(postgresql, owner, status="in_progress")
    assert _history(postgresql, task) == [("created", None, "in_progress", owner)]


def test_without_identity_the_actor_is_null(postgresql, owner):
    task = new_task(postgresql, owner)
    assert _history(postgresql, task) == [("created", None, "pending", None)]


def test_malformed_identity_fails_the_write_and_records_nothing(postgresql, owner):
    _identify(postgresql, "not-a-uuid")
    with refused(postgresql, "22P02"):
        new_task(postgresql, owner)
    assert postgresql.execute("select count(*) from app.tasks").fetchone() == (0,)
    assert postgresql.execute("select count(*) from app.task_events").fetchone() == (0,)


def test_every_status_change_is_one_event_with_old_and_new_status(postgresql, owner):
    task = new_task(postgresql, owner)
    for status in ("in_progress", "completed", "pending"):
        postgresql.execute("update app.tasks set status = %s where id = %s", [status, task])
    postgresql.execute("update app.tasks set title = 'renamed', priority = 'high' where id = %s", [task])
    postgresql.execute("update app.tasks set status = 'pending' where id = %s", [task])  # no change
    assert [row[:3] for row in _history(postgresql, task)] == [
        ("created", None, "pending"),
        ("status_changed", "pending", "in_progress"),
        ("status_changed", "in_progress", "completed"),
        ("status_changed", "completed", "pending"),
    ]


def test_soft_delete_restore_and_hard_delete_are_recorded(postgresql, owner):
    task = new_task(postgresql, owner)
    postgresql.execute("update app.tasks set deleted_at = now() where id = %s", [task])
    postgresql.execute("update app.tasks set deleted_at = null where id = %s", [task])
    postgresql.execute("delete from app.tasks where id = %s", [task])
    assert [row[0] for row in _history(postgresql, task)] == ["created", "deleted", "restored", "hard_deleted"]


def test_one_statement_over_many_rows_records_one_event_per_row(postgresql, owner):
    postgresql.execute(
        "insert into app.tasks (user_id, title) select %s, 'bulk ' || i from generate_series(1, 1000) as i", [owner]
    )
    postgresql.execute("update app.tasks set status = 'completed' where user_id = %s", [owner])
    postgresql.execute("update app.tasks set title = title || '!' where user_id = %s", [owner])  # no event
    kinds = postgresql.execute("select kind, count(*) from app.task_events group by kind order by kind").fetchall()
    assert kinds == [("created", 1000), ("status_changed", 1000)]


def test_task_events_append_only_refuses_update_delete_and_truncate(postgresql, owner):
    task = new_task(postgresql, owner)
    assert len(_history(postgresql, task)) == 1  # there is a row to change
    for statement in (
        "update app.task_events set kind = 'restored', new_status = null",
        "delete from app.task_events",
        "truncate app.task_events",
    ):
        with refused(postgresql, "23000", "task_events_append_only"):
            postgresql.execute(statement)
    assert len(_history(postgresql, task)) == 1


def test_task_events_statuses_match_kind_check(postgresql, owner):
    insert = (
        "insert into app.task_events (user_id, project_id, task_id, kind, old_status, new_status)"
        " values (%s, %s, %s, %s, %s, %s)"
    )
    task = uuid.uuid4()
    postgresql.execute(insert, [owner, owner, task, "status_changed", "pending", "completed"])
    for kind, old, new in [
        ("status_changed", "pending", "pending"),
        ("status_changed", None, "completed"),
        ("created", "pending", "pending"),
        ("deleted", None, "pending"),
    ]:
        with refused(postgresql, "23514", "task_events_statuses_match_kind_check"):
            postgresql.execute(insert, [owner, owner, task, kind, old, new])
    with refused(postgresql, "23514", "task_event_kind_check"):
        postgresql.execute(insert, [owner, owner, task, "edited", None, None])


def test_the_owners_maintenance_path_may_rewrite_history(postgresql, owner):
    task = new_task(postgresql, owner)
    postgresql.execute("set local tododb.history_maintenance = 'on'")
    postgresql.execute("delete from app.task_events where task_id = %s", [task])
    assert _history(postgresql, task) == []


def test_the_maintenance_setting_does_not_open_history_to_another_role(postgresql, owner):
    new_task(postgresql, owner)
    role = f"tododb_probe_{uuid.uuid4().hex[:8]}"
    # Roles are cluster-wide, but creating one is transactional: this one is
    # rolled back with the test's transaction.
    postgresql.execute(sql.SQL("create role {}").format(sql.Identifier(role)))
    postgresql.execute(sql.SQL("grant usage on schema app to {}").format(sql.Identifier(role)))
    postgresql.execute(sql.SQL("grant select, delete on app.task_events to {}").format(sql.Identifier(role)))
    postgresql.execute(sql.SQL("grant execute on function app.current_user_id() to {}").format(sql.Identifier(role)))
    # What the history's membership policy reads.
    postgresql.execute(sql.SQL("grant select on app.project_members to {}").format(sql.Identifier(role)))
    postgresql.execute(
        sql.SQL("grant execute on function app_private.current_user_project_ids() to {}").format(sql.Identifier(role))
    )
    postgresql.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    _identify(postgresql, owner)  # row-level security: the role sees the owner's history
    postgresql.execute("set local tododb.history_maintenance = 'on'")
    assert postgresql.execute("select count(*) from app.task_events").fetchone() == (1,)
    with refused(postgresql, "23000", "task_events_append_only"):
        postgresql.execute("delete from app.task_events")
    postgresql.rollback()
    assert postgresql.execute("select count(*) from pg_roles where rolname = %s", [role]).fetchone() == (0,)
