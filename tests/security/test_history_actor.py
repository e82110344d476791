"""History names the identity in force, and nobody can make it say otherwise.

The history trigger reads the identity after the statement; a statement that
changes it on the way (`returning set_config('app.user_id', …, true)`) tried
to record another actor, or none (which reads like a retention purge). Tried
as a LOGIN member of todo_app, on a database migrated by the superuser (the
owner bypasses task_events' policy, so the trigger checks it itself) and by
an ordinary owner (the policy refuses it too). Each refusal is paired with
the same statement that leaves the identity alone.
"""

from __future__ import annotations

import psycopg
import pytest

from tests.logins import login_role
from tests.support import identity, new_task, new_user

FORGERIES = {
    "status change recorded with no actor": (
        "update app.tasks set status = 'completed' where id = %(task)s returning {after}",
        "''",
    ),
    "soft delete recorded as another user's": (
        "update app.tasks set deleted_at = now() where id = %(task)s returning {after}",
        "%(bob)s",
    ),
    "hard delete recorded like a purge": (
        "with d as (delete from app.tasks where id = %(task)s returning id) select {after} from d",
        "''",
    ),
    "creation recorded with no actor": ("insert into app.tasks (title) values ('forged') returning {after}", "''"),
}


@pytest.fixture
def app(migrated_db):
    db = migrated_db
    ann, bob = new_user(db, "ann@example.com"), new_user(db, "bob@example.com")
    db.commit()
    with identity(db, ann):
        task = new_task(db, ann, "ann's")
    db.autocommit = True
    with login_role(db, db.info.dbname) as url, psycopg.connect(url) as conn:
        yield conn, db, {"ann": str(ann), "bob": str(bob), "task": task}


def _run(conn, statement: str, params: dict) -> None:
    with conn.transaction():
        conn.execute("select set_config('app.user_id', %(ann)s, true)", params)
        conn.execute(statement, params)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_a_statement_that_changes_the_identity_on_the_way_cannot_forge_the_actor(app, forgery):
    conn, db, params = app
    statement, value = FORGERIES[forgery]
    before = db.execute("select count(*) from app.task_events").fetchone()[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        _run(conn, statement.format(after=f"set_config('app.user_id', {value}, true)"), params)
    assert db.execute("select count(*) from app.task_events").fetchone()[0] == before
    # The boundary: the same statement, the identity left as it is, records ann.
    _run(conn, statement.format(after="set_config('app.user_id', %(ann)s, true)"), params)
    actors = db.execute("select distinct actor_id::text from app.task_events where id > %s", [before]).fetchall()
    assert actors == [(params["ann"],)]


def _nest(conn, statement: str, params: dict) -> None:
    """Put ``statement`` one trigger deep: a pg_temp table with a pg_temp trigger function, which any login may
    create. The history trigger used to check only statements at trigger depth 1."""
    literal = statement % {key: f"'{value}'" for key, value in params.items()}
    conn.execute("create temporary table if not exists nest (x int)")
    conn.execute(f"""
        create or replace function pg_temp.nested() returns trigger language plpgsql as $f$
        begin
          perform pg_catalog.set_config('app.user_id', '{params["ann"]}', true);
          execute $s${literal}$s$;
          return null;
        end $f$""")
    conn.execute("drop trigger if exists nested on pg_temp.nest")
    conn.execute(
        "create trigger nested after insert on pg_temp.nest for each statement execute function pg_temp.nested()"
    )
    conn.commit()


@pytest.mark.parametrize("forgery", FORGERIES)
def test_the_same_statement_nested_in_a_trigger_of_the_logins_own_cannot_forge_or_drop_history(app, forgery):
    conn, db, params = app
    statement, value = FORGERIES[forgery]
    before = db.execute("select count(*) from app.task_events").fetchone()[0]
    tasks = db.execute("select count(*) from app.tasks").fetchone()[0]
    _nest(conn, statement.format(after=f"set_config('app.user_id', {value}, true)"), params)
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        with conn.transaction():
            conn.execute("insert into pg_temp.nest values (1)")
    assert db.execute("select count(*) from app.task_events").fetchone()[0] == before
    assert db.execute("select count(*) from app.tasks").fetchone()[0] == tasks
    # The boundary: nested, with the identity left as it is, the statement runs and records ann.
    _nest(conn, statement.format(after="set_config('app.user_id', %(ann)s, true)"), params)
    with conn.transaction():
        conn.execute("insert into pg_temp.nest values (1)")
    actors = db.execute("select distinct actor_id::text from app.task_events where id > %s", [before]).fetchall()
    assert actors == [(params["ann"],)]
