"""The data migration of shared projects, proven as on a live database.

0030-0039 expand, 0040 moves every existing task and its history into its creator's inbox in batches (one
transaction each, `-- transactional: false`), 0041-0044 contract. Started from a database at the previous
release (0029) filled as years of use would have left it (tests/previous_release.py), `migrate` (the CLI,
in a subprocess, as a deploy runs it) is killed half-way through the backfill; the state in between is
consistent and the app keeps working; a second `migrate` finishes the job, and nothing the app can see has
changed. Once as the server's superuser, once as an ordinary owner (CREATEDB CREATEROLE, no superuser: a
hosted server), for whom the backfill runs under forced row-level security through 0038's `_backfill`
policies. The contract steps take no lock that stops the app, and a backfill that stops says so truly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from tests import owners
from tests.logins import login_role, reachable_url
from tests.previous_release import PREVIOUS_RELEASE, Spread, fill, user_ids
from tests.support import (
    MIGRATIONS_DIR,
    PARAMS,
    acting_as,
    assert_one_line_error,
    db_url,
    rows_checksum,
    run_cli,
    write_migration,
)
from tododb.pool import act_as
from tooling import migrate, migration_lock
from tooling.config import ROOT

BACKFILL = "0040_backfill_projects"
EXPAND_DONE = "0039_create_project_indexes"
CHECKS_ADDED = "0041_add_project_id_not_null_checks"
VALIDATED = "0042_validate_project_keys"
NOT_NULL = "0043_require_project_ids"


@dataclass
class Database:
    """A database at the previous release, filled, and who migrates it."""

    admin: psycopg.Connection  # the server's superuser, autocommit, on this database: to watch and check
    url: str  # the migrating role's URL: the superuser, or the ordinary owner
    spread: Spread

    @property
    def dbname(self) -> str:
        return self.admin.info.dbname


def _at_previous_release(admin: psycopg.Connection, url: str, spread: Spread) -> Database:
    admin.autocommit = True
    migrate.apply_pending(url, MIGRATIONS_DIR, upto=PREVIOUS_RELEASE, echo=lambda *_: None)
    fill(admin, spread)
    return Database(admin, url, spread)


@contextmanager
def _ordinary_owner_database() -> Iterator[tuple[psycopg.Connection, str]]:
    """A database of its own, owned by a new ordinary owner; yields a superuser connection on it and the
    owner's URL. Dropped afterwards, with the owner."""
    name, password = f"tododb_backfill_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    dbname = f"{name}_db"
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as server:
        owners.ensure_owner(server, name, password)
        owners.grant_admin_on_existing_roles(server, name)  # 16+: the roles exist, made by the superuser
        server.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(dbname), sql.Identifier(name)))
        try:
            with psycopg.connect(PARAMS.url(dbname), autocommit=True) as admin:
                yield admin, reachable_url(dbname, name, password)
        finally:
            server.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", [dbname])
            server.execute(sql.SQL("drop database {}").format(sql.Identifier(dbname)))
            owners.drop_owner(server, name)


# The superuser's run is the full-size one; the ordinary owner's is smaller (the same code under forced
# row-level security; what size changes, batches and locks, is shown on the big one). The batch size gives
# both about a hundred batches.
SIZES = {
    "superuser": (Spread(200_000), 2_000),
    "ordinary owner": (Spread(20_000, heavy_users=2, heavy_tasks=2_000), 200),
}


@pytest.fixture(params=list(SIZES))
def previous_release(request) -> Iterator[tuple[Database, int]]:
    spread, batch_size = SIZES[request.param]
    if request.param == "superuser":
        empty = request.getfixturevalue("empty_db")
        empty.autocommit = True
        yield _at_previous_release(empty, db_url(empty), spread), batch_size
        return
    with _ordinary_owner_database() as (admin, url):
        yield _at_previous_release(admin, url, spread), batch_size


