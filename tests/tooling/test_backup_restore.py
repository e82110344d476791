"""`make backup` / `make restore`: a seeded database survives the round trip
row for row, with its policies, grants and migration records; a non-empty
target is refused unless forced, and a forced restore that fails loses nothing."""

from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from tests import owners
from tests.logins import reachable_url
from tests.support import (
    MIGRATIONS_DIR,
    PARAMS,
    acting_as,
    assert_one_line_error,
    catalog_snapshot,
    db_url,
    rows_checksum,
    run_cli,
)
from tooling import backup, backup_verify, drift, generate
from tooling.errors import ToolError
from tooling.scratch import drop_database
from tooling.seed import seed

TABLES = ("users", "tasks", "tags", "task_tags", "task_events")


def _fingerprint(conn: psycopg.Connection) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table (read as a superuser: RLS does not filter)."""
    return {table: rows_checksum(conn, f"select * from app.{table}") for table in TABLES}


@pytest.fixture
def target_name():
    name = f"tododb_restored_{os.getpid()}"
    yield name
    for leftover in (name, f"{name}_restoring"):
        drop_database(PARAMS.url(PARAMS.maintenance_dbname), leftover)


@pytest.fixture
def seeded(superuser_migrated):
    url = db_url(superuser_migrated)
    seed(url, echo=lambda *_: None)
    generate.load(url, users=20, tasks=2_000, seed=3)
    return superuser_migrated


def test_round_trip_keeps_every_row_policy_grant_and_migration_record(seeded, target_name, tmp_path):
    env = {"DATABASE_URL": db_url(seeded)}
    archive = tmp_path / "copy.dump"
    backed_up = run_cli("backup", "--file", str(archive), env=env)
    assert backed_up.returncode == 0, backed_up.stderr
    restored = run_cli("restore", str(archive), "--into", target_name, env=env)
    assert restored.returncode == 0, restored.stderr

    before = _fingerprint(seeded)
    assert before["tasks"][0] > 2_000 and before["task_events"][0] > before["tasks"][0]
    with psycopg.connect(PARAMS.url(target_name)) as copy:
        assert _fingerprint(copy) == before
        assert catalog_snapshot(copy) == catalog_snapshot(seeded)  # RLS forced, policies, grants, owners, comments
        # Row-level security still isolates: a user sees the tasks of their projects, and no one else's.
        user_id = copy.execute(
            "select user_id from app.tasks group by user_id order by count(*) desc limit 1"
        ).fetchone()[0]
        theirs = copy.execute(
            "select count(*) from app.tasks as t join app.project_members as m on m.project_id = t.project_id"
            " where m.user_id = %s",
            [user_id],
        ).fetchone()[0]
        with acting_as(copy, "todo_app", user_id):
            seen = copy.execute("select count(*) from app.tasks").fetchone()[0]
        assert seen == theirs and 0 < seen < before["tasks"][0]
        # The history's identity goes on from where it was, and the app can write.
        last_event = copy.execute("select max(id) from app.task_events").fetchone()[0]
        with acting_as(copy, "todo_app", user_id):
            copy.execute("insert into app.tasks (title) values ('after restore')")
            assert copy.execute("select max(id) from app.task_events").fetchone()[0] > last_event
    assert drift.check(PARAMS.url(target_name), MIGRATIONS_DIR).differences == []


def test_a_non_empty_database_is_refused_unless_forced(seeded, target_name, tmp_path):
    env = {"DATABASE_URL": db_url(seeded)}
    archive = tmp_path / "copy.dump"
    assert run_cli("backup", "--file", str(archive), env=env).returncode == 0
    before = _fingerprint(seeded)

    line = assert_one_line_error(run_cli("restore", str(archive), env=env))  # into the source itself
    assert "is not empty" in line and "FORCE=1" in line
    assert _fingerprint(seeded) == before

    assert run_cli("restore", str(archive), "--into", target_name, env=env).returncode == 0
    target_env = {"DATABASE_URL": PARAMS.url(target_name)}
    with psycopg.connect(PARAMS.url(target_name), autocommit=True) as copy:
        copy.execute("delete from app.tags")  # a change the forced restore must undo
    forced = run_cli("restore", str(archive), "--force", env=target_env)
    assert forced.returncode == 0, forced.stderr
    with psycopg.connect(PARAMS.url(target_name)) as copy:
        assert _fingerprint(copy) == before
    assert drift.check(PARAMS.url(target_name), MIGRATIONS_DIR).differences == []


def test_a_forced_restore_that_fails_leaves_the_database_as_it_was(seeded, target_name, tmp_path):
    env = {"DATABASE_URL": db_url(seeded)}
    archive = tmp_path / "copy.dump"
    assert run_cli("backup", "--file", str(archive), env=env).returncode == 0
    assert run_cli("restore", str(archive), "--into", target_name, env=env).returncode == 0
    damaged = tmp_path / "damaged.dump"
    data = archive.read_bytes()
    damaged.write_bytes(data[: len(data) * 2 // 3])  # the table of contents survives, the data does not
    line = assert_one_line_error(
        run_cli("restore", str(damaged), "--force", env={"DATABASE_URL": PARAMS.url(target_name)})
    )
    assert "rolled back" in line and "nothing changed" in line
    with psycopg.connect(PARAMS.url(target_name)) as copy:
        assert _fingerprint(copy) == _fingerprint(seeded)


def test_bad_files_and_targets_end_in_one_line(superuser_migrated, tmp_path):
    env = {"DATABASE_URL": db_url(superuser_migrated)}
    not_an_archive = tmp_path / "notes.txt"
    not_an_archive.write_text("select 1;\n")
    assert "not a pg_dump custom-format archive" in assert_one_line_error(
        run_cli("restore", str(not_an_archive), "--into", "tododb_never_created", env=env)
    )
    assert "does not exist" in assert_one_line_error(run_cli("restore", str(tmp_path / "missing.dump"), env=env))

    archive = tmp_path / "never.dump"
    line = assert_one_line_error(
        run_cli("backup", "--file", str(archive), env={"DATABASE_URL": PARAMS.url("no_such_db")})
    )
    assert "no backup written" in line
    assert list(tmp_path.glob("never.dump*")) == []
    created = superuser_migrated.execute("select count(*) from pg_database where datname = 'tododb_never_created'")
    assert created.fetchone() == (0,)


def test_a_restore_that_psql_abandons_early_is_a_failure_not_a_silent_success(
    superuser_migrated, target_name, tmp_path
):
    """psql stops at the first error while the script still streams (several MB of rows behind it): the
    restore must say so, in one line, and not exit 0 (a closed pipe is not "the reader left" here)."""
    superuser_migrated.execute("create type public.mood as enum ('calm')")  # dumped before every table
    superuser_migrated.execute(
        "create table public.bulk as select i, repeat('x', 200) as pad from generate_series(1, 40000) i"
    )
    superuser_migrated.commit()
    archive = tmp_path / "bulk.dump"
    assert run_cli("backup", "--file", str(archive), env={"DATABASE_URL": db_url(superuser_migrated)}).returncode == 0
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as admin:
        admin.execute(f'create database "{target_name}"')
    with psycopg.connect(PARAMS.url(target_name), autocommit=True) as target:
        target.execute("create type public.mood as enum ('clash')")  # not counted as contents: the restore starts
    line = assert_one_line_error(run_cli("restore", str(archive), env={"DATABASE_URL": PARAMS.url(target_name)}))
    assert "failed and was rolled back" in line
    with psycopg.connect(PARAMS.url(target_name)) as target:
        assert target.execute("select to_regclass('public.bulk')").fetchone() == (None,)


def test_an_ordinary_owner_with_bypassrls_backs_up_and_restores(tmp_path):
    """Hosted servers: the owner is not a superuser. The archive hands functions to todo_auth, which the owner
    may do only while it holds the role: the restore takes it for its one transaction, no longer."""
    name, password = f"tododb_backup_owner_{os.getpid()}", "backup-owner-password"
    source, copy = f"{name}_src", f"{name}_copy"
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as admin:
        owners.ensure_owner(admin, name, password)
        admin.execute(f'alter role "{name}" bypassrls')  # pg_dump refuses a backup RLS would thin out
        owners.grant_admin_on_existing_roles(admin, name)
        admin.execute(f'create database "{source}" owner "{name}"')
        try:
            url = reachable_url(source, name, password)
            assert run_cli("migrate", env={"DATABASE_URL": url}).returncode == 0
            assert run_cli("seed", env={"DATABASE_URL": url}).returncode == 0
            archive = tmp_path / "owner.dump"
            assert run_cli("backup", "--file", str(archive), env={"DATABASE_URL": url}).returncode == 0
            restored = run_cli("restore", str(archive), "--into", copy, env={"DATABASE_URL": url})
            assert restored.returncode == 0, restored.stderr
            with psycopg.connect(PARAMS.url(source)) as a, psycopg.connect(PARAMS.url(copy)) as b:
                assert _fingerprint(a) == _fingerprint(b)
                owners_of = "select proname, pg_get_userbyid(proowner) from pg_proc where proname = 'sign_up'"
                assert b.execute(owners_of).fetchall() == [("sign_up", "todo_auth")]
            holds = admin.execute("select pg_has_role(%s, 'todo_auth', 'USAGE')", [name]).fetchone()
            assert holds == (False,)  # the role was borrowed for the restore only
        finally:
            for db in (copy, source):
                admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", [db])
                admin.execute(f'drop database if exists "{db}"')
            owners.drop_owner(admin, name)


def test_a_backup_is_verified_by_restoring_it_into_a_scratch_database(seeded, tmp_path):
    url = db_url(seeded)
    result = run_cli("backup", "--file", str(tmp_path / "checked.dump"), env={"DATABASE_URL": url})
    assert result.returncode == 0, result.stderr
    assert "verified: restored into a scratch database" in result.stdout
    with psycopg.connect(url) as conn:
        expected = backup_verify.figures(conn)
    file, verified = backup.backup_and_verify(url, tmp_path / "again.dump")
    assert file.is_file() and verified.tables == len(expected) >= len(TABLES)
    assert verified.rows == sum(rows for rows, _ in expected.values()) > 2_000
    leftovers = seeded.execute("select count(*) from pg_database where datname like 'tododb_verify_%'").fetchone()
    assert leftovers == (0,)  # the scratch database is dropped


def test_writes_while_the_dump_runs_do_not_fail_the_verification(seeded, tmp_path):
    """The figures come from the snapshot pg_dump reads: what commits meanwhile is in neither."""
    url = db_url(seeded)
    user = seeded.execute("select id from app.users order by id limit 1").fetchone()[0]
    seeded.commit()
    stop = threading.Event()
    written = []

    def write() -> None:
        with psycopg.connect(url, autocommit=True) as writer:
            while not stop.is_set():
                writer.execute("insert into app.tags (user_id, name) values (%s, %s)", [user, f"during {len(written)}"])
                written.append(1)

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while not written:
            time.sleep(0.01)
        _, verified = backup.backup_and_verify(url, tmp_path / "live.dump")
    finally:
        stop.set()
        thread.join(timeout=30)
    assert verified.rows > 0 and len(written) > 1


def test_an_archive_that_does_not_restore_to_the_figures_fails_and_names_the_table(seeded, tmp_path):
    url = db_url(seeded)
    file = backup.backup(url, tmp_path / "before.dump")
    seeded.execute("delete from app.task_tags where ctid in (select ctid from app.task_tags limit 3)")
    seeded.commit()
    with psycopg.connect(url) as conn:
        changed = backup_verify.figures(conn)
    with pytest.raises(ToolError) as refused:
        backup_verify.verify(url, file, changed, backup._restore_into_scratch)
    assert "does not restore to the data it was taken from" in str(refused.value)
    assert "app.task_tags:" in str(refused.value) and "app.tasks:" not in str(refused.value)
    leftovers = seeded.execute("select count(*) from pg_database where datname like 'tododb_verify_%'").fetchone()
    assert leftovers == (0,)  # the scratch database is dropped when the check fails too
    with psycopg.connect(url) as conn:  # the boundary: the same figures verify
        file_now = backup.backup(url, tmp_path / "after.dump")
        assert backup_verify.verify(url, file_now, backup_verify.figures(conn), backup._restore_into_scratch).rows


def test_verification_can_be_skipped(seeded, tmp_path):
    result = run_cli(
        "backup", "--file", str(tmp_path / "quick.dump"), "--no-verify", env={"DATABASE_URL": db_url(seeded)}
    )
    assert result.returncode == 0 and "verified" not in result.stdout and (tmp_path / "quick.dump").is_file()
