"""`tooling doctor`: a migrated database has no finding; each kind of damage
is named in one line with what to do, and security findings fail the command."""

from __future__ import annotations

import uuid

import psycopg
import pytest

from tests.logins import login_role
from tests.support import BCRYPT_HASH, MIGRATIONS_DIR, db_url, run_cli
from tooling import doctor, migrate

# A change, the line doctor must print for it, and whether it is a security finding.
DAMAGE = [
    ("alter table app.tags no force row level security", "SECURITY app.tags: row-level security is not forced", True),
    ("alter table app.task_tags disable row level security", "SECURITY app.task_tags: row-level security is off", True),
    ("grant select on app.tasks to public", "SECURITY table app.tasks: SELECT is granted to PUBLIC", True),
    (
        "grant execute on function app_private.tg__timestamps() to public",
        "SECURITY function app_private.tg__timestamps(): EXECUTE is granted to PUBLIC",
        True,
    ),
    ("grant usage on schema app_private to public", "SECURITY schema app_private: USAGE is granted to PUBLIC", True),
    ("alter role todo_readonly bypassrls", "SECURITY role todo_readonly has BYPASSRLS", True),
    # A definer function planted by hand with the path the migrations once pinned (EXECUTE revoked from
    # PUBLIC, so the search_path is the only finding, whoever the default privileges were set for).
    (
        "create function app_private.planted() returns int language sql stable security definer "
        "set search_path = '' as 'select 1'; revoke execute on function app_private.planted() from public",
        "SECURITY function app_private.planted(): search_path = '' does not name pg_temp",
        True,
    ),
    (
        "drop index app.task_tags_user_id_tag_id_created_at_idx",
        "warn     app.task_tags: foreign key task_tags_user_id_tag_id_fkey (user_id, tag_id) has no index",
        False,
    ),
    # Partial indexes led by the key's columns do not count when its lookups cannot use them.
    (
        "drop index app.tasks_project_id_assignee_id_idx",
        "warn     app.tasks: foreign key tasks_project_id_fkey (project_id) has no index",
        False,
    ),
]


def _report(url: str) -> list[str]:
    return [str(line) for line in doctor.examine(url, MIGRATIONS_DIR)]


