"""The task queries in queries/tasks.sql, run as todo_app with an identity:
right rows, right order, page boundaries inside ties (within a project and
across projects), last and empty pages, every project the user is a member of
and never a project they are not in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.support import acting_as, new_task, new_user, refused
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES

T0 = datetime(2031, 1, 1, tzinfo=UTC)  # due dates in the future: not overdue


@pytest.fixture
def people(superuser_migrated):
    ann, bob = new_user(superuser_migrated), new_user(superuser_migrated)
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


def test_open_tasks_by_due_date_orders_dated_first_then_undated_with_ties_across_pages(superuser_migrated, people):
    ann, bob = people
    expected = []
    for i in range(3):  # three tasks due at the same instant: a tie the id must break
        expected.append((T0, new_task(superuser_migrated, ann, f"tie {i}", due_at=T0)))
    expected.append((T0 + timedelta(days=1), new_task(superuser_migrated, ann, "later", due_at=T0 + timedelta(days=1))))
    expected.append(
        (T0 - timedelta(days=1), new_task(superuser_migrated, ann, "sooner", due_at=T0 - timedelta(days=1)))
    )
    for i in range(3):
        expected.append((None, new_task(superuser_migrated, ann, f"undated {i}")))
    new_task(superuser_migrated, ann, "done", due_at=T0, status="completed")  # not open
    new_task(superuser_migrated, ann, "binned", due_at=T0, deleted_at=T0)  # in the bin
    new_task(superuser_migrated, bob, "bob's", due_at=T0 - timedelta(days=5))  # someone else's
    order = [task for _, task in sorted(expected, key=lambda e: (e[0] is None, e[0] or T0, str(e[1])))]

    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for page_size in (1, 2, 3, 8, 50):
            pages = _open_pages(conn, page_size)
            assert [task for page in pages for task in _ids(page)] == order, page_size
            assert all(len(page) == page_size for page in pages[:-1])
            assert len(pages[-1]) < page_size  # the last page is short (possibly empty)
        # Exactly full last page: the next request returns an empty page.
        full = list(QUERIES.open_tasks_by_due_date(conn, after_due_at=None, after_id=order[-1], page_size=5))
        assert full == []


def test_open_tasks_by_due_date_without_identity_is_empty(superuser_migrated, people):
    ann, _ = people
    new_task(superuser_migrated, ann, due_at=T0)
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        assert (
            list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10))
            == []
        )


def test_overdue_tasks_lists_open_tasks_past_due_oldest_first(superuser_migrated, people):
    ann, bob = people
    now = superuser_migrated.execute("select now()").fetchone()[0]
    old = new_task(superuser_migrated, ann, "old", due_at=now - timedelta(days=3))
    recent = new_task(superuser_migrated, ann, "recent", due_at=now - timedelta(hours=1))
    new_task(superuser_migrated, ann, "future", due_at=now + timedelta(days=1))
    new_task(superuser_migrated, ann, "done late", due_at=now - timedelta(days=2), status="completed")
    new_task(superuser_migrated, ann, "undated")
    new_task(superuser_migrated, bob, "bob late", due_at=now - timedelta(days=9))
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        first = list(QUERIES.overdue_tasks(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=1))
        assert _ids(first) == [old]
        second = list(QUERIES.overdue_tasks(conn, after_due_at=first[0][4], after_id=old, page_size=1))
        assert _ids(second) == [recent]
        assert list(QUERIES.overdue_tasks(conn, after_due_at=second[0][4], after_id=recent, page_size=1)) == []
        assert QUERIES.count_overdue_tasks(conn) == 2


def test_tasks_by_status_newest_first_with_ties_across_pages(superuser_migrated, people):
    ann, bob = people
    created = [T0 - timedelta(days=d) for d in (1, 1, 1, 2, 3)]  # three created at the same instant
    ours = [new_task(superuser_migrated, ann, f"p{i}", created_at=c) for i, c in enumerate(created)]
    new_task(superuser_migrated, ann, "other status", status="in_progress")
    new_task(superuser_migrated, ann, "binned", deleted_at=T0)
    new_task(superuser_migrated, bob, "bob's")
    order = [t for _, t in sorted(zip(created, ours, strict=True), key=lambda e: (e[0], str(e[1])), reverse=True)]
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for page_size in (1, 2, 4, 5, 10):
            seen, cursor = [], FIRST_DESC
            while True:
                rows = list(
                    QUERIES.tasks_by_status(
                        conn, status="pending", after_created_at=cursor[0], after_id=cursor[1], page_size=page_size
                    )
                )
                seen += _ids(rows)
                if len(rows) < page_size:
                    break
                cursor = (rows[-1][7], rows[-1][0])
            assert seen == order, page_size


def test_deleted_tasks_are_only_in_the_bin_and_come_back_on_restore(superuser_migrated, people):
    ann, bob = people
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        task = QUERIES.create_task(
            conn, title="to bin", description=None, priority=None, due_at=T0, estimated_hours=None
        )[0]
        assert QUERIES.soft_delete_task(conn, task_id=task) is not None
        assert QUERIES.soft_delete_task(conn, task_id=task) is None  # already in the bin
        assert QUERIES.get_task(conn, task_id=task) is None
        assert task not in _ids(
            QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        )
        assert _ids(
            QUERIES.deleted_tasks(conn, after_deleted_at=FIRST_DESC[0], after_id=FIRST_DESC[1], page_size=10)
        ) == [task]
        assert QUERIES.restore_task(conn, task_id=task) is not None
        assert QUERIES.restore_task(conn, task_id=task) is None  # not in the bin any more
        assert QUERIES.get_task(conn, task_id=task)[0] == task
        assert (
            list(QUERIES.deleted_tasks(conn, after_deleted_at=FIRST_DESC[0], after_id=FIRST_DESC[1], page_size=10))
            == []
        )
        kinds = conn.execute("select kind from app.task_events where task_id = %s order by id", [task]).fetchall()
    assert [k[0] for k in kinds] == ["created", "deleted", "restored"]


def test_get_task_returns_everything_of_an_own_task_and_nothing_of_anothers(superuser_migrated, people):
    ann, bob = people
    mine = new_task(superuser_migrated, ann, "mine", description="details", estimated_hours=Decimal("1.5"))
    theirs = new_task(superuser_migrated, bob, "theirs")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        row = QUERIES.get_task(conn, task_id=mine)
        assert row[:3] == (mine, "mine", "details") and row[7] == Decimal("1.50")
        assert QUERIES.get_task(conn, task_id=theirs) is None


def test_write_queries_create_update_set_status_and_refuse_bad_input(superuser_migrated, people):
    ann, bob = people
    theirs = new_task(superuser_migrated, bob, "theirs")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        created = QUERIES.create_task(
            conn,
            title="Write tests",
            description="all of them",
            priority="high",
            due_at=T0,
            estimated_hours=Decimal("2.25"),
        )
        task = created[0]
        assert created[1:4] == ("Write tests", "pending", "high")
        assert created[-1] == 1  # a new task's version
        updated = QUERIES.update_task(
            conn,
            task_id=task,
            version=1,
            title="Write more tests",
            description=None,
            priority="low",
            due_at=None,
            estimated_hours=None,
        )
        assert updated[1:6] == ("Write more tests", None, "pending", "low", None) and updated[-1] == 2
        done = QUERIES.set_task_status(conn, task_id=task, version=2, status="completed")
        assert done[1] == "completed" and done[2] is not None
        reopened = QUERIES.set_task_status(conn, task_id=task, version=3, status="pending")
        assert reopened[1] == "pending" and reopened[2] is None
        # Another user's task, at the version it has: nothing happens, nothing is returned.
        assert QUERIES.set_task_status(conn, task_id=theirs, version=1, status="completed") is None
        assert (
            QUERIES.update_task(
                conn,
                task_id=theirs,
                version=1,
                title="mine now",
                description=None,
                priority="low",
                due_at=None,
                estimated_hours=None,
            )
            is None
        )
        with refused(conn, "23514", "tasks_title_not_blank_check"):
            QUERIES.create_task(
                conn, title="\u200b", description=None, priority=None, due_at=None, estimated_hours=None
            )
        with refused(conn, "23514", "task_status_check"):
            QUERIES.set_task_status(conn, task_id=task, version=4, status="done")
    assert superuser_migrated.execute("select status from app.tasks where id = %s", [theirs]).fetchone() == ("pending",)


# --- across projects ---------------------------------------------------------------------------------------------


def new_project(conn, owner, name="Team"):
    """A project of ``owner`` (the owner's membership comes with it), made as the superuser."""
    return conn.execute(
        "insert into app.projects (owner_id, name) values (%s, %s) returning id", [owner, name]
    ).fetchone()[0]


def add_member(conn, project, user, role):
    conn.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, %s)", [project, user, role]
    )


