"""Development seeds (`make seed`): a small, known data set, loaded the way the app works.

Each user is signed up with app.sign_up and their tags and inbox tasks are
created with the named queries while acting as that user (todo_app, identity
set), all in one transaction per user. Then each shared project, in one
transaction: its owner creates it, invites the members by email
(app.invite_to_project), each member accepts as themselves
(app.accept_invitation), and its tasks are created by their members. A user
who already exists, or a project its owner already has (by name), is skipped,
so a second run changes nothing and an interrupted run is finished by the next.

The project's steps use the named queries of queries/projects.sql
(create_project, invite_to_project, accept_invitation, create_task_in_project)
and fall back to the same SQL where one of them does not exist (yet); either
way row-level security and the definer functions, not this code, decide who
may do what.
"""

from __future__ import annotations

import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from tododb.pool import act_as
from tododb.queries import QUERIES
from tooling.config import ROOT
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect

SEEDS_FILE = ROOT / "seeds" / "development.toml"

# What each named query of a project's steps does, for as long as it is missing from queries/.
FALLBACK_SQL = {
    "create_project": "insert into app.projects (name) values (%(name)s) returning id",
    "invite_to_project": "select app.invite_to_project(%(project_id)s, %(email)s, %(role)s)",
    "accept_invitation": "select app.accept_invitation(%(invitation_id)s)",
    "create_task_in_project": """
        insert into app.tasks (project_id, assignee_id, title, description, priority, due_at, estimated_hours)
        values (%(project_id)s, %(assignee_id)s, %(title)s, %(description)s, coalesce(%(priority)s, 'medium'),
                %(due_at)s, %(estimated_hours)s)
        returning id""",
}


