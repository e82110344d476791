"""Every project has exactly one owner, the member its owner_id names: at most one by a unique index,
at least one (the right one) by a constraint trigger checked at commit (0045), for every role."""

from __future__ import annotations

import pytest

from tests.support import acting_as, new_user, refused

NOT_AN_INBOX = "insert into app.projects (owner_id, name) values (%s, 'Household') returning id"


def check_now(conn):
    """What commit would do: run the deferred checks of the statements so far."""
    conn.execute("set constraints all immediate")
    conn.execute("set constraints all deferred")


@pytest.fixture
def household(superuser_migrated):
    """ann owns Household, bob is an editor in it; made as the table owner (row-level security bypassed)."""
    ann, bob = new_user(superuser_migrated), new_user(superuser_migrated)
    project = superuser_migrated.execute(NOT_AN_INBOX, [ann]).fetchone()[0]
    superuser_migrated.execute(
        "insert into app.project_members (project_id, user_id, role) values (%s, %s, 'editor')", [project, bob]
    )
    return {"ann": ann, "bob": bob, "project": project}


def test_creating_a_project_makes_its_creator_the_one_owner(superuser_migrated, household):
    owners = superuser_migrated.execute(
        "select user_id from app.project_members where project_id = %s and role = 'owner'", [household["project"]]
    ).fetchall()
    assert owners == [(household["ann"],)]


def test_removing_the_owner_row_is_refused_even_for_the_table_owner(superuser_migrated, household):
    with superuser_migrated.transaction():
        with refused(superuser_migrated, "23514", "project_members_one_owner_check"):
            superuser_migrated.execute(
                "delete from app.project_members where project_id = %s and role = 'owner'", [household["project"]]
            )
            check_now(superuser_migrated)
    # The boundary: removing the editor is fine.
    superuser_migrated.execute(
        "delete from app.project_members where project_id = %s and user_id = %s",
        [household["project"], household["bob"]],
    )
    check_now(superuser_migrated)


def test_demoting_the_owner_or_pointing_owner_id_elsewhere_is_refused(superuser_migrated, household):
    with superuser_migrated.transaction():
        with refused(superuser_migrated, "23514", "project_members_one_owner_check"):
            superuser_migrated.execute(
                "update app.project_members set role = 'editor' where project_id = %s and user_id = %s",
                [household["project"], household["ann"]],
            )
            check_now(superuser_migrated)
    with superuser_migrated.transaction():
        with refused(superuser_migrated, "23514", "project_members_one_owner_check"):
            superuser_migrated.execute(
                "update app.projects set owner_id = %s where id = %s", [household["bob"], household["project"]]
            )
            check_now(superuser_migrated)


def test_a_second_owner_is_refused_by_the_unique_index(superuser_migrated, household):
    with refused(superuser_migrated, "23505", "project_members_one_owner_key"):
        superuser_migrated.execute(
            "update app.project_members set role = 'owner' where project_id = %s and user_id = %s",
            [household["project"], household["bob"]],
        )


def test_transfer_ownership_swaps_rows_and_owner_id_within_the_check(superuser_migrated, household):
    with acting_as(superuser_migrated, "todo_app", household["ann"]) as conn:  # rolled back at the end of the block
        conn.execute("select app.transfer_ownership(%s, %s)", [household["project"], household["bob"]])
        check_now(conn)
        assert conn.execute(
            "select p.owner_id, m.user_id from app.projects as p join app.project_members as m"
            " on m.project_id = p.id and m.role = 'owner' where p.id = %s",
            [household["project"]],
        ).fetchone() == (household["bob"], household["bob"])


def test_a_deleted_project_or_owner_account_takes_its_memberships_without_a_complaint(superuser_migrated, household):
    other = superuser_migrated.execute(NOT_AN_INBOX, [household["bob"]]).fetchone()[0]
    superuser_migrated.execute("delete from app.projects where id = %s", [other])
    superuser_migrated.execute("delete from app.users where id = %s", [household["ann"]])
    check_now(superuser_migrated)
    assert superuser_migrated.execute(
        "select count(*) from app.projects where id = %s", [household["project"]]
    ).fetchone() == (0,)


def test_the_check_holds_on_a_database_an_ordinary_owner_migrated(owner_migrated):
    ann = new_user(owner_migrated)
    project = owner_migrated.execute(NOT_AN_INBOX, [ann]).fetchone()[0]
    with refused(owner_migrated, "23514", "project_members_one_owner_check"):
        owner_migrated.execute("delete from app.project_members where project_id = %s", [project])
        check_now(owner_migrated)
