"""tasks.deleted_at is the server's: the app moves a task to the bin, the clock says when.

A client that could write any time could have a task purged at once
(back-dated past the retention cutoff) or never ('infinity'). For the app
roles every soft delete is stamped with the statement's time, a second keeps the first stamp,
and a restore clears it; the table owner (retention tests, imports) keeps
full control.
"""

from __future__ import annotations

import pytest

from tests.support import acting_as, new_task, new_user


@pytest.fixture
def ann_task(superuser_migrated):
    ann = new_user(superuser_migrated, "ann@example.com")
    return ann, new_task(superuser_migrated, ann, "to the bin")


@pytest.mark.parametrize("claimed", ["2000-01-01T00:00:00Z", "infinity", "-infinity", "2999-01-01T00:00:00Z"])
def test_the_apps_soft_delete_is_stamped_with_the_servers_clock_whatever_it_says(superuser_migrated, ann_task, claimed):
    ann, task = ann_task
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        stamped = conn.execute(
            "update app.tasks set deleted_at = %s::timestamptz where id = %s "
            "returning deleted_at = statement_timestamp(), deleted_at = %s::timestamptz",
            [claimed, task, claimed],
        ).fetchone()
    assert stamped == (True, False)


def test_a_second_soft_delete_keeps_the_first_stamp_and_a_restore_clears_it(superuser_migrated, ann_task):
    ann, task = ann_task
    superuser_migrated.execute("update app.tasks set deleted_at = now() - interval '3 days' where id = %s", [task])
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        again = conn.execute(
            "update app.tasks set deleted_at = now() where id = %s returning deleted_at < now() - interval '2 days'",
            [task],
        ).fetchone()
        assert again == (True,)
        assert conn.execute(
            "update app.tasks set deleted_at = null where id = %s returning deleted_at", [task]
        ).fetchone() == (None,)
        assert conn.execute(
            "update app.tasks set deleted_at = '2000-01-01' where id = %s returning deleted_at = statement_timestamp()",
            [task],
        ).fetchone() == (True,)


def test_the_table_owner_still_sets_any_deleted_at(superuser_migrated, ann_task):
    """The boundary: retention tests and imports age tasks on purpose."""
    _, task = ann_task
    row = superuser_migrated.execute(
        "update app.tasks set deleted_at = '2000-01-01T00:00:00Z' where id = %s "
        "returning deleted_at = '2000-01-01T00:00:00Z'::timestamptz",
        [task],
    ).fetchone()
    assert row == (True,)


def test_updates_that_leave_deleted_at_alone_are_untouched(superuser_migrated, ann_task):
    ann, task = ann_task
    superuser_migrated.execute("update app.tasks set deleted_at = now() - interval '3 days' where id = %s", [task])
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        row = conn.execute(
            "update app.tasks set title = 'renamed in the bin' where id = %s "
            "returning deleted_at < now() - interval '2 days'",
            [task],
        ).fetchone()
    assert row == (True,)


def test_a_transaction_held_open_cannot_back_date_the_stamp(superuser_migrated, ann_task):
    """now() is the transaction's start: the stamp is the statement's, so waiting first changes nothing."""
    ann, task = ann_task
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        conn.execute("select pg_sleep(0.2)")
        row = conn.execute(
            "update app.tasks set deleted_at = now() where id = %s returning deleted_at >= now() + interval '0.2 s'",
            [task],
        ).fetchone()
    assert row == (True,)
