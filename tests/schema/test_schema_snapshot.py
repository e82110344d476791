"""schema/schema.sql and schema/README.md are what the migrations produce:
regenerated from nothing on the embedded server, they must be byte-identical
to the committed files. The data dictionary is read from the catalog."""

from __future__ import annotations

import re

import pytest

from tooling import dictionary, snapshot
from tooling.config import load_settings


@pytest.fixture(scope="module")
def generated():
    return snapshot.generate(load_settings())


def test_committed_schema_files_are_current(generated):
    stale = [path.name for path, text in generated.items() if text != path.read_text()]
    if stale:
        pytest.fail(
            f"schema/{' and schema/'.join(stale)} stale: run `make schema` and commit the result", pytrace=False
        )
    sql = generated[snapshot.SNAPSHOT]
    assert "CREATE POLICY tasks_select_member ON app.tasks" in sql and "\\restrict" not in sql


def test_the_dictionary_describes_every_table_column_and_index(superuser_migrated, generated):
    readme = generated[snapshot.DICTIONARY]
    tables = superuser_migrated.execute(
        "select c.oid, c.relname from pg_class c where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'"
    ).fetchall()
    assert len(tables) >= 5
    for oid, table in tables:
        section = readme.split(f"### `app.{table}`", 1)[1].split("\n### ", 1)[0]
        assert "Row-level security: enabled and forced." in section
        for (column,) in superuser_migrated.execute(
            "select attname from pg_attribute where attrelid = %s and attnum > 0 and not attisdropped", [oid]
        ):
            assert re.search(rf"^\| `{column}` \| `[^`]+` \| (yes|no) \|", section, re.MULTILINE), (table, column)
        for (index,) in superuser_migrated.execute(
            "select indexrelid::regclass::text from pg_index where indrelid = %s", [oid]
        ):
            row = re.search(rf"^\| `{index.removeprefix('app.')}` \| `[^`]+` \| (.+) \|$", section, re.MULTILINE)
            assert row and row.group(1).strip(), (table, index)  # every index says what it serves
        assert f"    {table} {{" in readme  # an entity in the ER diagram


def test_the_er_diagram_has_one_relationship_per_foreign_key(superuser_migrated, generated):
    readme = generated[snapshot.DICTIONARY]
    diagram = readme.split("```mermaid\nerDiagram\n", 1)[1].split("```", 1)[0]
    relationships = [line for line in diagram.splitlines() if "--o{" in line]
    foreign_keys = superuser_migrated.execute(
        "select count(*) from pg_constraint where contype = 'f' and connamespace = 'app'::regnamespace"
    ).fetchone()[0]
    assert len(relationships) == foreign_keys
    assert '    projects ||--o{ tasks : "project_id"' in relationships
    assert '    users |o--o{ tasks : "user_id"' in relationships  # the creator: NULL once deleted
    assert '    project_members |o--o{ tasks : "project_id, assignee_id"' in relationships


def test_the_dictionary_follows_the_catalog(superuser_migrated):
    superuser_migrated.execute("comment on column app.tags.name is 'A changed rule | with a pipe'")
    rendered = dictionary.render(superuser_migrated)
    assert "| `name` | `citext` | no |  | A changed rule \\| with a pipe |" in rendered
