"""Development seeds go in through the app's own paths and twice changes nothing; each seeded user sees, as
todo_app with their identity, exactly what sharing allows (their inbox and the shared project "Household":
alice owns it, bob edits it, carol only reads it). The bulk generator is deterministic, skewed, shaped like
shared use (a fifth of the projects shared, 2-20 members, a few users in 200 projects) and refuses to load twice."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest

from tests.support import PARAMS, acting_as, assert_one_line_error, db_url, refused, rows_checksum, run_cli
from tododb.queries import FIRST_ASC, QUERIES
from tooling import generate
from tooling import seed as seed_module
from tooling.scratch import scratch_database

CHECKSUM = """
    select md5(string_agg(t::text, '|' order by t.id)) from (
      select id, user_id, project_id, assignee_id, title, description, status, priority,
             due_at - now()::date as due, estimated_hours, deleted_at is not null as deleted
      from app.tasks) as t
"""
TABLES = ("users", "projects", "project_members", "project_invitations", "tags", "tasks", "task_tags", "task_events")

ALICE_INBOX = {
    "Renew passport",
    "Quarterly report",
    "Book dentist",
    "Fix the bike",
    "Plan team offsite",
    "File taxes",
    "Clean the garage",
    "Old idea",
}
BOB_INBOX = {
    "Plant tomatoes",
    "Read 'Designing Data-Intensive Applications'",
    "Water the plants",
    "Return library books",
}
HOUSEHOLD = {"Pay the electricity bill", "Buy groceries", "Fix the leaking tap", "Mow the lawn"}


def _counts(conn):
    return tuple(conn.execute(f"select count(*) from app.{table}").fetchone()[0] for table in TABLES)


def _state(conn):
    """Every seeded row, to the column: a second seed must leave all of it as it was."""
    return {table: rows_checksum(conn, f"select * from app.{table}") for table in TABLES}


@pytest.fixture
def seeded(superuser_migrated):
    result = run_cli("seed", env={"DATABASE_URL": db_url(superuser_migrated)})
    assert result.returncode == 0, result.stderr
    users = dict(superuser_migrated.execute("select email::text, id from app.users").fetchall())
    return superuser_migrated, result, {email.split("@")[0]: user_id for email, user_id in users.items()}


def test_make_seed_loads_the_development_data_once_through_the_app(seeded):
    conn, first, _ = seeded
    assert first.stdout.count("seeded ") == 4  # three users and the project
    # users, projects (3 inboxes + Household), memberships (3 inbox owners + 3), no invitation left, tags,
    # tasks (12 in inboxes + 4), links (11 + 2), one creation event per task and one per status change
    assert _counts(conn) == (3, 4, 6, 0, 5, 16, 13, 16 + 8)
    before = _state(conn)
    second = run_cli("seed", env={"DATABASE_URL": db_url(conn)})
    assert second.returncode == 0, second.stderr
    assert second.stdout.count("exists ") == 4 and "seeded " not in second.stdout
    assert _state(conn) == before

    # Written by the app role, as each user: the history names them as the actor.
    assert conn.execute("select count(*) from app.task_events where actor_id is null").fetchone() == (0,)


def test_the_shared_project_has_its_owner_an_editor_and_a_viewer_and_a_task_for_bob(seeded):
    conn, _, who = seeded
    project_id, owner, inbox = conn.execute(
        "select id, owner_id, is_inbox from app.projects where name = 'Household'"
    ).fetchone()
    assert (owner, inbox) == (who["alice"], False)
    members = dict(
        conn.execute("select user_id, role from app.project_members where project_id = %s", [project_id]).fetchall()
    )
    assert members == {who["alice"]: "owner", who["bob"]: "editor", who["carol"]: "viewer"}
    # Every user has their inbox (id = their id), alone in it.
    inboxes = conn.execute(
        "select p.id, p.owner_id, array_agg(m.user_id) from app.projects as p"
        " join app.project_members as m on m.project_id = p.id where p.is_inbox group by p.id"
    ).fetchall()
    assert sorted(inboxes) == sorted((u, u, [u]) for u in who.values())
    tasks = {
        title: (creator, assignee)
        for title, creator, assignee in conn.execute(
            "select title, user_id, assignee_id from app.tasks where project_id = %s", [project_id]
        )
    }
    assert tasks == {
        "Pay the electricity bill": (who["alice"], who["bob"]),
        "Buy groceries": (who["alice"], None),
        "Fix the leaking tap": (who["bob"], None),
        "Mow the lawn": (who["bob"], None),
    }
    actors = dict(
        conn.execute(
            "select t.title, e.actor_id from app.task_events as e join app.tasks as t on t.id = e.task_id"
            " where e.project_id = %s and e.kind = 'created'",
            [project_id],
        ).fetchall()
    )
    assert actors == {title: creator for title, (creator, _) in tasks.items()}


@pytest.mark.parametrize(
    "name, sees", [("alice", ALICE_INBOX | HOUSEHOLD), ("bob", BOB_INBOX | HOUSEHOLD), ("carol", HOUSEHOLD)]
)
def test_each_seeded_user_sees_their_inbox_and_the_shared_project_only(seeded, name, sees):
    conn, _, who = seeded
    # As the owner first: the tasks this user must not see exist.
    everything = {t for (t,) in conn.execute("select title from app.tasks")}
    assert everything == ALICE_INBOX | BOB_INBOX | HOUSEHOLD and everything - sees
    with acting_as(conn, "todo_app", who[name]):
        assert {t for (t,) in conn.execute("select title from app.tasks")} == sees
        projects = conn.execute("select name, is_inbox, id = %s from app.projects order by name", [who[name]])
        assert projects.fetchall() == [("Household", False, False), ("Inbox", True, True)]
        assert {e for (e,) in conn.execute("select email::text from app.project_member_profiles")} == {
            f"{n}@example.com" for n in ("alice", "bob", "carol")
        }
        history = conn.execute("select count(distinct task_id) from app.task_events").fetchone()[0]
        assert history == len(sees)
        assigned = {t for (t,) in conn.execute("select title from app.tasks where assignee_id = %s", [who[name]])}
        assert assigned == ({"Pay the electricity bill"} if name == "bob" else set())


def test_tags_stay_with_the_tagger_and_the_viewer_only_reads_the_shared_project(seeded):
    conn, _, who = seeded
    links = {}
    for name in who:
        with acting_as(conn, "todo_app", who[name]):
            links[name] = {
                (t, g)
                for t, g in conn.execute(
                    "select t.title, g.name::text from app.task_tags as tt join app.tasks as t on t.id = tt.task_id"
                    " join app.tags as g on g.id = tt.tag_id"
                )
            }
    assert ("Buy groceries", "errands") in links["alice"] and ("Mow the lawn", "garden") in links["bob"]
    assert not any(title == "Buy groceries" for title, _ in links["bob"]) and links["carol"] == set()
    assert len(links["alice"]) == 8 and len(links["bob"]) == 5

    household = conn.execute("select id from app.projects where name = 'Household'").fetchone()[0]
    with acting_as(conn, "todo_app", who["carol"]):
        with refused(conn, "42501"):
            conn.execute("insert into app.tasks (project_id, title) values (%s, 'Carol was here')", [household])
        assert conn.execute("update app.tasks set title = 'renamed' where project_id = %s", [household]).rowcount == 0
    with acting_as(conn, "todo_app", who["bob"]):
        assert conn.execute("update app.tasks set priority = 'low' where project_id = %s", [household]).rowcount == 4
        first = QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        assert next(iter(first))[1] == "Water the plants"  # overdue first: due two days ago


def test_seeds_take_the_same_paths_in_sql_while_a_project_query_is_missing(superuser_migrated, monkeypatch):
    for name in seed_module.FALLBACK_SQL:
        monkeypatch.delattr(QUERIES, name)
    assert seed_module.seed(db_url(superuser_migrated), echo=lambda *_: None)[-1] == "Household"
    assert _counts(superuser_migrated) == (3, 4, 6, 0, 5, 16, 13, 16 + 8)
    assert superuser_migrated.execute("select count(*) from app.tasks where assignee_id is not null").fetchone() == (1,)


@pytest.fixture
def bulk_dbs(migrated_proc):
    names = ["tododb_test_bulk_a", "tododb_test_bulk_b", "tododb_test_bulk_c", "tododb_test_bulk_d"]
    admin = PARAMS.url(PARAMS.maintenance_dbname)
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(scratch_database(admin, name, template=migrated_proc.template_dbname))
        yield [PARAMS.url(name) for name in names]  # as URLs: the CLI takes postgresql://


SHAPE = {
    "projects": "select count(*), count(*) filter (where is_inbox) from app.projects",
    # Projects shared (more than one member), all projects, and the fewest and most members of a shared one.
    "shared": """
        select count(*) filter (where n > 1), count(*), min(n) filter (where n > 1), max(n)
        from (select count(*) as n from app.project_members group by project_id) as s""",
    # Users by the number of projects they are in, most first.
    "most_projects": "select count(*) as n from app.project_members group by user_id order by n desc limit 4",
    # Tasks whose creator is not an owner or editor of their project, whose inbox is not their creator's.
    "misplaced": """
        select count(*) from app.tasks as t where not exists (
          select from app.project_members as m where m.project_id = t.project_id and m.user_id = t.user_id
          and m.role <> 'viewer')""",
    "spread": """
        select count(*) filter (where p.is_inbox), count(*) filter (where s.members > 1),
               count(*) filter (where t.assignee_id is not null), count(*) filter (where t.assignee_id <> t.user_id)
        from app.tasks as t join app.projects as p on p.id = t.project_id
        cross join lateral (select count(*) as members from app.project_members as m
                            where m.project_id = p.id) as s""",
}


def test_bulk_generator_is_deterministic_skewed_shared_and_refuses_a_second_load(bulk_dbs):
    same_a, same_b, other, wide = bulk_dbs
    for url, seed in ((same_a, 3), (same_b, 3), (other, 4)):
        report = generate.load(url, users=200, tasks=20_000, seed=seed, batch_size=7_000, progress=False)
        assert report.tasks == 20_000 and report.tasks_per_second > 0
    sums = []
    for url in bulk_dbs[:3]:
        with psycopg.connect(url) as conn:
            sums.append(conn.execute(CHECKSUM).fetchone()[0])
            if url == same_a:
                counts = _counts(conn)
                per_user = [n for (n,) in conn.execute("select count(*) from app.tasks group by user_id order by 1")]
                mix = dict(conn.execute("select status, count(*) from app.tasks group by 1").fetchall())
                shape = {name: conn.execute(query).fetchall() for name, query in SHAPE.items()}
    assert sums[0] == sums[1] != sums[2]
    assert counts[0] == 200 and counts[5] == 20_000 and counts[7] == 20_000  # one creation event per task
    assert per_user[-1] == 5_000 or per_user[-1] >= 20_000 // 4  # a heavy user
    assert sorted(per_user)[len(per_user) // 2] < 100  # most users have tens
    assert 0.55 < mix["completed"] / 20_000 < 0.65 and 0.2 < mix["pending"] / 20_000 < 0.3

    ((projects, inboxes),) = shape["projects"]
    ((shared, all_projects, fewest, most),) = shape["shared"]
    assert inboxes == 200 and all_projects == projects and 0.15 < shared / projects < 0.25
    assert 2 <= fewest and most <= 20
    # Three users in every shared project there is (fewer than 199 at this size), and their inbox.
    assert [n for (n,) in shape["most_projects"]][:3] == [shared + 1] * 3
    assert shape["misplaced"] == [(0,)]
    ((in_inbox, in_shared, assigned, to_another),) = shape["spread"]
    assert 0.5 < in_inbox / 20_000 < 0.8 and 0.15 < in_shared / 20_000 < 0.35
    assert 0 < assigned < in_shared and to_another > 0

    # At a thousand users there are enough shared projects: those three are in exactly 200 projects.
    generate.load(wide, users=1_000, tasks=5_000, seed=3, progress=False)
    with psycopg.connect(wide) as conn:
        assert [n for (n,) in conn.execute(SHAPE["most_projects"])][:3] == [200] * 3
        assert conn.execute(SHAPE["most_projects"]).fetchall()[3][0] < 50
        shared, projects, fewest, most = conn.execute(SHAPE["shared"]).fetchone()
        assert 0.15 < shared / projects < 0.25 and (fewest, most) == (2, 20)

    result = run_cli("seed", "--users", "10", "--tasks", "100", env={"DATABASE_URL": same_a})
    assert "already holds generated data" in assert_one_line_error(result)
