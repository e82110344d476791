"""`make backup` / `make restore`: a seeded database survives the round trip
row for row, with its policies, grants and migration records; a non-empty
target is refused unless forced, and a forced restore that fails loses nothing."""

from __future__ import annotations

import os

import psycopg
import pytest

from tests.support import (
    MIGRATIONS_DIR, PARAMS, acting_as, assert_one_line_error, catalog_snapshot, db_url, rows_checksum, run_cli,
)
from tooling import drift, generate
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
def seeded(postgresql):
    url = db_url(postgresql)
    seed(url, echo=lambda *_: None)
    generate.load(url, users=20, tasks=2_000, seed=3)
    return postgresql


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
        # Row-level security still isolates: a user sees their own tasks, and no one else's.
        user_id, own = copy.execute(
            "select user_id, count(*) from app.tasks group by user_id order by count(*) desc limit 1"
        ).fetchone()
        with acting_as(copy, "todo_app", user_id):
            seen = copy.execute("select count(*), count(*) filter (where user_id <> %s) from app.tasks",
                                [user_id]).fetchone()
        assert seen == (own, 0) and own < before["tasks"][0]
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
    line = assert_one_line_error(run_cli("restore", str(damaged), "--force", env={"DATABASE_URL": PARAMS.url(target_name)}))
    assert "rolled back" in line and "nothing changed" in line
    with psycopg.connect(PARAMS.url(target_name)) as copy:
        assert _fingerprint(copy) == _fingerprint(seeded)


def test_bad_files_and_targets_end_in_one_line(postgresql, tmp_path):
    env = {"DATABASE_URL": db_url(postgresql)}
    not_an_archive = tmp_path / "notes.txt"
    not_an_archive.write_text("select 1;\n")
    assert "not a pg_dump custom-format archive" in assert_one_line_error(
        run_cli("restore", str(not_an_archive), "--into", "tododb_never_created", env=env))
    assert "does not exist" in assert_one_line_error(run_cli("restore", str(tmp_path / "missing.dump"), env=env))

    archive = tmp_path / "never.dump"
    line = assert_one_line_error(run_cli("backup", "--file", str(archive), env={"DATABASE_URL": PARAMS.url("no_such_db")}))
    assert "no backup written" in line
    assert list(tmp_path.glob("never.dump*")) == []
    created = postgresql.execute("select count(*) from pg_database where datname = 'tododb_never_created'")
    assert created.fetchone() == (0,)
