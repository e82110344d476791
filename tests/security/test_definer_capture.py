"""No definer code runs what the caller planted: the pg_temp capture, tried as
an attacker would, with a LOGIN member of todo_app connecting with a password.

PostgreSQL searches the session's temporary schema for relations and types
first unless the search_path names pg_temp (last). An attacker plants
temporary domains named like the built-in types (`pg_temp.uuid` over
`pg_catalog.uuid`, with a CHECK calling its own function) and temporary
functions named like built-in and app functions, then does ordinary things
that reach every SECURITY DEFINER function and trigger: create, complete,
soft delete, restore and hard delete a task, sign up, look up a login,
record a login, and every sharing path (create a project, invite, accept,
transfer, read the members, remove a member, leave). The planted function notes the role it ran as whenever that
is not the attacker's own. Each case first shows the action succeeds (the
boundary: the app still works with the plants in place), then that nothing
ran with another role's rights. On the code before migration 0024 the
history trigger resolved `uuid` to the plant and ran it as the schema owner.

Run against a database migrated by the superuser and by an ordinary owner.
"""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.logins import login_role
from tests.support import BCRYPT_HASH, identity, new_task, new_user

PLANTED_TYPES = (
    "uuid",
    "text",
    "citext",
    "timestamptz",
    "int4",
    "int8",
    "bool",
    "numeric",
    "varchar",
    "name",
    "interval",
    "regclass",
    "oid",
    "task_status",
)
PLANTED_FUNCTIONS = {  # name: (argument types, result type, call of the real one)
    "now": ("", "timestamptz", "pg_catalog.now()"),
    "current_setting": ("a text, b boolean", "text", "pg_catalog.current_setting(a, b)"),
    "current_user_id": ("", "uuid", "app.current_user_id()"),
    "char_length": ("a text", "int4", "pg_catalog.char_length(a)"),
    "pg_has_role": ("a name, b oid, c text", "bool", "pg_catalog.pg_has_role(a, b, c)"),
}


def _plant(conn: psycopg.Connection) -> None:
    """The attacker's temporary objects, made in its own session (it may create temporary objects)."""
    conn.execute("""
        create function pg_temp.evil(anyelement) returns boolean language plpgsql as $$
        begin
          if current_user <> session_user then
            perform pg_catalog.set_config('tododb.captured_as', current_user::pg_catalog.text, false);
          end if;
          return true;
        end $$""")
    for name in PLANTED_TYPES:
        base = (
            "public.citext"
            if name == "citext"
            else "app.task_status"
            if name == "task_status"
            else f"pg_catalog.{name}"
        )
        conn.execute(f"create domain pg_temp.{name} as {base} check (pg_temp.evil(value))")
    for name, (args, result, real) in PLANTED_FUNCTIONS.items():
        conn.execute(f"""
            create function pg_temp.{name}({args}) returns pg_catalog.{result}
            language plpgsql as $$
            begin
              perform pg_temp.evil(1);
              return {real};
            end $$""")
    conn.commit()


def _captured(conn: psycopg.Connection) -> str | None:
    return conn.execute("select nullif(pg_catalog.current_setting('tododb.captured_as', true), '')").fetchone()[0]


def _as(conn: psycopg.Connection, user_id: uuid.UUID | None, statement: str, params=()) -> list:
    with conn.transaction():
        conn.execute("select pg_catalog.set_config('app.user_id', %s, true)", ["" if user_id is None else str(user_id)])
        cursor = conn.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


def _share(conn: psycopg.Connection, ann: uuid.UUID, bob: uuid.UUID, tasks: dict) -> None:
    """Before the plants, as the app would: ann's Household with bob as an editor, and Garden, to which bob is
    invited but has not said yes."""
    for name in ("household", "garden"):
        tasks[name] = _as(conn, ann, "insert into app.projects (name) values (%s) returning id", [name])[0][0]
        tasks[f"{name} invitation"] = _as(
            conn, ann, "select app.invite_to_project(%s, 'bob@example.com', 'editor')", [tasks[name]]
        )[0][0]
    _as(conn, bob, "select app.accept_invitation(%s)", [tasks["household invitation"]])


@pytest.fixture
def attacker(migrated_db):
    """The attacker's own end user (ann, with tasks in each state), bob, and a planted login session."""
    db = migrated_db
    ann = new_user(db, "ann@example.com")
    bob = new_user(db, "bob@example.com")
    db.commit()
    with identity(db, ann):
        tasks = {state: new_task(db, ann, f"ann {state}") for state in ("open", "done", "binned", "restorable", "gone")}
        db.execute("update app.tasks set deleted_at = now() where id = %s", [tasks["restorable"]])
    with identity(db, bob):
        new_task(db, bob, "bob's secret")
    db.autocommit = True
    with login_role(db, db.info.dbname) as url, psycopg.connect(url) as conn:
        assert conn.execute("select rolsuper, rolbypassrls from pg_roles where rolname = session_user").fetchone() == (
            False,
            False,
        )
        _share(conn, ann, bob, tasks)
        _plant(conn)
        yield conn, ann, bob, tasks
        assert conn.execute("select rolsuper from pg_roles where rolname = session_user").fetchone() == (False,)


