"""created_at never changes; updated_at always moves forward, even twice in
one transaction (where now() stands still), on every table that has it."""

from __future__ import annotations

import pytest
from psycopg import sql

from tests.support import new_tag, new_task, new_user, refused

TABLES = {
    "users": ("name", lambda conn: new_user(conn)),
    "tasks": ("title", lambda conn: new_task(conn, new_user(conn))),
    "tags": ("name", lambda conn: new_tag(conn, new_user(conn))),
}


def _stamps(conn, table, row_id):
    query = sql.SQL("select created_at, updated_at from app.{} where id = %s").format(sql.Identifier(table))
    return conn.execute(query, [row_id]).fetchone()


def _touch(conn, table, column, row_id, value):
    query = sql.SQL("update app.{} set {} = %s where id = %s").format(sql.Identifier(table), sql.Identifier(column))
    conn.execute(query, [value, row_id])


@pytest.mark.parametrize("table", TABLES)
def test_updated_at_strictly_increases_within_one_transaction(superuser_migrated, table):
    column, make = TABLES[table]
    row_id = make(superuser_migrated)
    created, first = _stamps(superuser_migrated, table, row_id)
    assert first == created

    seen = [first]
    for i in range(3):  # all in the test's one transaction: now() does not move
        _touch(superuser_migrated, table, column, row_id, f"edit {i}")
        seen.append(_stamps(superuser_migrated, table, row_id)[1])
    assert seen == sorted(set(seen)), seen


@pytest.mark.parametrize("table", TABLES)
def test_updated_at_written_by_hand_is_overridden(superuser_migrated, table):
    _, make = TABLES[table]
    row_id = make(superuser_migrated)
    before = _stamps(superuser_migrated, table, row_id)[1]
    _touch(superuser_migrated, table, "updated_at", row_id, "2000-01-01T00:00:00Z")
    assert _stamps(superuser_migrated, table, row_id)[1] > before


@pytest.mark.parametrize("table", TABLES)
def test_created_at_immutable_refuses_a_change_and_allows_rewriting_the_same_value(superuser_migrated, table):
    _, make = TABLES[table]
    row_id = make(superuser_migrated)
    created = _stamps(superuser_migrated, table, row_id)[0]
    _touch(superuser_migrated, table, "created_at", row_id, created)  # unchanged: fine
    with refused(superuser_migrated, "23000", f"{table}_created_at_immutable"):
        _touch(superuser_migrated, table, "created_at", row_id, "2000-01-01T00:00:00Z")


def test_insert_never_leaves_updated_at_before_created_at(superuser_migrated):
    user = new_user(superuser_migrated)
    task = new_task(superuser_migrated, user, created_at="2030-01-01T00:00:00Z", updated_at="2029-01-01T00:00:00Z")
    created, updated = _stamps(superuser_migrated, "tasks", task)
    assert updated == created


def test_bulk_update_moves_every_rows_updated_at(superuser_migrated):
    user = new_user(superuser_migrated)
    superuser_migrated.execute(
        "insert into app.tasks (user_id, title) select %s, 'bulk ' || i from generate_series(1, 500) as i", [user]
    )
    superuser_migrated.execute("update app.tasks set priority = 'high' where user_id = %s", [user])
    stale = superuser_migrated.execute(
        "select count(*) from app.tasks where user_id = %s and updated_at <= created_at", [user]
    ).fetchone()
    assert stale == (0,)
