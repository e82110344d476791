"""Least privilege: what the roles are, what PUBLIC gets (nothing), what the
app roles cannot do (DDL, bypass RLS), and a real login role at work."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import sql

from tests.support import PARAMS, acting_as, db_url, new_user, refused

ROLES = ["todo_app", "todo_readonly", "todo_auth"]


@pytest.mark.parametrize("role", ROLES)
def test_roles_are_plain_nologin_group_roles(superuser_migrated, role):
    row = superuser_migrated.execute(
        "select rolcanlogin, rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolreplication "
        "from pg_roles where rolname = %s",
        [role],
    ).fetchone()
    assert row == (False, False, False, False, False, False)


@pytest.mark.parametrize("role", [*ROLES, "public"])
@pytest.mark.parametrize("schema", ["app", "app_private", "public"])
def test_no_role_may_create_in_any_schema(superuser_migrated, role, schema):
    assert superuser_migrated.execute("select has_schema_privilege(%s, %s, 'CREATE')", [role, schema]).fetchone() == (
        False,
    )


def test_public_has_nothing_on_app_or_the_private_schema(superuser_migrated):
    for schema in ("app", "app_private"):
        assert superuser_migrated.execute(
            "select has_schema_privilege('public', %s, 'USAGE')", [schema]
        ).fetchone() == (False,)
    for role in ROLES:
        usage = superuser_migrated.execute("select has_schema_privilege(%s, 'app_private', 'USAGE')", [role]).fetchone()
        assert usage == (False,), role
    executable = superuser_migrated.execute(
        """
        select p.oid::regprocedure::text from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'app_private'::regnamespace)
          and has_function_privilege('public', p.oid, 'EXECUTE')
        """
    ).fetchall()
    assert executable == []
    tables = superuser_migrated.execute(
        """
        select c.relname from pg_class c
        where c.relnamespace = 'app'::regnamespace
          and (has_table_privilege('public', c.oid, 'SELECT') or has_table_privilege('public', c.oid, 'INSERT'))
        """
    ).fetchall()
    assert tables == []


def test_new_functions_are_not_granted_to_public_by_default(superuser_migrated):
    superuser_migrated.execute("create function app_private.probe() returns int language sql immutable as 'select 1'")
    granted = superuser_migrated.execute("select has_function_privilege('public', 'app_private.probe()', 'EXECUTE')")
    assert granted.fetchone() == (False,)


def test_every_table_holding_user_data_has_row_level_security_enabled_and_forced(superuser_migrated):
    tables = superuser_migrated.execute(
        "select relname, relrowsecurity, relforcerowsecurity from pg_class "
        "where relnamespace = 'app'::regnamespace and relkind = 'r' order by 1"
    ).fetchall()
    assert [t[0] for t in tables] == [
        "project_invitations",
        "project_members",
        "projects",
        "tags",
        "task_events",
        "task_tags",
        "task_tags_archive",
        "tasks",
        "tasks_archive",
        "users",
    ]
    assert all(t[1] and t[2] for t in tables), tables


def test_policies_read_the_identity_once_per_statement(superuser_migrated):
    """Every policy the app is subject to reads the identity in an InitPlan, `(select app.current_user_id())`,
    or through a membership function called in a subquery: never app.current_user_id() per row."""
    policies = superuser_migrated.execute(
        "select tablename, policyname, concat_ws(' ', qual, with_check) from pg_policies "
        "where schemaname = 'app' and roles <> '{todo_auth}'"
    ).fetchall()
    assert len(policies) >= 25
    once = "( SELECT app.current_user_id() AS current_user_id)"
    for table, name, expression in policies:
        reads_identity = once in expression or "SELECT app_private.current_user_" in expression
        assert reads_identity or name.endswith("_backfill"), (table, name, expression)
        assert "current_user_id()" not in expression.replace(once, ""), (table, name, expression)


@pytest.mark.parametrize(
    "statement",
    [
        "create table app.intruder (id int)",
        "create table public.intruder (id int)",
        "create schema intruder",
        "create function app.intruder() returns int language sql as 'select 1'",
        "alter table app.tasks disable row level security",
        "alter table app.tasks no force row level security",
        "alter table app.tasks add column intruder int",
        "drop policy tasks_select_member on app.tasks",
        "create policy intruder on app.tasks using (true)",
        "drop table app.task_events",
        "truncate app.tasks",
        "select app_private.tg__timestamps()",
    ],
)
@pytest.mark.parametrize("role", ["todo_app", "todo_readonly"])
def test_app_roles_cannot_run_ddl_or_reach_internals(superuser_migrated, role, statement):
    with acting_as(superuser_migrated, role, uuid.uuid4()) as conn:
        with refused(conn, "42501"):
            conn.execute(statement)


@pytest.mark.parametrize("role", ["todo_app", "todo_readonly"])
def test_app_roles_cannot_pass_on_their_privileges(superuser_migrated, role):
    with acting_as(superuser_migrated, role, uuid.uuid4()) as conn:
        conn.execute("grant select on app.tasks to public")  # only a warning: nothing is granted
        assert conn.execute("select has_table_privilege('public', 'app.tasks', 'SELECT')").fetchone() == (False,)


@pytest.fixture
def login_role(superuser_migrated):
    """A real login role in todo_app, with a password, committed so it can connect."""
    name, password = f"tododb_api_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    superuser_migrated.autocommit = True
    superuser_migrated.execute(
        sql.SQL("create role {} login password {} in role todo_app").format(sql.Identifier(name), sql.Literal(password))
    )
    try:
        for host in (PARAMS.host, "127.0.0.1"):
            url = PARAMS.url(superuser_migrated.info.dbname, name, password, host)
            try:
                psycopg.connect(url, connect_timeout=5).close()
                break
            except psycopg.OperationalError:
                continue
        else:
            pytest.fail("the test server accepts the login role's password on neither its socket nor 127.0.0.1")
        yield url
    finally:
        superuser_migrated.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def test_a_login_role_in_todo_app_works_as_the_app_will_and_no_further(superuser_migrated, login_role):
    ann = new_user(superuser_migrated, "ann@example.com")
    bob = new_user(superuser_migrated, "bob@example.com")
    with psycopg.connect(login_role) as conn:
        with conn.transaction():
            conn.execute("select set_config('app.user_id', %s, true)", [str(ann)])
            conn.execute("insert into app.tasks (title) values ('from the api')")
            assert conn.execute("select user_id, title from app.tasks").fetchall() == [(ann, "from the api")]
        with conn.transaction():  # the next transaction on the same connection: no identity
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)
        for statement in ("set role todo_auth", "set role todo_readonly", f"set role {PARAMS.user}"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(statement)
        with conn.transaction():
            conn.execute("select set_config('app.user_id', %s, true)", [str(bob)])
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)
    assert db_url(superuser_migrated)
