"""Hosted servers (Neon, RDS): the database owner is an ordinary role with
CREATEDB and CREATEROLE, not a superuser. The whole command chain works for
it, driven through the CLI as a user would: migrate, roll back everything,
migrate again, seed, doctor, and the app's own actions (history written
under forced row-level security by the owner's definer trigger).

Two starting points, on every server major the machine has:
- a cluster where tododb's roles do not exist yet (a throwaway cluster: the
  roles are cluster-wide, and the suite's own server has them);
- the suite's server, where another owner (the superuser) created the roles
  first. Since PostgreSQL 16 the new owner then needs ADMIN OPTION on them,
  which only the cluster's administrator can give: the first `migrate` says
  so in one line, naming the grant, and after exactly that grant everything
  works.
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from psycopg import sql

from tests import clusters, owners
from tests.logins import reachable_url
from tests.support import BCRYPT_HASH, PARAMS, assert_one_line_error, run_cli

ROLES = ("todo_app", "todo_readonly", "todo_auth")
ADMIN_GRANT = r"run: (grant [a-z_, ]+ to \S+ with admin option, inherit false, set false)"


def _ok(*args: str, url: str) -> str:
    result = run_cli(*args, env={"DATABASE_URL": url})
    assert result.returncode == 0, (args, result.stderr)
    return result.stdout


def _app_actions(owner_url: str, login_url) -> None:
    """What the app does, through a LOGIN role the owner created the way README.md shows."""
    login, password = f"tododb_api_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(owner_url, autocommit=True) as owner:
        owner.execute(
            sql.SQL("create role {} login password {} in role todo_app").format(
                sql.Identifier(login), sql.Literal(password)
            )
        )
    try:
        with psycopg.connect(login_url(login, password)) as app:
            user = app.execute("select app.sign_up('dana@example.com', 'Dana', %s)", [BCRYPT_HASH]).fetchone()[0]
            app.commit()
            with app.transaction():
                app.execute("select set_config('app.user_id', %s, true)", [str(user)])
                task = app.execute("insert into app.tasks (title) values ('from the app') returning id").fetchone()[0]
                app.execute("update app.tasks set status = 'completed' where id = %s", [task])
                app.execute("update app.tasks set deleted_at = now() where id = %s", [task])
                app.execute("update app.tasks set deleted_at = null where id = %s", [task])
                app.execute("delete from app.tasks where id = %s", [task])
                kinds = app.execute("select kind, actor_id = %s from app.task_events order by id", [user]).fetchall()
            # Sharing, through todo_auth's definer code: a project, an invitation, a member's task.
            erin = app.execute("select app.sign_up('erin@example.com', 'Erin', %s)", [BCRYPT_HASH]).fetchone()[0]
            app.commit()
            with app.transaction():
                app.execute("select set_config('app.user_id', %s, true)", [str(user)])
                project = app.execute("insert into app.projects (name) values ('Shared') returning id").fetchone()[0]
                invitation = app.execute(
                    "select app.invite_to_project(%s, 'erin@example.com', 'editor')", [project]
                ).fetchone()[0]
            with app.transaction():
                app.execute("select set_config('app.user_id', %s, true)", [str(erin)])
                app.execute("select app.accept_invitation(%s)", [invitation])
                app.execute("insert into app.tasks (title, project_id) values ('from erin', %s)", [project])
            with app.transaction():
                app.execute("select set_config('app.user_id', %s, true)", [str(user)])
                shared = app.execute(
                    "select t.title, e.actor_id = %s from app.tasks as t join app.task_events as e"
                    " on e.task_id = t.id where t.project_id = %s",
                    [erin, project],
                ).fetchall()
                app.execute("select app.transfer_ownership(%s, %s)", [project, erin])
        assert kinds == [
            ("created", True),
            ("status_changed", True),
            ("deleted", True),
            ("restored", True),
            ("hard_deleted", True),
        ]
        assert shared == [("from erin", True)]
    finally:
        with psycopg.connect(owner_url, autocommit=True) as owner:
            owner.execute(sql.SQL("drop role {}").format(sql.Identifier(login)))


def _holds_no_standing_rights(admin: psycopg.Connection, owner_url: str) -> None:
    """Roles are cluster-wide: a membership the owner kept would carry todo_auth's rights (the `_auth`
    policies: every user's password hash) or todo_app's into every tododb database of the cluster."""
    owner = psycopg.conninfo.conninfo_to_dict(owner_url)["user"]
    rights = admin.execute(
        "select r.rolname from pg_roles r where r.rolname = any(%s) and pg_has_role(%s, r.oid, 'USAGE')",
        [["todo_app", "todo_auth", "todo_migrator", "todo_readonly"], owner],
    ).fetchall()
    assert rights == []
    with psycopg.connect(owner_url) as conn:  # forced row-level security holds for the owner itself
        assert conn.execute("select count(*) from app.users").fetchone() == (0,)


def _whole_chain(admin: psycopg.Connection, owner_url: str, login_url) -> None:
    """``login_url(user, password)``: how a LOGIN role reaches the database (socket or loopback)."""
    assert "nothing to apply" not in _ok("migrate", url=owner_url)
    rolled = _ok("rollback", "--all", url=owner_url)
    assert "0 applied" in rolled
    granted = admin.execute(
        "select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace, "
        "aclexplode(c.relacl) a join pg_roles r on r.oid = a.grantee where r.rolname = any(%s)",
        [list(ROLES)],
    ).fetchone()
    assert granted == (0,)  # nothing granted to the roles in this database once everything is rolled back
    # (The roles stay where anything still uses them, e.g. the owner's ADMIN OPTION on 16+; 0002 drops the rest.)
    _ok("migrate", url=owner_url)
    assert "seeded   alice@example.com" in _ok("seed", url=owner_url)
    assert "exists   alice@example.com" in _ok("seed", url=owner_url)
    _holds_no_standing_rights(admin, owner_url)
    events = admin.execute("select count(*), count(actor_id) from app.task_events").fetchone()
    assert events[0] > 0 and events[0] == events[1]  # the seeds' history, each with its actor
    doctor = _ok("doctor", url=owner_url).splitlines()
    assert not [line for line in doctor if line.startswith("SECURITY")] and doctor[-1] == "no findings", doctor
    _app_actions(owner_url, login_url)


def _make_owner(admin: psycopg.Connection, name: str, password: str, dbname: str) -> None:
    owners.ensure_owner(admin, name, password)
    admin.execute(sql.SQL("create database {} owner {}").format(sql.Identifier(dbname), sql.Identifier(name)))


@pytest.mark.parametrize("label", clusters.binaries_for_this_run())
def test_an_ordinary_owner_runs_everything_where_the_roles_do_not_exist_yet(label):
    with clusters.scratch_cluster(clusters.available_binaries()[label]) as cluster:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            assert admin.execute("select count(*) from pg_roles where rolname like 'todo\\_%'").fetchone() == (0,)
            _make_owner(admin, "hosted_owner", "owner-password", "tododb")
        owner_url = cluster.url("tododb", "hosted_owner", "owner-password")
        with psycopg.connect(cluster.url("tododb"), autocommit=True) as admin:
            assert admin.execute(
                "select rolsuper, rolbypassrls from pg_roles where rolname = 'hosted_owner'"
            ).fetchone() == (False, False)
            _whole_chain(admin, owner_url, lambda user, password: cluster.url("tododb", user, password))


@pytest.fixture
def second_owner():
    """A new ordinary owner with a database of its own on the suite's server, where the roles exist."""
    name, password = f"tododb_hosted_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    dbname = f"{name}_db"
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as admin:
        _make_owner(admin, name, password, dbname)
        try:
            with psycopg.connect(PARAMS.url(dbname), autocommit=True) as db_admin:
                yield db_admin, name, reachable_url(dbname, name, password), dbname
        finally:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where datname = %s", [dbname])
            admin.execute(sql.SQL("drop database {}").format(sql.Identifier(dbname)))
            owners.drop_owner(admin, name)


