"""Row-level security, adversarially, acting exactly as the app does
(`set local role todo_app` + `set_config('app.user_id', ..., true)`).

Each table's isolation is written as a check that returns the breaches it
finds. The tests assert there are none; the mutation test replaces the
table's policies with `using (true)` and asserts the same check then finds
some, so every check is known to bite."""

from __future__ import annotations

import shutil
import uuid
from contextlib import contextmanager

import psycopg
import pytest

from tests.support import MIGRATIONS_DIR, acting_as, db_url, refused, write_migration
from tests.worlds import Person, two_users
from tooling import inventory

# The tables whose rows belong to one user come from the catalog (tooling.inventory.user_tables: app.users
# and every table of app with a user_id column), so a table a new migration adds is checked here without
# touching a list: the check first proves, as the owner, that the world holds rows of it for both users
# (give it some in the world). The tables shared by membership are checked here too, for two users who share
# nothing, and by every policy's guard in test_sharing_rls.py. A policy for everyone named
# <table>_<command>_own marks a table of one user's rows: each such table must be among the user tables.
OWNED_TABLES_SQL = """
select distinct p.tablename from pg_catalog.pg_policies as p
where p.schemaname = 'app' and p.roles = '{public}' and p.policyname ~ ('^' || p.tablename || '_[a-z]+_own$')
order by 1
"""
ARCHIVES = {"tasks_archive", "task_tags_archive"}  # read-only for the app: filled by the retention job


def _owner_column(table: str) -> str:
    return "id" if table == "users" else "user_id"


def _archive_completed(conn, people: dict[str, Person]) -> None:
    """Tag each one's completed task, and let the retention job move it (and the link) into the archive."""
    for person in people.values():
        conn.execute(
            "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)",
            [person.id, person.tasks[2], person.tags[0]],
        )
    archived = conn.execute("select app_private.archive_completed_tasks(now() + interval '1 day', 10)").fetchone()
    assert archived == (2,)  # each one's completed task


@pytest.fixture
def world(superuser_migrated):
    """ann and bob (tests/worlds.py)."""
    return two_users(superuser_migrated)


@contextmanager
def _world_for(conn, world, table: str):
    """The world as ``table``'s checks need it, in a transaction rolled back at the end: for an archive
    table, each one's completed task (and its link) archived by the retention job first (the other tables'
    checks use those tasks where they were)."""
    with conn.transaction(force_rollback=True):
        if table in ARCHIVES:
            _archive_completed(conn, world)
        yield


def _rows_of(conn, table: str, person: Person) -> int:
    return conn.execute(f"select count(*) from app.{table} where {_owner_column(table)} = %s", [person.id]).fetchone()[
        0
    ]


def _attempt(conn, statement: str, params: list) -> str | None:
    """Run a write that must be refused; return a breach description if it was not."""
    try:
        with conn.transaction():
            cur = conn.execute(statement, params)
            return f"{statement!r} was accepted ({cur.rowcount} row(s))"
    except psycopg.Error as exc:
        if exc.sqlstate != "42501":
            return f"{statement!r} failed with {exc.sqlstate}, not 42501"
        return None


def _affects_nothing(conn, statement: str, params: list) -> str | None:
    try:
        with conn.transaction(force_rollback=True):
            rowcount = conn.execute(statement, params).rowcount
    except psycopg.Error as exc:  # e.g. a unique violation: it did reach rows
        return f"{statement!r} failed with {exc.sqlstate}"
    return None if rowcount == 0 else f"{statement!r} affected {rowcount} row(s)"


