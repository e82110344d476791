"""queries/projects.sql as the app runs them (todo_app, with an identity): a project's open tasks,
upcoming and assigned-to-me across projects (keyset pages across ties and undated rows), the user's
projects with their counts, the member list, and sharing (create, invite, accept, roles, remove,
leave, transfer). A non-member sees nothing of a project; each such test first shows, as the
superuser, that what stays hidden is there."""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.support import acting_as, new_task, new_user, refused
from tododb import typed
from tododb.queries import FIRST_ASC, QUERIES

T0 = datetime(2031, 1, 1, tzinfo=UTC)


def new_project(conn, owner, name="Team"):
    """A project of ``owner`` (the owner's membership comes with it), made as the superuser."""
    return conn.execute(
        "insert into app.projects (owner_id, name) values (%s, %s) returning id", [owner, name]
    ).fetchone()[0]


def add_member(conn, project, user, role):
    conn.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, %s)", [project, user, role]
    )


def switch(conn, user_id):
    """Within the acting transaction, another end user is the identity from the next statement on."""
    conn.execute("select set_config('app.user_id', %s, true)", [str(user_id) if user_id else ""])


def _ids(rows):
    return [row[0] for row in rows]


def _pages(conn, query, page_size, **params):
    """Every page of a (due_at, id) keyset query, following its cursor (due_at None after an undated row)."""
    pages, cursor = [], {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1]}
    while True:
        rows = list(getattr(QUERIES, query)(conn, **params, **cursor, page_size=page_size))
        pages.append(rows)
        if len(rows) < page_size:
            return pages
        cursor = {"after_due_at": rows[-1][4], "after_id": rows[-1][0]}


def _due_order(expected):
    """(due_at or None, id) pairs in the lists' order: by due date, id breaking ties, undated last by id."""
    return [task for _, task in sorted(expected, key=lambda e: (e[0] is None, e[0] or T0, str(e[1])))]


@pytest.fixture
def team(superuser_migrated):
    """olga owns "Team" (ed edits it, vi views it); nora owns "Nora's", which none of them is in."""
    olga, ed, vi, nora = (
        new_user(superuser_migrated, f"{n}@example.com", name=n.title()) for n in ("olga", "ed", "vi", "nora")
    )
    project = new_project(superuser_migrated, olga, "Team")
    add_member(superuser_migrated, project, ed, "editor")
    add_member(superuser_migrated, project, vi, "viewer")
    return {
        "olga": olga,
        "ed": ed,
        "vi": vi,
        "nora": nora,
        "project": project,
        "noras": new_project(superuser_migrated, nora, "Nora's"),
    }


# --- a project's open tasks ------------------------------------------------------------------------------------


def test_project_open_tasks_by_due_date_with_ties_undated_last_across_pages(superuser_migrated, team):
    olga, ed, project = team["olga"], team["ed"], team["project"]
    expected = [
        (T0, new_task(superuser_migrated, creator, f"tie {i}", project_id=project, due_at=T0))
        for i, creator in enumerate((olga, ed, olga, ed))
    ]  # four due at the same instant
    expected.append(
        (
            T0 - timedelta(days=1),
            new_task(superuser_migrated, ed, "sooner", project_id=project, due_at=T0 - timedelta(days=1)),
        )
    )
    expected += [(None, new_task(superuser_migrated, olga, f"undated {i}", project_id=project)) for i in range(3)]
    new_task(superuser_migrated, olga, "done", project_id=project, due_at=T0, status="completed")
    new_task(superuser_migrated, olga, "binned", project_id=project, due_at=T0, deleted_at=T0)
    new_task(superuser_migrated, olga, "in the inbox", due_at=T0)
    new_task(superuser_migrated, team["nora"], "nora's", project_id=team["noras"], due_at=T0)
    order = _due_order(expected)
    for who in ("olga", "ed", "vi"):  # every member, whatever the role, sees the same list
        with acting_as(superuser_migrated, "todo_app", team[who]) as conn:
            for page_size in (1, 2, 3, 4, 8, 50):
                pages = _pages(conn, "project_open_tasks", page_size, project_id=project)
                assert [task for page in pages for task in _ids(page)] == order, (who, page_size)
                assert all(len(page) == page_size for page in pages[:-1])
            assert {row[8] for page in pages for row in page} == {project}
            assert (
                list(
                    QUERIES.project_open_tasks(
                        conn, project_id=project, after_due_at=None, after_id=order[-1], page_size=5
                    )
                )
                == []
            )  # after the last row: an empty page