def _start_migrate(url: str, batch_size: int) -> subprocess.Popen:
    """`migrate` as a deploy runs it; PGOPTIONS reaches the migration's session, so its batches are small."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | {
        "DATABASE_URL": url,
        "PGOPTIONS": f"-c tododb.backfill_batch_size={batch_size}",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tooling", "migrate"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _moved(admin: psycopg.Connection) -> int:
    return admin.execute("select count(*) from app.tasks where project_id is not null").fetchone()[0]


def _has_project(admin: psycopg.Connection, task: uuid.UUID) -> bool:
    """Whether ``task`` is in a project yet (False before 0036 adds the column)."""
    if admin.execute(
        "select count(*) from pg_attribute where attrelid = 'app.tasks'::regclass and attname = 'project_id'"
    ).fetchone() == (0,):
        return False
    return admin.execute("select project_id is not null from app.tasks where id = %s", [task]).fetchone()[0]


def _wait_until(condition, proc: subprocess.Popen, what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"migrate ended before {what}: {proc.communicate()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


def _migration_sessions(admin: psycopg.Connection) -> list[int]:
    return [
        pid
        for (pid,) in admin.execute(
            "select pid from pg_stat_activity where datname = current_database() and application_name = any(%s)",
            [[migrate.APPLICATION_NAME, migration_lock.LOCK_APPLICATION_NAME]],
        ).fetchall()
    ]


def _applied(admin: psycopg.Connection) -> set[str]:
    return {m for (m,) in admin.execute("select migration_id from _yoyo_migration").fetchall()}


def _counts(admin: psycopg.Connection) -> dict[str, int]:
    return {
        table: admin.execute(f"select count(*) from app.{table}").fetchone()[0]
        for table in ("users", "tags", "tasks", "task_tags", "task_events")
    }


def _view(app: psycopg.Connection, user: str) -> tuple[list, list, list]:
    """What ``user`` sees through the app: their tasks, their history, their tags' links (ids only)."""
    with acting_as(app, "todo_app", user):
        return (
            app.execute("select id from app.tasks order by id").fetchall(),
            app.execute("select id from app.task_events order by id").fetchall(),
            app.execute("select task_id, tag_id from app.task_tags order by 1, 2").fetchall(),
        )


def _everyone_sees_all_their_tasks(app: psycopg.Connection, expected: dict) -> dict:
    """Per user, through todo_app with that user's identity: how many of the tasks they created they see,
    and how many of those have no project yet. (The explicit `user_id =` lets each count read one user's
    index range; the policies still decide what it sees.) One transaction with the identity set before
    each statement (the policies read it per statement), pipelined: thousands of users in a second or two."""
    seen = {}
    with app.transaction(force_rollback=True):
        act_as(app, "todo_app", None)
        with app.pipeline():
            for user in expected:
                app.execute("select set_config('app.user_id', %s, true)", [str(user)])
                seen[user] = app.execute(
                    "select count(*), count(*) filter (where project_id is null) from app.tasks where user_id = %s",
                    [user],
                )
    return {user: cursor.fetchone() for user, cursor in seen.items()}