def isolation_breaches(conn, world, table: str) -> list[str]:
    """Everything ann can do to bob's rows of ``table`` that she should not."""
    ann, bob = world["ann"], world["bob"]
    # Just to check that the test is valid: as the owner, bob's rows are there.
    assert _rows_of(conn, table, bob) > 0 and _rows_of(conn, table, ann) > 0
    own = _owner_column(table)
    breaches: list[str] = []
    with acting_as(conn, "todo_app", ann.id):
        seen = conn.execute(f"select distinct {own} from app.{table}").fetchall()
        if seen != [(ann.id,)]:
            breaches.append(f"ann sees rows of {seen}")
        if table in ("users", "tasks", "tags"):
            column = "name" if table != "tasks" else "title"
            breaches.append(_affects_nothing(conn, f"update app.{table} set {column} = 'x' where {own} = %s", [bob.id]))
        if table != "task_events" and table not in ARCHIVES:  # neither is granted DELETE: nothing to try
            breaches.append(_affects_nothing(conn, f"delete from app.{table} where {own} = %s", [bob.id]))
        if table == "tasks":
            breaches.append(_attempt(conn, "insert into app.tasks (user_id, title) values (%s, 'mine now')", [bob.id]))
        if table == "tags":
            breaches.append(_attempt(conn, "insert into app.tags (user_id, name) values (%s, 'mine now')", [bob.id]))
        if table == "task_tags":
            breaches.append(
                _attempt(
                    conn,
                    "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)",
                    [bob.id, bob.tasks[2], bob.tags[0]],
                )
            )
    return [b for b in breaches if b]


def test_every_table_with_an_own_policy_is_checked_here(superuser_migrated):
    found = {name for (name,) in superuser_migrated.execute(OWNED_TABLES_SQL)}
    assert found == {"users", "tags", "task_tags", "task_tags_archive"}  # the query finds what it should
    tables = inventory.user_tables(superuser_migrated)
    assert {"tasks", "task_events", "tasks_archive", "project_members"} <= set(tables)  # and by membership
    assert found <= set(tables), "a table with an _own policy has no user_id column: the checks here miss it"


def test_a_user_reaches_only_their_own_rows(superuser_migrated, world):
    breaches = {}
    for table in inventory.user_tables(superuser_migrated):
        with _world_for(superuser_migrated, world, table):
            breaches[table] = isolation_breaches(superuser_migrated, world, table)
    assert {table: found for table, found in breaches.items() if found} == {}


def _policies_made_true(conn, table: str) -> None:
    policies = conn.execute(
        "select policyname, cmd from pg_policies where schemaname = 'app' and tablename = %s and %s = any(roles)",
        [table, "public"],
    ).fetchall()
    assert policies, f"no policies on {table}"
    for name, command in policies:
        clauses = {"SELECT": "using (true)", "DELETE": "using (true)", "INSERT": "with check (true)"}
        clause = clauses.get(command, "using (true) with check (true)")
        conn.execute(f"alter policy {name} on app.{table} {clause}")


def test_the_isolation_check_fails_when_the_policies_are_using_true(superuser_migrated, world):
    unbitten = []
    for table in inventory.user_tables(superuser_migrated):
        with _world_for(superuser_migrated, world, table):
            _policies_made_true(superuser_migrated, table)
            if isolation_breaches(superuser_migrated, world, table) == []:
                unbitten.append(table)
    assert unbitten == [], "with its policies using (true), the check still finds no breach"


@pytest.mark.parametrize("role", ["todo_app", "todo_readonly"])
def test_without_identity_every_table_reads_as_empty(superuser_migrated, world, role):
    seen = {}
    for table in inventory.user_tables(superuser_migrated):
        with _world_for(superuser_migrated, world, table):
            assert _rows_of(superuser_migrated, table, world["ann"]) > 0, table
            column = _owner_column(table)
            with acting_as(superuser_migrated, role, None) as conn:
                seen[table] = conn.execute(f"select count({column}) from app.{table}").fetchone()[0]
    assert {table: count for table, count in seen.items() if count} == {}


def test_an_identity_of_no_existing_user_sees_nothing_and_creates_nothing(superuser_migrated, world):
    ghost = uuid.uuid4()
    tables = inventory.user_tables(superuser_migrated)
    with acting_as(superuser_migrated, "todo_app", ghost) as conn:
        for table in tables:
            assert conn.execute(f"select count({_owner_column(table)}) from app.{table}").fetchone() == (0,), table
        # Not a member of any project, not even an inbox: the insert policy refuses before any key is checked.
        with refused(conn, "42501"):
            conn.execute("insert into app.tasks (title) values ('ghost task')")
        with refused(conn, "23503", "tags_user_id_fkey"):
            conn.execute("insert into app.tags (name) values ('ghost tag')")


