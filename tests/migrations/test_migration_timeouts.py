"""Every migration sets a lock_timeout, so on a busy database it gives up
quickly instead of queueing behind traffic (and making traffic queue behind it)."""

from __future__ import annotations

import re
import shutil
import time

import psycopg

from tests.support import MIGRATIONS_DIR, PARAMS, assert_one_line_error, db_url, run_cli, write_migration


def test_every_migration_and_rollback_sets_a_lock_timeout():
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        assert re.search(r"^set (local )?lock_timeout = '\d+s';$", path.read_text(), re.MULTILINE), path.name


def test_a_migration_gives_up_when_its_table_is_locked_and_succeeds_once_free(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    last = sorted(p.stem for p in folder.glob("*.sql") if not p.stem.endswith(".rollback"))[-1]
    write_migration(
        folder,
        "9999_add_tasks_probe",
        f"-- Add a probe column.\n-- depends: {last}\nset local lock_timeout = '1s';\n"
        "alter table app.tasks add column probe integer;\n",
        "-- Undo.\nset local lock_timeout = '1s';\nalter table app.tasks drop column probe;\n",
    )
    env = {"DATABASE_URL": db_url(empty_db)}
    assert run_cli("--migrations", str(MIGRATIONS_DIR), "migrate", env=env).returncode == 0

    with psycopg.connect(PARAMS.url(empty_db.info.dbname)) as holder:
        holder.execute("lock table app.tasks in access share mode")  # a long-running reader, say
        started = time.monotonic()
        line = assert_one_line_error(run_cli("--migrations", str(folder), "migrate", env=env))
        assert "55P03" in line and "9999_add_tasks_probe" in line, line  # lock_not_available
        assert time.monotonic() - started < 15
        holder.rollback()
    result = run_cli("--migrations", str(folder), "migrate", env=env)
    assert result.returncode == 0, result.stderr
