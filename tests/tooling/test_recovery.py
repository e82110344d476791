"""Point-in-time recovery, end to end on a private embedded server with WAL archiving on (one setting:
TODODB_WAL_ARCHIVE): a base backup, writes, the noted time, damage (a user deleted with everything of theirs,
a table dropped) and a write after it; `recover --to` the noted time brings back every row and none of what came
later, in a new data folder, while the live server stays as it is."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import psycopg
import pytest

from tests.support import assert_one_line_error, run_cli
from tooling.server import EmbeddedServer

BCRYPT = "$2b$12$" + "R9h/cIPz0gi.URNNX3kh2O" + "PST9/PgBkqquzi.Ss7KIUgO2t0jWMUW"


@pytest.fixture(scope="module")
def archived(tmp_path_factory):
    """A fresh embedded server, migrated, archiving its WAL; stopped (with any recovered copy) at the end."""
    root = tmp_path_factory.mktemp("pitr")
    env = {"TODODB_DATA_DIR": str(root / "pgdata"), "TODODB_WAL_ARCHIVE": str(root / "archive")}
    migrated = run_cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    started: list[str] = [env["TODODB_DATA_DIR"]]
    yield root, env, started
    for folder in started:
        run_cli("stop", env={"TODODB_DATA_DIR": folder})


def _connect(data_dir, database: str = "tododb") -> psycopg.Connection:
    return psycopg.connect(EmbeddedServer(socket_dir=data_dir, port=5432).url(database), autocommit=True)


def _add_user(conn: psycopg.Connection, email: str, tasks: int) -> None:
    user = conn.execute(
        "insert into app.users (email, password_hash) values (%s, %s) returning id", [email, BCRYPT]
    ).fetchone()[0]
    conn.execute(
        "insert into app.tasks (user_id, title) select %s, 'task ' || n from generate_series(1, %s) as n",
        [user, tasks],
    )


def _state(conn: psycopg.Connection) -> dict:
    users = dict(
        conn.execute(
            "select u.email::text, count(t.id) from app.users as u left join app.tasks as t on t.user_id = u.id "
            "group by u.email order by u.email"
        ).fetchall()
    )
    tags = conn.execute("select to_regclass('app.task_tags_archive') is not null").fetchone()[0]
    return {"users": users, "task_tags_archive": tags}


def test_the_server_archives_its_wal_once_the_setting_is_there(archived):
    root, env, _ = archived
    with _connect(root / "pgdata", "postgres") as conn:
        assert conn.execute("show archive_mode").fetchone()[0] == "on"
        segment = conn.execute("select pg_walfile_name(pg_switch_wal())").fetchone()[0]
        for _ in range(100):
            if (root / "archive" / "wal" / segment).is_file():
                break
            time.sleep(0.1)
    assert (root / "archive" / "wal" / segment).is_file()


def test_recover_to_a_noted_time_brings_back_every_row_and_none_of_the_later_ones(archived):
    root, env, started = archived
    early = run_cli("recover", "--to", datetime.now().astimezone().isoformat(), env=env)
    assert "no base backup finished before" in assert_one_line_error(early)  # none yet: told, nothing made

    backup = run_cli("basebackup", env=env)
    assert backup.returncode == 0, backup.stderr
    with _connect(root / "pgdata") as live:
        _add_user(live, "ann@example.com", 3)
        _add_user(live, "bob@example.com", 2)
        noted = live.execute("select clock_timestamp()").fetchone()[0]
        before = _state(live)
        time.sleep(0.2)
        # The damage, after the noted time: a user deleted (their tasks go with them), a table dropped; and an
        # ordinary write, which recovery to the noted time must leave out too.
        live.execute("delete from app.users where email = 'ann@example.com'")
        live.execute("drop table app.task_tags_archive")
        _add_user(live, "late@example.com", 1)
        damaged = _state(live)
    assert before == {"users": {"ann@example.com": 3, "bob@example.com": 2}, "task_tags_archive": True}
    assert damaged == {"users": {"bob@example.com": 2, "late@example.com": 1}, "task_tags_archive": False}

    into = root / "recovered"
    recovered = run_cli("recover", "--to", noted.isoformat(), "--into", str(into), env=env)
    assert recovered.returncode == 0, recovered.stderr
    started.append(str(into))
    assert str(into) in recovered.stdout
    with _connect(into) as copy:
        assert _state(copy) == before  # every row back, the table too; nothing written after the noted time
        assert copy.execute("select pg_is_in_recovery()").fetchone()[0] is False  # promoted: writable
    with _connect(root / "pgdata") as live:
        assert _state(live) == damaged  # the live server is left as it was

    again = run_cli("recover", "--to", noted.isoformat(), "--into", str(into), env=env)
    assert "exists already" in assert_one_line_error(again)
    too_early = run_cli("recover", "--to", (noted - timedelta(days=1)).isoformat(), env=env)
    assert "no base backup finished before" in assert_one_line_error(too_early)


def test_recover_refuses_a_time_without_a_zone_and_a_server_without_an_archive(archived, tmp_path):
    root, env, _ = archived
    naive = run_cli("recover", "--to", "2026-12-02 12:00:00", env=env)
    assert "no time zone" in assert_one_line_error(naive)
    garbled = run_cli("recover", "--to", "yesterday", env=env)
    assert "not a timestamp" in assert_one_line_error(garbled)
    future = run_cli("recover", "--to", (datetime.now().astimezone() + timedelta(hours=1)).isoformat(), env=env)
    assert "in the future" in assert_one_line_error(future)
    without = {"TODODB_DATA_DIR": env["TODODB_DATA_DIR"], "TODODB_WAL_ARCHIVE": ""}
    assert "TODODB_WAL_ARCHIVE" in assert_one_line_error(run_cli("basebackup", env=without))
    in_the_way = tmp_path / "a-file"
    in_the_way.write_text("not a folder\n")
    blocked = run_cli("status", env={**env, "TODODB_WAL_ARCHIVE": str(in_the_way)})
    assert "cannot make the archive's folders" in assert_one_line_error(blocked)
    hosted = {**env, "DATABASE_URL": "postgresql://owner@db.example.com/tododb"}
    assert "provider" in assert_one_line_error(run_cli("basebackup", env=hosted))


def test_make_top_says_when_archiving_fails(archived):
    """Last in this module: it breaks the archive on purpose. A file already in the archive under the name of the
    next segment (another cluster's, say) is never overwritten, so that segment's archiving fails."""
    root, env, _ = archived
    healthy = run_cli("top", env=env)
    assert healthy.returncode == 0 and "WAL archiving: on," in healthy.stdout, healthy.stdout
    with _connect(root / "pgdata") as live:
        live.execute("create table public.filler as select 1 as n")
        segment = live.execute("select pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        (root / "archive" / "wal" / segment).write_text("not this cluster's\n")
        live.execute("select pg_switch_wal()")
        for _ in range(100):
            if live.execute("select failed_count > 0 from pg_stat_archiver").fetchone()[0]:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the archiver never failed")
    failing = run_cli("top", env=env)
    line = next(line for line in failing.stdout.splitlines() if "WAL archiving" in line)
    assert line.startswith("warn") and f"segment {segment}" in line, failing.stdout