def test_an_ordinary_owner_runs_everything_where_another_owner_created_the_roles(second_owner):
    admin, name, owner_url, dbname = second_owner
    assert admin.execute("select count(*) from pg_roles where rolname = any(%s)", [list(ROLES)]).fetchone() == (3,)
    if admin.info.server_version >= 160000:
        line = assert_one_line_error(run_cli("migrate", env={"DATABASE_URL": owner_url}))
        assert "0016a_prepare_auth_function_handover" in line and " 42501 " in line
        grant = re.search(ADMIN_GRANT, line)
        assert grant and name in grant.group(1), line
        # Nothing of the failed migration is kept, and the ones before it are.
        assert admin.execute("select has_schema_privilege('todo_auth', 'app', 'CREATE')").fetchone() == (False,)
        admin.execute(grant.group(1))  # what the cluster's administrator is told to run, verbatim
    _whole_chain(admin, owner_url, lambda user, password: reachable_url(dbname, user, password))


def test_migrate_refuses_a_todo_migrator_someone_can_log_in_as():
    """Whoever logs in as todo_migrator would hold todo_auth's rights: 0016a refuses such a role, as 0002 does
    for the others, in one line."""
    with clusters.scratch_cluster(clusters.available_binaries()["embedded 18"]) as cluster:
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            _make_owner(admin, "hosted_owner", "owner-password", "tododb")
            admin.execute("create role todo_migrator login password 'squatter'")
        line = assert_one_line_error(
            run_cli("migrate", env={"DATABASE_URL": cluster.url("tododb", "hosted_owner", "owner-password")})
        )
        assert "0016a_prepare_auth_function_handover" in line and " 42501 " in line, line
        # The boundary: once it is a plain group role, the owner only needs what any owner needs of a role
        # another one created (ADMIN OPTION, named in one line), and then migrates.
        with psycopg.connect(cluster.url("postgres"), autocommit=True) as admin:
            admin.execute("alter role todo_migrator nologin")
            line = assert_one_line_error(
                run_cli("migrate", env={"DATABASE_URL": cluster.url("tododb", "hosted_owner", "owner-password")})
            )
            grant = re.search(ADMIN_GRANT, line)
            assert grant and grant.group(1).startswith("grant todo_migrator to hosted_owner "), line
            admin.execute(grant.group(1))
        _ok("migrate", url=cluster.url("tododb", "hosted_owner", "owner-password"))