@pytest.fixture
def projects(superuser_migrated, people):
    return make_projects(superuser_migrated, people)


def make_projects(superuser_migrated, people):
    """ann edits cleo's "Team" and views bob's "Watch"; bob's "Secret" is none of hers."""
    ann, bob = people
    cleo = new_user(superuser_migrated)
    team, watch, secret = (
        new_project(superuser_migrated, cleo, "Team"),
        new_project(superuser_migrated, bob, "Watch"),
        new_project(superuser_migrated, bob, "Secret"),
    )
    add_member(superuser_migrated, team, ann, "editor")
    add_member(superuser_migrated, watch, ann, "viewer")
    return {"cleo": cleo, "team": team, "watch": watch, "secret": secret}


def test_open_tasks_by_due_date_merges_every_project_of_the_user_with_ties_across_projects_and_pages(
    superuser_migrated, people, projects
):
    ann, bob = people
    cleo, team, watch, secret = projects["cleo"], projects["team"], projects["watch"], projects["secret"]
    expected = []
    for creator, project, n in ((ann, ann, 2), (cleo, team, 2), (bob, watch, 1)):  # five tied at T0, three projects
        for i in range(n):
            expected.append((T0, new_task(superuser_migrated, creator, f"tie {i}", project_id=project, due_at=T0)))
    expected.append(
        (
            T0 + timedelta(days=1),
            new_task(superuser_migrated, cleo, "later", project_id=team, due_at=T0 + timedelta(days=1)),
        )
    )
    expected.append(
        (
            T0 - timedelta(days=1),
            new_task(superuser_migrated, bob, "sooner", project_id=watch, due_at=T0 - timedelta(days=1)),
        )
    )
    for creator, project in ((ann, ann), (cleo, team), (cleo, team), (bob, watch)):
        expected.append((None, new_task(superuser_migrated, creator, "undated", project_id=project)))
    new_task(superuser_migrated, cleo, "done", project_id=team, due_at=T0, status="completed")
    new_task(superuser_migrated, bob, "binned", project_id=watch, due_at=T0, deleted_at=T0)
    hidden = [
        new_task(superuser_migrated, bob, "secret", project_id=secret, due_at=T0 - timedelta(days=9)),
        new_task(superuser_migrated, bob, "secret undated", project_id=secret),
    ]
    # Just to check that the test is valid: the hidden tasks are there, open, and would come first.
    assert (
        superuser_migrated.execute(
            "select count(*) from app.tasks where id = any(%s) and deleted_at is null and status <> 'completed'",
            [hidden],
        ).fetchone()[0]
        == 2
    )
    order = [task for _, task in sorted(expected, key=lambda e: (e[0] is None, e[0] or T0, str(e[1])))]

    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for page_size in (1, 2, 3, 4, 5, 13, 50):
            pages = _open_pages(conn, page_size)
            assert [task for page in pages for task in _ids(page)] == order, page_size
            assert all(len(page) == page_size for page in pages[:-1])
        rows = list(
            QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        )
        assert {row[8] for row in rows} == {ann, team, watch}  # project_id
        teams = {row[0] for row in rows if row[8] == team}
        # A membership ends: that project's tasks are gone from the next statement on.
        assert QUERIES.leave_project(conn, project_id=team) == 1
        left = _ids(
            QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        )
        assert teams and left == [t for t in order if t not in teams]