def test_a_backfill_killed_half_way_leaves_a_working_app_and_the_next_run_completes_it(previous_release):
    db, batch_size = previous_release
    admin = db.admin
    heavy, light = user_ids(admin, db.spread)
    before = _counts(admin)
    updated_at_before = rows_checksum(admin, "select id, updated_at from app.tasks")
    max_event_before = admin.execute("select max(id) from app.task_events").fetchone()[0]

    with login_role(admin, db.dbname) as app_url, psycopg.connect(app_url) as app:
        views_before = {user: _view(app, user) for user in [heavy, *light]}

        # The backfill moves tasks in id order, one committed batch at a time: once the task at a given rank
        # has a project, so has every task before it. Watching one row costs the server nothing.
        first, third = (
            admin.execute("select id from app.tasks order by id offset %s limit 1", [rank]).fetchone()[0]
            for rank in (0, db.spread.tasks * 3 // 10)
        )
        proc = _start_migrate(db.url, batch_size)
        try:
            _wait_until(lambda: _has_project(admin, first), proc, "the backfill's first batch")
            # The app edits one of its own tasks that the backfill has not reached: the next in its order,
            # so likely in the batch in flight, whose row locks it waits behind (at most one batch). A short
            # lock_timeout turns any longer wait into a failure.
            task, creator, updated_at = admin.execute(
                "select id, user_id, updated_at from app.tasks where project_id is null and status = 'pending'"
                " order by id limit 1"
            ).fetchone()
            with app.transaction():
                act_as(app, "todo_app", creator)
                app.execute("set local lock_timeout = '2s'")
                started = time.monotonic()
                edited = app.execute("update app.tasks set status = 'in_progress' where id = %s", [task]).rowcount
                app_waited = time.monotonic() - started
            assert edited == 1 and app_waited < 2

            _wait_until(lambda: _has_project(admin, third), proc, "30 % of the tasks to move")
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=10)
            # The server would notice the vanished client by itself (client_connection_check_interval, 2 s;
            # test_migration_lock shows it), but an orphan may commit many more batches meanwhile, all of
            # them on the small data set: it is terminated at once, and both sessions are waited for.
            admin.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = current_database() and application_name = %s",
                [migrate.APPLICATION_NAME],
            )
            deadline = time.monotonic() + 20
            while _migration_sessions(admin) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert _migration_sessions(admin) == []
        finally:
            proc.kill()
            proc.communicate()

        # In between: 0040 is not recorded, some tasks moved and not all...
        assert EXPAND_DONE in _applied(admin) and BACKFILL not in _applied(admin)
        moved = _moved(admin)
        assert 0 < moved < db.spread.tasks, moved
        # ...every user has an inbox already (the first step), and every task moved is in its creator's.
        assert admin.execute(
            "select count(*) from app.users as u where not exists"
            " (select from app.projects as p where p.id = u.id and p.owner_id = u.id and p.is_inbox)"
        ).fetchone() == (0,)
        assert admin.execute(
            "select count(*) from app.tasks as t left join app.projects as p on p.id = t.project_id"
            " where t.project_id is not null"
            "   and not coalesce(t.project_id = t.user_id and p.is_inbox and p.owner_id = t.user_id, false)"
        ).fetchone() == (0,)
        # The app keeps working: every user sees every task of theirs, moved or not.
        expected = {
            user: (total, waiting)
            for user, total, waiting in admin.execute(
                "select user_id, count(*), count(*) filter (where project_id is null) from app.tasks group by 1"
            )
        }
        assert _everyone_sees_all_their_tasks(app, expected) == expected
        assert sum(waiting for _, waiting in expected.values()) == db.spread.tasks - moved

        # The next run continues where the killed one stopped and finishes.
        result = run_cli(
            "migrate", env={"DATABASE_URL": db.url, "PGOPTIONS": f"-c tododb.backfill_batch_size={batch_size}"}
        )
        assert result.returncode == 0, result.stderr
        assert f"applied  {BACKFILL}" in result.stdout
        assert {m.id for m in migrate.load_migrations(MIGRATIONS_DIR)} <= _applied(admin)

        # Every task and every history row is in its creator's inbox...
        assert admin.execute("select count(*) from app.tasks where project_id is distinct from user_id").fetchone() == (
            0,
        )
        assert admin.execute(
            "select count(*) from app.task_events where project_id is distinct from user_id"
        ).fetchone() == (0,)
        # ...and every user has exactly one, with exactly one member, its owner (and no other project).
        assert (
            admin.execute(
                "select count(*), count(*) filter (where p.is_inbox and p.owner_id = p.id),"
                " count(distinct p.owner_id) from app.projects as p"
            ).fetchone()
            == (before["users"],) * 3
        )
        assert (
            admin.execute(
                "select count(*), count(*) filter (where m.project_id = m.user_id and m.role = 'owner')"
                " from app.project_members as m"
            ).fetchone()
            == (before["users"],) * 2
        )

        # Nothing was lost or added, but the one event of the app's edit...
        assert _counts(admin) == before | {"task_events": before["task_events"] + 1}
        assert admin.execute(
            "select task_id, actor_id, kind, old_status, new_status, project_id from app.task_events where id > %s",
            [max_event_before],
        ).fetchall() == [(task, creator, "status_changed", "pending", "in_progress", creator)]
        # ...and the backfill left updated_at alone: equal for every task but the one the app edited,
        # whose updated_at moved forward.
        assert (
            rows_checksum(
                admin,
                "select id, updated_at from app.tasks where id <> %(task)s"
                " union all select %(task)s::uuid, %(updated_at)s::timestamptz",
                {"task": task, "updated_at": updated_at},
            )
            == updated_at_before
        )
        assert admin.execute("select updated_at > %s from app.tasks where id = %s", [updated_at, task]).fetchone() == (
            True,
        )

        # The contract is in place: NOT NULL, the checks that proved it gone, the backfill's code gone.
        assert admin.execute(
            "select attrelid::regclass::text, attnotnull from pg_attribute"
            " where attrelid in ('app.tasks'::regclass, 'app.task_events'::regclass) and attname = 'project_id'"
            " order by 1"
        ).fetchall() == [("app.task_events", True), ("app.tasks", True)]
        assert (
            admin.execute(
                "select conname from pg_constraint where conname in"
                " ('tasks_project_id_not_null_check', 'task_events_project_id_not_null_check')"
            ).fetchall()
            == []
        )
        assert admin.execute(
            "select count(*) from pg_policies where schemaname = 'app' and policyname like '%\\_backfill'"
        ).fetchone() == (0,)
        assert admin.execute("select to_regprocedure('app_private.backfill_projects()')").fetchone() == (None,)

        # What the app shows users is what it showed at the previous release (the editing user aside).
        for user in [heavy, *light]:
            if user != str(creator):
                assert _view(app, user) == views_before[user], user


