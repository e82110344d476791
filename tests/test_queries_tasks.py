"""The task queries in queries/tasks.sql, run as todo_app with an identity:
right rows, right order, page boundaries inside ties, last and empty pages,
and never another user's rows."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tests.support import acting_as, new_task, new_user, refused
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES

T0 = datetime(2031, 1, 1, tzinfo=timezone.utc)  # due dates in the future: not overdue


@pytest.fixture
def people(postgresql):
    ann, bob = new_user(postgresql), new_user(postgresql)
    return ann, bob


def _ids(rows):
    return [row[0] for row in rows]


def _open_pages(conn, page_size):
    pages, cursor = [], {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1]}
    while True:
        rows = list(QUERIES.open_tasks_by_due_date(conn, **cursor, page_size=page_size))
        pages.append(rows)
        if len(rows) < page_size:
            return pages
        last = rows[-1]
        cursor = {"after_due_at": last[4], "after_id": last[0]}  # due_at (None when undated), id


def test_open_tasks_by_due_date_orders_dated_first_then_undated_with_ties_across_pages(postgresql, people):
    ann, bob = people
    expected = []
    for i in range(3):  # three tasks due at the same instant: a tie the id must break
        expected.append((T0, new_task(postgresql, ann, f"tie {i}", due_at=T0)))
    expected.append((T0 + timedelta(days=1), new_task(postgresql, ann, "later", due_at=T0 + timedelta(days=1))))
    expected.append((T0 - timedelta(days=1), new_task(postgresql, ann, "sooner", due_at=T0 - timedelta(days=1))))
    for i in range(3):
        expected.append((None, new_task(postgresql, ann, f"undated {i}")))
    new_task(postgresql, ann, "done", due_at=T0, status="completed")  # not open
    new_task(postgresql, ann, "binned", due_at=T0, deleted_at=T0)  # in the bin
    new_task(postgresql, bob, "bob's", due_at=T0 - timedelta(days=5))  # someone else's
    order = [task for _, task in sorted(expected, key=lambda e: (e[0] is None, e[0] or T0, str(e[1])))]

    with acting_as(postgresql, "todo_app", ann) as conn:
        for page_size in (1, 2, 3, 8, 50):
            pages = _open_pages(conn, page_size)
            assert [task for page in pages for task in _ids(page)] == order, page_size
            assert all(len(page) == page_size for page in pages[:-1])
            assert len(pages[-1]) < page_size  # the last page is short (possibly empty)
        # Exactly full last page: the next request returns an empty page.
        full = list(QUERIES.open_tasks_by_due_date(conn, after_due_at=None, after_id=order[-1], page_size=5))
        assert full == []


def test_open_tasks_by_due_date_without_identity_is_empty(postgresql, people):
    ann, _ = people
    new_task(postgresql, ann, due_at=T0)
    with acting_as(postgresql, "todo_app", None) as conn:
        assert list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1],
                                                    page_size=10)) == []


def test_overdue_tasks_lists_open_tasks_past_due_oldest_first(postgresql, people):
    ann, bob = people
    now = postgresql.execute("select now()").fetchone()[0]
    old = new_task(postgresql, ann, "old", due_at=now - timedelta(days=3))
    recent = new_task(postgresql, ann, "recent", due_at=now - timedelta(hours=1))
    new_task(postgresql, ann, "future", due_at=now + timedelta(days=1))
    new_task(postgresql, ann, "done late", due_at=now - timedelta(days=2), status="completed")
    new_task(postgresql, ann, "undated")
    new_task(postgresql, bob, "bob late", due_at=now - timedelta(days=9))
    with acting_as(postgresql, "todo_app", ann) as conn:
        first = list(QUERIES.overdue_tasks(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=1))
        assert _ids(first) == [old]
        second = list(QUERIES.overdue_tasks(conn, after_due_at=first[0][4], after_id=old, page_size=1))
        assert _ids(second) == [recent]
        assert list(QUERIES.overdue_tasks(conn, after_due_at=second[0][4], after_id=recent, page_size=1)) == []
        assert QUERIES.count_overdue_tasks(conn) == 2


def test_tasks_by_status_newest_first_with_ties_across_pages(postgresql, people):
    ann, bob = people
    created = [T0 - timedelta(days=d) for d in (1, 1, 1, 2, 3)]  # three created at the same instant
    ours = [new_task(postgresql, ann, f"p{i}", created_at=c) for i, c in enumerate(created)]
    new_task(postgresql, ann, "other status", status="in_progress")
    new_task(postgresql, ann, "binned", deleted_at=T0)
    new_task(postgresql, bob, "bob's")
    order = [t for _, t in sorted(zip(created, ours), key=lambda e: (e[0], str(e[1])), reverse=True)]
    with acting_as(postgresql, "todo_app", ann) as conn:
        for page_size in (1, 2, 4, 5, 10):
            seen, cursor = [], FIRST_DESC
            while True:
                rows = list(QUERIES.tasks_by_status(conn, status="pending", after_created_at=cursor[0],
                                                    after_id=cursor[1], page_size=page_size))
                seen += _ids(rows)
                if len(rows) < page_size:
                    break
                cursor = (rows[-1][7], rows[-1][0])
            assert seen == order, page_size


def test_deleted_tasks_are_only_in_the_bin_and_come_back_on_restore(postgresql, people):
    ann, bob = people
    with acting_as(postgresql, "todo_app", ann) as conn:
        task = QUERIES.create_task(conn, title="to bin", description=None, priority=None, due_at=T0,
                                   estimated_hours=None)[0]
        assert QUERIES.soft_delete_task(conn, task_id=task) is not None
        assert QUERIES.soft_delete_task(conn, task_id=task) is None  # already in the bin
        assert QUERIES.get_task(conn, task_id=task) is None
        assert task not in _ids(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0],
                                                               after_id=FIRST_ASC[1], page_size=50))
        assert _ids(QUERIES.deleted_tasks(conn, after_deleted_at=FIRST_DESC[0], after_id=FIRST_DESC[1],
                                          page_size=10)) == [task]
        assert QUERIES.restore_task(conn, task_id=task) is not None
        assert QUERIES.restore_task(conn, task_id=task) is None  # not in the bin any more
        assert QUERIES.get_task(conn, task_id=task)[0] == task
        assert list(QUERIES.deleted_tasks(conn, after_deleted_at=FIRST_DESC[0], after_id=FIRST_DESC[1],
                                          page_size=10)) == []
        kinds = conn.execute("select kind from app.task_events where task_id = %s order by id", [task]).fetchall()
    assert [k[0] for k in kinds] == ["created", "deleted", "restored"]


def test_get_task_returns_everything_of_an_own_task_and_nothing_of_anothers(postgresql, people):
    ann, bob = people
    mine = new_task(postgresql, ann, "mine", description="details", estimated_hours=Decimal("1.5"))
    theirs = new_task(postgresql, bob, "theirs")
    with acting_as(postgresql, "todo_app", ann) as conn:
        row = QUERIES.get_task(conn, task_id=mine)
        assert row[:3] == (mine, "mine", "details") and row[7] == Decimal("1.50")
        assert QUERIES.get_task(conn, task_id=theirs) is None


def test_write_queries_create_update_set_status_and_refuse_bad_input(postgresql, people):
    ann, bob = people
    theirs = new_task(postgresql, bob, "theirs")
    with acting_as(postgresql, "todo_app", ann) as conn:
        created = QUERIES.create_task(conn, title="Write tests", description="all of them", priority="high",
                                      due_at=T0, estimated_hours=Decimal("2.25"))
        task = created[0]
        assert created[1:4] == ("Write tests", "pending", "high")
        updated = QUERIES.update_task(conn, task_id=task, title="Write more tests", description=None,
                                      priority="low", due_at=None, estimated_hours=None)
        assert updated[1:6] == ("Write more tests", None, "pending", "low", None)
        done = QUERIES.set_task_status(conn, task_id=task, status="completed")
        assert done[1] == "completed" and done[2] is not None
        reopened = QUERIES.set_task_status(conn, task_id=task, status="pending")
        assert reopened[1] == "pending" and reopened[2] is None
        # Another user's task: nothing happens, nothing is returned.
        assert QUERIES.set_task_status(conn, task_id=theirs, status="completed") is None
        assert QUERIES.update_task(conn, task_id=theirs, title="mine now", description=None, priority="low",
                                   due_at=None, estimated_hours=None) is None
        with refused(conn, "23514", "tasks_title_not_blank_check"):
            QUERIES.create_task(conn, title="\u200b", description=None, priority=None, due_at=None,
                                estimated_hours=None)
        with refused(conn, "23514", "task_status_check"):
            QUERIES.set_task_status(conn, task_id=task, status="done")
    assert postgresql.execute("select status from app.tasks where id = %s", [theirs]).fetchone() == ("pending",)
