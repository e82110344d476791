"""task_events: the history written by triggers on tasks, and its
append-only rule."""

from __future__ import annotations

import uuid

import pytest
from psycopg import sql

from tests.support import new_task, new_user, refused


@pytest.fixture
def owner(superuser_migrated):
    return new_user(superuser_migrated)


def _history(conn, task_id):
    return conn.execute(
        "select kind, old_status, new_status, actor_id from app.task_events where task_id = %s order by id", [task_id]
    ).fetchall()


def _identify(conn, user_id):
    conn.execute("select set_config('app.user_id', %s, true)", [str(user_id)])


def test_creation_records_the_first_status_and_the_acting_user(superuser_migrated, owner):
    _identify(superuser_migrated, owner)
    task = new_task(superuser_migrated, owner, status="in_progress")
    assert _history(superuser_migrated, task) == [("created", None, "in_progress", owner)]


def test_without_identity_the_actor_is_null(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    assert _history(superuser_migrated, task) == [("created", None, "pending", None)]


def test_malformed_identity_fails_the_write_and_records_nothing(superuser_migrated, owner):
    _identify(superuser_migrated, "not-a-uuid")
    with refused(superuser_migrated, "22P02"):
        new_task(superuser_migrated, owner)
    assert superuser_migrated.execute("select count(*) from app.tasks").fetchone() == (0,)
    assert superuser_migrated.execute("select count(*) from app.task_events").fetchone() == (0,)


def test_every_status_change_is_one_event_with_old_and_new_status(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    for status in ("in_progress", "completed", "pending"):
        superuser_migrated.execute("update app.tasks set status = %s where id = %s", [status, task])
    superuser_migrated.execute("update app.tasks set title = 'renamed', priority = 'high' where id = %s", [task])
    superuser_migrated.execute("update app.tasks set status = 'pending' where id = %s", [task])  # no change
    assert [row[:3] for row in _history(superuser_migrated, task)] == [
        ("created", None, "pending"),
        ("status_changed", "pending", "in_progress"),
        ("status_changed", "in_progress", "completed"),
        ("status_changed", "completed", "pending"),
    ]


def test_soft_delete_restore_and_hard_delete_are_recorded(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    superuser_migrated.execute("update app.tasks set deleted_at = now() where id = %s", [task])
    superuser_migrated.execute("update app.tasks set deleted_at = null where id = %s", [task])
    superuser_migrated.execute("delete from app.tasks where id = %s", [task])
    assert [row[0] for row in _history(superuser_migrated, task)] == ["created", "deleted", "restored", "hard_deleted"]


def test_one_statement_over_many_rows_records_one_event_per_row(superuser_migrated, owner):
    superuser_migrated.execute(
        "insert into app.tasks (user_id, title) select %s, 'bulk ' || i from generate_series(1, 1000) as i", [owner]
    )
    superuser_migrated.execute("update app.tasks set status = 'completed' where user_id = %s", [owner])
    superuser_migrated.execute("update app.tasks set title = title || '!' where user_id = %s", [owner])  # no event
    kinds = superuser_migrated.execute(
        "select kind, count(*) from app.task_events group by kind order by kind"
    ).fetchall()
    assert kinds == [("created", 1000), ("status_changed", 1000)]


def test_task_events_append_only_refuses_update_delete_and_truncate(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    assert len(_history(superuser_migrated, task)) == 1  # there is a row to change
    for statement in (
        "update app.task_events set kind = 'restored', new_status = null",
        "delete from app.task_events",
        "truncate app.task_events",
    ):
        with refused(superuser_migrated, "23000", "task_events_append_only"):
            superuser_migrated.execute(statement)
    assert len(_history(superuser_migrated, task)) == 1


def test_task_events_statuses_match_kind_check(superuser_migrated, owner):
    insert = (
        "insert into app.task_events (user_id, project_id, task_id, kind, old_status, new_status)"
        " values (%s, %s, %s, %s, %s, %s)"
    )
    task = uuid.uuid4()
    superuser_migrated.execute(insert, [owner, owner, task, "status_changed", "pending", "completed"])
    for kind, old, new in [
        ("status_changed", "pending", "pending"),
        ("status_changed", None, "completed"),
        ("created", "pending", "pending"),
        ("deleted", None, "pending"),
    ]:
        with refused(superuser_migrated, "23514", "task_events_statuses_match_kind_check"):
            superuser_migrated.execute(insert, [owner, owner, task, kind, old, new])
    with refused(superuser_migrated, "23514", "task_event_kind_check"):
        superuser_migrated.execute(insert, [owner, owner, task, "edited", None, None])


def test_the_owners_maintenance_path_may_rewrite_history(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    superuser_migrated.execute("set local tododb.history_maintenance = 'on'")
    superuser_migrated.execute("delete from app.task_events where task_id = %s", [task])
    assert _history(superuser_migrated, task) == []


def test_the_maintenance_setting_does_not_open_history_to_another_role(superuser_migrated, owner):
    new_task(superuser_migrated, owner)
    role = f"tododb_probe_{uuid.uuid4().hex[:8]}"
    # Roles are cluster-wide, but creating one is transactional: this one is
    # rolled back with the test's transaction.
    superuser_migrated.execute(sql.SQL("create role {}").format(sql.Identifier(role)))
    superuser_migrated.execute(sql.SQL("grant usage on schema app to {}").format(sql.Identifier(role)))
    superuser_migrated.execute(sql.SQL("grant select, delete on app.task_events to {}").format(sql.Identifier(role)))
    superuser_migrated.execute(
        sql.SQL("grant execute on function app.current_user_id() to {}").format(sql.Identifier(role))
    )
    # What the history's membership policy reads.
    superuser_migrated.execute(sql.SQL("grant select on app.project_members to {}").format(sql.Identifier(role)))
    superuser_migrated.execute(
        sql.SQL("grant execute on function app_private.current_user_project_ids() to {}").format(sql.Identifier(role))
    )
    superuser_migrated.execute(sql.SQL("set local role {}").format(sql.Identifier(role)))
    _identify(superuser_migrated, owner)  # row-level security: the role sees the owner's history
    superuser_migrated.execute("set local tododb.history_maintenance = 'on'")
    assert superuser_migrated.execute("select count(*) from app.task_events").fetchone() == (1,)
    with refused(superuser_migrated, "23000", "task_events_append_only"):
        superuser_migrated.execute("delete from app.task_events")
    superuser_migrated.rollback()
    assert superuser_migrated.execute("select count(*) from pg_roles where rolname = %s", [role]).fetchone() == (0,)