ACTIONS = {
    # name: (who acts, statement, parameters from (ann, bob, tasks)), and what the statement must return
    "create a task": (
        "ann",
        "insert into app.tasks (title) values ('planted') returning title",
        lambda a, b, t: [],
        [("planted",)],
    ),
    "complete a task": (
        "ann",
        "update app.tasks set status = 'completed' where id = %s returning status::text",
        lambda a, b, t: [t["done"]],
        [("completed",)],
    ),
    "soft delete a task": (
        "ann",
        "update app.tasks set deleted_at = now() where id = %s returning deleted_at is not null",
        lambda a, b, t: [t["binned"]],
        [(True,)],
    ),
    "restore a task": (
        "ann",
        "update app.tasks set deleted_at = null where id = %s returning deleted_at is null",
        lambda a, b, t: [t["restorable"]],
        [(True,)],
    ),
    "hard delete a task": (
        "ann",
        "delete from app.tasks where id = %s returning true",
        lambda a, b, t: [t["gone"]],
        [(True,)],
    ),
    "sign up": (
        None,
        "select app.sign_up('carol@example.com', 'Carol', %s) is not null",
        lambda a, b, t: [BCRYPT_HASH],
        [(True,)],
    ),
    "look up a login": (None, "select id from app.user_for_login('ANN@example.com')", lambda a, b, t: [], None),
    "record a login": (None, "select 1 from app.record_login(%s)", lambda a, b, t: [a], [(1,)]),
    # Sharing: every path through todo_auth's definer code (triggers, functions, the profiles view, the checks).
    "create a project": (
        "ann",
        "insert into app.projects (name) values ('planted') returning name",
        lambda a, b, t: [],
        [("planted",)],
    ),
    "invite to a project": (
        "ann",
        "select app.invite_to_project(%s, 'dan@example.com', 'viewer') is not null",
        lambda a, b, t: [t["household"]],
        [(True,)],
    ),
    "accept an invitation": (
        "bob",
        "select 1 from app.accept_invitation(%s)",
        lambda a, b, t: [t["garden invitation"]],
        [(1,)],
    ),
    "transfer a project": (
        "ann",
        "select 1 from app.transfer_ownership(%s, %s)",
        lambda a, b, t: [t["household"], b],
        [(1,)],
    ),
    "read the members": (
        "bob",
        "select count(*) from app.project_member_profiles where project_id = %s",
        lambda a, b, t: [t["household"]],
        [(2,)],
    ),
    "remove a member": (
        "ann",
        "delete from app.project_members where project_id = %s and user_id = %s returning true",
        lambda a, b, t: [t["household"], b],
        [(True,)],
    ),
    "leave a project": (
        "bob",
        "delete from app.project_members where project_id = %s and user_id = %s returning true",
        lambda a, b, t: [t["household"], b],
        [(True,)],
    ),
    "see a shared task": (
        "bob",
        "select count(*) from app.tasks where project_id = %s",
        lambda a, b, t: [t["household"]],
        [(0,)],
    ),
}


@pytest.mark.parametrize("action", ACTIONS)
def test_planted_temporary_types_and_functions_never_run_with_definer_rights(attacker, action):
    conn, ann, bob, tasks = attacker
    who, statement, params, expected = ACTIONS[action]
    rows = _as(conn, {"ann": ann, "bob": bob}.get(who), statement, params(ann, bob, tasks))
    assert rows == (expected if expected is not None else [(ann,)])  # the action itself works
    assert _captured(conn) is None, f"{action}: planted code ran as {_captured(conn)}"
    # The history the trigger wrote is the true one, under the identity in force.
    if who == "ann":
        history = _as(conn, ann, "select count(*) from app.task_events where actor_id = %s", [ann])
        assert history[0][0] >= 1


def test_the_same_plants_capture_a_definer_pinned_to_an_empty_search_path(attacker, migrated_db):
    """The check above can fail: a definer written as the code was before 0024 (`search_path = ''`,
    an unqualified `uuid`) is captured by exactly these plants, and the planted code runs as its owner."""
    conn, ann, *_ = attacker
    migrated_db.execute("""
        create function app.probe_like_before(id uuid) returns boolean
        language plpgsql security definer set search_path = '' as $$
        declare
          probe uuid := id;
        begin
          return probe is not null;
        end $$""")
    login = conn.execute("select session_user").fetchone()[0]
    migrated_db.execute(f'grant execute on function app.probe_like_before(uuid) to "{login}"')
    assert _as(conn, ann, "select app.probe_like_before(%s)", [ann]) == [(True,)]
    assert _captured(conn) == migrated_db.execute("select current_user").fetchone()[0]


def test_the_retention_functions_are_out_of_the_apps_reach_and_its_archive_reads_capture_nothing(attacker):
    """Archive and purge run only in a maintenance session (superuser or BYPASSRLS), whose temporary schema the
    app cannot reach: the app may not call them at all. What it may do is read its archived tasks."""
    conn, ann, *_ = attacker
    assert _as(conn, ann, "select count(*) from app.tasks_archive") == [(0,)]
    for function in ("archive_completed_tasks", "purge_deleted_tasks"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            _as(conn, ann, f"select app_private.{function}(now(), 10)")
    assert _captured(conn) is None