def test_project_open_tasks_of_a_project_the_user_is_not_in_is_empty(superuser_migrated, team):
    noras = team["noras"]
    hidden = new_task(superuser_migrated, team["nora"], "nora's", project_id=noras, due_at=T0)
    with acting_as(superuser_migrated, "todo_app", team["nora"]) as conn:  # just to check that the test is valid
        assert _ids(
            QUERIES.project_open_tasks(
                conn, project_id=noras, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10
            )
        ) == [hidden]
    for who in ("olga", "ed", "vi", None):
        with acting_as(superuser_migrated, "todo_app", team[who] if who else None) as conn:
            assert (
                list(
                    QUERIES.project_open_tasks(
                        conn, project_id=noras, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=10
                    )
                )
                == []
            )


# --- upcoming, across projects ---------------------------------------------------------------------------------


def test_upcoming_pages_equal_a_plain_sort_whatever_the_spread_over_projects(superuser_migrated, team):
    """The two-step merge (three keys per project, then only the projects that can hold more of the page)
    against the plain answer, on spreads that stress it: one project holding all the earliest dates, ties
    across projects, many small projects, a project that has exactly three."""
    import random

    rng = random.Random(12)
    olga = team["olga"]
    projects = [team["project"]] + [new_project(superuser_migrated, olga, f"p{i}") for i in range(24)]
    dates = [T0 + timedelta(hours=h) for h in range(40)]
    for i in range(30):  # the first project: the earliest dates, many of them
        new_task(superuser_migrated, olga, f"early {i}", project_id=projects[0], due_at=T0 - timedelta(days=30 - i))
    for i in range(3):  # exactly three in one project
        new_task(superuser_migrated, olga, f"three {i}", project_id=projects[1], due_at=rng.choice(dates))
    for project in projects[2:]:
        for i in range(rng.randrange(0, 9)):
            new_task(superuser_migrated, olga, f"spread {i}", project_id=project, due_at=rng.choice(dates))
    new_task(superuser_migrated, olga, "undated: not upcoming", project_id=projects[2])
    with acting_as(superuser_migrated, "todo_app", olga) as conn:
        plain = _ids(
            conn.execute(
                "select id, due_at from app.tasks where deleted_at is null and status <> 'completed'"
                " and due_at is not null order by due_at, id"
            ).fetchall()
        )
        for page_size in (1, 2, 3, 4, 5, 7, 16, 50, 200):
            pages = _pages(conn, "upcoming_tasks", page_size)
            assert [task for page in pages for task in _ids(page)] == plain, page_size
            assert all(len(page) == page_size for page in pages[:-1]), page_size


