"""Sign-up and sign-in before an identity exists: app.sign_up,
app.user_for_login and app.record_login do their job and nothing more."""

from __future__ import annotations

import uuid

import pytest

from tests.support import BCRYPT_HASH, acting_as, refused
from tests.worlds import two_users


@pytest.fixture
def world(superuser_migrated):
    return two_users(superuser_migrated)


def test_sign_up_creates_the_user_and_returns_the_id(superuser_migrated):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        user_id = conn.execute("select app.sign_up('Cleo@Example.com', 'Cleo', %s)", [BCRYPT_HASH]).fetchone()[0]
        conn.execute("reset role")
        row = conn.execute("select email, name, password_hash, is_active from app.users where id = %s", [user_id])
        assert row.fetchone() == ("Cleo@Example.com", "Cleo", BCRYPT_HASH, True)


def test_sign_up_with_a_taken_email_is_a_unique_violation_and_nothing_more(superuser_migrated, world):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        with refused(conn, "23505", "users_email_key"):
            conn.execute("select app.sign_up('ANN@example.com', 'Impostor', %s)", [BCRYPT_HASH])
        # The boundary: a free address works.
        conn.execute("select app.sign_up('ann2@example.com', null, %s)", [BCRYPT_HASH])


@pytest.mark.parametrize(
    ("email", "password_hash", "constraint"),
    [
        ("not-an-email", BCRYPT_HASH, "users_email_format_check"),
        ("dora@example.com", "$2b$12$tooshort", "users_password_hash_length_check"),
        ("dora@example.com", "plaintext password that is long enough to pass the length rule", None),
    ],
)
def test_sign_up_keeps_every_rule_of_the_table(superuser_migrated, email, password_hash, constraint):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        with refused(conn, "23514", constraint):
            conn.execute("select app.sign_up(%s, null, %s)", [email, password_hash])


def test_user_for_login_returns_exactly_id_hash_and_is_active_of_that_user(superuser_migrated, world):
    ann = world["ann"]
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        cur = conn.execute("select * from app.user_for_login('ANN@EXAMPLE.COM')")
        assert [column.name for column in cur.description] == ["id", "password_hash", "is_active"]
        assert cur.fetchall() == [(ann.id, BCRYPT_HASH, True)]
        assert conn.execute("select count(*) from app.users").fetchone() == (0,)  # still no view of users


@pytest.mark.parametrize(
    "probe",
    [
        "nobody@example.com",
        "' or '1'='1",
        "ann@example.com' or true --",
        "%@example.com",
        "ann@example.com'; delete from app.users; --",
    ],
)
def test_user_for_login_of_anything_else_reveals_nothing_and_sql_stays_data(superuser_migrated, world, probe):
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        assert conn.execute("select * from app.user_for_login(%s)", [probe]).fetchall() == []
    assert superuser_migrated.execute("select count(*) from app.users").fetchone() == (2,)


def test_record_login_sets_last_login_at_of_that_user_only(superuser_migrated, world):
    ann, bob = world["ann"], world["bob"]
    with acting_as(superuser_migrated, "todo_app", None) as conn:
        conn.execute("select app.record_login(%s)", [ann.id])
        conn.execute("select app.record_login(%s)", [uuid.uuid4()])  # unknown: nothing happens
        conn.execute("reset role")
        logins = dict(conn.execute("select id, last_login_at is not null from app.users").fetchall())
    assert logins == {ann.id: True, bob.id: False}


@pytest.mark.parametrize("role", ["todo_readonly", "todo_auth_probe"])
def test_only_todo_app_may_call_the_sign_in_functions(superuser_migrated, role):
    if role == "todo_auth_probe":
        superuser_migrated.execute("create role todo_auth_probe")  # rolled back with the test; stands for PUBLIC
    for call in (
        f"select app.sign_up('x@example.com', null, {BCRYPT_HASH!r})",
        "select * from app.user_for_login('x@example.com')",
        "select app.record_login(gen_random_uuid())",
    ):
        with acting_as(superuser_migrated, role, None) as conn:
            with refused(conn, "42501"):
                conn.execute(call)


def test_the_sign_in_functions_are_definers_with_a_pinned_search_path_owned_by_todo_auth(superuser_migrated):
    rows = superuser_migrated.execute(
        """
        select p.proname, p.prosecdef, p.proconfig, pg_get_userbyid(p.proowner)
        from pg_proc p where p.pronamespace = 'app'::regnamespace
          and p.proname in ('sign_up', 'user_for_login', 'record_login')
        order by 1
        """
    ).fetchall()
    assert [row[0] for row in rows] == ["record_login", "sign_up", "user_for_login"]
    assert all(row[1] and row[2] == ["search_path=pg_catalog, pg_temp"] and row[3] == "todo_auth" for row in rows), rows
    # Nobody logs in as todo_auth or holds its rights, but todo_migrator: the path through which a database
    # owner that is not a superuser manages these functions (0016a). todo_auth is a member of nothing.
    # (Since PostgreSQL 16 a grant may carry ADMIN OPTION alone, neither INHERIT nor SET: what the cluster's
    # administrator gives an owner that did not create the role, see tests/owners.py. It confers no rights.)
    uses_rights = "inherit_option or set_option" if superuser_migrated.info.server_version >= 160000 else "true"
    members = superuser_migrated.execute(
        f"select pg_get_userbyid(member) from pg_auth_members where roleid = 'todo_auth'::regrole and ({uses_rights})"
    ).fetchall()
    assert set(members) <= {("todo_migrator",)}
    assert superuser_migrated.execute(
        "select count(*) from pg_auth_members where member = 'todo_auth'::regrole"
    ).fetchone() == (0,)
