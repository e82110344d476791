"""A password never appears on a client's command line (which every local user
sees in `ps`): `backup`, `restore` and `psql` give pg_dump and psql the URL
without it, and the password as PGPASSWORD in the child's environment only.

Proved end to end with an ordinary role that authenticates by password: it
owns a table under forced row-level security (so pg_dump needs its
BYPASSRLS), backs its database up and restores it into a new one, while
every process the tool spawns is recorded.
"""

from __future__ import annotations

import os
import subprocess
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.logins import reachable_url
from tests.support import PARAMS, rows_checksum
from tooling import backup, cli
from tooling.scratch import drop_database


@pytest.fixture
def dumper():
    """A LOGIN role with a password, BYPASSRLS and CREATEDB, owning a database with one RLS-forced table.

    Yields (url, password, restore target name)."""
    role, password = f"tododb_dumper_{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    source, target = f"{role}_source", f"{role}_restored"
    admin_url = PARAMS.url(PARAMS.maintenance_dbname)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login password {} bypassrls createdb").format(
                sql.Identifier(role), sql.Literal(password)
            )
        )
        admin.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(source), sql.Identifier(role)))
    try:
        url = reachable_url(source, role, password)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("create table public.notes (id int primary key, body text not null)")
            conn.execute("insert into public.notes select g, 'note ' || g from generate_series(1, 500) g")
            conn.execute("alter table public.notes enable row level security")
            conn.execute("alter table public.notes force row level security")  # the owner too: none visible
            conn.execute("create policy notes_select_none on public.notes for select using (false)")
        yield url, password, target
    finally:
        for name in (source, target, f"{target}_restoring"):
            drop_database(admin_url, name)
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


@pytest.fixture
def spawned(monkeypatch):
    """Every process backup.py starts, as (argv, env): recorded, then really started."""
    calls: list[tuple[list[str], dict[str, str] | None]] = []
    real_run, real_popen = subprocess.run, subprocess.Popen

    def run(args, *rest, **kwargs):
        calls.append((list(map(str, args)), kwargs.get("env")))
        return real_run(args, *rest, **kwargs)

    def popen(args, *rest, **kwargs):
        calls.append((list(map(str, args)), kwargs.get("env")))
        return real_popen(args, *rest, **kwargs)

    monkeypatch.setattr(subprocess, "run", run)
    monkeypatch.setattr(subprocess, "Popen", popen)
    return calls


def _tool(argv: list[str]) -> str:
    return os.path.basename(argv[0])


def test_client_invocation_moves_the_password_to_the_environment():
    conninfo, env = backup.client_invocation(
        "postgresql://someone:s3cret%3Aword@db.example.com:6432/tododb?sslmode=require"
    )
    assert "s3cret" not in conninfo
    assert psycopg.conninfo.conninfo_to_dict(conninfo) == {
        "user": "someone",
        "host": "db.example.com",
        "port": "6432",
        "dbname": "tododb",
        "sslmode": "require",
    }
    assert env["PGPASSWORD"] == "s3cret:word"
    assert "PGPASSWORD" not in os.environ or os.environ["PGPASSWORD"] != "s3cret:word"  # the child's env only
    # The boundary: without a password in the URL, nothing is added (libpq looks where it always does).
    conninfo, env = backup.client_invocation("postgresql://someone@db.example.com/tododb")
    assert env.get("PGPASSWORD") == os.environ.get("PGPASSWORD")


def test_backup_and_restore_as_a_password_role_put_no_password_on_a_command_line(dumper, spawned, tmp_path):
    url, password, target = dumper
    archive = backup.backup(url, tmp_path / "notes.dump")
    restored = backup.restore(url, archive, into=target)

    with (
        psycopg.connect(PARAMS.url(target)) as copy,
        psycopg.connect(PARAMS.url(psycopg.conninfo.conninfo_to_dict(url)["dbname"])) as original,
    ):
        query = "select * from public.notes"
        assert rows_checksum(copy, query) == rows_checksum(original, query) and rows_checksum(copy, query)[0] == 500
        assert copy.execute(
            "select relforcerowsecurity, pg_get_userbyid(relowner) from pg_class where oid = 'public.notes'::regclass"
        ).fetchone() == (True, psycopg.conninfo.conninfo_to_dict(url)["user"])
    assert psycopg.conninfo.conninfo_to_dict(restored)["dbname"] == target

    tools = [_tool(argv) for argv, _ in spawned]
    assert "pg_dump" in tools and "psql" in tools and "pg_restore" in tools, tools
    for argv, env in spawned:
        assert not any(password in arg for arg in argv), argv
        if _tool(argv) in ("pg_dump", "psql"):  # the clients that connect
            assert env is not None and env["PGPASSWORD"] == password
            assert any(f"user={psycopg.conninfo.conninfo_to_dict(url)['user']}" in arg for arg in argv), argv
    assert os.environ.get("PGPASSWORD") != password


def test_psql_gets_no_password_on_its_command_line_and_still_connects(dumper, monkeypatch):
    url, password, _ = dumper
    execs = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: execs.append((str(path), list(argv), env)))
    monkeypatch.setattr(os, "execv", lambda *args: pytest.fail("psql started with this process's environment"))
    monkeypatch.setenv("DATABASE_URL", url)
    assert cli.main(["psql", "--no-psqlrc", "--tuples-only", "--command", "select current_user"]) == 0

    [(path, argv, env)] = execs
    assert not any(password in arg for arg in argv), argv
    assert env["PGPASSWORD"] == password and os.environ.get("PGPASSWORD") != password
    # What would have been exec'd does connect, as the password role.
    ran = subprocess.run([path, *argv[1:]], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == psycopg.conninfo.conninfo_to_dict(url)["user"]
