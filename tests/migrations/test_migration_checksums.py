"""Applied migrations are immutable: editing one is refused, in one line that
names the file, until the edit is accepted explicitly."""

from __future__ import annotations

from tests.support import assert_one_line_error, db_url, run_cli, write_migration


def _folder(tmp_path):
    folder = tmp_path / "migrations"
    write_migration(
        folder,
        "0001_create_first",
        "-- First.\ncreate table public.first (id int);\n",
        "-- Undo.\ndrop table public.first;\n",
    )
    write_migration(
        folder,
        "0002_create_second",
        "-- Second.\n-- depends: 0001_create_first\ncreate table public.second (id int);\n",
        "-- Undo.\ndrop table public.second;\n",
    )
    return folder


def test_an_edited_applied_migration_is_refused_until_accepted(empty_db, tmp_path):
    folder = _folder(tmp_path)
    env = {"DATABASE_URL": db_url(empty_db)}
    cli = lambda *args: run_cli("--migrations", str(folder), *args, env=env)  # noqa: E731
    assert cli("migrate").returncode == 0
    recorded = empty_db.execute("select migration_id from _tododb_migration_checksums order by 1").fetchall()
    assert recorded == [("0001_create_first",), ("0002_create_second",)]

    # Editing a pending migration is fine; editing an applied one is not (its rollback counts too).
    (folder / "0001_create_first.rollback.sql").write_text("-- Undo, differently.\ndrop table public.first;\n")
    for command in (["migrate"], ["status"], ["rollback"]):
        line = assert_one_line_error(cli(*command))
        assert "0001_create_first.sql" in line and "--accept-edited" in line, command

    accepted = cli("migrate", "--accept-edited", "0001_create_first")
    assert accepted.returncode == 0, accepted.stderr
    assert cli("status").returncode == 0
    assert "no applied migration" in assert_one_line_error(cli("migrate", "--accept-edited", "0009_nothing"))


def test_rollback_forgets_the_checksum_and_reapplying_records_the_new_file(empty_db, tmp_path):
    folder = _folder(tmp_path)
    env = {"DATABASE_URL": db_url(empty_db)}
    cli = lambda *args: run_cli("--migrations", str(folder), *args, env=env)  # noqa: E731
    assert cli("migrate").returncode == 0
    assert cli("rollback").returncode == 0  # 0002 is no longer applied: its file may change freely
    (folder / "0002_create_second.sql").write_text(
        "-- Second, improved.\n-- depends: 0001_create_first\ncreate table public.second (id bigint);\n"
    )
    assert cli("migrate").returncode == 0
    assert cli("status").returncode == 0


def test_databases_migrated_before_checksums_existed_are_adopted(empty_db, tmp_path):
    folder = _folder(tmp_path)
    env = {"DATABASE_URL": db_url(empty_db)}
    assert run_cli("--migrations", str(folder), "migrate", env=env).returncode == 0
    empty_db.execute("drop table _tododb_migration_checksums")
    empty_db.commit()
    assert run_cli("--migrations", str(folder), "status", env=env).returncode == 0  # nothing to compare with yet
    assert run_cli("--migrations", str(folder), "migrate", env=env).returncode == 0  # records what is there
    assert empty_db.execute("select count(*) from _tododb_migration_checksums").fetchone() == (2,)
