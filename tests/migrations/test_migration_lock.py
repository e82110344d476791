"""Concurrent runs are serialised by a lock that dies with its holder and that
only the migrator can take (an app login's attempt is refused and delays
nothing), and a run killed mid-migration (tool or server side) leaves the
database as before that migration; the next run finishes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from tests.logins import login_role
from tests.support import (
    MIGRATIONS_DIR,
    PARAMS,
    assert_one_line_error,
    catalog_snapshot,
    db_url,
    run_cli,
    write_migration,
)
from tooling import migrate, server
from tooling.config import ROOT
from tooling.migration_lock import LOCK_APPLICATION_NAME, LOCK_TABLE, take_lock

SLOW_MIGRATION = (
    "-- Create a table, then sleep when asked to, so a run can be caught mid-migration.\n"
    "create table public.probe (id int);\n"
    "select pg_sleep(case when current_setting('tododb.test_sleep', true) = 'on' then 60 else 0 end);\n"
)
# Every mode that conflicts with the migrator's EXCLUSIVE (ACCESS SHARE, pg_dump's, does not).
CONFLICTING_MODES = (
    "row share",
    "row exclusive",
    "share update exclusive",
    "share",
    "share row exclusive",
    "exclusive",
    "access exclusive",
)


def _wait_for(condition, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _migration_backend(
    observer: psycopg.Connection, dbname: str, wait_event: str, application_name: str = migrate.APPLICATION_NAME
) -> int | None:
    row = observer.execute(
        "select pid from pg_stat_activity where datname = %s and application_name = %s and wait_event = %s",
        [dbname, application_name, wait_event],
    ).fetchone()
    return row[0] if row else None


def _lock_sessions(observer: psycopg.Connection, dbname: str) -> int:
    return observer.execute(
        "select count(*) from pg_stat_activity where datname = %s and application_name = %s",
        [dbname, LOCK_APPLICATION_NAME],
    ).fetchone()[0]


@pytest.fixture
def observer():
    """A separate superuser session on the maintenance database, to watch and act."""
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as conn:
        yield conn


def _start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.Popen(
        [sys.executable, "-m", "tooling", *args],
        cwd=ROOT,
        env=full_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("command", ["migrate", "rollback"])
def test_second_run_gives_up_in_one_line_when_the_lock_stays_held(empty_db, command):
    holder = take_lock(db_url(empty_db), 0)  # another run, holding the lock the way every run does
    holder_pid = holder.info.backend_pid
    try:
        result = run_cli(command, env={"DATABASE_URL": db_url(empty_db), "TODODB_LOCK_WAIT": "1"})
    finally:
        holder.close()
    assert result.returncode == 1
    assert f"(server pid {holder_pid}); waiting up to 1 s" in result.stderr
    assert "still holds the lock" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert empty_db.execute("select to_regclass('_yoyo_migration')").fetchone() == (None,)


def test_second_run_waits_for_the_lock_then_completes(empty_db, observer):
    holder = take_lock(db_url(empty_db), 0)
    proc = _start_cli("migrate", env={"DATABASE_URL": db_url(empty_db), "TODODB_LOCK_WAIT": "60"})
    try:
        _wait_for(
            lambda: _migration_backend(observer, empty_db.info.dbname, "relation", LOCK_APPLICATION_NAME),
            what="the run to wait",
        )
        holder.close()  # the holder's session ends: the server releases its lock
        out, err = proc.communicate(timeout=60)
    finally:
        holder.close()
        proc.kill()
    assert proc.returncode == 0, err
    assert "another migration run holds the lock" in err
    ids = [m.id for m in migrate.load_migrations(MIGRATIONS_DIR)]
    assert [s.migration_id for s in migrate.states(db_url(empty_db), MIGRATIONS_DIR) if s.applied_at] == ids


def test_status_takes_no_lock_and_creates_nothing(empty_db):
    holder = take_lock(db_url(empty_db), 0)
    try:
        result = run_cli("status", env={"DATABASE_URL": db_url(empty_db), "TODODB_LOCK_WAIT": "1"})
    finally:
        holder.close()
    assert result.returncode == 0, result.stderr
    assert "waiting" not in result.stderr
    assert empty_db.execute("select to_regclass('_yoyo_migration')").fetchone() == (None,)


def test_an_app_login_cannot_take_the_lock_and_does_not_delay_a_run(superuser_migrated):
    superuser_migrated.autocommit = True
    url, dbname = db_url(superuser_migrated), superuser_migrated.info.dbname
    with login_role(superuser_migrated, dbname) as app_url, psycopg.connect(app_url) as app:
        app.execute("set lock_timeout = '2s'")
        for mode in CONFLICTING_MODES + ("access share",):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(f"lock table {LOCK_TABLE} in {mode} mode")
            app.rollback()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(f"select * from {LOCK_TABLE} for update")
        app.rollback()
        # The refusal comes before the lock: a failed attempt, its transaction still open, holds nothing...
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            app.execute(f"lock table {LOCK_TABLE} in access exclusive mode")
        held = superuser_migrated.execute(
            "select count(*) from pg_locks where pid = %s and relation = to_regclass(%s)",
            [app.info.backend_pid, LOCK_TABLE],
        ).fetchone()
        assert held == (0,)
        # ...so the migrator takes the lock at once, and a whole run does not wait.
        take_lock(url, 0).close()
        started = time.monotonic()
        result = run_cli("migrate", env={"DATABASE_URL": url, "TODODB_LOCK_WAIT": "5"})
        assert result.returncode == 0, result.stderr
        assert "waiting" not in result.stderr and time.monotonic() - started < 5
        # And while a run holds it, the app's attempt is refused at once, not queued behind it.
        holder = take_lock(url, 0)
        try:
            app.rollback()
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                app.execute(f"lock table {LOCK_TABLE} in exclusive mode")
        finally:
            holder.close()


def test_the_lock_table_is_empty_granted_to_no_one_and_not_part_of_the_schema(superuser_migrated):
    owner, acl, columns = superuser_migrated.execute(
        "select pg_get_userbyid(relowner), relacl::text, relnatts from pg_class where oid = to_regclass(%s)",
        [LOCK_TABLE],
    ).fetchone()
    migrator = superuser_migrated.execute(
        "select pg_get_userbyid(relowner) from pg_class where oid = '_yoyo_migration'::regclass"
    )
    assert owner == migrator.fetchone()[0] and columns == 0  # created by the run, like yoyo's own tables
    assert acl is None  # never granted: only its owner (and superusers) may lock it
    assert LOCK_TABLE not in repr(catalog_snapshot(superuser_migrated))  # so drift and the snapshot ignore it
    assert superuser_migrated.execute(f"select count(*) from {LOCK_TABLE}").fetchone() == (0,)


def test_default_privileges_do_not_reach_the_lock_table(empty_db):
    empty_db.autocommit = True
    empty_db.execute("alter default privileges grant all on tables to public, todo_app")
    take_lock(db_url(empty_db), 0).close()  # a first run creates the table
    granted = empty_db.execute(
        "select count(*) from pg_class c, aclexplode(c.relacl) a where c.oid = to_regclass(%s)"
        " and a.grantee <> c.relowner",
        [LOCK_TABLE],
    ).fetchone()
    assert granted == (0,)
    # The boundary: the default privileges do apply to any other table.
    empty_db.execute("create table public.other ()")
    assert empty_db.execute("select has_table_privilege('todo_app', 'public.other', 'update')").fetchone() == (True,)


def test_a_lock_table_an_app_login_owns_is_refused_in_one_line(empty_db):
    empty_db.autocommit = True
    with login_role(empty_db, empty_db.info.dbname) as app_url:  # a login in todo_app planted the table first
        app = psycopg.conninfo.conninfo_to_dict(app_url)["user"]
        empty_db.execute(f"create table {LOCK_TABLE} ()")
        empty_db.execute(f'alter table {LOCK_TABLE} owner to "{app}"')
        line = assert_one_line_error(run_cli("migrate", env={"DATABASE_URL": db_url(empty_db)}))
        assert f"role {app} (an app role or a member of one) owns or may write" in line
        empty_db.execute(f"drop table {LOCK_TABLE}")
    result = run_cli("migrate", env={"DATABASE_URL": db_url(empty_db)})  # the next run creates its own
    assert result.returncode == 0, result.stderr


def test_a_privilege_on_the_lock_table_granted_to_an_app_role_is_refused_until_revoked(superuser_migrated):
    superuser_migrated.autocommit = True
    env = {"DATABASE_URL": db_url(superuser_migrated)}
    superuser_migrated.execute(f"grant update on {LOCK_TABLE} to todo_app")
    line = assert_one_line_error(run_cli("migrate", env=env))
    assert "role todo_app (an app role or a member of one) owns or may write" in line
    superuser_migrated.execute(f"grant select on {LOCK_TABLE} to todo_app")  # ACCESS SHARE only: harmless
    superuser_migrated.execute(f"revoke update on {LOCK_TABLE} from todo_app")
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stderr


def test_a_lock_table_another_migrator_owns_is_used(empty_db):
    empty_db.autocommit = True
    with login_role(empty_db, empty_db.info.dbname, in_role=None) as other_url:  # say, the owner of the copied db
        other = psycopg.conninfo.conninfo_to_dict(other_url)["user"]
        empty_db.execute(f"create table {LOCK_TABLE} ()")
        empty_db.execute(f'alter table {LOCK_TABLE} owner to "{other}"')
        result = run_cli("migrate", env={"DATABASE_URL": db_url(empty_db)})
        assert result.returncode == 0, result.stderr
        empty_db.execute(f"drop table {LOCK_TABLE}")


def test_a_first_run_racing_another_to_create_the_lock_table_goes_on(empty_db, observer):
    racer = psycopg.connect(db_url(empty_db))  # another first run: created the table, not yet committed
    racer.execute(f"create table {LOCK_TABLE} ()")
    proc = _start_cli("migrate", env={"DATABASE_URL": db_url(empty_db)})
    try:
        _wait_for(
            lambda: _migration_backend(observer, empty_db.info.dbname, "transactionid", LOCK_APPLICATION_NAME),
            what="the run to queue behind the create",
        )
        racer.commit()
        out, err = proc.communicate(timeout=60)
    finally:
        racer.close()
        proc.kill()
    assert proc.returncode == 0, err
    assert "applied  0001_create_schemas" in out


def test_two_first_ever_runs_at_once_both_succeed_and_apply_each_migration_once(empty_db):
    env = {"DATABASE_URL": db_url(empty_db)}
    procs = [_start_cli("migrate", env=env) for _ in range(2)]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0], results
    ids = [m.id for m in migrate.load_migrations(MIGRATIONS_DIR)]
    applied_lines = [line for out, _ in results for line in out.splitlines() if line.startswith("applied  ")]
    assert sorted(line.split()[1] for line in applied_lines) == sorted(ids)


def test_a_held_lock_does_not_block_pg_dump(superuser_migrated, tmp_path):
    holder = take_lock(db_url(superuser_migrated), 0)
    try:
        dumped = subprocess.run(
            [
                str(server.binaries_dir() / "pg_dump"),
                "--format=custom",
                "--lock-wait-timeout=5s",
                f"--file={tmp_path / 'copy.dump'}",
                db_url(superuser_migrated),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        holder.close()
    assert dumped.returncode == 0, dumped.stderr


@pytest.fixture
def slow_migrations(tmp_path):
    folder = tmp_path / "migrations"
    write_migration(folder, "0001_create_probe", SLOW_MIGRATION, "-- Undo.\ndrop table public.probe;\n")
    return folder


def _assert_nothing_applied(conn: psycopg.Connection) -> None:
    assert conn.execute("select to_regclass('public.probe')").fetchone() == (None,)
    recorded = conn.execute("select to_regclass('_yoyo_migration')").fetchone()[0]
    if recorded is not None:
        assert conn.execute("select count(*) from _yoyo_migration").fetchone() == (0,)


def test_tool_killed_mid_migration_leaves_nothing_and_the_next_run_completes(empty_db, observer, slow_migrations):
    url = db_url(empty_db)
    env = {"DATABASE_URL": url, "PGOPTIONS": "-c tododb.test_sleep=on"}
    proc = _start_cli("--migrations", str(slow_migrations), "migrate", env=env)
    try:
        _wait_for(lambda: _migration_backend(observer, empty_db.info.dbname, "PgSleep"), what="the migration to run")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        proc.kill()
    # The server notices the vanished client mid-statement and ends the session,
    # rolling back the migration and releasing the lock.
    _wait_for(
        lambda: _migration_backend(observer, empty_db.info.dbname, "PgSleep") is None,
        timeout=20,
        what="the server to end the orphaned session",
    )
    _wait_for(
        lambda: _lock_sessions(observer, empty_db.info.dbname) == 0,
        timeout=20,
        what="the server to end the orphaned lock session",
    )  # its lock goes with it
    _assert_nothing_applied(empty_db)

    result = run_cli("--migrations", str(slow_migrations), "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert empty_db.execute("select migration_id from _yoyo_migration").fetchall() == [("0001_create_probe",)]
    assert empty_db.execute("select to_regclass('public.probe')::text").fetchone() == ("probe",)


def test_server_ending_the_session_mid_migration_leaves_nothing_and_the_next_run_completes(
    empty_db, observer, slow_migrations
):
    url = db_url(empty_db)
    env = {"DATABASE_URL": url, "PGOPTIONS": "-c tododb.test_sleep=on"}
    proc = _start_cli("--migrations", str(slow_migrations), "migrate", env=env)
    try:
        pid = None

        def running() -> bool:
            nonlocal pid
            pid = _migration_backend(observer, empty_db.info.dbname, "PgSleep")
            return pid is not None

        _wait_for(running, what="the migration to run")
        observer.execute("select pg_terminate_backend(%s)", [pid])
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert_one_line_error(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    _assert_nothing_applied(empty_db)

    result = run_cli("--migrations", str(slow_migrations), "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert empty_db.execute("select to_regclass('public.probe')::text").fetchone() == ("probe",)


KILL_LOCK_MIGRATION = (
    "-- Create a table, and end the run's lock session first when asked to.\n"
    "select pg_terminate_backend(pid, 10000) from pg_stat_activity\n"
    " where datname = current_database() and application_name = 'tododb-migrate-lock'\n"
    "   and current_setting('tododb.test_kill_lock', true) = 'on';\n"
    "create table public.probe (id int);\n"
)


def test_a_run_whose_lock_session_ends_stops_before_committing(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    write_migration(folder, "0001_create_probe", KILL_LOCK_MIGRATION, "-- Undo.\ndrop table public.probe;\n")
    url = db_url(empty_db)
    lost = run_cli(
        "--migrations", str(folder), "migrate", env={"DATABASE_URL": url, "PGOPTIONS": "-c tododb.test_kill_lock=on"}
    )
    line = assert_one_line_error(lost)
    assert "the migration lock was lost" in line and "stopped before committing 0001_create_probe" in line
    _assert_nothing_applied(empty_db)

    result = run_cli("--migrations", str(folder), "migrate", env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert empty_db.execute("select to_regclass('public.probe')::text").fetchone() == ("probe",)
