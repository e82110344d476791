"""`make migration NAME=verb_object [KIND=concurrent-index]` writes the next pair with the preamble the
conventions ask for (migrations/README.md); filled in, the pair lints, applies, rolls back and applies
again through the real runner; left unfilled, `make lint` refuses it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import MIGRATIONS_DIR, assert_one_line_error, db_url, run_cli
from tooling import lint, migrate, scaffold

LATEST_NUMBER, LATEST_ID = scaffold.latest(MIGRATIONS_DIR)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A copy of the real migrations folder, to add to."""
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy, ignore=shutil.ignore_patterns("*.md"))
    return copy


def _make(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return run_cli("--migrations", str(folder), "migration", *args)


def _lint(*paths: Path) -> None:
    """sqlfluff and squawk with the repository's settings, as `make lint` runs them."""
    transactional, non_transactional = lint.split_migrations(paths[0].parent)
    commands = lint.sql_commands(
        [str(p) for p in paths], [p for p in transactional if p in paths], [p for p in non_transactional if p in paths]
    )
    for command in commands:
        ran = subprocess.run(command, capture_output=True, text=True)
        assert ran.returncode == 0, (command[0], ran.stdout, ran.stderr)


def test_a_plain_pair_has_the_next_number_the_latest_dependency_and_the_timeouts(folder, empty_db):
    made = _make(folder, "add_task_color")
    assert made.returncode == 0, made.stderr
    migration_id = f"{LATEST_NUMBER + 1:04d}_add_task_color"
    forward, rollback = folder / f"{migration_id}.sql", folder / f"{migration_id}.rollback.sql"
    assert f"wrote migrations/{migration_id}.sql" in made.stdout
    text = forward.read_text().splitlines()
    assert text[0].startswith("-- TODO") and text[1] == f"-- depends: {LATEST_ID}"
    assert "set local lock_timeout = '5s';" in text and "set local statement_timeout = '30s';" in text
    assert "set local lock_timeout = '5s';" in rollback.read_text()

    # Unfilled, `make lint` refuses it, naming the lines; the landed migrations have none.
    unfilled = lint.unfilled_scaffold_lines(folder)
    assert unfilled and all(line.startswith(f"migrations/{migration_id}.") for line in unfilled), unfilled
    assert lint.unfilled_scaffold_lines(MIGRATIONS_DIR) == []

    forward.write_text(
        forward.read_text().replace(text[0], "-- Add the tasks' color.")
        + "\nalter table app.tasks add column color text;\n"
    )
    rollback.write_text(
        rollback.read_text().replace(
            rollback.read_text().splitlines()[0],
            "-- Drop the tasks' color.\n-- squawk-ignore-file ban-drop-column\n-- (The undo of adding it.)",
        )
        + "\nalter table app.tasks drop column color;\n"
    )
    assert lint.unfilled_scaffold_lines(folder) == []
    _lint(forward, rollback)

    url = db_url(empty_db)
    migrate.apply_pending(url, folder, echo=lambda *_: None)
    column = "select 1 from pg_attribute where attrelid = 'app.tasks'::regclass and attname = 'color'"
    assert empty_db.execute(column).fetchone()
    states = {s.migration_id: s for s in migrate.states(url, folder)}
    assert states[migration_id].description == "Add the tasks' color."
    migrate.roll_back(url, folder, False)
    assert empty_db.execute(column).fetchone() is None
    assert migrate.apply_pending(url, folder, echo=lambda *_: None)


def test_a_concurrent_index_pair_builds_the_index_outside_a_transaction(folder, empty_db):
    made = _make(folder, "create_tasks_title_index", "--kind", "concurrent-index")
    assert made.returncode == 0, made.stderr
    migration_id = f"{LATEST_NUMBER + 1:04d}_create_tasks_title_index"
    forward, rollback = folder / f"{migration_id}.sql", folder / f"{migration_id}.rollback.sql"
    assert "-- transactional: false" in forward.read_text().splitlines()[:3]
    assert forward in lint.split_migrations(folder)[1] and rollback in lint.split_migrations(folder)[1]

    def fill(path: Path) -> None:
        lines = [line for line in path.read_text().splitlines() if not line.startswith("-- TODO: name the index")]
        lines[0] = "-- Create the index tasks are looked up by title with, without blocking writes."
        text = "\n".join(lines) + "\n"
        text = text.replace("todo_columns_idx", "tasks_title_idx").replace("app.todo (todo)", "app.tasks (title)")
        path.write_text(text.replace("'TODO: the query it serves and what it reads.'", "'Serves lookups by title.'"))

    fill(forward)
    fill(rollback)
    assert lint.unfilled_scaffold_lines(folder) == []
    _lint(forward, rollback)

    url = db_url(empty_db)
    migrate.apply_pending(url, folder, echo=lambda *_: None)
    valid = "select indisvalid from pg_index where indexrelid = to_regclass('app.tasks_title_idx')"
    assert empty_db.execute(valid).fetchone() == (True,)
    migrate.roll_back(url, folder, False)
    assert empty_db.execute(valid).fetchone() is None
    assert migrate.apply_pending(url, folder, echo=lambda *_: None)


@pytest.mark.parametrize("name", ["AddColor", "color", "add-task-color", "add__", "_add_color", ""])
def test_a_name_that_is_not_verb_object_is_refused_in_one_line(folder, name):
    before = sorted(p.name for p in folder.iterdir())
    line = assert_one_line_error(_make(folder, name))
    assert "NAME=" in line
    assert sorted(p.name for p in folder.iterdir()) == before  # nothing written


def test_a_taken_name_is_refused_and_a_new_one_with_a_digit_is_not(folder):
    taken = LATEST_ID.split("_", 1)[1]
    assert "exists already" in assert_one_line_error(_make(folder, taken))
    made = _make(folder, "add_task_color2")
    assert made.returncode == 0, made.stderr
    assert (folder / f"{LATEST_NUMBER + 1:04d}_add_task_color2.sql").exists()


def test_an_unknown_kind_is_refused_by_the_command_line(folder):
    ran = _make(folder, "add_task_color", "--kind", "view")
    assert ran.returncode == 2 and ran.stderr.count("\n") == 1, ran.stderr
