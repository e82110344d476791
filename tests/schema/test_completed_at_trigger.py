"""completed_at follows status (set on becoming completed, cleared on leaving
it), including the awkward paths; what the trigger does not fix, the CHECK
refuses."""

from __future__ import annotations

import pytest

from tests.support import new_task, new_user, refused


@pytest.fixture
def owner(superuser_migrated):
    return new_user(superuser_migrated)


def _completion(conn, task_id):
    return conn.execute("select status, completed_at from app.tasks where id = %s", [task_id]).fetchone()


def _set_status(conn, task_id, status):
    conn.execute("update app.tasks set status = %s where id = %s", [status, task_id])


def test_inserting_a_completed_task_sets_completed_at(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner, status="completed")
    now = superuser_migrated.execute("select now()").fetchone()[0]
    assert _completion(superuser_migrated, task) == ("completed", now)


def test_inserting_a_completed_task_keeps_an_explicit_completed_at(superuser_migrated, owner):
    task = new_task(
        superuser_migrated,
        owner,
        status="completed",
        created_at="2026-01-01T00:00:00Z",
        completed_at="2026-01-02T00:00:00Z",
    )
    assert _completion(superuser_migrated, task)[1].isoformat() == "2026-01-02T00:00:00+00:00"


def test_becoming_completed_sets_and_leaving_completed_clears_completed_at(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    _set_status(superuser_migrated, task, "in_progress")
    assert _completion(superuser_migrated, task) == ("in_progress", None)
    _set_status(superuser_migrated, task, "completed")
    assert _completion(superuser_migrated, task)[1] is not None
    _set_status(superuser_migrated, task, "pending")
    assert _completion(superuser_migrated, task) == ("pending", None)


def test_status_set_and_unset_in_one_transaction_leaves_no_completed_at(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    with superuser_migrated.transaction():
        _set_status(superuser_migrated, task, "completed")
        _set_status(superuser_migrated, task, "in_progress")
    assert _completion(superuser_migrated, task) == ("in_progress", None)


def test_completing_again_keeps_the_first_completion_time(superuser_migrated, owner):
    task = new_task(
        superuser_migrated,
        owner,
        status="completed",
        created_at="2026-01-01T00:00:00Z",
        completed_at="2026-01-02T00:00:00Z",
    )
    superuser_migrated.execute("update app.tasks set status = 'completed', title = 'renamed' where id = %s", [task])
    assert _completion(superuser_migrated, task)[1].isoformat() == "2026-01-02T00:00:00+00:00"


def test_correcting_completed_at_of_a_completed_task_is_allowed(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner, status="completed", created_at="2026-01-01T00:00:00Z")
    superuser_migrated.execute("update app.tasks set completed_at = '2026-01-03T00:00:00Z' where id = %s", [task])
    assert _completion(superuser_migrated, task)[1].isoformat() == "2026-01-03T00:00:00+00:00"


def test_writing_completed_at_on_an_open_task_is_refused(superuser_migrated, owner):
    task = new_task(superuser_migrated, owner)
    with refused(superuser_migrated, "23514", "tasks_completed_at_status_check"):
        superuser_migrated.execute("update app.tasks set completed_at = now() where id = %s", [task])
    with refused(superuser_migrated, "23514", "tasks_completed_at_status_check"):
        new_task(superuser_migrated, owner, status="in_progress", completed_at="2099-01-01T00:00:00Z")


def test_bulk_status_updates_keep_every_row_consistent(superuser_migrated, owner):
    superuser_migrated.execute(
        "insert into app.tasks (user_id, title, status) "
        "select %s, 'bulk ' || i, (array['pending', 'in_progress', 'completed'])[1 + i %% 3] "
        "from generate_series(1, 300) as i",
        [owner],
    )
    superuser_migrated.execute("update app.tasks set status = 'completed' where status = 'pending'")
    superuser_migrated.execute("update app.tasks set status = 'in_progress' where title like 'bulk 1%%'")
    inconsistent = superuser_migrated.execute(
        "select count(*) from app.tasks where (status = 'completed') <> (completed_at is not null)"
    ).fetchone()
    assert inconsistent == (0,)
    assert superuser_migrated.execute("select count(*) from app.tasks where status = 'completed'").fetchone()[0] > 100