def _load(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ToolError(f"cannot read the seeds {path}: {one_line(exc)}") from None


def _user_id(conn: psycopg.Connection, email: str) -> uuid.UUID | None:
    found = QUERIES.user_for_login(conn, email=email)
    return None if found is None else found[0]


def _tags_of(conn: psycopg.Connection) -> dict[str, uuid.UUID]:
    """The acting user's tags by name."""
    return {name: tag_id for tag_id, name, *_ in QUERIES.list_tags(conn)}


def _finish_task(
    conn: psycopg.Connection, task_id: uuid.UUID, task: dict, tags: dict[str, uuid.UUID], whose: str
) -> None:
    """Status, tags and the bin: the same named queries for a task in an inbox or in a project."""
    if task.get("status", "pending") != "pending":
        version = QUERIES.task_version(conn, task_id=task_id)  # as the app holds it: read with the task
        QUERIES.set_task_status(conn, task_id=task_id, version=version, status=task["status"])
    for tag in task.get("tags", []):
        if tag not in tags:
            raise ToolError(f"seed task {task['title']!r} uses {whose} undeclared tag {tag!r}")
        QUERIES.tag_task(conn, task_id=task_id, tag_id=tags[tag])
    if task.get("deleted"):
        QUERIES.soft_delete_task(conn, task_id=task_id)


def _due(task: dict, today: datetime) -> datetime | None:
    due = task.get("due_in_days")
    return None if due is None else today + timedelta(days=due)


def _hours(task: dict) -> Decimal | None:
    hours = task.get("estimated_hours")
    return None if hours is None else Decimal(str(hours))


def _seed_user(conn: psycopg.Connection, role: str, user: dict, password_hash: str, today: datetime) -> bool:
    if _user_id(conn, user["email"]) is not None:
        return False
    user_id = QUERIES.sign_up(conn, email=user["email"], name=user.get("name"), password_hash=password_hash)
    act_as(conn, role, user_id)  # from here on, the new user
    tags = {name: QUERIES.create_tag(conn, name=name)[0] for name in user.get("tags", [])}
    for task in user.get("tasks", []):
        task_id = QUERIES.create_task(
            conn,
            title=task["title"],
            description=task.get("description"),
            priority=task.get("priority"),
            due_at=_due(task, today),
            estimated_hours=_hours(task),
        )[0]
        _finish_task(conn, task_id, task, tags, f"{user['email']}'s")
    return True


def _first_value(conn: psycopg.Connection, query_name: str, **params) -> object:
    """Run the named query ``query_name`` (or its fallback) and return the first value it gives back (a row's
    first column, a scalar, or a row count)."""
    query = getattr(QUERIES, query_name, None)
    if query is None:
        return one(conn.execute(FALLBACK_SQL[query_name], params))[0]
    result = query(conn, **params)
    return result[0] if isinstance(result, tuple) else result


def _seed_project(conn: psycopg.Connection, role: str, project: dict, today: datetime) -> bool:
    """Create the project as its owner, with its members and tasks; False when the owner already has it."""
    act_as(conn, role, None)
    emails = [project["owner"], *(m["email"] for m in project.get("members", []))]
    emails += [t[key] for t in project.get("tasks", []) for key in ("by", "assignee") if key in t]
    ids = {}
    for email in emails:
        ids[email] = _user_id(conn, email)
        if ids[email] is None:
            raise ToolError(f"seed project {project['name']!r} names {email}, who is not a seeded user")
    owner = ids[project["owner"]]
    act_as(conn, role, owner)
    if (
        conn.execute(
            "select from app.projects where owner_id = %s and name = %s and not is_inbox", [owner, project["name"]]
        ).fetchone()
        is not None
    ):
        return False
    project_id = _first_value(conn, "create_project", name=project["name"])
    invitations = [
        (
            member["email"],
            _first_value(
                conn,
                "invite_to_project",
                project_id=project_id,
                email=member["email"],
                role=member.get("role", "editor"),
            ),
        )
        for member in project.get("members", [])
    ]
    for email, invitation in invitations:
        act_as(conn, role, ids[email])  # each member accepts as themselves
        _first_value(conn, "accept_invitation", invitation_id=invitation)
    for task in project.get("tasks", []):
        creator = task.get("by", project["owner"])
        act_as(conn, role, ids[creator])
        task_id = _first_value(
            conn,
            "create_task_in_project",
            project_id=project_id,
            assignee_id=ids.get(task.get("assignee")),
            title=task["title"],
            description=task.get("description"),
            priority=task.get("priority"),
            due_at=_due(task, today),
            estimated_hours=_hours(task),
        )
        assert isinstance(task_id, uuid.UUID)  # create_task_in_project returns the new id
        _finish_task(conn, task_id, task, _tags_of(conn), f"{creator}'s")
    return True


@contextmanager
def _may_act_as(conn: psycopg.Connection, role: str) -> Iterator[None]:
    """Inside the current transaction, make sure this login may `set role` to ``role``.

    A superuser may; a database owner that is not one (hosted servers) holds
    ADMIN OPTION on the app roles but, on PostgreSQL 16 and later, not SET.
    It then grants itself the role for this transaction only and takes it
    back before the commit: no membership outlives the seed (roles are
    cluster-wide, and a standing one would reach every tododb database).
    """
    option = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    if one(conn.execute("select pg_has_role(current_user, %s, %s)", [role, option]))[0]:
        yield
        return
    names = {"role": sql.Identifier(role), "me": sql.Identifier(one(conn.execute("select current_user"))[0])}
    conn.execute(sql.SQL("grant {role} to {me}").format(**names))
    yield  # an error in the block rolls the grant back with everything else
    conn.execute("reset role")
    conn.execute(sql.SQL("revoke {role} from {me}").format(**names))


def seed(url: str, path: Path = SEEDS_FILE, role: str = "todo_app", echo: Callable[[str], object] = print) -> list[str]:
    """Load the development data; return what was created this time (users' emails, then project names)."""
    data = _load(path)
    today = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    created = []
    ids = {}
    with connect(url) as conn:
        for user in data["users"]:
            with conn.transaction(), _may_act_as(conn, role):
                act_as(conn, role, None)  # no identity yet: sign-up comes before it
                new = _seed_user(conn, role, user, data["password_hash"], today)
                act_as(conn, role, None)
                ids[user["email"]] = _user_id(conn, user["email"])
            user_id = ids[user["email"]]
            if new:
                created.append(user["email"])
                echo(f"seeded   {user['email']} ({len(user.get('tasks', []))} tasks in the inbox; id {user_id})")
            else:
                echo(f"exists   {user['email']} (left as it is; id {user_id})")
        for project in data.get("projects", []):
            members = ", ".join(f"{m['email']} {m.get('role', 'editor')}" for m in project.get("members", []))
            with conn.transaction(), _may_act_as(conn, role):
                new = _seed_project(conn, role, project, today)
            if new:
                created.append(project["name"])
                echo(
                    f"seeded   project {project['name']!r} (owner {project['owner']}; {members}; "
                    f"{len(project.get('tasks', []))} tasks)"
                )
            else:
                echo(f"exists   project {project['name']!r} of {project['owner']} (left as it is)")
    if ids:
        echo(
            "act as one of them in `make psql`: begin; set local role todo_app; "
            "select set_config('app.user_id', '<id>', true);"
        )
    return created
