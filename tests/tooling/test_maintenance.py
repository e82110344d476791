"""`tooling maintain purge|archive`: retention in bounded batches, safe to kill
and re-run; the archive keeps the same row-level security as the tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import psycopg
import pytest

from tests.support import (
    ROOT,
    acting_as,
    assert_one_line_error,
    db_url,
    new_tag,
    new_task,
    new_user,
    refused,
    rows_checksum,
    run_cli,
)
from tooling import maintain

DAY = timedelta(days=1)
TASK_COLUMNS = (
    "id, user_id, title, description, status, priority, due_at, completed_at, estimated_hours, "
    "deleted_at, created_at, updated_at"
)


def _completed(conn, user_id, days_ago: float, title: str = "done", seconds: int = 0):
    """A task completed ``days_ago`` days (plus ``seconds``) ago, created a week before that."""
    return conn.execute(
        "insert into app.tasks (user_id, title, status, created_at, completed_at) "
        "values (%s, %s, 'completed', now() - make_interval(days => %s + 7), "
        "now() - make_interval(days => %s, secs => -%s)) returning id",
        [user_id, title, days_ago, days_ago, seconds],
    ).fetchone()[0]


def _binned(conn, user_id, days_ago: float):
    task = new_task(conn, user_id, created_at=conn.execute("select now() - interval '400 days'").fetchone()[0])
    conn.execute("update app.tasks set deleted_at = now() - make_interval(days => %s) where id = %s", [days_ago, task])
    return task


def _ids(conn, table: str) -> set:
    return {row[0] for row in conn.execute(f"select id from app.{table}")}


# --- purge ---------------------------------------------------------------------


def test_purge_hard_deletes_only_what_has_been_in_the_bin_longer_than_the_cutoff(superuser_migrated):
    ann = new_user(superuser_migrated)
    old = [_binned(superuser_migrated, ann, 31) for _ in range(3)]
    recent = _binned(superuser_migrated, ann, 29)  # the boundary that must stay
    live = new_task(superuser_migrated, ann)
    tag = new_tag(superuser_migrated, ann)
    superuser_migrated.execute(
        "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [ann, old[0], tag]
    )
    superuser_migrated.commit()

    result = run_cli(
        "maintain",
        "purge",
        "--older-than",
        "30d",
        "--batch-size",
        "2",
        env={"DATABASE_URL": db_url(superuser_migrated)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("purged 3 tasks deleted before ")
    assert _ids(superuser_migrated, "tasks") == {recent, live}
    assert superuser_migrated.execute("select count(*) from app.task_tags").fetchone() == (0,)  # links go with the task
    events = superuser_migrated.execute(
        "select task_id, actor_id from app.task_events where kind = 'hard_deleted' order by id"
    ).fetchall()
    assert sorted(events) == sorted((task, None) for task in old)  # history records it, acting for nobody


# --- archive -------------------------------------------------------------------


def test_archive_moves_old_completed_tasks_with_their_links_and_nothing_else(superuser_migrated):
    ann, bob = new_user(superuser_migrated), new_user(superuser_migrated)
    linked = _completed(superuser_migrated, ann, 366)
    old = {
        linked,
        _completed(superuser_migrated, ann, 366, seconds=1),
        _completed(superuser_migrated, bob, 366, seconds=2),
    }
    young = _completed(superuser_migrated, ann, 364)  # the boundary that must stay
    binned_old = _completed(superuser_migrated, ann, 400)
    superuser_migrated.execute(
        "update app.tasks set deleted_at = now() where id = %s", [binned_old]
    )  # purge's, not archive's
    open_task = new_task(
        superuser_migrated,
        ann,
        created_at=superuser_migrated.execute("select now() - interval '2 years'").fetchone()[0],
    )
    tag = new_tag(superuser_migrated, ann)
    superuser_migrated.execute(
        "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [ann, linked, tag]
    )
    before = {row[0]: row for row in superuser_migrated.execute(f"select {TASK_COLUMNS} from app.tasks")}
    events_before = superuser_migrated.execute("select count(*) from app.task_events").fetchone()[0]
    superuser_migrated.commit()

    outcome = maintain.run(db_url(superuser_migrated), "archive", 365 * DAY, batch_size=2, echo=lambda *_: None)
    assert (outcome.tasks, outcome.batches) == (3, 2)
    assert _ids(superuser_migrated, "tasks") == {young, binned_old, open_task}
    archived = {row[0]: row for row in superuser_migrated.execute(f"select {TASK_COLUMNS} from app.tasks_archive")}
    assert archived == {task: before[task] for task in old}  # every column as it was
    assert superuser_migrated.execute("select user_id, task_id, tag_id from app.task_tags_archive").fetchall() == [
        (ann, linked, tag)
    ]
    # Archiving is not a deletion: history records nothing for it.
    assert superuser_migrated.execute("select count(*) from app.task_events").fetchone()[0] == events_before


def test_archive_killed_mid_way_and_run_again_loses_nothing_and_moves_nothing_twice(superuser_migrated):
    ann, bob = new_user(superuser_migrated), new_user(superuser_migrated)
    tag = new_tag(superuser_migrated, ann)
    # 600 old completed tasks in a known order (oldest first), a tag link on every tenth.
    old = [_completed(superuser_migrated, ann if i % 3 else bob, 400, seconds=i) for i in range(600)]
    for task in old[::10]:
        if superuser_migrated.execute("select user_id from app.tasks where id = %s", [task]).fetchone()[0] == ann:
            superuser_migrated.execute(
                "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [ann, task, tag]
            )
    kept = [_completed(superuser_migrated, ann, 100) for _ in range(5)]
    held_tag = new_tag(superuser_migrated, ann, "held")
    superuser_migrated.execute(
        "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [ann, old[170], held_tag]
    )
    snapshot = rows_checksum(superuser_migrated, f"select {TASK_COLUMNS} from app.tasks where id = any(%s)", [old])
    links = superuser_migrated.execute("select count(*) from app.task_tags").fetchone()[0]
    superuser_migrated.commit()

    # Another session holds the tag that batch 4 (of 50 each) moves a link of: the archive's foreign key
    # check must share-lock it, so the job stops there, waiting. (A lock on a task itself no longer stops
    # it: batches skip locked tasks since 0028.)
    url = db_url(superuser_migrated)
    with psycopg.connect(url) as app, psycopg.connect(url, autocommit=True) as watcher:
        app.execute("select 1 from app.tags where id = %s for update", [held_tag])
        job = subprocess.Popen(
            [sys.executable, "-m", "tooling", "maintain", "archive", "--older-than", "365d", "--batch-size", "50"],
            cwd=ROOT,
            env={**os.environ, "DATABASE_URL": url},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while (
            time.monotonic() < deadline
            and not watcher.execute(
                "select count(*) from pg_stat_activity where application_name = 'tododb maintain' "
                "and wait_event_type = 'Lock'"
            ).fetchone()[0]
        ):
            time.sleep(0.05)
        assert job.poll() is None, job.communicate()
        job.send_signal(signal.SIGKILL)
        job.wait()
        app.rollback()

    counts = lambda: superuser_migrated.execute(  # noqa: E731
        "select (select count(*) from app.tasks), (select count(*) from app.tasks_archive)"
    ).fetchone()
    tasks, archived = counts()
    assert archived == 150 and tasks == 600 + 5 - 150  # three whole batches kept, the fourth rolled back

    again = run_cli("maintain", "archive", "--older-than", "365d", "--batch-size", "50", env={"DATABASE_URL": url})
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines()[-1].startswith("archived 450 tasks")
    assert counts() == (5, 600)
    assert _ids(superuser_migrated, "tasks_archive") == set(old) and _ids(superuser_migrated, "tasks") == set(kept)
    moved = rows_checksum(superuser_migrated, f"select {TASK_COLUMNS} from app.tasks_archive")
    assert moved == snapshot
    assert superuser_migrated.execute("select count(*) from app.task_tags_archive").fetchone()[0] == links > 0
    assert superuser_migrated.execute("select count(*) from app.task_tags").fetchone() == (0,)


# --- who may run it, and bad input --------------------------------------------------


def test_maintenance_needs_a_role_that_bypasses_row_level_security(superuser_migrated):
    url = db_url(superuser_migrated) + "&options=-c%20role%3Dtodo_app"
    line = assert_one_line_error(run_cli("maintain", "purge", "--older-than", "30d", env={"DATABASE_URL": url}))
    assert "bypasses row-level security" in line and "todo_app" in line


@pytest.mark.parametrize("age", ["0d", "30", "thirty days", "-3d", "3y"])
def test_a_malformed_age_is_refused_in_one_line(superuser_migrated, age):
    line = assert_one_line_error(
        run_cli("maintain", "archive", "--older-than", age, env={"DATABASE_URL": db_url(superuser_migrated)})
    )
    assert "--older-than" in line


def test_ages_are_read_as_hours_days_and_weeks():
    assert [maintain.parse_age(a) for a in ("12h", "30d", "2w")] == [timedelta(hours=12), 30 * DAY, 14 * DAY]


# --- the archive's row-level security --------------------------------------------------


def _archived_world(conn):
    ann, bob = new_user(conn), new_user(conn)
    for user in (ann, bob):
        task = _completed(conn, user, 400)
        tag = new_tag(conn, user)
        conn.execute("insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [user, task, tag])
    conn.commit()
    maintain.run(db_url(conn), "archive", 365 * DAY, echo=lambda *_: None)
    return ann, bob


def _archive_breaches(conn, ann, bob) -> list[str]:
    breaches = []
    with acting_as(conn, "todo_app", ann):
        for table in ("tasks_archive", "task_tags_archive"):
            owners = {row[0] for row in conn.execute(f"select user_id from app.{table}")}
            if owners != {ann}:
                breaches.append(f"ann sees {table} rows of {owners}")
    return breaches


def test_a_user_reads_only_their_own_archive_and_no_one_writes_it(superuser_migrated):
    ann, bob = _archived_world(superuser_migrated)
    # As the owner: bob's archived rows exist, so hiding them is the policy's doing.
    for table in ("tasks_archive", "task_tags_archive"):
        assert superuser_migrated.execute(f"select count(*) from app.{table} where user_id = %s", [bob]).fetchone() == (
            1,
        )
    assert _archive_breaches(superuser_migrated, ann, bob) == []
    with acting_as(superuser_migrated, "todo_readonly", bob) as conn:
        assert {r[0] for r in conn.execute("select user_id from app.tasks_archive")} == {bob}
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for statement in (
            "update app.tasks_archive set title = 'x'",
            "delete from app.tasks_archive",
            "insert into app.tasks_archive (id) values (gen_random_uuid())",
            "delete from app.task_tags_archive",
        ):
            with refused(conn, "42501"):
                conn.execute(statement)


def test_the_archive_isolation_check_fails_when_the_policies_are_using_true(superuser_migrated):
    ann, bob = _archived_world(superuser_migrated)
    with superuser_migrated.transaction(force_rollback=True):
        superuser_migrated.execute("alter policy tasks_archive_select_member on app.tasks_archive using (true)")
        superuser_migrated.execute("alter policy task_tags_archive_select_own on app.task_tags_archive using (true)")
        assert len(_archive_breaches(superuser_migrated, ann, bob)) == 2


def test_a_shared_projects_archived_tasks_stay_visible_to_its_members_and_no_one_else(superuser_migrated):
    ann, bob, carol = new_user(superuser_migrated), new_user(superuser_migrated), new_user(superuser_migrated)
    project = superuser_migrated.execute(
        "insert into app.projects (owner_id, name) values (%s, 'Household') returning id", [ann]
    ).fetchone()[0]
    superuser_migrated.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, 'viewer')", [project, bob]
    )
    task = _completed(superuser_migrated, ann, 400)
    superuser_migrated.execute("update app.tasks set project_id = %s where id = %s", [project, task])
    superuser_migrated.commit()
    maintain.run(db_url(superuser_migrated), "archive", 365 * DAY, echo=lambda *_: None)
    # As the owner: the archived row exists, in the shared project.
    assert superuser_migrated.execute("select project_id from app.tasks_archive where id = %s", [task]).fetchone() == (
        project,
    )
    for user, sees in ((ann, {task}), (bob, {task}), (carol, set())):
        with acting_as(superuser_migrated, "todo_app", user) as conn:
            assert _ids(conn, "tasks_archive") == sees


def test_purge_deletes_a_binned_task_whose_creator_has_deleted_their_account(superuser_migrated):
    """user_id is NULL then (the task stays in its project); the batch must still delete it, or purge would
    count it again in every batch and never end."""
    ann, dave = new_user(superuser_migrated), new_user(superuser_migrated)
    project = superuser_migrated.execute(
        "insert into app.projects (owner_id, name) values (%s, 'Household') returning id", [ann]
    ).fetchone()[0]
    superuser_migrated.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, 'editor')", [project, dave]
    )
    task = _binned(superuser_migrated, dave, 40)
    superuser_migrated.execute("update app.tasks set project_id = %s where id = %s", [project, task])
    kept = _binned(superuser_migrated, ann, 1)  # the boundary: in the bin for less than the cutoff
    superuser_migrated.execute("delete from app.users where id = %s", [dave])
    assert superuser_migrated.execute("select user_id from app.tasks where id = %s", [task]).fetchone() == (None,)
    superuser_migrated.commit()
    outcome = maintain.run(db_url(superuser_migrated), "purge", 30 * DAY, batch_size=5, echo=lambda *_: None)
    assert (outcome.tasks, outcome.batches) == (1, 1)
    assert kept in _ids(superuser_migrated, "tasks") and task not in _ids(superuser_migrated, "tasks")


def test_the_archive_keeps_every_members_links_and_a_leavers_work(superuser_migrated):
    """A shared task goes into the archive with every member's tag on it, and stays there for the project when
    its creator deletes their account (user_id NULL), as it would have stayed among the live tasks."""
    ann, dave = new_user(superuser_migrated), new_user(superuser_migrated)
    project = superuser_migrated.execute(
        "insert into app.projects (owner_id, name) values (%s, 'Household') returning id", [ann]
    ).fetchone()[0]
    superuser_migrated.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, 'editor')", [project, dave]
    )
    task = _completed(superuser_migrated, dave, 400)
    superuser_migrated.execute("update app.tasks set project_id = %s where id = %s", [project, task])
    for user in (ann, dave):  # both tag dave's task, each with a tag of their own
        superuser_migrated.execute(
            "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)",
            [user, task, new_tag(superuser_migrated, user)],
        )
    superuser_migrated.commit()
    maintain.run(db_url(superuser_migrated), "archive", 365 * DAY, echo=lambda *_: None)
    assert superuser_migrated.execute(
        "select count(*) from app.task_tags_archive where task_id = %s", [task]
    ).fetchone() == (2,)
    superuser_migrated.execute("delete from app.users where id = %s", [dave])
    superuser_migrated.commit()
    assert superuser_migrated.execute(
        "select user_id, project_id from app.tasks_archive where id = %s", [task]
    ).fetchone() == (
        None,
        project,
    )
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        assert _ids(conn, "tasks_archive") == {task}
        assert conn.execute("select count(*) from app.task_tags_archive").fetchone() == (1,)  # her own link only