def test_overdue_and_counts_cover_every_project_of_the_user_and_no_other(superuser_migrated, people, projects):
    ann, bob = people
    cleo, team, watch, secret = projects["cleo"], projects["team"], projects["watch"], projects["secret"]
    now = superuser_migrated.execute("select now()").fetchone()[0]
    late = [
        new_task(superuser_migrated, ann, "mine late", due_at=now - timedelta(days=2)),
        new_task(superuser_migrated, cleo, "team late", project_id=team, due_at=now - timedelta(days=3)),
        new_task(superuser_migrated, bob, "watch late", project_id=watch, due_at=now - timedelta(days=1)),
    ]
    new_task(superuser_migrated, bob, "secret late", project_id=secret, due_at=now - timedelta(days=5))
    new_task(
        superuser_migrated, cleo, "team done late", project_id=team, due_at=now - timedelta(days=4), status="completed"
    )
    new_task(superuser_migrated, cleo, "team in progress", project_id=team, status="in_progress")
    new_task(superuser_migrated, bob, "secret in progress", project_id=secret, status="in_progress")
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        pages, cursor = [], FIRST_ASC
        while True:
            rows = list(QUERIES.overdue_tasks(conn, after_due_at=cursor[0], after_id=cursor[1], page_size=2))
            pages.append(_ids(rows))
            if len(rows) < 2:
                break
            cursor = (rows[-1][4], rows[-1][0])
        assert [t for page in pages for t in page] == [late[1], late[0], late[2]]
        assert QUERIES.count_overdue_tasks(conn) == 3
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 3), ("in_progress", 1), ("completed", 1)]
    with acting_as(
        superuser_migrated, "todo_app", bob
    ) as conn:  # bob's own projects: "Watch" and "Secret", and his inbox
        assert QUERIES.count_overdue_tasks(conn) == 2
        assert list(QUERIES.count_tasks_by_status(conn)) == [("pending", 2), ("in_progress", 1), ("completed", 0)]


