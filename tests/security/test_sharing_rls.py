"""Shared projects, proven in SQL against the real server, acting exactly as the app does
(`set local role todo_app` + `set_config('app.user_id', ..., true)`).

The cast (tests/sharing.py): olga owns "Shared", ed edits it, vi views it, gus is
invited to it, nora is in none of it and has "Nora's". Every test that expects
a row to be hidden first shows, as the owner of the tables (the fixture's
superuser), that the row is there; every policy of the sharing tables has a
guard that finds no breach, and that finds one once the policy is `true`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import sql

from tests.sharing import (
    ROLES,
    Team,
    as_identity,
    count,
    new_project,
    new_project_task,
    outcome,
    team,
)
from tests.support import BCRYPT_HASH, acting_as, db_url, new_user, refused
from tododb.pool import act_as


@pytest.fixture
def db(migrated_db) -> psycopg.Connection:
    """Each behavioural test runs on the superuser-migrated and on the ordinary-owner-migrated database."""
    return migrated_db


@pytest.fixture
def cast(db) -> Team:
    return team(db)


def _as(conn: psycopg.Connection, user: uuid.UUID | None):
    return acting_as(conn, "todo_app", user)


# --- 1. no statement of any role on any table ever recurses -------------------------------------

# What the issue lists; the test reads the catalog, so a new table with row security is covered without a new test.
LISTED_RELATIONS = {
    "projects",
    "project_members",
    "project_invitations",
    "tasks",
    "task_events",
    "task_tags",
    "tags",
    "users",
    "tasks_archive",
    "task_tags_archive",
    "project_member_profiles",
}
MATRIX_ROLES = (*ROLES, "invitee", "no identity")


def _user_data_relations(conn: psycopg.Connection) -> list[tuple[str, bool]]:
    """(name, is a view) of every table of schema app with row security, and every view there (they read those
    tables)."""
    return [
        tuple(row)
        for row in conn.execute(
            "select c.relname, c.relkind = 'v' from pg_catalog.pg_class as c "
            "where c.relnamespace = 'app'::regnamespace "
            "and ((c.relkind in ('r', 'p') and c.relrowsecurity) or c.relkind = 'v') order by 1"
        )
    ]


def _one_statement_per_command(conn: psycopg.Connection, relation: str) -> dict[str, tuple[sql.Composable, list]]:
    """select, insert, update and delete on ``relation``, built from its columns and todo_app's grants.

    The update and the delete read a column, so the select policies apply alongside their own; the insert
    copies an existing row (a real one, so its checks have something to evaluate)."""
    table = sql.Identifier("app", relation)
    columns = conn.execute(
        "select a.attname, has_column_privilege('todo_app', a.attrelid, a.attnum, 'INSERT'), "
        "has_column_privilege('todo_app', a.attrelid, a.attnum, 'UPDATE'), a.attidentity <> '' "
        "from pg_catalog.pg_attribute as a where a.attrelid = %s::regclass and a.attnum > 0 and not a.attisdropped "
        "order by a.attnum",
        [f"app.{relation}"],
    ).fetchall()
    first = sql.Identifier(columns[0][0])
    insertable = [sql.Identifier(name) for name, may_insert, _, _ in columns if may_insert]
    # A column todo_app may update, else any but an identity column (which only DEFAULT may update: refused
    # before any policy is looked at).
    updatable = next((sql.Identifier(name) for name, _, may_update, _ in columns if may_update), None) or next(
        sql.Identifier(name) for name, _, _, identity in columns if not identity
    )
    sample = conn.execute(sql.SQL("select to_json(r) from {} as r limit 1").format(table)).fetchone()
    row = json.dumps(sample[0] if sample else {})
    if insertable:
        names = sql.SQL(", ").join(insertable)
        insert = sql.SQL("insert into {t} ({c}) select {c} from json_populate_record(null::{t}, %s::json)").format(
            t=table, c=names
        )
        insert_params = [row]
    else:
        insert, insert_params = sql.SQL("insert into {} default values").format(table), []
    return {
        "select": (sql.SQL("select count(*) from {}").format(table), []),
        "insert": (insert, insert_params),
        "update": (sql.SQL("update {t} set {c} = {c}").format(t=table, c=updatable), []),
        "delete": (sql.SQL("delete from {t} where {c} is not distinct from {c}").format(t=table, c=first), []),
    }


def _matrix(conn: psycopg.Connection) -> dict[str, tuple[bool, dict[str, tuple[sql.Composable, list]]]]:
    return {
        relation: (is_view, _one_statement_per_command(conn, relation))
        for relation, is_view in _user_data_relations(conn)
    }


def _ordinary(is_view: bool, result: int | str) -> bool:
    """Rows affected, or a refusal of the kind the policies, grants and constraints give; a view that joins
    tables is not updatable (55000)."""
    return isinstance(result, int) or result == "42501" or result.startswith("23") or (is_view and result == "55000")


def _matrix_failures(conn: psycopg.Connection, cast: Team, matrix: dict) -> list[str]:
    """Every (role, relation, command) whose statement recursed (42P17) or did not complete normally.

    Any ordinary refusal (42501, a constraint, 0 rows) is the policies' business, proven below; anything
    else (a recursion, a timeout, the stack depth of a definer function calling itself, or a statement this
    test built wrong and that never reached the policies) is reported."""
    failures = []
    for relation, (is_view, statements) in matrix.items():
        for role in MATRIX_ROLES:
            with _as(conn, cast.of(role)):
                conn.execute("set local statement_timeout = '10s'")
                for command, (statement, params) in statements.items():
                    result = outcome(conn, statement, params)
                    if not _ordinary(is_view, result):
                        failures.append(f"{role}: {command} on app.{relation} failed with {result}")
    return failures


def test_no_statement_of_any_role_on_any_user_data_relation_recurses_in_a_policy(db, cast):
    matrix = _matrix(db)
    assert LISTED_RELATIONS <= set(matrix)
    assert _matrix_failures(db, cast, matrix) == []


def test_the_recursion_matrix_finds_a_policy_that_reads_its_own_table(db, cast):
    # The check bites: project_members' policy reading project_members itself is what PostgreSQL refuses.
    matrix = _matrix(db)
    with db.transaction(force_rollback=True):
        db.execute(
            "alter policy project_members_select_member on app.project_members using (project_id in "
            "(select m.project_id from app.project_members as m where m.user_id = (select app.current_user_id())))"
        )
        failures = _matrix_failures(db, cast, matrix)
    assert any("select on app.project_members failed with 42P17" in failure for failure in failures), failures
    assert any("on app.tasks failed with 42P17" in failure for failure in failures), failures


# --- 2. what each role may do with a shared project's tasks -------------------------------------


def _become(conn: psycopg.Connection, user: uuid.UUID | None) -> None:
    """Within an acting_as block: act as another user from now on (as the app's next transaction would)."""
    conn.execute("reset role")
    act_as(conn, "todo_app", user)


def test_owner_and_editor_create_update_complete_soft_delete_restore_and_hard_delete_a_shared_task(db, cast):
    for role in ("owner", "editor"):
        member = cast.of(role)
        with _as(db, member):
            task = db.execute(
                "insert into app.tasks (project_id, title) values (%s, 'Buy the map') returning id", [cast.project]
            ).fetchone()[0]
            for change in ("title = 'Buy two maps'", "status = 'completed'", "deleted_at = now()", "deleted_at = null"):
                assert db.execute(f"update app.tasks set {change} where id = %s", [task]).rowcount == 1, change
            # Someone else's task in the project too.
            other = cast.editors_task if role == "owner" else cast.task
            assert db.execute("update app.tasks set title = 'Book the train' where id = %s", [other]).rowcount == 1
            assert db.execute("delete from app.tasks where id = %s", [task]).rowcount == 1
            history = db.execute(
                "select kind, actor_id from app.task_events where task_id = %s order by id", [task]
            ).fetchall()
        kinds = ("created", "status_changed", "deleted", "restored", "hard_deleted")
        assert history == [(kind, member) for kind in kinds], role


def test_a_viewer_reads_the_shared_tasks_but_cannot_add_change_or_delete_them(db, cast):
    with _as(db, cast.viewer):
        assert count(db, "select id from app.tasks where project_id = %s", [cast.project]) == 2
        with refused(db, "42501"):
            db.execute("insert into app.tasks (project_id, title) values (%s, 'Sneak in')", [cast.project])
        for statement in (
            "update app.tasks set title = 'Changed' where id = %s",
            "update app.tasks set status = 'completed' where id = %s",
            "update app.tasks set deleted_at = now() where id = %s",
            "delete from app.tasks where id = %s",
        ):
            assert db.execute(statement, [cast.task]).rowcount == 0, statement


def test_a_non_member_sees_nothing_of_the_project(db, cast):
    looks = {
        "the project": ("select id from app.projects where id = %(p)s", 1),
        "its tasks": ("select id from app.tasks where project_id = %(p)s", 2),
        "their history": ("select id from app.task_events where project_id = %(p)s", 3),
        "its members": ("select user_id from app.project_members where project_id = %(p)s", 3),
        "their profiles": ("select user_id from app.project_member_profiles where project_id = %(p)s", 0),
        "its invitations": ("select id from app.project_invitations where project_id = %(p)s", 2),
        "the tags on its tasks": ("select tag_id from app.task_tags where task_id = %(t)s", 1),
    }
    params = {"p": cast.project, "t": cast.task}
    # Just to check that the test is valid: as the owner of the tables, the rows are there (the view is
    # todo_auth's and shows the identity's projects only: to nobody in particular it shows nothing).
    for what, (query, rows) in looks.items():
        assert count(db, query, params) == rows, what
    with _as(db, cast.outsider):
        assert {what: count(db, query, params) for what, (query, _) in looks.items()} == dict.fromkeys(looks, 0)
    with _as(db, cast.viewer):  # the boundary: a member sees the members' profiles
        assert count(db, looks["their profiles"][0], params) == 3


def _diagnostics(exc: psycopg.Error) -> tuple:
    """What a refusal shows its caller: SQLSTATE, constraint, and the other diagnostic fields."""
    diag = exc.diag
    return exc.sqlstate, diag.constraint_name, diag.message_primary, diag.message_detail, diag.table_name


def _result(conn: psycopg.Connection, statement: str, params) -> int | tuple:
    """The rows a statement affected (rolled back), or the diagnostics of its refusal."""
    try:
        with conn.transaction(force_rollback=True):
            return conn.execute(statement, params).rowcount
    except psycopg.Error as exc:
        return _diagnostics(exc)


# What nora might try on "Shared", and on a project id that exists nowhere.
PROBES = {
    "add a task to it": "insert into app.tasks (project_id, title) values (%(project)s, 'Probe')",
    "move her task into it": "update app.tasks set project_id = %(project)s where id = %(outsiders_task)s",
    "change its tasks": "update app.tasks set title = 'Probe' where project_id = %(project)s",
    "rename it": "update app.projects set name = 'Probe' where id = %(project)s",
    "leave it": "delete from app.project_members where project_id = %(project)s and user_id = %(outsider)s",
    "invite to it": "select app.invite_to_project(%(project)s, 'probe@example.com', 'viewer')",
    "take it over": "select app.transfer_ownership(%(project)s, %(outsider)s)",
}


def test_a_project_that_is_not_yours_is_refused_exactly_like_one_that_does_not_exist(db, cast):
    assert count(db, "select id from app.projects where id = %s", [cast.project]) == 1
    with _as(db, cast.outsider):
        existing = {probe: _result(db, statement, _ids(cast)) for probe, statement in PROBES.items()}
        missing = {
            probe: _result(db, statement, _ids(cast) | {"project": uuid.uuid4()}) for probe, statement in PROBES.items()
        }
    assert all(result == 0 or result[0] == "42501" for result in existing.values()), existing
    # Same row counts, SQLSTATEs, constraints and diagnostics: nothing tells the two apart.
    assert existing == missing


def test_the_owner_renames_archives_and_deletes_a_project(db, cast):
    with _as(db, cast.owner):
        assert db.execute("update app.projects set name = 'Trip' where id = %s", [cast.project]).rowcount == 1
        assert db.execute("update app.projects set archived_at = now() where id = %s", [cast.project]).rowcount == 1
        assert db.execute("delete from app.projects where id = %s", [cast.project]).rowcount == 1
        db.execute("reset role")  # back to the owner of the tables to look, before the block rolls back
        assert count(db, "select id from app.tasks where project_id = %s", [cast.project]) == 0
        assert count(db, "select id from app.task_events where project_id = %s", [cast.project]) == 0


def test_only_the_owner_renames_archives_or_deletes_a_project(db, cast):
    statements = (
        "update app.projects set name = 'Mine' where id = %s",
        "update app.projects set archived_at = now() where id = %s",
        "delete from app.projects where id = %s",
    )
    affected = {}
    for role in ("editor", "viewer", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            affected[role] = [db.execute(statement, [cast.project]).rowcount for statement in statements]
    assert affected == dict.fromkeys(affected, [0, 0, 0])
    assert db.execute("select name, archived_at from app.projects where id = %s", [cast.project]).fetchone() == (
        "Shared",
        None,
    )


def _role_of(conn: psycopg.Connection, project: uuid.UUID, user: uuid.UUID) -> str | None:
    row = conn.execute(
        "select role from app.project_members where project_id = %s and user_id = %s", [project, user]
    ).fetchone()
    return row and row[0]


def test_the_owner_changes_a_members_role_and_removes_a_member(db, cast):
    with _as(db, cast.owner):
        assert (
            db.execute(
                "update app.project_members set role = 'editor' where project_id = %s and user_id = %s",
                [cast.project, cast.viewer],
            ).rowcount
            == 1
        )
        assert _role_of(db, cast.project, cast.viewer) == "editor"
        assert (
            db.execute(
                "delete from app.project_members where project_id = %s and user_id = %s", [cast.project, cast.editor]
            ).rowcount
            == 1
        )
        assert _role_of(db, cast.project, cast.editor) is None


def test_only_the_owner_changes_roles_or_removes_members(db, cast):
    statements = (
        "update app.project_members set role = 'viewer' where project_id = %s and user_id = %s",
        "update app.project_members set role = 'editor' where project_id = %s and user_id = %s",
        "delete from app.project_members where project_id = %s and user_id = %s",
    )
    assert count(db, "select from app.project_members where project_id = %s", [cast.project]) == 3
    affected = {}
    for role in ("editor", "viewer", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            for other in ("owner", "editor", "viewer"):
                if other != role:
                    affected[role, other] = [
                        db.execute(statement, [cast.project, cast.of(other)]).rowcount for statement in statements
                    ]
    assert affected == dict.fromkeys(affected, [0, 0, 0])


def test_a_member_leaves_by_deleting_their_own_row(db, cast):
    for role in ("editor", "viewer"):
        with _as(db, cast.of(role)):
            assert (
                db.execute(
                    "delete from app.project_members where project_id = %s and user_id = %s",
                    [cast.project, cast.of(role)],
                ).rowcount
                == 1
            ), role
            assert count(db, "select id from app.tasks where project_id = %s", [cast.project]) == 0, role


def test_the_owner_cannot_leave_and_nobody_deletes_the_owner_row(db, cast):
    affected = {}
    for role in ("owner", "editor", "viewer"):
        with _as(db, cast.of(role)):
            affected[role] = db.execute(
                "delete from app.project_members where project_id = %s and user_id = %s", [cast.project, cast.owner]
            ).rowcount
    assert affected == {"owner": 0, "editor": 0, "viewer": 0}
    assert _role_of(db, cast.project, cast.owner) == "owner"


def test_nobody_makes_a_second_owner(db, cast):
    promote = "update app.project_members set role = 'owner' where project_id = %s and user_id = %s"
    with _as(db, cast.owner):
        # The WITH CHECK refuses it before the one-owner index would (23505): ownership moves only by transfer.
        with refused(db, "42501"):
            db.execute(promote, [cast.project, cast.editor])
    for role in ("editor", "viewer"):
        with _as(db, cast.of(role)):
            assert db.execute(promote, [cast.project, cast.of(role)]).rowcount == 0, role
    assert _role_of(db, cast.project, cast.editor) == "editor"


def _sees_the_project(conn: psycopg.Connection, cast: Team) -> tuple[int, int]:
    return (
        count(conn, "select id from app.projects where id = %s", [cast.project]),
        count(conn, "select id from app.tasks where project_id = %s", [cast.project]),
    )


def _remove_viewer_and_commit(db: psycopg.Connection, cast: Team) -> None:
    with db.transaction():
        act_as(db, "todo_app", cast.owner)
        assert (
            db.execute(
                "delete from app.project_members where project_id = %s and user_id = %s", [cast.project, cast.viewer]
            ).rowcount
            == 1
        )


def test_a_removal_takes_effect_at_the_next_statement_of_the_members_open_transaction(db, cast):
    """Read committed (the app's level) takes a new snapshot for every statement, and the policies read the
    memberships in it: the member's very next statement, in the same transaction, no longer sees the project."""
    db.commit()
    with psycopg.connect(db_url(db)) as member:
        with member.transaction():
            act_as(member, "todo_app", cast.viewer)
            assert _sees_the_project(member, cast) == (1, 2)
            _remove_viewer_and_commit(db, cast)
            assert _sees_the_project(member, cast) == (0, 0)


def test_a_repeatable_read_transaction_keeps_its_snapshot_and_the_next_one_sees_the_removal(db, cast):
    """What PostgreSQL's snapshots give at repeatable read: the open transaction keeps seeing what its
    snapshot saw (memberships included) until it ends; its next transaction does not."""
    db.commit()
    with psycopg.connect(db_url(db)) as member:
        member.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        with member.transaction():
            act_as(member, "todo_app", cast.viewer)
            assert _sees_the_project(member, cast) == (1, 2)
            _remove_viewer_and_commit(db, cast)
            assert _sees_the_project(member, cast) == (1, 2)
        with member.transaction():
            act_as(member, "todo_app", cast.viewer)
            assert _sees_the_project(member, cast) == (0, 0)


# --- 3. every policy of the sharing tables has a guard that bites --------------------------------

# A guard returns the breaches it finds: [] while the policy holds. Each first shows, as the owner of the
# tables, that the row it reaches for is there. Where a guard widens a column grant for its transaction,
# it proves a WITH CHECK on its own, for the day the grant widens (as test_rls does for user_id).

Breaches = list[str]


def _hidden(conn, who, what: str, query: str, params) -> Breaches:
    assert count(conn, query, params) > 0, f"invalid guard: {what} is not there"
    with _as(conn, who):
        seen = count(conn, query, params)
    return [f"{what}: {seen} row(s) seen"] if seen else []


def _affects_nothing(conn, who, what: str, statement: str, params, target: str | None = None) -> Breaches:
    """``statement`` must affect 0 rows; an error means it reached a row (a WITH CHECK stopped it)."""
    if target:
        assert count(conn, target, params) > 0, f"invalid guard: the target of {what} is not there"
    with _as(conn, who):
        result = outcome(conn, statement, params)
    return [] if result == 0 else [f"{what}: {result}"]


def _refused(conn, who, what: str, statement: str, params) -> Breaches:
    """``statement`` must be refused by a policy (42501), not by something after it nor accepted."""
    with _as(conn, who):
        result = outcome(conn, statement, params)
    return [] if result == "42501" else [f"{what}: {result}"]


def _ids(cast: Team) -> dict:
    return {field: getattr(cast, field) for field in cast.__dataclass_fields__}


def _guard_projects_select(conn, c: Team) -> Breaches:
    return _hidden(conn, c.outsider, "nora sees Shared", "select id from app.projects where id = %(project)s", _ids(c))


def _guard_projects_insert(conn, c: Team) -> Breaches:
    conn.execute("grant insert (owner_id) on app.projects to todo_app")
    return _refused(
        conn,
        c.outsider,
        "nora creates a project owned by olga",
        "insert into app.projects (owner_id, name) values (%(owner)s, 'Planted')",
        _ids(c),
    )


def _guard_projects_update_using(conn, c: Team) -> Breaches:
    rename = "update app.projects set name = 'Renamed' where id = %(project)s"
    return _affects_nothing(conn, c.editor, "ed renames Shared", rename, _ids(c)) + _affects_nothing(
        conn, c.viewer, "vi renames Shared", rename, _ids(c)
    )


def _guard_projects_update_check(conn, c: Team) -> Breaches:
    conn.execute("grant update (owner_id) on app.projects to todo_app")
    return _refused(
        conn,
        c.owner,
        "olga hands Shared to nora, no transfer",
        "update app.projects set owner_id = %(outsider)s where id = %(project)s",
        _ids(c),
    )


def _guard_projects_delete(conn, c: Team) -> Breaches:
    target = "select id from app.projects where id = %(project)s"
    inbox = "select id from app.projects where id = %(owner)s and is_inbox"
    return _affects_nothing(
        conn, c.editor, "ed deletes Shared", "delete from app.projects where id = %(project)s", _ids(c), target
    ) + _affects_nothing(
        conn, c.owner, "olga deletes her inbox", "delete from app.projects where id = %(owner)s", _ids(c), inbox
    )


def _guard_members_select(conn, c: Team) -> Breaches:
    return _hidden(
        conn,
        c.outsider,
        "nora sees who is in Shared",
        "select user_id from app.project_members where project_id = %(project)s",
        _ids(c),
    )


def _guard_members_update_using(conn, c: Team) -> Breaches:
    return _affects_nothing(
        conn,
        c.owner,
        "olga demotes her own owner row",
        "update app.project_members set role = 'editor' where project_id = %(project)s and user_id = %(owner)s",
        _ids(c),
    ) + _affects_nothing(
        conn,
        c.editor,
        "ed changes vi's role",
        "update app.project_members set role = 'editor' where project_id = %(project)s and user_id = %(viewer)s",
        _ids(c),
    )


def _guard_members_update_check(conn, c: Team) -> Breaches:
    breaches = _refused(
        conn,
        c.owner,
        "olga makes ed a second owner",
        "update app.project_members set role = 'owner' where project_id = %(project)s and user_id = %(editor)s",
        _ids(c),
    )
    conn.execute("grant update (project_id) on app.project_members to todo_app")
    # No WHERE: nothing is read, so only the update policy applies, to every row olga may change.
    return breaches + _refused(
        conn,
        c.owner,
        "olga moves her members into nora's project",
        "update app.project_members set project_id = %(outsiders_project)s",
        _ids(c),
    )


def _guard_members_delete(conn, c: Team) -> Breaches:
    row = "select from app.project_members where project_id = %(project)s and user_id = "
    return _affects_nothing(
        conn,
        c.editor,
        "ed removes vi",
        "delete from app.project_members where project_id = %(project)s and user_id = %(viewer)s",
        _ids(c),
        row + "%(viewer)s",
    ) + _affects_nothing(
        conn,
        c.owner,
        "olga deletes her owner row",
        "delete from app.project_members where project_id = %(project)s and user_id = %(owner)s",
        _ids(c),
        row + "%(owner)s",
    )


def _guard_invitations_select(conn, c: Team) -> Breaches:
    query = "select id from app.project_invitations where project_id = %(project)s"
    return _hidden(conn, c.editor, "ed (a member, not the owner) sees Shared's invitations", query, _ids(c)) + _hidden(
        conn, c.outsider, "nora sees Shared's invitations", query, _ids(c)
    )


def _guard_invitations_delete(conn, c: Team) -> Breaches:
    # gus sees the invitation addressed to him (the select policy lets him), but only the owner withdraws it.
    breaches = _affects_nothing(
        conn,
        c.invitee,
        "gus withdraws olga's invitation",
        "delete from app.project_invitations where id = %(invitation)s",
        _ids(c),
        "select from app.project_invitations where id = %(invitation)s",
    )
    # No WHERE: nothing is read, so only the delete policy applies.
    return breaches + _affects_nothing(
        conn,
        c.editor,
        "ed deletes every invitation",
        "delete from app.project_invitations",
        _ids(c),
        "select from app.project_invitations",
    )


def _guard_tasks_select(conn, c: Team) -> Breaches:
    return _hidden(
        conn, c.outsider, "nora sees Shared's tasks", "select id from app.tasks where project_id = %(project)s", _ids(c)
    )


def _guard_tasks_insert(conn, c: Team) -> Breaches:
    into_shared = "insert into app.tasks (project_id, title) values (%(project)s, 'Planted')"
    return (
        _refused(conn, c.viewer, "vi adds a task to Shared", into_shared, _ids(c))
        + _refused(conn, c.outsider, "nora adds a task to Shared", into_shared, _ids(c))
        + _refused(
            conn,
            c.editor,
            "ed adds a task to Shared as created by olga",
            "insert into app.tasks (user_id, project_id, title) values (%(owner)s, %(project)s, 'Forged')",
            _ids(c),
        )
    )


def _guard_tasks_update_using(conn, c: Team) -> Breaches:
    return _affects_nothing(
        conn,
        c.viewer,
        "vi moves olga's task into her own inbox",
        "update app.tasks set project_id = %(viewer)s where id = %(task)s",
        _ids(c),
        "select from app.tasks where id = %(task)s",
    )


def _guard_tasks_update_check(conn, c: Team) -> Breaches:
    # No WHERE: nothing is read, so the update policy's WITH CHECK alone judges the new rows (after a WHERE, the
    # select policy would refuse them as well).
    return _refused(
        conn,
        c.editor,
        "ed pushes the tasks he edits into nora's project",
        "update app.tasks set project_id = %(outsiders_project)s",
        _ids(c),
    )


def _guard_tasks_delete(conn, c: Team) -> Breaches:
    return _affects_nothing(
        conn,
        c.viewer,
        "vi deletes olga's task",
        "delete from app.tasks where id = %(task)s",
        _ids(c),
        "select from app.tasks where id = %(task)s",
    )


def _guard_events_select(conn, c: Team) -> Breaches:
    return _hidden(
        conn,
        c.outsider,
        "nora reads Shared's history",
        "select id from app.task_events where project_id = %(project)s",
        _ids(c),
    )


def _guard_events_insert(conn, c: Team) -> Breaches:
    # The history trigger writes with the schema owner's rights; a statement that switches the identity on its
    # way out would have it record nora, who may not edit Shared. (A superuser session skips the trigger's
    # own check of the same rule; tests/security/test_history_actor.py proves that one with a real login.)
    return _refused(
        conn,
        c.editor,
        "ed's new task recorded as created by nora",
        "insert into app.tasks (project_id, title) values (%(project)s, 'Forged') "
        "returning set_config('app.user_id', %(outsider)s::text, true)",
        _ids(c),
    )


def _guard_archive_select(conn, c: Team) -> Breaches:
    # The owner's retention job moves ed's completed task into the archive; nora must not find it there.
    assert conn.execute("select app_private.archive_completed_tasks(now() + interval '1 day', 10)").fetchone() == (1,)
    return _hidden(
        conn,
        c.outsider,
        "nora sees Shared's archived tasks",
        "select id from app.tasks_archive where project_id = %(project)s",
        _ids(c),
    )


def _guard_task_tags_select(conn, c: Team) -> Breaches:
    with _as(conn, c.editor):
        assert count(conn, "select from app.tasks where id = %(task)s", _ids(c)) == 1  # ed sees the task...
    return _hidden(
        conn,
        c.editor,
        "ed sees olga's tag on it",  # ...not olga's link on it
        "select tag_id from app.task_tags where task_id = %(task)s",
        _ids(c),
    )


def _guard_task_tags_insert(conn, c: Team) -> Breaches:
    return _refused(
        conn,
        c.outsider,
        "nora tags a task of Shared",
        "insert into app.task_tags (task_id, tag_id) values (%(task)s, %(outsiders_tag)s)",
        _ids(c),
    ) + _refused(
        conn,
        c.editor,
        "ed puts a link in olga's name",
        "insert into app.task_tags (user_id, task_id, tag_id) values (%(owner)s, %(editors_task)s, %(owners_tag)s)",
        _ids(c),
    )


def _guard_task_tags_delete(conn, c: Team) -> Breaches:
    link = "select from app.task_tags where tag_id = %(owners_tag)s"
    assert count(conn, link, _ids(c)) == 1
    with _as(conn, c.editor), conn.transaction(force_rollback=True):
        conn.execute("delete from app.task_tags")  # no WHERE: only the delete policy applies
        conn.execute("reset role")  # the owner of the tables looks
        left = count(conn, link, _ids(c))
    return [] if left else ["ed deletes olga's tag link"]


@dataclass(frozen=True)
class Guard:
    check: Callable[[psycopg.Connection, Team], Breaches]
    # The databases on which the policy is what stops the adversary. task_events' insert policy applies only
    # where an ordinary owner migrated: a superuser's history trigger writes past every policy (and past its
    # own check of the same rule too, in these tests, whose session user is a superuser).
    holds_on: tuple[str, ...] = ("superuser", "ordinary owner")
    # Where the policy replaced by `true` must show the breach: where nothing else stands behind it. On the
    # ordinary owner's database task_events' insert policy, through the history trigger, also stops a task
    # written where a tasks policy was `true` (a second lock, which would hide the first one's mutant).
    mutant_on: str = "superuser"


GUARDS: dict[tuple[str, str, str], Guard] = {
    ("projects", "projects_select_member", "using"): Guard(_guard_projects_select),
    ("projects", "projects_insert_owner", "with check"): Guard(_guard_projects_insert),
    ("projects", "projects_update_owner", "using"): Guard(_guard_projects_update_using),
    ("projects", "projects_update_owner", "with check"): Guard(_guard_projects_update_check),
    ("projects", "projects_delete_owner", "using"): Guard(_guard_projects_delete),
    ("project_members", "project_members_select_member", "using"): Guard(_guard_members_select),
    ("project_members", "project_members_update_owner", "using"): Guard(_guard_members_update_using),
    ("project_members", "project_members_update_owner", "with check"): Guard(_guard_members_update_check),
    ("project_members", "project_members_delete_owner_or_self", "using"): Guard(_guard_members_delete),
    ("project_invitations", "project_invitations_select_owner_or_invitee", "using"): Guard(_guard_invitations_select),
    ("project_invitations", "project_invitations_delete_owner", "using"): Guard(_guard_invitations_delete),
    ("tasks", "tasks_select_member", "using"): Guard(_guard_tasks_select),
    ("tasks", "tasks_insert_editor", "with check"): Guard(_guard_tasks_insert),
    ("tasks", "tasks_update_editor", "using"): Guard(_guard_tasks_update_using),
    ("tasks", "tasks_update_editor", "with check"): Guard(_guard_tasks_update_check),
    ("tasks", "tasks_delete_editor", "using"): Guard(_guard_tasks_delete),
    ("task_events", "task_events_select_member", "using"): Guard(_guard_events_select),
    ("task_events", "task_events_insert_editor", "with check"): Guard(
        _guard_events_insert, holds_on=("ordinary owner",), mutant_on="ordinary owner"
    ),
    ("tasks_archive", "tasks_archive_select_member", "using"): Guard(_guard_archive_select),
    ("task_tags", "task_tags_select_own", "using"): Guard(_guard_task_tags_select),
    ("task_tags", "task_tags_insert_visible_task", "with check"): Guard(_guard_task_tags_insert),
    ("task_tags", "task_tags_delete_own", "using"): Guard(_guard_task_tags_delete),
}


def test_every_policy_of_the_sharing_tables_has_a_guard(superuser_migrated):
    """The sharing tables: every table with a policy that reads the memberships, directly, through the definer
    functions or through tasks' policies; so a table that starts sharing (tasks_archive in 0046) needs a guard."""
    policies = superuser_migrated.execute(
        "select p.tablename, p.policyname, p.roles::text[], p.qual is not null, p.with_check is not null "
        "from pg_catalog.pg_policies as p where p.schemaname = 'app' and exists ("
        "  select from pg_catalog.pg_policies as q where q.schemaname = p.schemaname and q.tablename = p.tablename"
        "  and concat(q.qual, ' ', q.with_check) ~ '(project_members|_project_ids\\(|app\\.tasks\\M)')"
    ).fetchall()
    for_everyone = {
        (table, name, clause)
        for table, name, roles, has_using, has_check in policies
        if roles == ["public"]
        for clause, present in (("using", has_using), ("with check", has_check))
        if present
    }
    assert for_everyone == set(GUARDS)
    # The rest are todo_auth's, for the definer functions that check their caller themselves; they are proven
    # through those functions (the invitation, acceptance, transfer and inbox tests below), not by a guard.
    assert {tuple(roles) for _, _, roles, _, _ in policies if roles != ["public"]} == {("todo_auth",)}


def _flavour(request) -> str:
    """Which database migrated_db is for this test: "superuser" or "ordinary owner"."""
    return request.node.callspec.params["migrated_db"]


def test_no_guard_finds_a_breach(request, db, cast):
    breaches = {}
    for key, guard in GUARDS.items():
        if _flavour(request) in guard.holds_on:
            with db.transaction(force_rollback=True):
                breaches[key[1], key[2]] = guard.check(db, cast)
    assert breaches and breaches == dict.fromkeys(breaches, [])


def test_every_guard_finds_its_breach_once_its_policy_is_true(request, db, cast):
    """Each policy, alone, replaced by `true` in a transaction that is rolled back: its guard must see it."""
    missed = []
    for (table, name, clause), guard in GUARDS.items():
        if guard.mutant_on != _flavour(request):
            continue
        mutant = "using (true)" if clause == "using" else "with check (true)"
        with db.transaction(force_rollback=True):
            db.execute(
                sql.SQL("alter policy {} on {} " + mutant).format(sql.Identifier(name), sql.Identifier("app", table))
            )
            if guard.check(db, cast) == []:
                missed.append(f"{name} {clause}")
    assert missed == []


# --- 4. invitations, without enumeration -----------------------------------------------------------


def _invite(conn, project, email, role="viewer"):
    return conn.execute("select app.invite_to_project(%s, %s, %s)", [project, email, role]).fetchone()[0]


def test_inviting_an_address_with_an_account_looks_exactly_like_inviting_one_without(db, cast):
    notices = []
    db.add_notice_handler(notices.append)
    shown = "select project_id, role, invited_by, expires_at - created_at, to_json(i) from app.project_invitations as i"
    with _as(db, cast.owner):
        # nora has an account, nobody has not: both calls succeed, with no notice, and return an id.
        ids = [_invite(db, cast.project, email) for email in ("nora@example.com", "nobody@example.com")]
        rows = [db.execute(shown + " where id = %s", [invitation]).fetchone() for invitation in ids]
    assert all(isinstance(invitation, uuid.UUID) for invitation in ids) and not notices
    # The same row, but for its address and id: nora's id is nowhere in hers.
    assert rows[0][:4] == rows[1][:4] == (cast.project, "viewer", cast.owner, rows[0][3])
    assert rows[0][4].keys() == rows[1][4].keys()
    assert str(cast.outsider) not in json.dumps(rows[0][4])


def test_an_invitation_refers_to_no_user_but_its_inviter(superuser_migrated):
    references = superuser_migrated.execute(
        "select array_agg(a.attname order by a.attname) from pg_catalog.pg_constraint as c "
        "join pg_catalog.pg_attribute as a on a.attrelid = c.conrelid and a.attnum = any(c.conkey) "
        "where c.conrelid = 'app.project_invitations'::regclass and c.confrelid = 'app.users'::regclass"
    ).fetchone()[0]
    assert references == ["invited_by"]


def test_only_the_owner_invites_and_a_missing_project_is_refused_the_same(db, cast):
    refusals = {}
    for role in ("editor", "viewer", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            refusals[role] = _result(
                db, "select app.invite_to_project(%s, 'someone@example.com', 'viewer')", [cast.project]
            )
    with _as(db, cast.owner):
        refusals["owner, to a project that does not exist"] = _result(
            db, "select app.invite_to_project(%s, 'someone@example.com', 'viewer')", [uuid.uuid4()]
        )
        assert _invite(db, cast.project, "someone@example.com")  # the boundary
    assert {role: result[:2] for role, result in refusals.items()} == dict.fromkeys(refusals, ("42501", None))
    assert len(set(refusals.values())) == 1


def test_an_inbox_is_never_shared(db, cast):
    with _as(db, cast.owner):
        with refused(db, "23514", "project_invitations_not_inbox_check"):
            _invite(db, cast.owner, "someone@example.com")
        assert _invite(db, cast.project, "someone@example.com")  # the boundary: a project that is not an inbox


def test_an_invitation_is_for_an_editor_or_a_viewer(db, cast):
    with _as(db, cast.owner):
        for role, constraint in (
            ("owner", "project_invitations_role_check"),
            ("admin", "project_role_check"),
            ("Editor", "project_role_check"),
        ):
            with refused(db, "23514", constraint):
                _invite(db, cast.project, "someone@example.com", role)
        for role in ("editor", "viewer"):  # the boundary
            assert _invite(db, cast.project, f"{role}@example.com", role)


def test_inviting_the_same_address_again_renews_the_one_invitation(db, cast):
    with _as(db, cast.owner):
        first = _invite(db, cast.project, "twice@example.com", "viewer")
        db.execute("reset role")
        db.execute(
            "update app.project_invitations set created_at = now() - interval '6 days', "
            "expires_at = now() + interval '1 day' where id = %s",
            [first],
        )
        act_as(db, "todo_app", cast.owner)
        again = _invite(db, cast.project, "TWICE@example.com", "editor")
        rows = db.execute(
            "select id, role, created_at = now(), expires_at - now() from app.project_invitations where email = %s",
            ["twice@example.com"],
        ).fetchall()
    assert again == first
    assert [row[:3] for row in rows] == [(first, "editor", True)] and rows[0][3].days == 7


def test_the_invitee_accepts_case_insensitively_and_joins_with_the_invited_role(db, cast):
    zoe = new_user(db, "zoe@example.com")
    with _as(db, cast.owner):
        invitation = _invite(db, cast.project, "ZOE@Example.COM", "editor")
        _become(db, zoe)
        db.execute("select app.accept_invitation(%s)", [invitation])
        assert _role_of(db, cast.project, zoe) == "editor"
        assert count(db, "select id from app.tasks where project_id = %s", [cast.project]) == 2
        db.execute("reset role")
        assert count(db, "select from app.project_invitations where id = %s", [invitation]) == 0  # used up


def test_only_the_user_the_invitation_names_accepts_it_and_an_unknown_id_is_refused_the_same(db, cast):
    accept = "select app.accept_invitation(%s)"
    refusals = {}
    for role in ("owner", "editor", "viewer", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            refusals[role] = _result(db, accept, [cast.invitation])
    with _as(db, cast.invitee):
        refusals["gus, an unknown id"] = _result(db, accept, [uuid.uuid4()])
        db.execute(accept, [cast.invitation])  # the boundary
        assert _role_of(db, cast.project, cast.invitee) == "editor"
    assert {who: result[:2] for who, result in refusals.items()} == dict.fromkeys(refusals, ("42501", None))
    assert len(set(refusals.values())) == 1


def test_an_expired_invitation_cannot_be_accepted(db, cast):
    accept = "select app.accept_invitation(%s)"
    # Expiry is judged by the clock, not the transaction's start: one that expires while a transaction is
    # open (here, a millisecond after the clock read below) cannot be accepted in it.
    db.execute(
        "update app.project_invitations set created_at = now() - interval '8 days', "
        "expires_at = clock_timestamp() + interval '1 millisecond' where id = %s",
        [cast.invitation],
    )
    db.execute("select pg_sleep(0.01)")
    with _as(db, cast.invitee):
        with refused(db, "42501"):
            db.execute(accept, [cast.invitation])
    # The boundary: a minute before it expires.
    db.execute(
        "update app.project_invitations set expires_at = clock_timestamp() + interval '1 minute' where id = %s",
        [cast.invitation],
    )
    with _as(db, cast.invitee):
        db.execute(accept, [cast.invitation])


def test_the_invitee_sees_the_invitations_for_their_address_and_nobody_else_does(db, cast):
    query = "select id from app.project_invitations"
    assert count(db, query) == 3  # as the owner of the tables: three invitations, two projects
    seen = {}
    for role in ("owner", "editor", "viewer", "invitee", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            seen[role] = {row[0] for row in db.execute(query)}
    assert seen == {
        "owner": {cast.invitation, cast.stranger_invitation},
        "editor": set(),
        "viewer": set(),
        "no identity": set(),
        "invitee": {cast.invitation},
        "non-member": {cast.outsiders_invitation},  # the owner of her own project
    }


# --- 5. transferring ownership -----------------------------------------------------------------------


def _transfer(conn, project, new_owner):
    conn.execute("select app.transfer_ownership(%s, %s)", [project, new_owner])


def test_after_a_transfer_the_new_owner_manages_the_project_and_the_old_one_is_an_editor(db, cast):
    demote_vi = "update app.project_members set role = 'editor' where project_id = %s and user_id = %s"
    with _as(db, cast.owner):
        _transfer(db, cast.project, cast.editor)
        assert db.execute("select owner_id from app.projects where id = %s", [cast.project]).fetchone() == (
            cast.editor,
        )
        assert (_role_of(db, cast.project, cast.editor), _role_of(db, cast.project, cast.owner)) == ("owner", "editor")
        # olga no longer manages members, but still edits tasks...
        assert db.execute(demote_vi, [cast.project, cast.viewer]).rowcount == 0
        with refused(db, "42501"):
            _invite(db, cast.project, "someone@example.com")
        assert db.execute("update app.tasks set title = 'Still mine to edit' where id = %s", [cast.task]).rowcount == 1
        _become(db, cast.editor)  # ...and ed does.
        assert db.execute(demote_vi, [cast.project, cast.viewer]).rowcount == 1
        assert _invite(db, cast.project, "someone@example.com")
        _become(db, cast.owner)  # The old owner may now leave.
        assert (
            db.execute(
                "delete from app.project_members where project_id = %s and user_id = %s", [cast.project, cast.owner]
            ).rowcount
            == 1
        )


def test_only_the_owner_transfers_a_project_and_a_missing_one_is_refused_the_same(db, cast):
    transfer = "select app.transfer_ownership(%s, %s)"
    refusals = {}
    for role in ("editor", "viewer", "non-member", "no identity"):
        with _as(db, cast.of(role)):
            refusals[role] = _result(db, transfer, [cast.project, cast.editor])
    with _as(db, cast.owner):
        refusals["owner, a project that does not exist"] = _result(db, transfer, [uuid.uuid4(), cast.editor])
        refusals["owner, nora's project"] = _result(db, transfer, [cast.outsiders_project, cast.owner])
    assert {who: result[:2] for who, result in refusals.items()} == dict.fromkeys(refusals, ("42501", None))
    assert len(set(refusals.values())) == 1
    assert _role_of(db, cast.project, cast.owner) == "owner"


def test_a_project_is_transferred_only_to_a_member(db, cast):
    with _as(db, cast.owner):
        with refused(db, "23503", "projects_owner_is_member_check"):
            _transfer(db, cast.project, cast.outsider)
        _transfer(db, cast.project, cast.viewer)  # the boundary: a member, even a viewer
        assert _role_of(db, cast.project, cast.viewer) == "owner"


def test_an_inbox_cannot_change_hands(db, cast):
    with _as(db, cast.owner):
        with refused(db, "23514", "projects_inbox_id_check"):
            _transfer(db, cast.owner, cast.editor)
        _transfer(db, cast.project, cast.editor)  # the boundary: a project that is not an inbox
    assert db.execute("select owner_id from app.projects where id = %s", [cast.owner]).fetchone() == (cast.owner,)


# --- 6. deleting a user --------------------------------------------------------------------------


def test_deleting_a_user_takes_their_projects_and_leaves_their_work_in_other_peoples(db, cast):
    ed = cast.editor
    own = new_project(db, ed, "Ed's")
    own_task = new_project_task(db, ed, own, "Ed's own")
    with as_identity(db, ed):  # ed's work in Shared: assigned to him, completed by him
        db.execute("update app.tasks set assignee_id = %s, status = 'completed' where id = %s", [ed, cast.task])
    assert count(db, "select from app.task_events where actor_id = %s and project_id = %s", [ed, cast.project]) == 3
    with _as(db, ed):
        assert db.execute("delete from app.users where id = %s", [ed]).rowcount == 1
        db.execute("reset role")  # back to the owner of the tables to look, before the block rolls back
        assert count(db, "select from app.projects where owner_id = %s", [ed]) == 0  # "Ed's" and his inbox
        assert count(db, "select from app.tasks where id = %s or project_id = %s", [own_task, own]) == 0
        assert count(db, "select from app.task_events where project_id = %s", [own]) == 0
        assert count(db, "select from app.project_members where user_id = %s", [ed]) == 0
        assert db.execute(
            "select user_id, project_id from app.tasks where id = %s", [cast.editors_task]
        ).fetchone() == (None, cast.project)
        assert db.execute("select assignee_id, status from app.tasks where id = %s", [cast.task]).fetchone() == (
            None,
            "completed",
        )
        history = db.execute(
            "select task_id, kind, user_id, actor_id from app.task_events where project_id = %s order by id",
            [cast.project],
        ).fetchall()
    assert history == [
        (cast.task, "created", cast.owner, cast.owner),
        (cast.editors_task, "created", None, None),
        (cast.editors_task, "status_changed", None, None),
        (cast.task, "status_changed", cast.owner, None),
    ]


def test_only_a_member_of_the_tasks_project_can_be_assigned(db, cast):
    assign = "update app.tasks set assignee_id = %s where id = %s"
    create = "insert into app.tasks (project_id, title, assignee_id) values (%s, 'Assigned', %s)"
    with _as(db, cast.editor):
        with refused(db, "23503", "tasks_assignee_membership_fkey"):
            db.execute(assign, [cast.outsider, cast.task])
        with refused(db, "23503", "tasks_assignee_membership_fkey"):
            db.execute(create, [cast.project, cast.outsider])
        # The boundary: any member, a viewer too.
        assert db.execute(assign, [cast.viewer, cast.task]).rowcount == 1
        db.execute(create, [cast.project, cast.viewer])


def test_leaving_a_project_or_being_removed_clears_the_members_assignments_there(db, cast):
    with as_identity(db, cast.owner):
        db.execute("update app.tasks set assignee_id = %s where id = %s", [cast.viewer, cast.task])
    for remover in ("viewer", "owner"):  # vi leaves; olga removes vi
        with _as(db, cast.of(remover)):
            assert (
                db.execute(
                    "delete from app.project_members where project_id = %s and user_id = %s",
                    [cast.project, cast.viewer],
                ).rowcount
                == 1
            )
            db.execute("reset role")
            assert db.execute(
                "select assignee_id, project_id from app.tasks where id = %s", [cast.task]
            ).fetchone() == (None, cast.project), remover


# --- 7. tags on shared tasks ------------------------------------------------------------------------


def test_a_member_puts_their_own_tag_on_a_shared_task_and_nobody_else_sees_the_link(db, cast):
    link = "select tag_id from app.task_tags where task_id = %s and tag_id = %s"
    with _as(db, cast.editor):
        db.execute("insert into app.task_tags (task_id, tag_id) values (%s, %s)", [cast.task, cast.editors_tag])
        assert count(db, link, [cast.task, cast.editors_tag]) == 1
        db.execute("reset role")
        assert count(db, link, [cast.task, cast.editors_tag]) == 1  # as the owner of the tables: it is there
        seen = {}
        for role in ("owner", "viewer", "non-member", "no identity"):
            _become(db, cast.of(role))
            seen[role] = count(db, link, [cast.task, cast.editors_tag])
    assert seen == dict.fromkeys(seen, 0)


def test_tagging_a_task_you_cannot_see_is_refused(db, cast):
    tag = "insert into app.task_tags (task_id, tag_id) values (%s, %s)"
    assert count(db, "select from app.tasks where id = %s", [cast.task]) == 1  # as the owner: the task is there
    with _as(db, cast.outsider):
        with refused(db, "42501"):
            db.execute(tag, [cast.task, cast.outsiders_tag])
        with refused(db, "42501"):  # the same for a task that does not exist
            db.execute(tag, [uuid.uuid4(), cast.outsiders_tag])
    with _as(db, cast.viewer):  # the boundary: a viewer sees the task, so may put a tag of theirs on it
        viewers_tag = db.execute("insert into app.tags (name) values ('to read') returning id").fetchone()[0]
        db.execute(tag, [cast.task, viewers_tag])


# --- 8. inboxes ---------------------------------------------------------------------------------------


def test_sign_up_gives_exactly_one_inbox_whose_id_is_the_user_id_and_whose_only_member_is_its_owner(db):
    with _as(db, None):
        user = db.execute("select app.sign_up('new@example.com', 'New', %s)", [BCRYPT_HASH]).fetchone()[0]
        db.execute("reset role")
        assert db.execute("select id, is_inbox from app.projects where owner_id = %s", [user]).fetchall() == [
            (user, True)
        ]
        assert db.execute("select user_id, role from app.project_members where project_id = %s", [user]).fetchall() == [
            (user, "owner")
        ]


def test_the_app_cannot_delete_an_inbox(db, cast):
    with _as(db, cast.owner):
        assert db.execute("delete from app.projects where id = %s", [cast.owner]).rowcount == 0
        assert db.execute("delete from app.projects where id = %s", [cast.project]).rowcount == 1  # the boundary


def test_an_inbox_cannot_be_archived(db, cast):
    with _as(db, cast.owner):
        with refused(db, "23514", "projects_inbox_not_archived_check"):
            db.execute("update app.projects set archived_at = now() where id = %s", [cast.owner])
        assert (
            db.execute("update app.projects set archived_at = now() where id = %s", [cast.project]).rowcount == 1
        )  # the boundary


def test_the_app_creates_projects_it_owns_from_that_statement_on_but_never_an_inbox(db, cast):
    with _as(db, cast.outsider):
        with refused(db, "42501"):
            db.execute("insert into app.projects (name, is_inbox) values ('Inbox', true)")
        # `returning` passes the select policy before the owner row exists (it is added after the statement)...
        project, owner, is_inbox = db.execute(
            "insert into app.projects (name) values ('Garden') returning id, owner_id, is_inbox"
        ).fetchone()
        assert (owner, is_inbox) == (cast.outsider, False)
        assert _role_of(db, project, cast.outsider) == "owner"  # ...which the next statement sees


def test_a_task_goes_to_its_creators_inbox_unless_it_names_a_project_they_edit(db, cast):
    into = "insert into app.tasks (project_id, title) values (%s, 'There') returning project_id"
    with _as(db, cast.editor):
        assert db.execute("insert into app.tasks (title) values ('Mine') returning project_id").fetchone() == (
            cast.editor,
        )
        assert db.execute(into, [cast.project]).fetchone() == (cast.project,)
    with _as(db, cast.viewer):
        with refused(db, "42501"):
            db.execute(into, [cast.project])
        with refused(db, "42501"):  # someone else's inbox, whose id is a user id anyone may know
            db.execute(into, [cast.editor])


# --- 9. the memberships are read once per statement -----------------------------------------------


def _nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _explain(conn, user, query) -> tuple[dict, str]:
    with _as(conn, user):
        plan = conn.execute(f"explain (analyze, format json) {query}").fetchone()[0][0]["Plan"]
    return plan, json.dumps(plan)


def _run_more_than_once(plan: dict) -> list[tuple[str, int]]:
    """(name, loops) of every InitPlan or SubPlan that ran more than once: a lookup per row."""
    return [
        (node["Subplan Name"], node["Actual Loops"])
        for node in _nodes(plan)
        if node.get("Parent Relationship") in ("SubPlan", "InitPlan") and node["Actual Loops"] > 1
    ]


def _membership_lookups(plan: dict) -> list[tuple[str, int]]:
    """(name, loops) of every subplan that reads project_members."""
    return [
        (node["Subplan Name"], node["Actual Loops"])
        for node in _nodes(plan)
        if node.get("Parent Relationship") in ("SubPlan", "InitPlan")
        and any(n.get("Relation Name") == "project_members" for n in _nodes(node))
    ]


@pytest.fixture
def crowd(superuser_migrated):
    """Shared with 300 more tasks (and their history) among 100 other users' inboxes."""
    cast = team(superuser_migrated)
    for i in range(100):
        new_user(superuser_migrated, f"crowd-{i}@example.com")
    with as_identity(superuser_migrated, cast.owner):
        superuser_migrated.execute(
            "insert into app.tasks (project_id, title) select %s, 'task ' || i from generate_series(1, 300) as i",
            [cast.project],
        )
    superuser_migrated.execute("analyze")
    return cast


def test_the_membership_lookup_runs_once_per_statement_not_once_per_row(superuser_migrated, crowd):
    for table in ("tasks", "task_events", "projects"):
        plan, text = _explain(superuser_migrated, crowd.viewer, f"select count(*) from app.{table}")
        scan = next(node for node in _nodes(plan) if node.get("Relation Name") == table)
        # Valid only if the policy meets many rows: a lookup per row would show as many loops.
        assert scan["Actual Rows"] + scan.get("Rows Removed by Filter", 0) > 100, text
        # Every subplan runs at most once (an InitPlan, or a hashed SubPlan built once and probed per row)...
        assert _run_more_than_once(plan) == [], text
        # ...and the policy's own lookup of the memberships is a hashed SubPlan, executed exactly once.
        hashed = [(name, loops) for name, loops in _membership_lookups(plan) if f"hashed {name})" in text]
        assert hashed and all(loops == 1 for _, loops in hashed), (table, text)


def test_the_once_per_statement_check_catches_a_lookup_per_row(superuser_migrated, crowd):
    # The check bites: a correlated lookup (OFFSET 0 keeps PostgreSQL from hashing it) runs once per task.
    with superuser_migrated.transaction(force_rollback=True):
        superuser_migrated.execute(
            "alter policy tasks_select_member on app.tasks using (exists (select from app.project_members as m "
            "where m.project_id = tasks.project_id and m.user_id = (select app.current_user_id()) offset 0))"
        )
        plan, text = _explain(superuser_migrated, crowd.viewer, "select count(*) from app.tasks")
    assert any(loops >= 300 for _, loops in _run_more_than_once(plan)), text
