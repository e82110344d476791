"""The pool refuses to run as a login role that could get past row-level
security or rewrite the schema: a superuser, a role with BYPASSRLS, the owner
of schema app, or a member of any such role. A plain member of todo_app passes.

Roles are cluster-wide: every role made here is dropped at the end of its test.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import psycopg
import pytest
from psycopg import sql

from tests.logins import drop_login, login_role
from tests.support import PARAMS, db_url
from tododb.errors import TododbError as ToolError
from tododb.pool import PoolSettings, as_user, create_pool


def pool_settings(url: str) -> PoolSettings:
    return PoolSettings(url=url, min_size=2, max_size=2, connect_timeout=5)


@contextmanager
def group_role(admin: psycopg.Connection, attributes: str = "") -> Iterator[str]:
    """A NOLOGIN role (``attributes`` added), dropped afterwards."""
    name = f"tododb_group_{uuid.uuid4().hex[:10]}"
    admin.execute(sql.SQL("create role {} nologin " + attributes).format(sql.Identifier(name)))
    try:
        yield name
    finally:
        drop_login(admin, name)


@contextmanager
def owning_schema_app(admin: psycopg.Connection, role: str) -> Iterator[None]:
    """``role`` owns schema app for the block (this test's own database only)."""
    previous = admin.execute("select nspowner::regrole::text from pg_namespace where nspname = 'app'").fetchone()[0]
    admin.execute(sql.SQL("alter schema app owner to {}").format(sql.Identifier(role)))
    try:
        yield
    finally:  # back before the role is dropped (drop owned would try to drop the schema)
        admin.execute(sql.SQL("alter schema app owner to {}").format(sql.Identifier(previous)))


def login_of(url: str) -> str:
    return psycopg.conninfo.conninfo_to_dict(url)["user"]


def grant(admin: psycopg.Connection, role: str, member: str) -> None:
    """Make ``member`` a member of ``role`` (with the defaults: it inherits, and may SET ROLE)."""
    admin.execute(sql.SQL("grant {} to {}").format(sql.Identifier(role), sql.Identifier(member)))


@contextmanager
def with_bypassrls(admin, db):
    with login_role(admin, db, attributes="bypassrls") as url:
        yield url


@contextmanager
def member_of_a_bypassrls_role(admin, db):
    with group_role(admin, "bypassrls") as group, login_role(admin, db) as url:
        grant(admin, group, login_of(url))
        yield url


@contextmanager
def member_of_a_superuser_role(admin, db):
    with group_role(admin, "superuser") as group, login_role(admin, db) as url:
        grant(admin, group, login_of(url))
        yield url


@contextmanager
def member_of_the_schema_owner(admin, db):
    """Member (and, through it, able to SET ROLE to) the role that owns schema app."""
    with group_role(admin) as owner, owning_schema_app(admin, owner), login_role(admin, db, in_role=owner) as url:
        grant(admin, "todo_app", login_of(url))
        yield url


@contextmanager
def the_schema_owner_itself(admin, db):
    with login_role(admin, db) as url:
        with owning_schema_app(admin, login_of(url)):
            yield url


@contextmanager
def member_through_an_intermediate_role(admin, db):
    """Indirect membership counts too: login -> middle -> a BYPASSRLS role."""
    with group_role(admin, "bypassrls") as top, group_role(admin) as middle, login_role(admin, db) as url:
        grant(admin, top, middle)
        grant(admin, middle, login_of(url))
        yield url


def connections_of(admin: psycopg.Connection, url: str) -> int:
    """How many server sessions the login role of ``url`` still has, once closing ones are gone."""
    login = login_of(url)
    deadline = time.monotonic() + 5
    while True:
        count = admin.execute("select count(*) from pg_stat_activity where usename = %s", [login]).fetchone()[0]
        if count == 0 or time.monotonic() > deadline:
            return count
        time.sleep(0.05)


@pytest.fixture
def admin(superuser_migrated):
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    return superuser_migrated


def test_the_pool_refuses_the_superuser(admin):
    with pytest.raises(ToolError) as caught:
        create_pool(pool_settings(db_url(admin)))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "scenario",
    [
        with_bypassrls,
        member_of_a_bypassrls_role,
        member_of_a_superuser_role,
        member_of_the_schema_owner,
        the_schema_owner_itself,
        member_through_an_intermediate_role,
    ],
    ids=lambda scenario: scenario.__name__,
)
def test_the_pool_refuses_a_login_role_that_can_escape_row_level_security(
    admin, scenario: Callable[[psycopg.Connection, str], AbstractContextManager[str]]
):
    with scenario(admin, admin.info.dbname) as url:
        with psycopg.connect(url) as direct:  # the role can log in: only the pool says no
            assert direct.execute("select 1").fetchone() == (1,)
        with pytest.raises(ToolError) as caught:
            create_pool(pool_settings(url))
        assert "\n" not in str(caught.value)
        assert connections_of(admin, url) == 0  # the pool was closed, its connections with it


def test_a_plain_login_member_of_todo_app_is_accepted(admin):
    with login_role(admin, admin.info.dbname) as url:
        with create_pool(pool_settings(url)) as pool:
            with as_user(pool, None) as conn:
                assert conn.execute("select current_user").fetchone() == ("todo_app",)
            assert connections_of(admin, url) == 2


def test_a_member_of_the_other_app_roles_is_accepted(admin):
    """The boundary of the membership rule: todo_readonly and todo_auth grant no such power."""
    with login_role(admin, admin.info.dbname) as url:
        grant(admin, "todo_readonly", login_of(url))
        grant(admin, "todo_auth", login_of(url))
        create_pool(pool_settings(url)).close()


def test_the_check_reads_the_schema_owner_of_this_database(admin):
    """Owning schema app is what counts, not the role's name: the same role passes once it owns nothing."""
    with group_role(admin) as owner, login_role(admin, admin.info.dbname, in_role=owner) as url:
        grant(admin, "todo_app", login_of(url))
        with owning_schema_app(admin, owner):
            with pytest.raises(ToolError):
                create_pool(pool_settings(url))
        create_pool(pool_settings(url)).close()


def test_the_superuser_is_still_a_superuser_here():
    """Just to check that the refusal tests are valid: the tests' own role is a superuser."""
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname)) as conn:
        assert conn.execute("select rolsuper from pg_roles where rolname = current_user").fetchone() == (True,)
