"""queries/tags.sql, dashboard.sql and users.sql as the app runs them."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.support import BCRYPT_HASH, acting_as, new_tag, new_task, new_user, refused
from tododb.queries import FIRST_DESC, QUERIES


@pytest.fixture
def people(postgresql):
    return new_user(postgresql, "ann@example.com"), new_user(postgresql, "bob@example.com")


def test_tags_create_list_and_unique_per_user(postgresql, people):
    ann, bob = people
    new_tag(postgresql, bob, "work")
    with acting_as(postgresql, "todo_app", ann) as conn:
        for name in ("work", "Home", "errands"):
            QUERIES.create_tag(conn, name=name)
        assert [row[1] for row in QUERIES.list_tags(conn)] == ["errands", "Home", "work"]
        with refused(conn, "23505", "tags_user_id_name_key"):
            QUERIES.create_tag(conn, name="HOME")


def test_tag_untag_and_tasks_with_tag_in_tagging_order_across_pages(postgresql, people):
    ann, bob = people
    tag = new_tag(postgresql, ann, "work")
    other_tag = new_tag(postgresql, ann, "home")
    tasks = [new_task(postgresql, ann, f"t{i}") for i in range(5)]
    binned = new_task(postgresql, ann, "binned")
    bob_tag, bob_task = new_tag(postgresql, bob, "work"), new_task(postgresql, bob, "bob's")
    with acting_as(postgresql, "todo_app", ann) as conn:
        for task in [*tasks, binned]:
            QUERIES.tag_task(conn, task_id=task, tag_id=tag)
        QUERIES.tag_task(conn, task_id=tasks[0], tag_id=tag)  # twice: a no-op
        QUERIES.tag_task(conn, task_id=tasks[1], tag_id=other_tag)
        QUERIES.soft_delete_task(conn, task_id=binned)
        QUERIES.untag_task(conn, task_id=tasks[4], tag_id=tag)
        with refused(conn, "23503", "task_tags_user_id_tag_id_fkey"):
            QUERIES.tag_task(conn, task_id=tasks[2], tag_id=bob_tag)
        with refused(conn, "23503", "task_tags_user_id_task_id_fkey"):
            QUERIES.tag_task(conn, task_id=bob_task, tag_id=tag)
        # All links made in this one transaction share created_at: the task id breaks the tie.
        expected = sorted(tasks[:4], key=str, reverse=True)
        seen, cursor = [], FIRST_DESC
        while True:
            rows = list(QUERIES.tasks_with_tag(conn, tag_id=tag, after_tagged_at=cursor[0], after_id=cursor[1],
                                               page_size=3))
            seen += [row[0] for row in rows]
            if len(rows) < 3:
                break
            cursor = (rows[-1][5], rows[-1][0])
        assert seen == expected
        assert list(QUERIES.tasks_with_tag(conn, tag_id=bob_tag, after_tagged_at=FIRST_DESC[0],
                                           after_id=FIRST_DESC[1], page_size=10)) == []


def test_counts_per_status_list_every_status_and_only_live_own_tasks(postgresql, people):
    ann, bob = people
    for status, n in (("pending", 3), ("completed", 2)):
        for i in range(n):
            new_task(postgresql, ann, f"{status} {i}", status=status)
    new_task(postgresql, ann, "binned", deleted_at="2030-01-01T00:00:00Z")
    new_task(postgresql, bob, "bob's", status="in_progress")
    now = postgresql.execute("select now()").fetchone()[0]
    new_task(postgresql, ann, "late", due_at=now - timedelta(days=1))
    with acting_as(postgresql, "todo_app", ann) as conn:
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 4), ("in_progress", 0), ("completed", 2)]
        assert QUERIES.count_overdue_tasks(conn) == 1
    with acting_as(postgresql, "todo_app", None) as conn:
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 0), ("in_progress", 0), ("completed", 0)]


def test_sign_up_login_record_login_profile_and_theme(postgresql, people):
    with acting_as(postgresql, "todo_app", None) as conn:
        cleo = QUERIES.sign_up(conn, email="cleo@example.com", name="Cleo", password_hash=BCRYPT_HASH)
        assert QUERIES.user_for_login(conn, email="CLEO@example.com") == (cleo, BCRYPT_HASH, True)
        assert QUERIES.user_for_login(conn, email="nobody@example.com") is None
        QUERIES.record_login(conn, user_id=cleo)
        assert QUERIES.current_user_profile(conn) is None  # no identity yet
        conn.execute("select set_config('app.user_id', %s, true)", [str(cleo)])
        profile = QUERIES.current_user_profile(conn)
        assert profile[:4] == (cleo, "cleo@example.com", "Cleo", "system") and profile[5] is not None
        assert QUERIES.set_theme(conn, theme="dark")[1] == "dark"
        with refused(conn, "23514", "user_theme_check"):
            QUERIES.set_theme(conn, theme="blue")