def test_user_id_defaults_to_the_identity_and_may_be_passed_if_equal(superuser_migrated, world):
    ann = world["ann"]
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
        implicit = conn.execute("insert into app.tasks (title) values ('implicit') returning user_id").fetchone()
        explicit = conn.execute(
            "insert into app.tasks (user_id, title) values (%s, 'explicit') returning user_id", [ann.id]
        ).fetchone()
        tag = conn.execute("insert into app.tags (name) values ('fresh') returning id, user_id").fetchone()
        link = conn.execute(
            "insert into app.task_tags (task_id, tag_id) values (%s, %s) returning user_id", [ann.tasks[2], tag[0]]
        ).fetchone()
    assert implicit == explicit == (ann.id,) and tag[1] == ann.id and link == (ann.id,)


def test_tagging_your_task_with_someone_elses_tag_fails(superuser_migrated, world):
    ann, bob = world["ann"], world["bob"]
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
        with refused(conn, "23503", "task_tags_user_id_tag_id_fkey"):
            conn.execute("insert into app.task_tags (task_id, tag_id) values (%s, %s)", [ann.tasks[2], bob.tags[0]])
        with refused(conn, "42501"):
            conn.execute(
                "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)",
                [bob.id, ann.tasks[2], bob.tags[0]],
            )
        conn.execute("insert into app.task_tags (task_id, tag_id) values (%s, %s)", [ann.tasks[2], ann.tags[0]])


@pytest.mark.parametrize(
    "statement",
    [
        "update app.tasks set user_id = %(bob)s where user_id = %(ann)s",
        "update app.tags set user_id = %(bob)s where user_id = %(ann)s",
        "update app.users set id = %(bob)s where id = %(ann)s",
        "update app.tasks set created_at = now() - interval '1 day'",
        "update app.tasks set updated_at = now()",
        "update app.tasks set completed_at = now()",
        "update app.tasks set id = gen_random_uuid()",
        "update app.users set is_active = false",
        "update app.users set last_login_at = now()",
        "insert into app.tasks (id, title) values (gen_random_uuid(), 'chosen id')",
        "insert into app.tasks (title, created_at) values ('backdated', '2000-01-01')",
        "insert into app.tasks (title, status, completed_at) values ('done', 'completed', now())",
        "insert into app.users (email, password_hash) values ('new@example.com', 'x')",
        "update app.task_tags set tag_id = tag_id",
    ],
)
def test_the_app_cannot_write_what_the_database_owns(superuser_migrated, world, statement):
    ids = {"ann": world["ann"].id, "bob": world["bob"].id}
    with acting_as(superuser_migrated, "todo_app", world["ann"].id) as conn:
        with refused(conn, "42501"):
            conn.execute(statement, ids)


def test_moving_a_row_to_another_owner_fails_the_policy_check_even_where_the_column_is_writable(
    superuser_migrated, world
):
    """WITH CHECK, proven on its own: grant the column for this transaction only."""
    ann, bob = world["ann"], world["bob"]
    superuser_migrated.execute("grant update (user_id) on app.tags to todo_app")
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
        with refused(conn, "42501"):
            conn.execute("update app.tags set user_id = %s where id = %s", [bob.id, ann.tags[1]])


def test_the_app_cannot_write_history_directly_but_its_actions_do(superuser_migrated, world):
    ann = world["ann"]
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
        for statement in (
            "insert into app.task_events (user_id, task_id, kind, new_status) "
            "values (%(ann)s, gen_random_uuid(), 'created', 'pending')",
            "update app.task_events set kind = 'created' where user_id = %(ann)s",
            "delete from app.task_events where user_id = %(ann)s",
            "truncate app.task_events",
        ):
            with refused(conn, "42501"):
                conn.execute(statement, {"ann": ann.id})
        task = conn.execute("insert into app.tasks (title) values ('written through') returning id").fetchone()[0]
        conn.execute("update app.tasks set status = 'completed' where id = %s", [task])
        conn.execute("delete from app.tasks where id = %s", [task])
        history = conn.execute(
            "select kind, actor_id from app.task_events where task_id = %s order by id", [task]
        ).fetchall()
    assert history == [("created", ann.id), ("status_changed", ann.id), ("hard_deleted", ann.id)]


