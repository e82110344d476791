"""Drift: `tooling status` compares the live catalog with a scratch database
migrated by the same applied migrations, and names what was changed by hand."""

from __future__ import annotations

from tests.support import MIGRATIONS_DIR, assert_one_line_error, db_url, run_cli
from tooling import drift, migrate

# Hand changes of the kinds that matter in review or in an incident, and how each is reported.
MANUAL_CHANGES = {
    "create index tasks_title_idx on app.tasks (title)": (
        "index app.tasks_title_idx on app.tasks: only in the live database"
    ),
    "alter table app.tags no force row level security": "relation app.tags: differs in forced row security",
    "grant delete on app.task_events to todo_app": "relation app.task_events: differs in privileges",
    "drop policy task_tags_delete_own on app.task_tags": (
        "policy app.task_tags.task_tags_delete_own: only in the migrations"
    ),
    "alter table app.tasks alter column description set default 'x'": (
        "column app.tasks.description: differs in default"
    ),
    (
        "create or replace function app.current_user_id() returns uuid language sql stable as $$select null::uuid$$"
    ): "function app.current_user_id(): differs in definition",
    "alter table app.users disable trigger _100_timestamps": "trigger app.users._100_timestamps: differs in enabled",
    "alter table app.tasks drop constraint tasks_title_length_check": (
        "constraint app.tasks.tasks_title_length_check: only in the migrations"
    ),
}


def test_a_freshly_migrated_database_has_no_drift(superuser_migrated):
    found = drift.check(db_url(superuser_migrated), MIGRATIONS_DIR)
    assert found.checked and found.differences == [], found


def test_a_database_that_is_behind_is_compared_with_its_applied_migrations_only(empty_db):
    url = db_url(empty_db)
    migrate.apply_pending(url, MIGRATIONS_DIR, echo=lambda *_: None, upto="0010_create_tags")
    found = drift.check(url, MIGRATIONS_DIR)
    assert found.checked and found.differences == [], found
    # Against the whole chain it would differ: the check really depends on which ones are applied.
    empty_db.execute("create table app.task_tags (id int)")
    empty_db.commit()
    assert "relation app.task_tags: only in the live database" in drift.check(url, MIGRATIONS_DIR).differences


def test_every_kind_of_manual_change_is_named(superuser_migrated):
    for statement in MANUAL_CHANGES:
        superuser_migrated.execute(statement)
    superuser_migrated.commit()
    differences = drift.check(db_url(superuser_migrated), MIGRATIONS_DIR).differences
    for statement, line in MANUAL_CHANGES.items():
        assert line in differences, (statement, differences)


def test_status_reports_drift_and_fails_in_one_line(superuser_migrated):
    env = {"DATABASE_URL": db_url(superuser_migrated)}
    clean = run_cli("status", env=env)
    assert clean.returncode == 0 and "drift: none" in clean.stdout, clean.stderr
    superuser_migrated.execute("alter table app.tags no force row level security")
    superuser_migrated.commit()
    drifted = run_cli("status", env=env)
    line = assert_one_line_error(drifted)
    assert "drifted" in line and "make it a migration" in line
    assert "  relation app.tags: differs in forced row security" in drifted.stdout.splitlines()
    # No scratch database is left behind.
    leftovers = superuser_migrated.execute("select count(*) from pg_database where datname like 'tododb\\_drift\\_%'")
    assert leftovers.fetchone() == (0,)