def test_upcoming_merges_the_dated_open_tasks_of_every_project_with_ties_across_projects(superuser_migrated, team):
    olga, ed, vi, nora, project = team["olga"], team["ed"], team["vi"], team["nora"], team["project"]
    side = new_project(superuser_migrated, olga, "Side")
    add_member(superuser_migrated, side, ed, "viewer")
    expected = []
    for creator, where in ((ed, ed), (olga, project), (ed, project), (olga, side), (ed, ed)):  # ties in 3 projects
        expected.append((T0, new_task(superuser_migrated, creator, "tie", project_id=where, due_at=T0)))
    for days, creator, where in ((-3, olga, side), (2, ed, project), (-1, ed, ed), (5, olga, side)):
        expected.append(
            (
                T0 + timedelta(days=days),
                new_task(superuser_migrated, creator, "dated", project_id=where, due_at=T0 + timedelta(days=days)),
            )
        )
    for creator, where in ((ed, ed), (olga, project), (olga, side)):
        new_task(superuser_migrated, creator, "undated: not upcoming", project_id=where)
    new_task(superuser_migrated, olga, "done", project_id=project, due_at=T0, status="completed")
    new_task(superuser_migrated, olga, "binned", project_id=side, due_at=T0, deleted_at=T0)
    new_task(superuser_migrated, nora, "nora's", project_id=team["noras"], due_at=T0 - timedelta(days=9))
    new_task(superuser_migrated, vi, "vi's own", due_at=T0)
    order = _due_order(expected)
    with acting_as(superuser_migrated, "todo_app", ed) as conn:
        for page_size in (1, 2, 3, 4, 5, 9, 50):
            pages = _pages(conn, "upcoming_tasks", page_size)
            assert [task for page in pages for task in _ids(page)] == order, page_size
            assert all(len(page) == page_size for page in pages[:-1])
        # From the present on: a cursor at now() skips what is overdue.
        now = conn.execute("select now()").fetchone()[0]
        new = QUERIES.create_task_in_project(
            conn,
            title="soon",
            description=None,
            priority=None,
            due_at=now + timedelta(minutes=1),
            estimated_hours=None,
            project_id=project,
            assignee_id=None,
        )[0]
        assert _ids(QUERIES.upcoming_tasks(conn, after_due_at=now, after_id=FIRST_ASC[1], page_size=1)) == [new]
    with acting_as(superuser_migrated, "todo_app", nora) as conn:  # not a member: none of theirs
        assert [
            row[1]
            for row in QUERIES.upcoming_tasks(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        ] == ["nora's"]
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        assert list(QUERIES.upcoming_tasks(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)) == []


# --- assigned to me ----------------------------------------------------------------------------------------------


def test_tasks_assigned_to_me_across_projects_by_due_date_undated_last(superuser_migrated, team):
    olga, ed, vi, nora, project = team["olga"], team["ed"], team["vi"], team["nora"], team["project"]
    side = new_project(superuser_migrated, nora, "Side")
    add_member(superuser_migrated, side, ed, "editor")
    expected = []
    assignments = [
        (T0, olga, project),
        (T0, nora, side),
        (T0, ed, ed),
        (T0 - timedelta(days=1), olga, project),
        (None, olga, project),
        (None, nora, side),
        (None, ed, ed),
    ]  # ties and undated in three projects
    for due, creator, where in assignments:
        expected.append(
            (due, new_task(superuser_migrated, creator, "for ed", project_id=where, due_at=due, assignee_id=ed))
        )
    new_task(superuser_migrated, olga, "for vi", project_id=project, due_at=T0, assignee_id=vi)
    new_task(superuser_migrated, olga, "unassigned", project_id=project, due_at=T0)
    new_task(superuser_migrated, olga, "done", project_id=project, due_at=T0, assignee_id=ed, status="completed")
    new_task(superuser_migrated, nora, "binned", project_id=side, due_at=T0, assignee_id=ed, deleted_at=T0)
    order = _due_order(expected)
    with acting_as(superuser_migrated, "todo_app", ed) as conn:
        for page_size in (1, 2, 3, 4, 7, 50):
            pages = _pages(conn, "tasks_assigned_to_me", page_size)
            assert [task for page in pages for task in _ids(page)] == order, page_size
            assert all(len(page) == page_size for page in pages[:-1])
        assert {row[9] for page in pages for row in page} == {ed}  # assignee_id
    with acting_as(superuser_migrated, "todo_app", vi) as conn:
        assert [
            row[1]
            for row in QUERIES.tasks_assigned_to_me(
                conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50
            )
        ] == ["for vi"]
        (for_vi,) = _ids(
            QUERIES.tasks_assigned_to_me(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        )
        # vi leaves: the assignment is cleared with the membership (tasks_assignee_membership_fkey).
        assert QUERIES.leave_project(conn, project_id=project) == 1
        assert (
            list(QUERIES.tasks_assigned_to_me(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50))
            == []
        )
        switch(conn, olga)
        assert QUERIES.get_task(conn, task_id=for_vi)[11] is None


# --- the user's projects and a project's members ----------------------------------------------------------------


def test_my_projects_lists_the_inbox_first_then_by_name_with_role_and_open_counts(superuser_migrated, team):
    olga, ed, nora, project = team["olga"], team["ed"], team["nora"], team["project"]
    alpha = new_project(superuser_migrated, nora, "Alpha")
    add_member(superuser_migrated, alpha, ed, "viewer")
    for status, deleted in (("pending", None), ("in_progress", None), ("completed", None), ("pending", T0)):
        new_task(superuser_migrated, olga, status, project_id=project, status=status, deleted_at=deleted)
    new_task(superuser_migrated, ed, "in ed's inbox", due_at=T0)
    new_task(superuser_migrated, nora, "in Nora's", project_id=team["noras"])
    with acting_as(superuser_migrated, "todo_app", ed) as conn:
        rows = list(QUERIES.my_projects(conn))
        assert [(r[0], r[1], r[2], r[3], r[5]) for r in rows] == [
            (ed, "Inbox", "owner", True, 1),
            (alpha, "Alpha", "viewer", False, 0),
            (project, "Team", "editor", False, 2),
        ]
    with acting_as(superuser_migrated, "todo_app", olga) as conn:
        assert [(r[1], r[2], r[5]) for r in QUERIES.my_projects(conn)] == [("Inbox", "owner", 0), ("Team", "owner", 2)]
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        assert list(QUERIES.my_projects(conn)) == []


def test_project_members_shows_id_name_email_and_role_to_members_only(superuser_migrated, team):
    olga, ed, vi, nora, project = team["olga"], team["ed"], team["vi"], team["nora"], team["project"]
    columns = [
        c.name for c in superuser_migrated.execute(QUERIES.project_members.sql, {"project_id": project}).description
    ]
    # Never a password hash or login times; the membership's version, for change_member_role.
    assert columns == ["id", "name", "email", "role", "version"]
    # The owner, then in the order they joined: here in the same transaction, so by id.
    expected = [
        (olga, "Olga", "olga@example.com", "owner", 1),
        *sorted([(ed, "Ed", "ed@example.com", "editor", 1), (vi, "Vi", "vi@example.com", "viewer", 1)]),
    ]
    for who in (olga, ed, vi):
        with acting_as(superuser_migrated, "todo_app", who) as conn:
            assert list(QUERIES.project_members(conn, project_id=project)) == expected
    with acting_as(superuser_migrated, "todo_app", nora) as conn:
        assert list(QUERIES.project_members(conn, project_id=team["noras"])) == [
            (nora, "Nora", "nora@example.com", "owner", 1)
        ]  # just to check that the test is valid
        assert list(QUERIES.project_members(conn, project_id=project)) == []


# --- sharing -----------------------------------------------------------------------------------------------------


def test_create_project_makes_the_user_its_owner_and_refuses_a_blank_name(superuser_migrated, team):
    ed = team["ed"]
    with acting_as(superuser_migrated, "todo_app", ed) as conn:
        created = QUERIES.create_project(conn, name="Garden")
        assert created[1:4] == ("Garden", False, None)
        assert [(r[1], r[2]) for r in QUERIES.my_projects(conn) if r[0] == created[0]] == [("Garden", "owner")]
        assert [(r[0], r[3]) for r in QUERIES.project_members(conn, project_id=created[0])] == [(ed, "owner")]
        task = QUERIES.create_task_in_project(
            conn,
            title="dig",
            description=None,
            priority=None,
            due_at=None,
            estimated_hours=None,
            project_id=created[0],
            assignee_id=ed,
        )
        assert task[8:] == (created[0], ed, 1)  # project_id, assignee_id, version
        with refused(conn, "23514", "projects_name_not_blank_check"):
            QUERIES.create_project(conn, name=" \u200b")
        with refused(conn, "23514", "projects_name_length_check"):
            QUERIES.create_project(conn, name="x" * 121)
        assert QUERIES.create_project(conn, name="x" * 120) is not None


def test_invite_and_accept_make_the_invitee_a_member_with_the_invited_role(superuser_migrated, team):
    olga, ed, project = team["olga"], team["ed"], team["project"]
    gus = new_user(superuser_migrated, "gus@example.com", name="Gus")
    with acting_as(superuser_migrated, "todo_app", olga) as conn:
        invitation = QUERIES.invite_to_project(conn, project_id=project, email="GUS@example.com", role="editor")
        assert isinstance(invitation, uuid.UUID)
        # The same call for an address without an account: the same kind of answer.
        assert isinstance(
            QUERIES.invite_to_project(conn, project_id=project, email="nobody@example.com", role="viewer"), uuid.UUID
        )
        with refused(conn, "23514", "project_invitations_not_inbox_check"):
            QUERIES.invite_to_project(conn, project_id=olga, email="gus@example.com", role="viewer")
        with refused(conn, "23514", "project_invitations_role_check"):
            QUERIES.invite_to_project(conn, project_id=project, email="gus@example.com", role="owner")
        switch(conn, ed)  # an editor may not invite, nor may a non-member
        with refused(conn, "42501"):
            QUERIES.invite_to_project(conn, project_id=project, email="gus@example.com", role="viewer")
        with refused(conn, "42501"):  # ed is not the invitee
            QUERIES.accept_invitation(conn, invitation_id=invitation)
        switch(conn, gus)
        assert (
            list(
                QUERIES.project_open_tasks(
                    conn, project_id=project, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=5
                )
            )
            == []
        )
        assert QUERIES.accept_invitation(conn, invitation_id=invitation) == 1
        assert ("Team", "editor") in [(r[1], r[2]) for r in QUERIES.my_projects(conn)]
        with refused(conn, "42501"):  # used up
            QUERIES.accept_invitation(conn, invitation_id=invitation)
        with refused(conn, "42501"):  # no such invitation
            QUERIES.accept_invitation(conn, invitation_id=uuid.uuid4())


def test_the_owner_changes_roles_and_removes_members_nobody_else_does(superuser_migrated, team):
    olga, ed, vi, project = team["olga"], team["ed"], team["vi"], team["project"]
    assigned = new_task(superuser_migrated, olga, "for vi", project_id=project, assignee_id=vi)
    with acting_as(superuser_migrated, "todo_app", ed) as conn:  # an editor: nothing happens
        assert QUERIES.change_member_role(conn, project_id=project, user_id=vi, version=1, role="editor") is None
        assert QUERIES.remove_member(conn, project_id=project, user_id=vi) == 0
    with acting_as(superuser_migrated, "todo_app", olga) as conn:
        assert QUERIES.change_member_role(conn, project_id=project, user_id=ed, version=1, role="viewer") == (
            project,
            ed,
            "viewer",
            2,
        )
        own = QUERIES.change_member_role(conn, project_id=project, user_id=olga, version=1, role="editor")
        assert own is None  # her own
        with refused(conn, "42501"):
            QUERIES.change_member_role(conn, project_id=project, user_id=ed, version=2, role="owner")
        with refused(conn, "23514", "project_role_check"):
            QUERIES.change_member_role(conn, project_id=project, user_id=ed, version=2, role="admin")
        assert QUERIES.remove_member(conn, project_id=project, user_id=vi) == 1
        assert QUERIES.remove_member(conn, project_id=project, user_id=olga) == 0  # the owner's row stays
        assert [r[0] for r in QUERIES.project_members(conn, project_id=project)] == [olga, ed]
        assert QUERIES.get_task(conn, task_id=assigned)[11] is None  # vi's assignment went with her
        switch(conn, ed)
        with refused(conn, "42501"):  # now a viewer
            QUERIES.create_task_in_project(
                conn,
                title="no",
                description=None,
                priority=None,
                due_at=None,
                estimated_hours=None,
                project_id=project,
                assignee_id=None,
            )
        switch(conn, vi)
        assert QUERIES.get_task(conn, task_id=assigned) is None
        assert list(QUERIES.project_members(conn, project_id=project)) == []


def test_members_leave_the_owner_transfers_first(superuser_migrated, team):
    olga, ed, vi, nora, project = team["olga"], team["ed"], team["vi"], team["nora"], team["project"]
    with acting_as(superuser_migrated, "todo_app", olga) as conn:
        assert QUERIES.leave_project(conn, project_id=project) == 0  # the owner cannot leave
        assert QUERIES.leave_project(conn, project_id=olga) == 0  # nor leave her inbox
        with refused(conn, "23503", "projects_owner_is_member_check"):
            QUERIES.transfer_ownership(conn, project_id=project, new_owner=nora)
        switch(conn, ed)
        with refused(conn, "42501"):
            QUERIES.transfer_ownership(conn, project_id=project, new_owner=ed)
        switch(conn, olga)
        assert QUERIES.transfer_ownership(conn, project_id=project, new_owner=ed) == 1
        assert [(r[0], r[3]) for r in QUERIES.project_members(conn, project_id=project)] == [
            (ed, "owner"),
            *sorted([(olga, "editor"), (vi, "viewer")]),
        ]
        assert QUERIES.leave_project(conn, project_id=project) == 1
        assert list(QUERIES.project_members(conn, project_id=project)) == []
        assert [r[1] for r in QUERIES.my_projects(conn)] == ["Inbox"]
        switch(conn, vi)
        assert QUERIES.leave_project(conn, project_id=project) == 1
        assert QUERIES.leave_project(conn, project_id=project) == 0  # once
        switch(conn, ed)
        assert [(r[0], r[3]) for r in QUERIES.project_members(conn, project_id=project)] == [(ed, "owner")]


# --- the typed wrapper -------------------------------------------------------------------------------------------


def _conforms(value, annotation) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_conforms(value, option) for option in typing.get_args(annotation))
    if origin is typing.Literal:
        return value in typing.get_args(annotation)
    if annotation is type(None):
        return value is None
    return isinstance(value, annotation)


def test_the_typed_project_queries_return_what_their_types_say(superuser_migrated, team):
    olga, ed, project = team["olga"], team["ed"], team["project"]
    with acting_as(superuser_migrated, "todo_app", ed) as conn:
        created = typed.create_task_in_project(
            conn,
            title="typed",
            description=None,
            priority="low",
            due_at=T0,
            estimated_hours=2,
            project_id=project,
            assignee_id=ed,
        )
        undated = typed.create_task_in_project(
            conn,
            title="typed undated",
            description=None,
            priority=None,
            due_at=None,
            estimated_hours=None,
            project_id=None,
            assignee_id=None,
        )
        assert created is not None and undated is not None
        rows: list[object] = [
            created,
            undated,
            *typed.my_projects(conn),
            *typed.project_members(conn, project_id=project),
            *typed.project_open_tasks(
                conn, project_id=project, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=5
            ),
            *typed.upcoming_tasks(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=5),
            *typed.tasks_assigned_to_me(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=5),
            typed.assign_task(conn, task_id=created.id, version=created.version, assignee_id=olga),
            typed.create_project(conn, name="Mine"),
        ]
        switch(conn, olga)
        rows.append(typed.change_member_role(conn, project_id=project, user_id=ed, version=1, role="viewer"))
    # The member list comes from a view: its columns are typed as the view's query makes them (name and email
    # come out of a definer function, app_private.member_profile, whose results PostgreSQL cannot prove set).
    assert typing.get_type_hints(typed.ProjectMembersRow, vars(typed)) == {
        "id": uuid.UUID,
        "name": str | None,
        "email": str | None,
        "role": typed.ProjectRole,
        "version": int,
    }
    for row in rows:
        assert row is not None
        hints = typing.get_type_hints(type(row), vars(typed))
        for column in dataclasses.fields(row):
            value = getattr(row, column.name)
            assert _conforms(value, hints[column.name]), (type(row).__name__, column.name, value)
