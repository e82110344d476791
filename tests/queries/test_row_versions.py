"""Lost updates refused: every row the app updates carries a version that only the server moves (0052), and the
named updates that take one change nothing once it has moved on; ``tododb.typed`` then raises StaleVersion.

Two devices of one user, or two editors of a shared project, read a task at version 1 and both save: the first
save moves it to 2, the second changes nothing and is told so, instead of silently overwriting the first.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest

from tests.logins import login_role
from tests.sharing import add_member, as_identity, new_project, new_project_task
from tests.support import BCRYPT_HASH, acting_as, new_tag, new_user, refused
from tododb import StaleVersion, as_user, typed
from tododb.pool import PoolSettings, create_pool
from tododb.queries import QUERIES, parameters


def _updatable_tables(conn: psycopg.Connection) -> set[str]:
    """The tables of app in which todo_app may update some column: read from the grants, not kept here."""
    rows = conn.execute(
        "select distinct c.relname from pg_class as c join pg_attribute as a on a.attrelid = c.oid "
        "where c.relnamespace = 'app'::regnamespace and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped "
        "and has_column_privilege('todo_app', c.oid, a.attnum, 'UPDATE')"
    )
    return {name for (name,) in rows}


def _version_of(conn: psycopg.Connection, table: str, where: str, params: list) -> int:
    return conn.execute(f"select version from app.{table} where {where}", params).fetchone()[0]


def test_every_table_the_app_updates_has_a_version_only_the_server_writes(migrated_db):
    tables = _updatable_tables(migrated_db)
    assert {"tasks", "projects", "project_members", "tags", "users"} <= tables  # the list is the grants'
    for table in sorted(tables):
        column = migrated_db.execute(
            "select format_type(a.atttypid, a.atttypmod), a.attnotnull, pg_get_expr(d.adbin, d.adrelid) "
            "from pg_attribute as a left join pg_attrdef as d on (d.adrelid, d.adnum) = (a.attrelid, a.attnum) "
            "where a.attrelid = %s::regclass and a.attname = 'version'",
            [f"app.{table}"],
        ).fetchone()
        assert column == ("integer", True, "1"), table
        trigger = migrated_db.execute(
            "select tgenabled, pg_get_triggerdef(oid) from pg_trigger where tgrelid = %s::regclass "
            "and tgname = '_110_next_version'",
            [f"app.{table}"],
        ).fetchone()
        assert trigger is not None and trigger[0] == "O" and "BEFORE UPDATE" in trigger[1], table
        for privilege in ("INSERT", "UPDATE"):
            for role in ("todo_app", "todo_readonly", "todo_auth"):
                held = migrated_db.execute(
                    "select has_column_privilege(%s, %s::regclass, 'version', %s)", [role, f"app.{table}", privilege]
                ).fetchone()[0]
                assert not held, (table, role, privilege)


def test_the_version_moves_on_by_one_with_every_update_whatever_the_statement_says(migrated_db):
    ann = new_user(migrated_db)
    with as_identity(migrated_db, ann):
        task = migrated_db.execute("insert into app.tasks (title) values ('Plan') returning id").fetchone()[0]
    assert _version_of(migrated_db, "tasks", "id = %s", [task]) == 1
    with acting_as(migrated_db, "todo_app", ann) as conn:
        conn.execute("update app.tasks set title = 'Plan it' where id = %s", [task])
        assert _version_of(conn, "tasks", "id = %s", [task]) == 2
        conn.execute("update app.tasks set title = 'Plan it' where id = %s", [task])  # the same value: still a save
        assert _version_of(conn, "tasks", "id = %s", [task]) == 3
        # The app cannot write the version itself, neither to rewind it nor to start a row elsewhere.
        with refused(conn, "42501"):
            conn.execute("update app.tasks set version = 1 where id = %s", [task])
        with refused(conn, "42501"):
            conn.execute("insert into app.tasks (title, version) values ('Forged', 7)")
    # Nor can the owner rewind it: the trigger has the last word.
    with as_identity(migrated_db, ann):
        migrated_db.execute("update app.tasks set version = 1, title = 'Again' where id = %s", [task])
    assert _version_of(migrated_db, "tasks", "id = %s", [task]) == 2


def test_a_profile_version_moves_with_its_fields_not_with_a_sign_in(migrated_db):
    ann = new_user(migrated_db, name="Ann")
    with acting_as(migrated_db, "todo_app", ann) as conn:
        typed.record_login(conn, user_id=ann)
        conn.execute("update app.users set password_hash = %s where id = %s", [BCRYPT_HASH, ann])
        assert typed.profile_version(conn) == 1  # signing in or a new hash is no edit of the profile
        conn.execute("update app.users set name = 'Annie' where id = %s", [ann])
        assert typed.profile_version(conn) == 2
        assert typed.set_theme(conn, version=2, theme="dark").version == 3


@pytest.fixture
def shared(migrated_db):
    """olga owns "Shared" (ed edits, vi views) with one task; nora is in none of it."""
    olga, ed, vi, nora = (new_user(migrated_db, f"{n}@example.com", name=n) for n in ("olga", "ed", "vi", "nora"))
    project = new_project(migrated_db, olga, "Shared")
    add_member(migrated_db, project, ed, "editor")
    add_member(migrated_db, project, vi, "viewer")
    task = new_project_task(migrated_db, olga, project, "Book the flights")
    new_tag(migrated_db, olga, "urgent")
    return {"olga": olga, "ed": ed, "vi": vi, "nora": nora, "project": project, "task": task}


# Per versioned named query: as whom it runs, how it is called with a version, and how its row's version is read.
Call = tuple[str, Callable[[dict, int], dict], Callable[[psycopg.Connection, dict], int | None]]
VERSIONED_CALLS: dict[str, Call] = {
    "update_task": (
        "ed",
        lambda w, v: dict(
            task_id=w["task"],
            version=v,
            title="Book flights",
            description=None,
            priority="high",
            due_at=None,
            estimated_hours=None,
        ),
        lambda conn, w: typed.task_version(conn, task_id=w["task"]),
    ),
    "assign_task": (
        "ed",
        lambda w, v: dict(task_id=w["task"], version=v, assignee_id=w["ed"]),
        lambda conn, w: typed.task_version(conn, task_id=w["task"]),
    ),
    "set_task_status": (
        "ed",
        lambda w, v: dict(task_id=w["task"], version=v, status="completed"),
        lambda conn, w: typed.task_version(conn, task_id=w["task"]),
    ),
    "change_member_role": (
        "olga",
        lambda w, v: dict(project_id=w["project"], user_id=w["ed"], version=v, role="viewer"),
        lambda conn, w: typed.member_version(conn, project_id=w["project"], user_id=w["ed"]),
    ),
    # A theme per version: the profile's version moves only when a field changes (0052).
    "set_theme": (
        "ed",
        lambda w, v: dict(version=v, theme=("system", "dark", "light")[v % 3]),
        lambda conn, w: typed.profile_version(conn),
    ),
}


def test_the_versioned_queries_are_those_that_take_a_version():
    taking = {n for n in QUERIES.available_queries if not n.endswith("_cursor") and "version" in parameters(n)}
    assert taking == set(VERSIONED_CALLS)  # a new versioned update is tested here, or this fails


@pytest.mark.parametrize("name", sorted(VERSIONED_CALLS))
def test_a_versioned_update_changes_nothing_once_the_version_moved_on(migrated_db, shared, name):
    actor, params, version_of = VERSIONED_CALLS[name]
    query, typed_call = getattr(QUERIES, name), getattr(typed, name)
    with acting_as(migrated_db, "todo_app", shared[actor]) as conn:
        read = version_of(conn, shared)
        assert read == 1
        first = typed_call(conn, **params(shared, read))  # the first device's save, with what it read
        assert first is not None and first.version == read + 1
        # The second device's save: the SQL changes nothing (any change would have moved the version on).
        assert query(conn, **params(shared, read)) is None
        assert version_of(conn, shared) == read + 1
        with pytest.raises(StaleVersion) as stale:  # and the library says why
            typed_call(conn, **params(shared, read))
        assert stale.value.current_version == read + 1 and stale.value.sqlstate is None
        # Sent again with the version it now has, the save goes through.
        assert typed_call(conn, **params(shared, read + 1)).version == read + 2


@pytest.mark.parametrize("name", sorted(n for n in VERSIONED_CALLS if n != "set_theme"))
def test_a_versioned_update_of_a_row_the_user_may_not_change_is_none_not_stale(migrated_db, shared, name):
    _, params, version_of = VERSIONED_CALLS[name]
    typed_call = getattr(typed, name)
    with acting_as(migrated_db, "todo_app", shared["olga"]) as conn:
        current = version_of(conn, shared)
        assert current == 1  # the row is there, at this version
    # The viewer sees it at that version and may not change it; the outsider cannot see it at all.
    for who in ("vi", "nora"):
        with acting_as(migrated_db, "todo_app", shared[who]) as conn:
            assert version_of(conn, shared) == (1 if who == "vi" else None)
            assert typed_call(conn, **params(shared, current)) is None
    with acting_as(migrated_db, "todo_app", shared["nora"]) as conn:
        assert typed_call(conn, **params(shared | {"task": uuid.uuid4(), "project": uuid.uuid4()}, 1)) is None


def test_soft_delete_and_restore_take_no_version_but_move_it(migrated_db, shared):
    with acting_as(migrated_db, "todo_app", shared["ed"]) as conn:
        held = typed.get_task(conn, task_id=shared["task"]).version
        deleted = typed.soft_delete_task(conn, task_id=shared["task"])
        assert deleted.version == held + 1
        # The other device, still holding the task, is told it moved on rather than overwriting it.
        with pytest.raises(StaleVersion):
            typed.set_task_status(conn, task_id=shared["task"], version=held, status="completed")
        assert typed.restore_task(conn, task_id=shared["task"]).version == held + 2
        assert typed.restore_task(conn, task_id=shared["task"]) is None  # a second restore changes nothing


# --- two connections racing, as two devices do -------------------------------------------------------------------


@pytest.fixture
def racing(superuser_migrated):
    """Two pools of a real LOGIN role (a member of todo_app), as two backends, on a committed shared task."""
    conn = superuser_migrated
    olga, ed = new_user(conn, "olga@example.com"), new_user(conn, "ed@example.com")
    project = new_project(conn, olga, "Shared")
    add_member(conn, project, ed, "editor")
    task = new_project_task(conn, olga, project, "Book the flights")
    conn.commit()
    conn.autocommit = True
    with login_role(conn, conn.info.dbname) as url:
        settings = PoolSettings(url=url, min_size=1, max_size=1)
        with create_pool(settings) as first, create_pool(settings) as second:
            yield conn, first, second, olga, ed, task


def _wait_until_blocked(admin: psycopg.Connection, pid: int) -> None:
    for _ in range(200):
        waiting = admin.execute("select wait_event_type from pg_stat_activity where pid = %s", [pid]).fetchone()
        if waiting and waiting[0] == "Lock":
            return
        time.sleep(0.02)
    pytest.fail("the second save never waited for the first one's row lock")


def _save_title(conn, task, version: int, title: str) -> typed.UpdateTaskRow | None:
    return typed.update_task(
        conn, task_id=task, version=version, title=title, description=None, priority="medium", due_at=None,
        estimated_hours=None,
    )  # fmt: skip


def _title_saver(pool, user, task, version, title, outcome: dict, pid: dict | None = None):
    try:
        with as_user(pool, user) as conn:
            if pid is not None:
                pid["pid"] = conn.info.backend_pid
                pid["ready"].set()
            outcome["row"] = _save_title(conn, task, version, title)
    except Exception as exc:  # the thread's outcome, asserted by the test
        outcome["error"] = exc


def test_two_saves_racing_on_one_version_one_wins_the_other_is_told(racing):
    admin, first, second, olga, ed, task = racing
    with as_user(first, olga) as conn:
        olgas = typed.get_task(conn, task_id=task).version
    with as_user(second, ed) as conn:
        eds = typed.get_task(conn, task_id=task).version
    assert olgas == eds == 1  # both devices hold the task at version 1

    # Olga's save takes the row lock and is still open when Ed's arrives: his waits, then finds version 2.
    eds_outcome: dict = {}
    seen = {"ready": threading.Event()}
    with as_user(first, olga) as conn:
        saved = _save_title(conn, task, olgas, "Olga's title")
        assert saved is not None and saved.version == 2
        thread = threading.Thread(target=_title_saver, args=(second, ed, task, eds, "Ed's title", eds_outcome, seen))
        thread.start()
        assert seen["ready"].wait(10)
        _wait_until_blocked(admin, seen["pid"])
    thread.join(10)
    assert isinstance(eds_outcome.get("error"), StaleVersion), eds_outcome
    assert eds_outcome["error"].current_version == 2
    row = admin.execute("select title, version from app.tasks where id = %s", [task]).fetchone()
    assert row == ("Olga's title", 2)  # Ed's save did not overwrite hers

    # The boundary: Ed reloads (version 2) and saves again; now his goes through.
    outcome: dict = {}
    _title_saver(second, ed, task, 2, "Ed's title", outcome)
    assert outcome["row"].version == 3
    assert admin.execute("select title from app.tasks where id = %s", [task]).fetchone()[0] == "Ed's title"
