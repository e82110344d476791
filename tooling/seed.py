"""Development seeds (`make seed`): a small, known data set, loaded the way the app works.

Each user is signed up with app.sign_up and their tags and tasks are created
with the named queries while acting as that user (todo_app, identity set),
all in one transaction per user. A user who already exists is skipped, so a
second run changes nothing and an interrupted run is finished by the next.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import psycopg
from psycopg import sql

from tooling.config import ROOT
from tooling.errors import ToolError, one_line
from tododb.pool import act_as
from tododb.queries import QUERIES

SEEDS_FILE = ROOT / "seeds" / "development.toml"


def _load(path: Path) -> dict:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ToolError(f"cannot read the seeds {path}: {one_line(exc)}") from None


def _seed_user(conn: psycopg.Connection, role: str, user: dict, password_hash: str, today: datetime) -> bool:
    if QUERIES.user_for_login(conn, email=user["email"]) is not None:
        return False
    user_id = QUERIES.sign_up(conn, email=user["email"], name=user.get("name"), password_hash=password_hash)
    act_as(conn, role, user_id)  # from here on, the new user
    tags = {name: QUERIES.create_tag(conn, name=name)[0] for name in user.get("tags", [])}
    for task in user.get("tasks", []):
        due = task.get("due_in_days")
        hours = task.get("estimated_hours")
        task_id = QUERIES.create_task(
            conn,
            title=task["title"],
            description=task.get("description"),
            priority=task.get("priority"),
            due_at=None if due is None else today + timedelta(days=due),
            estimated_hours=None if hours is None else Decimal(str(hours)),
        )[0]
        if task.get("status", "pending") != "pending":
            QUERIES.set_task_status(conn, task_id=task_id, status=task["status"])
        for tag in task.get("tags", []):
            if tag not in tags:
                raise ToolError(f"seed task {task['title']!r} of {user['email']} uses undeclared tag {tag!r}")
            QUERIES.tag_task(conn, task_id=task_id, tag_id=tags[tag])
        if task.get("deleted"):
            QUERIES.soft_delete_task(conn, task_id=task_id)
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
    if conn.execute("select pg_has_role(current_user, %s, %s)", [role, option]).fetchone()[0]:
        yield
        return
    names = {"role": sql.Identifier(role), "me": sql.Identifier(conn.execute("select current_user").fetchone()[0])}
    conn.execute(sql.SQL("grant {role} to {me}").format(**names))
    yield  # an error in the block rolls the grant back with everything else
    conn.execute("reset role")
    conn.execute(sql.SQL("revoke {role} from {me}").format(**names))


def seed(url: str, path: Path = SEEDS_FILE, role: str = "todo_app", echo=print) -> list[str]:
    """Load the development data; return the emails of the users created this time."""
    data = _load(path)
    today = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)
    created = []
    with psycopg.connect(url) as conn:
        for user in data["users"]:
            with conn.transaction(), _may_act_as(conn, role):
                act_as(conn, role, None)  # no identity yet: sign-up comes before it
                if _seed_user(conn, role, user, data["password_hash"], today):
                    created.append(user["email"])
                    echo(f"seeded   {user['email']} ({len(user.get('tasks', []))} tasks)")
                else:
                    echo(f"exists   {user['email']} (left as it is)")
    return created