def test_tasks_by_status_and_the_bin_merge_projects_newest_first_with_ties(superuser_migrated, people, projects):
    ann, bob = people
    cleo, team, watch, secret = projects["cleo"], projects["team"], projects["watch"], projects["secret"]
    created = [
        (T0 - timedelta(days=d), p, c)
        for d, p, c in (
            (1, ann, ann),
            (1, team, cleo),
            (1, watch, bob),
            (2, team, cleo),
            (3, ann, ann),
            (1, watch, bob),
        )
    ]
    ours = [(c, new_task(superuser_migrated, who, "p", project_id=p, created_at=c)) for c, p, who in created]
    new_task(superuser_migrated, bob, "secret", project_id=secret, created_at=T0)
    order = [t for _, t in sorted(ours, key=lambda e: (e[0], str(e[1])), reverse=True)]
    binned = []
    for h, p, who in ((1, ann, ann), (1, team, cleo), (2, watch, bob), (3, team, cleo)):  # two binned at once
        at = T0 - timedelta(hours=h)
        binned.append((at, new_task(superuser_migrated, who, "binned", project_id=p, deleted_at=at)))
    new_task(superuser_migrated, bob, "secret binned", project_id=secret, deleted_at=T0)
    bin_order = [t for _, t in sorted(binned, key=lambda e: (e[0], str(e[1])), reverse=True)]
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        for page_size in (1, 2, 3, 6, 10):
            seen, cursor = [], FIRST_DESC
            while True:
                rows = list(
                    QUERIES.tasks_by_status(
                        conn, status="pending", after_created_at=cursor[0], after_id=cursor[1], page_size=page_size
                    )
                )
                seen += _ids(rows)
                if len(rows) < page_size:
                    break
                cursor = (rows[-1][7], rows[-1][0])
            assert seen == order, page_size
            seen, cursor = [], FIRST_DESC
            while True:
                rows = list(
                    QUERIES.deleted_tasks(conn, after_deleted_at=cursor[0], after_id=cursor[1], page_size=page_size)
                )
                seen += _ids(rows)
                if len(rows) < page_size:
                    break
                cursor = (rows[-1][5], rows[-1][0])
            assert seen == bin_order, page_size


