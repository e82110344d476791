"""queries/tags.sql, dashboard.sql and users.sql as the app runs them: tags are
personal (the tagger's), the tasks they go on may be shared; the dashboard counts
every project the user is in."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support import BCRYPT_HASH, acting_as, new_tag, new_task, new_user, refused
from tododb.queries import FIRST_DESC, QUERIES


@pytest.fixture
def people(superuser_migrated):
    return new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")


def test_tags_create_list_and_unique_per_user(superuser_migrated, people):
    ann, bob = people
    new_tag(superuser_migrated, bob, "work")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for name in ("work", "Home", "errands"):
            QUERIES.create_tag(conn, name=name)
        assert [row[1] for row in QUERIES.list_tags(conn)] == ["errands", "Home", "work"]
        with refused(conn, "23505", "tags_user_id_name_key"):
            QUERIES.create_tag(conn, name="HOME")


def test_tag_untag_and_tasks_with_tag_in_tagging_order_across_pages(superuser_migrated, people):
    ann, bob = people
    tag = new_tag(superuser_migrated, ann, "work")
    other_tag = new_tag(superuser_migrated, ann, "home")
    tasks = [new_task(superuser_migrated, ann, f"t{i}") for i in range(5)]
    binned = new_task(superuser_migrated, ann, "binned")
    bob_tag, bob_task = new_tag(superuser_migrated, bob, "work"), new_task(superuser_migrated, bob, "bob's")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for task in [*tasks, binned]:
            QUERIES.tag_task(conn, task_id=task, tag_id=tag)
        QUERIES.tag_task(conn, task_id=tasks[0], tag_id=tag)  # twice: a no-op
        QUERIES.tag_task(conn, task_id=tasks[1], tag_id=other_tag)
        QUERIES.soft_delete_task(conn, task_id=binned)
        QUERIES.untag_task(conn, task_id=tasks[4], tag_id=tag)
        with refused(conn, "23503", "task_tags_user_id_tag_id_fkey"):
            QUERIES.tag_task(conn, task_id=tasks[2], tag_id=bob_tag)
        with refused(conn, "42501"):  # a task ann cannot see (bob's inbox)
            QUERIES.tag_task(conn, task_id=bob_task, tag_id=tag)
        # All links made in this one transaction share created_at: the task id breaks the tie.
        expected = sorted(tasks[:4], key=str, reverse=True)
        seen, cursor = [], FIRST_DESC
        while True:
            rows = list(
                QUERIES.tasks_with_tag(conn, tag_id=tag, after_tagged_at=cursor[0], after_id=cursor[1], page_size=3)
            )
            seen += [row[0] for row in rows]
            if len(rows) < 3:
                break
            cursor = (rows[-1][5], rows[-1][0])
        assert seen == expected
        assert (
            list(
                QUERIES.tasks_with_tag(
                    conn, tag_id=bob_tag, after_tagged_at=FIRST_DESC[0], after_id=FIRST_DESC[1], page_size=10
                )
            )
            == []
        )


def test_counts_per_status_list_every_status_and_only_live_own_tasks(superuser_migrated, people):
    ann, bob = people
    for status, n in (("pending", 3), ("completed", 2)):
        for i in range(n):
            new_task(superuser_migrated, ann, f"{status} {i}", status=status)
    new_task(superuser_migrated, ann, "binned", deleted_at="2030-01-01T00:00:00Z")
    new_task(superuser_migrated, bob, "bob's", status="in_progress")
    now = superuser_migrated.execute("select now()").fetchone()[0]
    new_task(superuser_migrated, ann, "late", due_at=now - timedelta(days=1))
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 4), ("in_progress", 0), ("completed", 2)]
        assert QUERIES.count_overdue_tasks(conn) == 1
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 0), ("in_progress", 0), ("completed", 0)]


def test_sign_up_login_record_login_profile_and_theme(superuser_migrated, people):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        cleo = QUERIES.sign_up(conn, email="cleo@example.com", name="Cleo", password_hash=BCRYPT_HASH)
        assert QUERIES.user_for_login(conn, email="CLEO@example.com") == (cleo, BCRYPT_HASH, True)
        assert QUERIES.user_for_login(conn, email="nobody@example.com") is None
        QUERIES.record_login(conn, user_id=cleo)
        assert QUERIES.current_user_profile(conn) is None  # no identity yet
        conn.execute("select set_config('app.user_id', %s, true)", [str(cleo)])
        profile = QUERIES.current_user_profile(conn)
        assert profile[:4] == (cleo, "cleo@example.com", "Cleo", "system") and profile[5] is not None
        assert QUERIES.set_theme(conn, version=profile[-1], theme="dark")[1] == "dark"
        with refused(conn, "23514", "user_theme_check"):
            QUERIES.set_theme(conn, version=profile[-1] + 1, theme="blue")


def new_project(conn, owner, name="Team"):
    """A project of ``owner`` (the owner's membership comes with it), made as the superuser."""
    return conn.execute(
        "insert into app.projects (owner_id, name) values (%s, %s) returning id", [owner, name]
    ).fetchone()[0]


def add_member(conn, project, user, role):
    conn.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, %s)", [project, user, role]
    )