# --- the contract steps -------------------------------------------------------------------------------

SMALL = Spread(2_000, heavy_users=1, heavy_tasks=500)


@pytest.fixture
def small_database(empty_db) -> Database:
    empty_db.autocommit = True
    return _at_previous_release(empty_db, db_url(empty_db), SMALL)


def _relation_locks(admin: psycopg.Connection, pid: int) -> dict[tuple[str, bool], set[str]]:
    """(relation, granted) -> lock modes, of the app tables' locks that backend ``pid`` holds or waits for."""
    locks: dict[tuple[str, bool], set[str]] = {}
    for relation, mode, granted in admin.execute(
        "select c.relname, l.mode, l.granted from pg_locks as l join pg_class as c on c.oid = l.relation"
        " join pg_namespace as n on n.oid = c.relnamespace"
        " where l.pid = %s and l.locktype = 'relation' and n.nspname = 'app' and c.relkind = 'r'",
        [pid],
    ):
        locks.setdefault((relation, granted), set()).add(mode)
    return locks


def test_validating_the_project_keys_lets_the_app_read_and_write_meanwhile(small_database):
    """0042 reads whole tables to validate; it must do so under SHARE UPDATE EXCLUSIVE, which conflicts with
    no read or write. Proven without timing: a session holding that same mode on task_events (which lets
    the app write there) makes 0042 stop, half-way, on its second table; meanwhile the app reads, updates
    and inserts tasks (whose validation 0042 has done and whose lock it holds) with a 2 s lock_timeout,
    and pg_locks shows what 0042 holds: nothing stronger than SHARE UPDATE EXCLUSIVE on any table."""
    db = small_database
    migrate.apply_pending(db.url, MIGRATIONS_DIR, upto=CHECKS_ADDED, echo=lambda *_: None)
    heavy, _ = user_ids(db.admin, db.spread)
    task = db.admin.execute(
        "select id from app.tasks where user_id = %s and status = 'pending' limit 1", [heavy]
    ).fetchone()[0]
    failures: list[BaseException] = []

    def validate() -> None:
        try:
            migrate.apply_pending(db.url, MIGRATIONS_DIR, upto=VALIDATED, echo=lambda *_: None)
        except BaseException as exc:  # reported by the test's thread
            failures.append(exc)

    with (
        login_role(db.admin, db.dbname) as app_url,
        psycopg.connect(app_url) as app,
        psycopg.connect(PARAMS.url(db.dbname)) as holder,
    ):
        holder.execute("lock table app.task_events in share update exclusive mode")
        runner = threading.Thread(target=validate)
        runner.start()
        try:
            deadline = time.monotonic() + 30
            while (
                pid := db.admin.execute(
                    "select pid from pg_stat_activity where datname = current_database()"
                    " and application_name = %s and wait_event_type = 'Lock'",
                    [migrate.APPLICATION_NAME],
                ).fetchone()
            ) is None:
                assert time.monotonic() < deadline and runner.is_alive(), failures
                time.sleep(0.01)
            locks = _relation_locks(db.admin, pid[0])
            assert locks[("tasks", True)] == {"ShareUpdateExclusiveLock"}, locks
            assert locks[("task_events", False)] == {"ShareUpdateExclusiveLock"}, locks
            assert not [
                k
                for k, modes in locks.items()
                if modes - {"ShareUpdateExclusiveLock", "RowShareLock", "AccessShareLock"}
            ], locks
            # 0042 waits with its lock on tasks held: the app goes on.
            with app.transaction():
                act_as(app, "todo_app", heavy)
                app.execute("set local lock_timeout = '2s'")
                assert app.execute("select count(*) from app.tasks").fetchone()[0] > 0
                assert app.execute("update app.tasks set status = 'completed' where id = %s", [task]).rowcount == 1
                app.execute("insert into app.tasks (title) values ('written during validation')")
        finally:
            holder.rollback()  # 0042 goes on (its lock_timeout is 5 s: the hold above lasts milliseconds)
            runner.join(timeout=60)
        assert failures == []
    assert VALIDATED in _applied(db.admin)
    assert db.admin.execute(
        "select count(*) from app.tasks where title = 'written during validation' and project_id = user_id"
    ).fetchone() == (1,)