def test_get_task_sees_a_shared_projects_task_and_nothing_of_a_project_the_user_is_not_in(
    superuser_migrated, people, projects
):
    ann, bob = people
    shared = new_task(superuser_migrated, projects["cleo"], "shared", project_id=projects["team"], assignee_id=ann)
    secret = new_task(superuser_migrated, bob, "secret", project_id=projects["secret"])
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        row = QUERIES.get_task(conn, task_id=shared)
        assert row[0] == shared and row[10:] == (projects["team"], ann, 1)  # project_id, assignee_id, version
        assert QUERIES.get_task(conn, task_id=secret) is None
    with acting_as(superuser_migrated, "todo_app", bob) as conn:
        assert QUERIES.get_task(conn, task_id=secret)[0] == secret
        assert QUERIES.get_task(conn, task_id=shared) is None


def test_create_task_in_project_writes_where_the_user_edits_and_refuses_elsewhere(superuser_migrated, people, projects):
    ann, bob = people
    cleo, team, watch, secret = projects["cleo"], projects["team"], projects["watch"], projects["secret"]
    task = dict(description=None, priority=None, due_at=T0, estimated_hours=None)
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        row = QUERIES.create_task_in_project(conn, title="for the team", project_id=team, assignee_id=cleo, **task)
        assert row[1:4] == ("for the team", "pending", "medium") and row[8:] == (team, cleo, 1)
        inbox = QUERIES.create_task_in_project(conn, title="mine", project_id=None, assignee_id=None, **task)
        assert inbox[8:] == (ann, None, 1)  # an inbox's id is its owner's id
        assert QUERIES.create_task(conn, title="also mine", **task)[0] in _ids(
            QUERIES.project_open_tasks(
                conn, project_id=ann, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10
            )
        )
        for project in (watch, secret, uuid.uuid4()):  # a viewer, not a member, no such project: the same refusal
            with refused(conn, "42501"):
                QUERIES.create_task_in_project(conn, title="no", project_id=project, assignee_id=None, **task)
        with refused(conn, "23503", "tasks_assignee_membership_fkey"):
            QUERIES.create_task_in_project(conn, title="for bob", project_id=team, assignee_id=bob, **task)
        kinds = conn.execute("select kind, actor_id from app.task_events where task_id = %s", [row[0]]).fetchall()
        assert kinds == [("created", ann)]


def test_a_viewer_reads_a_projects_tasks_but_changes_none(superuser_migrated, people, projects):
    ann, bob = people
    watched = new_task(superuser_migrated, bob, "watched", project_id=projects["watch"], due_at=T0)
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        assert QUERIES.get_task(conn, task_id=watched)[0] == watched
        assert QUERIES.set_task_status(conn, task_id=watched, version=1, status="completed") is None
        assert (
            QUERIES.update_task(
                conn,
                task_id=watched,
                version=1,
                title="mine now",
                description=None,
                priority="low",
                due_at=None,
                estimated_hours=None,
            )
            is None
        )
        assert QUERIES.soft_delete_task(conn, task_id=watched) is None
        assert QUERIES.assign_task(conn, task_id=watched, version=1, assignee_id=ann) is None
    assert superuser_migrated.execute(
        "select title, status, deleted_at, assignee_id from app.tasks where id = %s", [watched]
    ).fetchone() == ("watched", "pending", None, None)


def test_assign_task_to_a_member_unassign_and_refuse_a_non_member(superuser_migrated, people, projects):
    ann, bob = people
    cleo, team = projects["cleo"], projects["team"]
    task = new_task(superuser_migrated, cleo, "to assign", project_id=team)
    with acting_as(superuser_migrated, "todo_app", ann) as conn:
        assigned = QUERIES.assign_task(conn, task_id=task, version=1, assignee_id=ann)
        assert assigned[:3] == (task, team, ann)
        assert QUERIES.assign_task(conn, task_id=task, version=2, assignee_id=cleo)[2] == cleo
        assert QUERIES.assign_task(conn, task_id=task, version=3, assignee_id=None)[2] is None
        with refused(conn, "23503", "tasks_assignee_membership_fkey"):
            QUERIES.assign_task(conn, task_id=task, version=4, assignee_id=bob)
