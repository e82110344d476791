"""Development seeds go in through the app's own paths and twice changes
nothing; the bulk generator is deterministic, skewed and refuses to load twice."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
import pytest

from tests.support import PARAMS, acting_as, assert_one_line_error, db_url, run_cli
from tooling import generate
from tooling.scratch import scratch_database
from tododb.queries import FIRST_ASC, QUERIES

CHECKSUM = """
    select md5(string_agg(t::text, '|' order by t.id)) from (
      select id, user_id, title, description, status, priority, due_at - now()::date as due,
             estimated_hours, deleted_at is not null as deleted
      from app.tasks) as t
"""


def _counts(conn):
    return conn.execute(
        "select (select count(*) from app.users), (select count(*) from app.tasks), "
        "(select count(*) from app.tags), (select count(*) from app.task_tags), (select count(*) from app.task_events)"
    ).fetchone()


def test_make_seed_loads_the_development_data_once_through_the_app(postgresql):
    env = {"DATABASE_URL": db_url(postgresql)}
    first = run_cli("seed", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout.count("seeded") == 3
    after_first = _counts(postgresql)
    assert after_first[:4] == (3, 12, 5, 11)
    second = run_cli("seed", env=env)
    assert second.returncode == 0 and second.stdout.count("exists") == 3
    assert _counts(postgresql) == after_first

    # Written by the app role, as each user: the history names them as the actor.
    assert postgresql.execute("select count(*) from app.task_events where actor_id is null").fetchone() == (0,)
    alice = postgresql.execute("select id from app.users where email = 'alice@example.com'").fetchone()[0]
    with acting_as(postgresql, "todo_app", alice) as conn:
        rows = list(QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1],
                                                   page_size=50))
        assert [row[1] for row in rows][:2] == ["Renew passport", "Book dentist"]  # overdue first
        assert len(rows) == 5
        assert QUERIES.count_overdue_tasks(conn) == 2
        assert conn.execute("select count(distinct user_id) from app.tasks").fetchone() == (1,)


@pytest.fixture
def bulk_dbs(migrated_proc):
    names = ["tododb_test_bulk_a", "tododb_test_bulk_b", "tododb_test_bulk_c"]
    admin = PARAMS.url(PARAMS.maintenance_dbname)
    with ExitStack() as stack:
        for name in names:
            stack.enter_context(scratch_database(admin, name, template=migrated_proc.template_dbname))
        yield [PARAMS.url(name) for name in names]  # as URLs: the CLI takes postgresql://


def test_bulk_generator_is_deterministic_skewed_and_refuses_a_second_load(bulk_dbs):
    same_a, same_b, other = bulk_dbs
    for url, seed in ((same_a, 3), (same_b, 3), (other, 4)):
        report = generate.load(url, users=200, tasks=20_000, seed=seed, batch_size=7_000, progress=False)
        assert report.tasks == 20_000 and report.tasks_per_second > 0
    sums = []
    for url in bulk_dbs:
        with psycopg.connect(url) as conn:
            sums.append(conn.execute(CHECKSUM).fetchone()[0])
            if url == same_a:
                counts = _counts(conn)
                per_user = [n for (n,) in conn.execute("select count(*) from app.tasks group by user_id order by 1")]
                mix = dict(conn.execute("select status, count(*) from app.tasks group by 1").fetchall())
    assert sums[0] == sums[1] != sums[2]
    assert counts[0] == 200 and counts[1] == 20_000 and counts[4] == 20_000  # one creation event per task
    assert per_user[-1] == 5_000 or per_user[-1] >= 20_000 // 4  # a heavy user
    assert sorted(per_user)[len(per_user) // 2] < 100  # most users have tens
    assert 0.55 < mix["completed"] / 20_000 < 0.65 and 0.2 < mix["pending"] / 20_000 < 0.3

    result = run_cli("seed", "--users", "10", "--tasks", "100", env={"DATABASE_URL": same_a})
    assert "already holds generated data" in assert_one_line_error(result)
