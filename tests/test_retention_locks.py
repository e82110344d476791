"""Retention never waits for the app, and acts for nobody.

A user's open transaction that holds a lock on one task in the bin must not
stall the purge (before: every batch waited for that row, then timed out,
and the next run asked for the same oldest row again): the batch skips it,
the job finishes, and the next run takes the row once it is free. A purge's
history names no end user as the actor; the app cannot claim that switch.
"""

from __future__ import annotations

import psycopg

from tests.logins import login_role
from tests.support import PARAMS, acting_as, db_url, new_task, new_user, run_cli


def _binned(conn, user_id, days_ago: int):
    task = new_task(conn, user_id, created_at=conn.execute("select now() - interval '400 days'").fetchone()[0])
    conn.execute("update app.tasks set deleted_at = now() - make_interval(days => %s) where id = %s", [days_ago, task])
    return task


def _purge(url: str):
    return run_cli(
        "maintain", "purge", "--older-than", "30d", "--batch-size", "1", env={"DATABASE_URL": url}, timeout=60
    )


def test_purge_skips_a_task_the_app_holds_locked_and_finishes(postgresql):
    ann = new_user(postgresql)
    held, *others = [_binned(postgresql, ann, 40 - i) for i in range(3)]  # `held` is the oldest
    postgresql.commit()
    with psycopg.connect(PARAMS.url(postgresql.info.dbname)) as app:
        with acting_as(app, "todo_app", ann):
            app.execute("select id from app.tasks where id = %s for update", [held])  # a request in flight
            result = _purge(db_url(postgresql))
            assert result.returncode == 0, result.stderr
            assert "purged 2 " in result.stdout
            assert "; 1 left behind, held locked by another session" in result.stdout.splitlines()[-1]
            assert "waited too long" not in result.stderr
        remaining = {row[0] for row in postgresql.execute("select id from app.tasks")}
        assert remaining == {held}
    result = _purge(db_url(postgresql))  # the app let go: the next run takes it
    assert result.returncode == 0 and "purged 1 " in result.stdout, result.stderr
    assert "left behind" not in result.stdout
    assert postgresql.execute("select count(*) from app.tasks").fetchone() == (0,)


def test_a_purge_records_no_actor_while_the_apps_own_hard_delete_records_the_user(postgresql):
    ann = new_user(postgresql)
    purged = _binned(postgresql, ann, 40)
    deleted_by_ann = new_task(postgresql, ann, "deleted by ann herself")
    postgresql.commit()
    assert _purge(db_url(postgresql)).returncode == 0
    postgresql.autocommit = True
    with login_role(postgresql, postgresql.info.dbname) as url, psycopg.connect(url) as app, app.transaction():
        app.execute("select set_config('app.user_id', %s, true)", [str(ann)])
        # The app may set the switch the retention job uses; for the app's login role it means nothing.
        app.execute("select set_config('tododb.retention_job', 'on', true)")
        app.execute("delete from app.tasks where id = %s", [deleted_by_ann])
    events = dict(
        postgresql.execute("select task_id, actor_id from app.task_events where kind = 'hard_deleted'").fetchall()
    )
    assert events == {purged: None, deleted_by_ann: ann}


def test_the_purge_cutoff_still_holds_with_skip_locked(postgresql):
    """The boundary of the batch query: a task in the bin for less than the age stays."""
    ann = new_user(postgresql)
    _binned(postgresql, ann, 31)
    recent = _binned(postgresql, ann, 29)
    postgresql.commit()
    assert _purge(db_url(postgresql)).returncode == 0
    assert {row[0] for row in postgresql.execute("select id from app.tasks")} == {recent}