def test_a_migrated_database_has_no_finding(superuser_migrated):
    result = run_cli("doctor", env={"DATABASE_URL": db_url(superuser_migrated)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines()[-1] == "no findings"
    applied = len(migrate.load_migrations(MIGRATIONS_DIR))
    for check in (
        "server:",
        "connection:",
        f"migrations: {applied} applied",
        "drift: none",
        "row-level security:",
        "grants:",
        "roles:",
        "role memberships:",
        "app logins:",
        "database:",
        "definer functions:",
        "statistics:",
        "foreign keys:",
        "index usage:",
        "largest tables:",
    ):
        assert any(check in line for line in result.stdout.splitlines()), check


@pytest.mark.parametrize(("statement", "expected", "security"), DAMAGE, ids=[d[1].split(":")[0] for d in DAMAGE])
def test_each_kind_of_damage_is_found(superuser_migrated, statement, expected, security):
    superuser_migrated.execute(statement)
    superuser_migrated.commit()
    try:
        result = run_cli("doctor", env={"DATABASE_URL": db_url(superuser_migrated)})
        assert any(line.startswith(expected) for line in result.stdout.splitlines()), result.stdout
        assert result.returncode == (1 if security else 0), result.stdout + result.stderr
        if security:
            assert result.stderr.strip().splitlines() == ["tododb: 1 security finding(s), listed above"]
        if "role" not in statement:  # roles are cluster-wide, not in the catalog drift compares
            assert any(line.startswith("warn     drift:") for line in result.stdout.splitlines()), result.stdout
    finally:
        if "role" in statement:  # roles are cluster-wide: put it back for the other tests
            superuser_migrated.execute("alter role todo_readonly nobypassrls")
            superuser_migrated.commit()


def test_pending_migrations_are_a_finding_not_a_failure(empty_db):
    url = db_url(empty_db)
    ids = [m.id for m in migrate.load_migrations(MIGRATIONS_DIR)]
    # All but the last two: late enough that the definer functions' search_path is already pinned.
    migrate.apply_pending(url, MIGRATIONS_DIR, echo=lambda *_: None, upto=ids[-3])
    lines = _report(url)
    assert f"warn     migrations: 2 pending ({ids[-2]} first); run `make migrate`" in lines
    assert not [line for line in lines if line.startswith("SECURITY")]


def test_connections_are_judged_by_transport():
    assert doctor.describe_connection("/run/postgresql", None).level == "ok"
    assert doctor.describe_connection("db.example.com", (True, "TLSv1.3", "TLS_AES_256_GCM_SHA384")).level == "ok"
    assert doctor.describe_connection("db.example.com", (False, None, None)).level == "warn"
    assert doctor.describe_connection("localhost", (False, None, None)).level == "info"


def test_unused_indexes_leave_out_those_that_enforce_a_constraint(superuser_migrated):
    unused = {index for _, index, _ in doctor.unused_indexes(superuser_migrated)}
    assert "app.tasks_project_id_due_at_open_idx" in unused  # nothing has read it in a fresh database
    assert "app.tasks_pkey" not in unused and "app.tasks_user_id_id_key" not in unused
    superuser_migrated.execute("set enable_seqscan = off")
    superuser_migrated.execute(
        "select id from app.tasks where project_id = %s and deleted_at is null "
        "and status <> 'completed' and due_at > now() order by due_at, id limit 1",
        [uuid.uuid4()],
    )
    superuser_migrated.execute("select pg_stat_force_next_flush()")
    superuser_migrated.commit()
    assert "app.tasks_project_id_due_at_open_idx" not in {
        index for _, index, _ in doctor.unused_indexes(superuser_migrated)
    }


def test_statistics_left_on_free_text_are_a_warning(superuser_migrated):
    """0029 clears them where it can; an ordinary owner on PostgreSQL 15-17 cannot, and is told."""
    superuser_migrated.execute(
        "select set_config('app.user_id', (select app.sign_up('ann@example.com', null, %s))::text, true)", [BCRYPT_HASH]
    )
    superuser_migrated.execute("insert into app.tasks (title) select 'same title' from generate_series(1, 50)")
    superuser_migrated.execute("alter table app.tasks alter column title set statistics 100")
    superuser_migrated.execute("analyze app.tasks")
    superuser_migrated.execute("alter table app.tasks alter column title set statistics 0")
    superuser_migrated.execute("analyze app.tasks")  # skips the column and keeps what it had
    superuser_migrated.commit()
    lines = _report(db_url(superuser_migrated))
    assert any(line.startswith("warn     statistics: tasks.title still hold statistics") for line in lines), lines
    superuser_migrated.execute("delete from pg_statistic where starelid = 'app.tasks'::regclass")
    superuser_migrated.commit()
    assert "ok       statistics: none kept on free text (EXPLAIN shows no other user's common values)" in _report(
        db_url(superuser_migrated)
    )


def test_an_app_login_that_gave_itself_session_defaults_is_a_warning(superuser_migrated):
    """A compromised app login may `alter role current_user set ...`: every session it opens, and every reset of
    a pooled connection, then starts from those settings."""
    superuser_migrated.autocommit = True
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url:
        with psycopg.connect(url, autocommit=True) as app:
            assert _report(db_url(superuser_migrated)).count("ok       app logins: none carries per-role settings") == 1
            app.execute("alter role current_user set search_path = pg_temp, app")
            name = app.execute("select current_user").fetchone()[0]
        lines = _report(db_url(superuser_migrated))
        assert any(
            line.startswith(f"warn     role {name} (an app login) has per-role settings: search_path=")
            for line in lines
        ), lines


def test_a_todo_migrator_that_can_log_in_is_a_security_finding(superuser_migrated):
    """A role some owner made todo_migrator by hand (0016a refuses it; doctor finds it afterwards)."""
    superuser_migrated.autocommit = True
    existed = superuser_migrated.execute("select 1 from pg_roles where rolname = 'todo_migrator'").fetchone()
    if not existed:
        superuser_migrated.execute("create role todo_migrator nologin")
    try:
        assert not [line for line in _report(db_url(superuser_migrated)) if "todo_migrator" in line]
        superuser_migrated.execute("alter role todo_migrator login")
        assert any(
            line.startswith("SECURITY role todo_migrator has LOGIN") for line in _report(db_url(superuser_migrated))
        )
    finally:
        superuser_migrated.execute("alter role todo_migrator nologin")
        if not existed:
            superuser_migrated.execute("drop role todo_migrator")


def test_an_app_role_made_a_member_of_todo_auth_is_a_security_finding(superuser_migrated):
    """Roles are cluster-wide: one owner's `grant todo_auth to todo_app` reaches every tododb database."""
    superuser_migrated.autocommit = True
    assert any(line.startswith("ok       role memberships:") for line in _report(db_url(superuser_migrated)))
    superuser_migrated.execute("grant todo_auth to todo_app")
    try:
        lines = _report(db_url(superuser_migrated))
        assert any(line.startswith("SECURITY role todo_app is a member of todo_auth") for line in lines), lines
    finally:
        superuser_migrated.execute("revoke todo_auth from todo_app")