def test_not_null_is_proved_from_the_validated_checks_without_scanning(small_database, monkeypatch):
    """SET NOT NULL holds ACCESS EXCLUSIVE while it runs: it must not read the table. PostgreSQL says which
    it did at DEBUG1 (`existing constraints ... are sufficient to prove ...` when a validated check proves
    it, `verifying table ...` when it scans), messages without a SQLSTATE of their own, so their text is
    what there is to assert. The migration's session is asked for them, and they are collected."""
    db = small_database
    migrate.apply_pending(db.url, MIGRATIONS_DIR, upto=VALIDATED, echo=lambda *_: None)
    messages: list[str] = []
    connect = migration_lock.connect_migrator

    def connect_and_listen(conninfo: str, application_name: str) -> psycopg.Connection:
        conn = connect(conninfo, application_name)
        conn.add_notice_handler(lambda diag: messages.append(diag.message_primary or ""))
        conn.execute("set client_min_messages = debug1")
        return conn

    monkeypatch.setattr(migration_lock, "connect_migrator", connect_and_listen)
    migrate.apply_pending(db.url, MIGRATIONS_DIR, upto=NOT_NULL, echo=lambda *_: None)
    for column in ("tasks.project_id", "task_events.project_id"):
        assert (
            f'existing constraints on column "{column}" are sufficient to prove that it does not contain nulls'
            in messages
        ), messages
    assert not [m for m in messages if m.startswith("verifying table")], messages
    # The boundary: without the validated check, the same statement does scan, and says so.
    db.admin.execute("create table public.probe (id int)")
    messages.clear()
    with psycopg.connect(PARAMS.url(db.dbname), autocommit=True) as conn:
        conn.add_notice_handler(lambda diag: messages.append(diag.message_primary or ""))
        conn.execute("set client_min_messages = debug1")
        conn.execute("alter table public.probe alter column id set not null")
    assert 'verifying table "probe"' in messages, messages


