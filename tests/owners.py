"""An ordinary database owner, as hosted servers (Neon, RDS) have: LOGIN with a
password, CREATEDB and CREATEROLE, not a superuser, no BYPASSRLS.

The fixture `owner_migrated` (tests/conftest.py) is a database migrated by
such an owner; tests/security/test_hosted_owner.py drives the whole command chain as one.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from tests.logins import reachable_url

OWNER = "tododb_test_owner"
OWNER_PASSWORD = "tododb-test-owner-password"
TODODB_ROLES = ("todo_app", "todo_auth", "todo_migrator", "todo_readonly")


def ensure_owner(admin: psycopg.Connection, name: str = OWNER, password: str = OWNER_PASSWORD) -> None:
    """Create (or reset) the ordinary owner role; ``admin`` is a superuser connection in autocommit."""
    exists = admin.execute("select 1 from pg_roles where rolname = %s", [name]).fetchone()
    verb = "alter" if exists else "create"
    admin.execute(
        sql.SQL(verb + " role {} login password {} createdb createrole nosuperuser nobypassrls").format(
            sql.Identifier(name), sql.Literal(password)
        )
    )


def grant_admin_on_existing_roles(admin: psycopg.Connection, name: str = OWNER) -> None:
    """What the cluster's administrator gives an owner when another owner created tododb's roles first.

    Since PostgreSQL 16 granting a role needs ADMIN OPTION on it; an owner that creates the roles has it,
    one that finds them made by someone else does not. INHERIT/SET false: the same grant PostgreSQL gives
    the creator of a role, no more.
    """
    if admin.info.server_version < 160000:
        return
    for role in TODODB_ROLES:
        found = admin.execute(
            "select pg_has_role(%s, r.oid, 'MEMBER WITH ADMIN OPTION') from pg_roles r where rolname = %s", [name, role]
        ).fetchone()
        if found is not None and not found[0]:
            admin.execute(
                sql.SQL("grant {} to {} with admin option, inherit false, set false").format(
                    sql.Identifier(role), sql.Identifier(name)
                )
            )


def hand_database_to_owner(
    admin: psycopg.Connection, dbname: str, name: str = OWNER, password: str = OWNER_PASSWORD
) -> str:
    """Make ``name`` the owner of ``dbname`` (as a hosted provider does); return its URL there."""
    admin.execute(sql.SQL("alter database {} owner to {}").format(sql.Identifier(dbname), sql.Identifier(name)))
    return reachable_url(dbname, name, password)


def drop_owner(admin: psycopg.Connection, name: str) -> None:
    """Drop an owner role made by a test, once its databases are gone.

    Since PostgreSQL 16 a role that granted a membership cannot be dropped while the grant stands: an owner
    that created todo_migrator granted it todo_auth (0016a). That grant is revoked here; the next ordinary
    owner's 0016a grants it again.
    """
    grants = admin.execute(
        "select g.rolname, m.rolname from pg_auth_members a join pg_roles g on g.oid = a.roleid "
        "join pg_roles m on m.oid = a.member where a.grantor = (select oid from pg_roles where rolname = %s)",
        [name],
    ).fetchall()
    for role, member in grants:
        admin.execute(
            sql.SQL("revoke {} from {} granted by {}").format(
                sql.Identifier(role), sql.Identifier(member), sql.Identifier(name)
            )
        )
    admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))
