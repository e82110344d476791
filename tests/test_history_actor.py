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
        "update app.tasks set status = 'completed' where id = %(task)s returning {after}", "''"),
    "soft delete recorded as another user's": (
        "update app.tasks set deleted_at = now() where id = %(task)s returning {after}", "%(bob)s"),
    "hard delete recorded like a purge": (
        "with d as (delete from app.tasks where id = %(task)s returning id) select {after} from d", "''"),
    "creation recorded with no actor": (
        "insert into app.tasks (title) values ('forged') returning {after}", "''"),
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
