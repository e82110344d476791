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


def test_purge_skips_a_task_the_app_holds_locked_and_finishes(superuser_migrated):
    ann = new_user(superuser_migrated)
    held, *others = [_binned(superuser_migrated, ann, 40 - i) for i in range(3)]  # `held` is the oldest
    superuser_migrated.commit()
    with psycopg.connect(PARAMS.url(superuser_migrated.info.dbname)) as app:
        with acting_as(app, "todo_app", ann):
            app.execute("select id from app.tasks where id = %s for update", [held])  # a request in flight
            result = _purge(db_url(superuser_migrated))
            assert result.returncode == 0, result.stderr
            assert "purged 2 " in result.stdout
            assert "; 1 left behind, held locked by another session" in result.stdout.splitlines()[-1]
            assert "waited too long" not in result.stderr
        remaining = {row[0] for row in superuser_migrated.execute("select id from app.tasks")}
        assert remaining == {held}
    result = _purge(db_url(superuser_migrated))  # the app let go: the next run takes it
    assert result.returncode == 0 and "purged 1 " in result.stdout, result.stderr
    assert "left behind" not in result.stdout
    assert superuser_migrated.execute("select count(*) from app.tasks").fetchone() == (0,)


def test_a_purge_records_no_actor_while_the_apps_own_hard_delete_records_the_user(superuser_migrated):
    ann = new_user(superuser_migrated)
    purged = _binned(superuser_migrated, ann, 40)
    deleted_by_ann = new_task(superuser_migrated, ann, "deleted by ann herself")
    superuser_migrated.commit()
    assert _purge(db_url(superuser_migrated)).returncode == 0
    superuser_migrated.autocommit = True
    with (
        login_role(superuser_migrated, superuser_migrated.info.dbname) as url,
        psycopg.connect(url) as app,
        app.transaction(),
    ):
        app.execute("select set_config('app.user_id', %s, true)", [str(ann)])
        # The app may set the switch the retention job uses; for the app's login role it means nothing.
        app.execute("select set_config('tododb.retention_job', 'on', true)")
        app.execute("delete from app.tasks where id = %s", [deleted_by_ann])
    events = dict(
        superuser_migrated.execute(
            "select task_id, actor_id from app.task_events where kind = 'hard_deleted'"
        ).fetchall()
    )
    assert events == {purged: None, deleted_by_ann: ann}


def test_the_purge_cutoff_still_holds_with_skip_locked(superuser_migrated):
    """The boundary of the batch query: a task in the bin for less than the age stays."""
    ann = new_user(superuser_migrated)
    _binned(superuser_migrated, ann, 31)
    recent = _binned(superuser_migrated, ann, 29)
    superuser_migrated.commit()
    assert _purge(db_url(superuser_migrated)).returncode == 0
    assert {row[0] for row in superuser_migrated.execute("select id from app.tasks")} == {recent}