# --- a backfill that stops says so truly --------------------------------------------------------------


def test_a_failing_non_transactional_migration_says_it_stopped_and_keeps_its_completed_steps(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    write_migration(
        folder,
        "0001_create_probe",
        "-- Probe.\ncreate table public.probe (id int);\n",
        "-- Undo.\ndrop table public.probe;\n",
    )
    # Two steps that each commit (as a backfill's batches do), then one that fails when asked to (55P03,
    # what a batch that meets a lock gets). Each step does only what is still to do, so a rerun continues.
    write_migration(
        folder,
        "0002_fill_probe",
        "-- Fill the probe in steps that commit one by one.\n-- depends: 0001_create_probe\n"
        "-- transactional: false\n"
        "insert into public.probe select 1 where not exists (select from public.probe where id = 1);\n"
        "insert into public.probe select 2 where not exists (select from public.probe where id = 2);\n"
        "do $$ begin if current_setting('tododb.test_fail', true) = 'on' then\n"
        "  raise exception 'asked to fail' using errcode = 'lock_not_available'; end if; end $$;\n",
    )
    url = db_url(empty_db)
    stopped = run_cli(
        "--migrations", str(folder), "migrate", env={"DATABASE_URL": url, "PGOPTIONS": "-c tododb.test_fail=on"}
    )
    line = assert_one_line_error(stopped)
    assert (
        "migration 0002_fill_probe stopped part-way: it runs outside a transaction, so what it committed is"
        " kept and it is not recorded; run `migrate` again to finish it: 55P03 asked to fail" in line
    ), line
    assert "rolled back" not in line and "nothing of it is kept" not in line
    # What the line says is so: the completed steps are there, the migration is not recorded.
    assert empty_db.execute("select id from public.probe order by id").fetchall() == [(1,), (2,)]
    assert empty_db.execute("select migration_id from _yoyo_migration").fetchall() == [("0001_create_probe",)]
    # The boundary: running migrate again continues it to the end.
    result = run_cli("--migrations", str(folder), "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert empty_db.execute("select id from public.probe order by id").fetchall() == [(1,), (2,)]
    assert [m for (m,) in empty_db.execute("select migration_id from _yoyo_migration order by 1")] == [
        "0001_create_probe",
        "0002_fill_probe",
    ]


def test_a_backfill_stopped_by_a_lock_says_so_in_one_line_and_the_next_run_finishes_it(small_database):
    """The real 0040 meeting a row the app holds locked: its batch waits lock_timeout (5 s) and fails; the
    batches before it stay committed, as the line says, and once the lock is gone migrate finishes."""
    db = small_database
    migrate.apply_pending(db.url, MIGRATIONS_DIR, upto=EXPAND_DONE, echo=lambda *_: None)
    env = {"DATABASE_URL": db.url, "PGOPTIONS": "-c tododb.backfill_batch_size=200"}
    with psycopg.connect(PARAMS.url(db.dbname)) as holder:
        # The backfill goes in id order: the last task is in its last batch.
        last = holder.execute("select id from app.tasks order by id desc limit 1 for update").fetchone()[0]
        line = assert_one_line_error(run_cli("migrate", env=env))
    assert (
        f"migration {BACKFILL} stopped part-way: it runs outside a transaction, so what it committed is"
        " kept and it is not recorded; run `migrate` again to finish it: 55P03 " in line
    ), line
    assert BACKFILL not in _applied(db.admin)
    moved = _moved(db.admin)
    assert db.spread.tasks - 200 <= moved < db.spread.tasks  # all but the last batch
    assert db.admin.execute("select project_id from app.tasks where id = %s", [last]).fetchone() == (None,)

    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert db.admin.execute("select count(*) from app.tasks where project_id is distinct from user_id").fetchone() == (
        0,
    )
