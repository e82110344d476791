"""A shared project and the people around it, created as the owner: the data the
sharing tests try to reach across.

olga owns the project "Shared"; ed edits it and vi views it; gus has an account
and an open invitation to it; nora is in none of it and has a project of her
own. Each has their inbox (created with the account). The fixture connection
is the server's superuser; where an ordinary owner migrated the database the
history trigger writes with that owner's rights, under forced row-level
security, so every task is created with its creator's identity in force.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg
from psycopg import sql

from tests.support import new_tag, new_user

# Who does what in the sharing tests, by the role the SPEC's table names.
ROLES = ("owner", "editor", "viewer", "non-member")


@dataclass(frozen=True)
class Team:
    owner: uuid.UUID  # olga
    editor: uuid.UUID  # ed
    viewer: uuid.UUID  # vi
    invitee: uuid.UUID  # gus: an account with an open invitation to the project, not yet a member
    outsider: uuid.UUID  # nora
    project: uuid.UUID  # "Shared", olga's
    outsiders_project: uuid.UUID  # "Nora's", which none of the others is in
    task: uuid.UUID  # olga's task in "Shared", tagged by olga
    editors_task: uuid.UUID  # ed's task in "Shared", completed
    outsiders_task: uuid.UUID  # nora's task in "Nora's"
    owners_tag: uuid.UUID  # olga's tag, on `task`
    editors_tag: uuid.UUID  # ed's tag, on nothing yet
    outsiders_tag: uuid.UUID  # nora's tag, on `outsiders_task`
    invitation: uuid.UUID  # to "Shared", for gus's address (editor)
    stranger_invitation: uuid.UUID  # to "Shared", for an address with no account (viewer)
    outsiders_invitation: uuid.UUID  # to "Nora's", for an address with no account

    def of(self, role: str) -> uuid.UUID | None:
        """The member who has ``role`` in "Shared" ("no identity": nobody)."""
        return {
            "owner": self.owner,
            "editor": self.editor,
            "viewer": self.viewer,
            "invitee": self.invitee,
            "non-member": self.outsider,
            "no identity": None,
        }[role]


@contextmanager
def as_identity(conn: psycopg.Connection, user_id: uuid.UUID | None) -> Iterator[psycopg.Connection]:
    """Within the connection's transaction, ``user_id`` is the identity in force for the block, nobody after it.

    The owner's maintenance does this: the history trigger (the owner's rights) may record only the events
    of the identity in force. Unlike ``tests.support.identity`` it neither begins nor commits anything.
    """
    conn.execute("select set_config('app.user_id', %s, true)", [str(user_id) if user_id else ""])
    try:
        yield conn
    finally:
        conn.execute("select set_config('app.user_id', '', true)")


def new_project(conn: psycopg.Connection, owner: uuid.UUID, name: str = "Shared") -> uuid.UUID:
    """A project of ``owner`` (its owner membership comes with it)."""
    return conn.execute(
        "insert into app.projects (owner_id, name) values (%s, %s) returning id", [owner, name]
    ).fetchone()[0]


def add_member(conn: psycopg.Connection, project: uuid.UUID, user: uuid.UUID, role: str) -> None:
    conn.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, %s)", [project, user, role]
    )


def new_project_task(
    conn: psycopg.Connection, creator: uuid.UUID, project: uuid.UUID, title: str = "Plan the trip", **columns
) -> uuid.UUID:
    """A task created by ``creator`` in ``project``, with its history (written as ``creator``)."""
    values = {"user_id": creator, "project_id": project, "title": title, **columns}
    statement = sql.SQL("insert into app.tasks ({}) values ({}) returning id").format(
        sql.SQL(", ").join(map(sql.Identifier, values)), sql.SQL(", ").join(sql.Placeholder() * len(values))
    )
    with as_identity(conn, creator):
        return conn.execute(statement, list(values.values())).fetchone()[0]


def invite(conn: psycopg.Connection, project: uuid.UUID, email: str, role: str, invited_by: uuid.UUID) -> uuid.UUID:
    return conn.execute(
        "insert into app.project_invitations (project_id, email, role, invited_by) values (%s, %s, %s, %s) "
        "returning id",
        [project, email, role, invited_by],
    ).fetchone()[0]


def team(conn: psycopg.Connection) -> Team:
    """olga, ed, vi, gus and nora around olga's project "Shared" (see the module's docstring)."""
    olga, ed, vi, gus, nora = (
        new_user(conn, f"{name}@example.com", name=name.title()) for name in ("olga", "ed", "vi", "gus", "nora")
    )
    project = new_project(conn, olga, "Shared")
    add_member(conn, project, ed, "editor")
    add_member(conn, project, vi, "viewer")
    outsiders_project = new_project(conn, nora, "Nora's")
    task = new_project_task(conn, olga, project, "Book the flights")
    editors_task = new_project_task(conn, ed, project, "Pack the tent")
    with as_identity(conn, ed):
        conn.execute("update app.tasks set status = 'completed' where id = %s", [editors_task])
    outsiders_task = new_project_task(conn, nora, outsiders_project, "Nora's secret")
    owners_tag, editors_tag, outsiders_tag = (
        new_tag(conn, olga, "urgent"),
        new_tag(conn, ed, "mine"),
        new_tag(conn, nora, "private"),
    )
    conn.execute(
        "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s), (%s, %s, %s)",
        [olga, task, owners_tag, nora, outsiders_task, outsiders_tag],
    )
    return Team(
        owner=olga,
        editor=ed,
        viewer=vi,
        invitee=gus,
        outsider=nora,
        project=project,
        outsiders_project=outsiders_project,
        task=task,
        editors_task=editors_task,
        outsiders_task=outsiders_task,
        owners_tag=owners_tag,
        editors_tag=editors_tag,
        outsiders_tag=outsiders_tag,
        invitation=invite(conn, project, "gus@example.com", "editor", olga),
        stranger_invitation=invite(conn, project, "stranger@example.com", "viewer", olga),
        outsiders_invitation=invite(conn, outsiders_project, "friend@example.com", "viewer", nora),
    )


def outcome(conn: psycopg.Connection, statement: str, params: dict | list | None = None) -> int | str:
    """What a statement does, rolled back: the number of rows it affected, or the SQLSTATE it failed with."""
    try:
        with conn.transaction(force_rollback=True):
            return conn.execute(statement, params).rowcount
    except psycopg.Error as exc:
        return exc.sqlstate or "?"


def count(conn: psycopg.Connection, query: str, params: dict | list | None = None) -> int:
    """``select count(*) from (query)``: how many rows the connection's role and identity see."""
    return conn.execute(f"select count(*) from ({query}) as q", params).fetchone()[0]