def _tagged(conn, tag):
    return [
        row[0]
        for row in QUERIES.tasks_with_tag(
            conn, tag_id=tag, after_tagged_at=FIRST_DESC[0], after_id=FIRST_DESC[1], page_size=50
        )
    ]


def test_a_member_tags_shared_tasks_with_their_own_tags_nobody_else_sees_the_links(superuser_migrated, people):
    ann, bob = people
    team = new_project(superuser_migrated, bob, "Team")
    add_member(superuser_migrated, team, ann, "viewer")  # a viewer too may tag: the link is hers, not the task
    shared = [new_task(superuser_migrated, bob, f"shared {i}", project_id=team) for i in range(3)]
    mine = new_task(superuser_migrated, ann, "mine")
    ann_tag, bob_tag = new_tag(superuser_migrated, ann, "later"), new_tag(superuser_migrated, bob, "later")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for task in [*shared, mine]:
            assert QUERIES.tag_task(conn, task_id=task, tag_id=ann_tag) == 1
        assert set(_tagged(conn, ann_tag)) == {*shared, mine}
        rows = QUERIES.tasks_with_tag(
            conn, tag_id=ann_tag, after_tagged_at=FIRST_DESC[0], after_id=FIRST_DESC[1], page_size=50
        )
        assert {row[8] for row in rows} == {team, ann}  # project_id
        conn.execute("select set_config('app.user_id', %s, true)", [str(bob)])
        # bob sees the tasks, not ann's links: neither through her tag nor on the tasks.
        assert _tagged(conn, ann_tag) == [] and _tagged(conn, bob_tag) == []
        assert conn.execute("select count(*) from app.task_tags where task_id = any(%s)", [shared]).fetchone()[0] == 0
        assert QUERIES.untag_task(conn, task_id=shared[0], tag_id=ann_tag) == 0
        conn.execute("select set_config('app.user_id', %s, true)", [str(ann)])
        # Once ann has left the project, her links to its tasks stay hers, but the tasks are no longer listed.
        assert QUERIES.leave_project(conn, project_id=team) == 1
        assert _tagged(conn, ann_tag) == [mine]
        with refused(conn, "42501"):
            QUERIES.tag_task(conn, task_id=shared[0], tag_id=ann_tag)  # ... nor taggable


def test_counts_per_status_add_up_every_project_of_the_user(superuser_migrated, people):
    ann, bob = people
    team, secret = new_project(superuser_migrated, bob, "Team"), new_project(superuser_migrated, bob, "Secret")
    add_member(superuser_migrated, team, ann, "editor")
    now = superuser_migrated.execute("select now()").fetchone()[0]
    for project, statuses in (
        (ann, ("pending", "completed")),
        (team, ("pending", "in_progress", "in_progress")),
        (secret, ("pending", "pending", "completed")),
    ):
        for status in statuses:
            new_task(
                superuser_migrated,
                bob if project != ann else ann,
                status,
                project_id=project,
                status=status,
                due_at=now - timedelta(days=1),
            )
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 2), ("in_progress", 2), ("completed", 1)]
        assert QUERIES.count_overdue_tasks(conn) == 4  # the completed one is not overdue
    with acting_as(superuser_migrated, "todo_app", bob) as conn:  # "Team" and "Secret", and his empty inbox
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 3), ("in_progress", 2), ("completed", 1)]
        assert QUERIES.count_overdue_tasks(conn) == 5
