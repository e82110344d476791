"""Every migration applies, rolls back to exactly the catalog it started from,
and applies again: up → down → up, for each file in migrations/ (new
migrations are covered without a new test)."""

from __future__ import annotations

import pytest

from tests.support import MIGRATIONS_DIR, catalog_snapshot, db_url, snapshot_diff
from tooling import migrate

MIGRATION_IDS = [m.id for m in migrate.load_migrations(MIGRATIONS_DIR)]
quiet = dict(echo=lambda *_: None)
# Migrations that move data and leave the catalog as they found it (their effect is tested in test_backfill.py).
DATA_MIGRATIONS = {"0040_backfill_projects"}


@pytest.mark.parametrize("migration_id", MIGRATION_IDS)
def test_migration_rolls_back_to_the_exact_catalog_it_started_from(empty_db, migration_id):
    url = db_url(empty_db)
    position = MIGRATION_IDS.index(migration_id)
    if position:
        migrate.apply_pending(url, MIGRATIONS_DIR, upto=MIGRATION_IDS[position - 1], **quiet)
    before = catalog_snapshot(empty_db)

    assert migrate.apply_pending(url, MIGRATIONS_DIR, upto=migration_id, **quiet) == [migration_id]
    applied = catalog_snapshot(empty_db)
    if migration_id not in DATA_MIGRATIONS:
        assert snapshot_diff(before, applied), f"{migration_id} changed nothing in the catalog"

    assert migrate.roll_back(url, MIGRATIONS_DIR, every=False, **quiet) == [migration_id]
    assert snapshot_diff(before, catalog_snapshot(empty_db)) == {}

    assert migrate.apply_pending(url, MIGRATIONS_DIR, upto=migration_id, **quiet) == [migration_id]
    assert snapshot_diff(applied, catalog_snapshot(empty_db)) == {}


def test_all_migrations_roll_back_to_an_empty_database_and_apply_again(empty_db):
    url = db_url(empty_db)
    empty = catalog_snapshot(empty_db)
    assert migrate.apply_pending(url, MIGRATIONS_DIR, **quiet) == MIGRATION_IDS
    full = catalog_snapshot(empty_db)

    assert migrate.roll_back(url, MIGRATIONS_DIR, every=True, **quiet) == MIGRATION_IDS[::-1]
    assert snapshot_diff(empty, catalog_snapshot(empty_db)) == {}

    assert migrate.apply_pending(url, MIGRATIONS_DIR, **quiet) == MIGRATION_IDS
    assert snapshot_diff(full, catalog_snapshot(empty_db)) == {}


def test_migrate_twice_applies_nothing_the_second_time(empty_db):
    url = db_url(empty_db)
    assert migrate.apply_pending(url, MIGRATIONS_DIR, **quiet) == MIGRATION_IDS
    assert migrate.apply_pending(url, MIGRATIONS_DIR, **quiet) == []
    states = migrate.states(url, MIGRATIONS_DIR)
    assert [s.migration_id for s in states] == MIGRATION_IDS
    assert all(s.applied_at is not None and s.has_file for s in states)


def test_the_migrated_template_holds_every_migration(superuser_migrated):
    applied = superuser_migrated.execute("select migration_id from _yoyo_migration order by migration_id").fetchall()
    assert [row[0] for row in applied] == MIGRATION_IDS


def test_every_migration_file_has_a_rollback_and_a_description():
    for migration in migrate.load_migrations(MIGRATIONS_DIR):
        path = MIGRATIONS_DIR / f"{migration.id}.sql"
        assert (MIGRATIONS_DIR / f"{migration.id}.rollback.sql").is_file(), migration.id
        first_line = path.read_text().splitlines()[0]
        assert first_line.startswith("-- ") and first_line.endswith("."), migration.id


def test_make_migrate_reads_the_folder_and_verifies_the_checksums_once(empty_db, monkeypatch, capsys):
    """The migrate command applies and then prints every migration's state from one reading of the folder
    and one verification, on one connection (the status it prints is the state it left)."""
    from tooling import checksums, cli, commands, migration_lock
    from tooling.config import load_settings

    every = migrate.load_migrations(MIGRATIONS_DIR)
    for m in every:
        m.load()
    # yoyo opens a connection of its own for each migration that runs outside a transaction.
    outside = sum(not m.use_transactions for m in every)
    calls = {"read": 0, "verify": 0, "connect": 0}

    def counted(name, function):
        def wrapper(*args, **kwargs):
            calls[name] += 1
            return function(*args, **kwargs)

        return wrapper

    monkeypatch.setattr(migrate, "read_migrations", counted("read", migrate.read_migrations))
    monkeypatch.setattr(checksums, "verify", counted("verify", checksums.verify))
    monkeypatch.setattr(migration_lock, "connect_migrator", counted("connect", migration_lock.connect_migrator))
    monkeypatch.setenv("DATABASE_URL", db_url(empty_db))
    settings = load_settings()

    commands.cmd_migrate(cli.build_parser().parse_args(["migrate"]), settings)
    printed = capsys.readouterr().out
    assert outside and calls == {"read": 1, "verify": 1, "connect": 2 + outside}  # + the run's and the lock's
    assert f"{len(MIGRATION_IDS)} applied, 0 pending" in printed

    calls.update(read=0, verify=0, connect=0)
    commands.cmd_migrate(cli.build_parser().parse_args(["migrate"]), settings)
    assert calls == {"read": 1, "verify": 1, "connect": 2}
    assert "nothing to apply" in capsys.readouterr().out