def test_deleting_your_own_account_removes_everything_of_yours_only(superuser_migrated, world):
    ann, bob = world["ann"], world["bob"]
    _archive_completed(superuser_migrated, world)  # their archived rows go with the account too
    tables = inventory.user_tables(superuser_migrated)
    with acting_as(superuser_migrated, "todo_app", ann.id) as conn:
        assert conn.execute("delete from app.users where id = %s", [bob.id]).rowcount == 0
        assert conn.execute("delete from app.users where id = %s", [ann.id]).rowcount == 1
        conn.execute("reset role")  # back to the owner to look, before the block rolls back
        for table in tables:
            assert _rows_of(conn, table, ann) == 0, table
            assert _rows_of(conn, table, bob) > 0, table


def test_readonly_reads_its_own_rows_and_writes_nothing(superuser_migrated, world):
    ann = world["ann"]
    with acting_as(superuser_migrated, "todo_readonly", ann.id) as conn:
        assert conn.execute("select count(*) from app.tasks").fetchone() == (3,)
        assert conn.execute("select email from app.users").fetchall() == [("ann@example.com",)]
        for statement in (
            "insert into app.tasks (title) values ('nope')",
            "update app.tasks set title = 'nope'",
            "delete from app.tasks",
            "insert into app.tags (name) values ('nope')",
        ):
            with refused(conn, "42501"):
                conn.execute(statement)


@pytest.mark.parametrize("role", ["todo_app", "todo_readonly"])
def test_app_roles_never_read_password_hash(superuser_migrated, world, role):
    with acting_as(superuser_migrated, role, world["ann"].id) as conn:
        for statement in ("select password_hash from app.users", "select * from app.users"):
            with refused(conn, "42501"):
                conn.execute(statement)


# A migration a contributor might add next: a table of one user's rows (forced row-level security, policies
# for its owner, but no index on its foreign key yet), and one whose row-level security is on but not forced.
SCRATCH_MIGRATION = """
create table app.notes (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default app.current_user_id() references app.users (id) on delete cascade,
  body text not null
);
alter table app.notes enable row level security;
alter table app.notes force row level security;
grant select, insert, delete on app.notes to todo_app;
create policy notes_select_own on app.notes for select using (user_id = app.current_user_id());
create policy notes_insert_own on app.notes for insert with check (user_id = app.current_user_id());
create policy notes_delete_own on app.notes for delete using (user_id = app.current_user_id());
create table app.drafts (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references app.users (id) on delete cascade
);
create index drafts_user_id_idx on app.drafts (user_id);
alter table app.drafts enable row level security;
"""


def test_a_table_a_new_migration_adds_is_checked_without_touching_a_list(superuser_migrated, world, tmp_path):
    """The checks find a new table in the catalog: its isolation and the mutation test of its policies, the
    foreign-key index rule and the forced row-level security rule (make doctor's), all without a list."""
    from tooling import doctor, migrate

    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    last = migrate.load_migrations(MIGRATIONS_DIR)[-1].id
    write_migration(folder, "9999_create_notes", f"-- Notes: a scratch table\n-- depends: {last}\n{SCRATCH_MIGRATION}")
    url = db_url(superuser_migrated)
    superuser_migrated.commit()  # the world, so that the migration does not wait on its open transaction
    assert migrate.apply_pending(url, folder, echo=lambda *_: None) == ["9999_create_notes"]
    ann, bob = world["ann"], world["bob"]
    for person in (ann, bob):
        superuser_migrated.execute("insert into app.notes (user_id, body) values (%s, 'mine')", [person.id])

    assert {"notes", "drafts"} <= set(inventory.user_tables(superuser_migrated))
    assert isolation_breaches(superuser_migrated, world, "notes") == []
    with _world_for(superuser_migrated, world, "notes"):
        _policies_made_true(superuser_migrated, "notes")
        assert isolation_breaches(superuser_migrated, world, "notes") != []

    unindexed = inventory.unindexed_foreign_keys(superuser_migrated, ("app",))
    assert [(table, name) for table, name, _ in unindexed] == [("app.notes", "notes_user_id_fkey")]
    lines = doctor.examine(url, folder)
    assert [line.text.split(":")[0] for line in lines if line.level == "SECURITY"] == ["app.drafts"]
    assert any(
        line.level == "warn" and line.text.startswith("app.notes: foreign key notes_user_id_fkey") for line in lines
    )
