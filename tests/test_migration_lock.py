"""Concurrent runs are serialised by an advisory lock that dies with its
holder, and a run killed mid-migration (tool or server side) leaves the
database as before that migration; the next run finishes the job."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import psycopg
import pytest

from tests.support import MIGRATIONS_DIR, PARAMS, assert_one_line_error, db_url, run_cli, write_migration
from tooling import migrate
from tooling.config import ROOT

SLOW_MIGRATION = (
    "-- Create a table, then sleep when asked to, so a run can be caught mid-migration.\n"
    "create table public.probe (id int);\n"
    "select pg_sleep(case when current_setting('tododb.test_sleep', true) = 'on' then 60 else 0 end);\n"
)


def _wait_for(condition, timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def _migration_backend(observer: psycopg.Connection, dbname: str, wait_event: str) -> int | None:
    row = observer.execute(
        "select pid from pg_stat_activity where datname = %s and application_name = %s and wait_event = %s",
        [dbname, migrate.APPLICATION_NAME, wait_event],
    ).fetchone()
    return row[0] if row else None


@pytest.fixture
def observer():
    """A separate superuser session on the maintenance database, to watch and act."""
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as conn:
        yield conn


def _start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    full_env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"} | env
    return subprocess.Popen(
        [sys.executable, "-m", "tooling", *args],
        cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def test_second_run_gives_up_in_one_line_when_the_lock_stays_held(empty_db):
    empty_db.autocommit = True
    empty_db.execute("select pg_advisory_lock(%s)", [migrate.MIGRATION_LOCK_KEY])
    result = run_cli("migrate", env={"DATABASE_URL": db_url(empty_db), "TODODB_LOCK_WAIT": "1"})
    assert result.returncode == 1
    assert "waiting up to 1 s" in result.stderr
    assert "still holds the lock" in result.stderr.strip().splitlines()[-1]
    assert "Traceback" not in result.stderr
    assert empty_db.execute("select to_regclass('_yoyo_migration')").fetchone() == (None,)


def test_second_run_waits_for_the_lock_then_completes(empty_db, observer):
    empty_db.autocommit = True
    empty_db.execute("select pg_advisory_lock(%s)", [migrate.MIGRATION_LOCK_KEY])
    proc = _start_cli("migrate", env={"DATABASE_URL": db_url(empty_db), "TODODB_LOCK_WAIT": "60"})
    try:
        _wait_for(lambda: _migration_backend(observer, empty_db.info.dbname, "advisory"), what="the run to wait")
        empty_db.execute("select pg_advisory_unlock(%s)", [migrate.MIGRATION_LOCK_KEY])
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    assert "another migration run holds the lock" in err
    ids = [m.id for m in migrate.load_migrations(MIGRATIONS_DIR)]
    assert [s.migration_id for s in migrate.states(db_url(empty_db), MIGRATIONS_DIR) if s.applied_at] == ids


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
