"""Two users with a bit of everything, created as the owner: the data the
security tests try to reach across."""

from __future__ import annotations

from dataclasses import dataclass, field
from uuid import UUID

import psycopg

from tests.support import new_tag, new_task, new_user


@dataclass
class Person:
    id: UUID
    tasks: list[UUID] = field(default_factory=list)
    tags: list[UUID] = field(default_factory=list)


def two_users(conn: psycopg.Connection) -> dict[str, Person]:
    """ann and bob, each with three tasks (one completed), two tags, two links, and their history."""
    people = {}
    for name in ("ann", "bob"):
        person = Person(new_user(conn, f"{name}@example.com", name=name.title()))
        person.tasks = [
            new_task(conn, person.id, f"{name} task {i}", status=status)
            for i, status in enumerate(["pending", "in_progress", "completed"])
        ]
        person.tags = [new_tag(conn, person.id, f"{name} tag {i}") for i in range(2)]
        for task, tag in [(person.tasks[0], person.tags[0]), (person.tasks[1], person.tags[1])]:
            conn.execute(
                "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [person.id, task, tag]
            )
        people[name] = person
    return people
