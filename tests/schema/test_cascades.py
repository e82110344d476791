"""Deleting a user removes everything of theirs; deleting a task or a tag
removes its links; history outlives its task and goes with its user."""

from __future__ import annotations

import pytest

from tests.support import new_tag, new_task, new_user

COUNTS = """
    select (select count(*) from app.tasks where user_id = %(u)s),
           (select count(*) from app.tags where user_id = %(u)s),
           (select count(*) from app.task_tags where user_id = %(u)s),
           (select count(*) from app.task_events where user_id = %(u)s)
"""


@pytest.fixture
def world(superuser_migrated):
    """Two users, each with two tasks, two tags and three links."""
    users = {}
    for name in ("ann", "bob"):
        user = new_user(superuser_migrated)
        tasks = [new_task(superuser_migrated, user, f"{name} task {i}") for i in range(2)]
        tags = [new_tag(superuser_migrated, user, f"{name} tag {i}") for i in range(2)]
        for task, tag in [(tasks[0], tags[0]), (tasks[0], tags[1]), (tasks[1], tags[0])]:
            superuser_migrated.execute(
                "insert into app.task_tags (user_id, task_id, tag_id) values (%s, %s, %s)", [user, task, tag]
            )
        users[name] = {"id": user, "tasks": tasks, "tags": tags}
    return users


def counts(conn, user_id):
    return conn.execute(COUNTS, {"u": user_id}).fetchone()


def test_deleting_a_user_removes_their_tasks_tags_links_and_history_only(superuser_migrated, world):
    ann, bob = world["ann"]["id"], world["bob"]["id"]
    assert counts(superuser_migrated, ann) == (2, 2, 3, 2)
    bob_before = counts(superuser_migrated, bob)

    superuser_migrated.execute("delete from app.users where id = %s", [ann])

    assert counts(superuser_migrated, ann) == (0, 0, 0, 0)
    assert counts(superuser_migrated, bob) == bob_before


def test_deleting_a_task_removes_its_links_but_not_its_tags_nor_its_history(superuser_migrated, world):
    ann = world["ann"]
    task = ann["tasks"][0]
    superuser_migrated.execute("delete from app.tasks where id = %s", [task])

    assert superuser_migrated.execute("select count(*) from app.task_tags where task_id = %s", [task]).fetchone() == (
        0,
    )
    assert counts(superuser_migrated, ann["id"]) == (1, 2, 1, 3)  # history: 2 created + 1 hard_deleted
    kinds = superuser_migrated.execute(
        "select kind from app.task_events where task_id = %s order by id", [task]
    ).fetchall()
    assert kinds == [("created",), ("hard_deleted",)]


def test_deleting_a_tag_removes_its_links_but_not_the_tasks(superuser_migrated, world):
    ann = world["ann"]
    tag = ann["tags"][0]
    superuser_migrated.execute("delete from app.tags where id = %s", [tag])

    assert superuser_migrated.execute("select count(*) from app.task_tags where tag_id = %s", [tag]).fetchone() == (0,)
    assert counts(superuser_migrated, ann["id"]) == (2, 1, 1, 2)


def test_soft_deleting_a_task_keeps_its_links_and_history(superuser_migrated, world):
    ann = world["ann"]
    superuser_migrated.execute("update app.tasks set deleted_at = now() where id = %s", [ann["tasks"][0]])
    assert counts(superuser_migrated, ann["id"]) == (2, 2, 3, 3)  # + one 'deleted' event


def test_the_app_cannot_change_who_created_a_task(superuser_migrated, world):
    from tests.support import acting_as, refused

    ann = world["ann"]
    with acting_as(superuser_migrated, "todo_app", ann["id"]) as conn:
        with refused(conn, "42501"):  # no column grant: user_id is set once, by default or on insert
            conn.execute("update app.tasks set user_id = %s where id = %s", [world["bob"]["id"], ann["tasks"][0]])
        assert conn.execute("update app.tasks set title = 'renamed' where id = %s", [ann["tasks"][0]]).rowcount == 1
