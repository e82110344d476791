"""A small backend on tododb's typed queries: what a web handler does, without the web framework.

    APP_DATABASE_URL=postgresql://todo_api:...@host/tododb python examples/backend.py USER_ID ["a title"]

Creates a task for that user and starts it at the version the creation returned; a second start with that same
(now stale) version is refused, as a second device's would be. Then lists the user's open tasks page by page and
prints their titles. Every row
is a frozen dataclass from ``tododb.typed`` (generated from the SQL by ``make types``), so mypy --strict checks
each column this file reads against the schema: rename a column a query returns and this file stops type-checking
(tests/queries/test_typegen.py proves it).
"""

from __future__ import annotations

import datetime
import sys
import uuid

from psycopg_pool import ConnectionPool

from tododb import FIRST_ASC, NotFound, StaleVersion, as_user, create_pool, transaction, typed

PAGE_SIZE = 50


def add_task(pool: ConnectionPool, user_id: uuid.UUID, title: str) -> typed.CreateTaskRow:
    """One write in one transaction, with tododb's typed errors (Conflict, InvalidInput, ...) and retries."""

    def work(conn: typed.Connection) -> typed.CreateTaskRow | None:
        return typed.create_task(
            conn, title=title, description=None, priority="high", due_at=None, estimated_hours=None
        )

    created = transaction(pool, user_id, work)
    if created is None:  # RETURNING gave no row: nothing was written
        raise NotFound("not found: the task was not created")
    return created


def start(pool: ConnectionPool, user_id: uuid.UUID, task_id: uuid.UUID, version: int) -> typed.SetTaskStatusRow:
    """Moves a task to in_progress if it is still at the version the user saw; StaleVersion if it moved on."""

    def work(conn: typed.Connection) -> typed.SetTaskStatusRow | None:
        return typed.set_task_status(conn, task_id=task_id, version=version, status="in_progress")

    started = transaction(pool, user_id, work)
    if started is None:
        raise NotFound("not found: no such live task for this user")
    return started


def open_tasks(pool: ConnectionPool, user_id: uuid.UUID) -> list[typed.OpenTasksByDueDateRow]:
    """Every open task, by due date: one read transaction per page, the next page after the last row's key."""
    tasks: list[typed.OpenTasksByDueDateRow] = []
    after_due_at: datetime.datetime | str | None = FIRST_ASC[0]
    after_id: uuid.UUID | str | None = FIRST_ASC[1]
    while True:
        with as_user(pool, user_id) as conn:
            page = typed.open_tasks_by_due_date(conn, after_due_at=after_due_at, after_id=after_id, page_size=PAGE_SIZE)
        tasks += page
        if len(page) < PAGE_SIZE:
            return tasks
        after_due_at, after_id = page[-1].due_at, page[-1].id  # an undated last row passes due_at None


def describe(task: typed.OpenTasksByDueDateRow) -> str:
    due = f"due {task.due_at:%Y-%m-%d}" if task.due_at is not None else "undated"
    return f"{task.title} ({task.priority}, {due})"


def main(argv: list[str]) -> int:
    if len(argv) < 2:
        print("usage: backend.py USER_ID [TITLE]", file=sys.stderr)
        return 2
    user_id = uuid.UUID(argv[1])
    with create_pool() as pool:  # APP_DATABASE_URL: the app's own login role, member of todo_app
        created = add_task(pool, user_id, argv[2] if len(argv) > 2 else "Try the typed queries")
        print(f"created: {created.title} ({created.status}, id {created.id})")
        started = start(pool, user_id, created.id, created.version)
        print(f"started: {started.status}, version {started.version}")
        try:  # a second device that still holds the version it read before
            start(pool, user_id, created.id, created.version)
        except StaleVersion as stale:
            print(f"second device: refused, the task is at version {stale.current_version}")
        for task in open_tasks(pool, user_id):
            print(f"- {describe(task)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
