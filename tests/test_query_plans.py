"""Every read query is served by the index its comment names, at a realistic
size: 200,000 tasks from the bulk generator (heavy users included), analyzed,
planned as todo_app under row-level security for a heavy and a light user.
No query may read app.tasks with a sequential scan."""

from __future__ import annotations

import json

import psycopg
import pytest

from tests.support import PARAMS, acting_as
from tooling import generate
from tooling.scratch import scratch_database
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES, served_by

READ_QUERIES = {
    "open_tasks_by_due_date": {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1], "page_size": 50},
    "overdue_tasks": {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1], "page_size": 50},
    "tasks_by_status": {"status": "pending", "after_created_at": FIRST_DESC[0], "after_id": FIRST_DESC[1],
                        "page_size": 50},
    "deleted_tasks": {"after_deleted_at": FIRST_DESC[0], "after_id": FIRST_DESC[1], "page_size": 50},
    "get_task": {"task_id": None},
    "tasks_with_tag": {"tag_id": None, "after_tagged_at": FIRST_DESC[0], "after_id": FIRST_DESC[1], "page_size": 50},
    "count_tasks_by_status": {},
    "count_overdue_tasks": {},
    "list_tags": {},
    "current_user_profile": {},
}


@pytest.fixture(scope="module")
def big_db(migrated_proc):
    """A migrated database with 2,000 users and 200,000 tasks, for this module only."""
    admin = PARAMS.url(PARAMS.maintenance_dbname)
    with scratch_database(admin, "tododb_test_plans", template=migrated_proc.template_dbname) as url:
        generate.load(url, users=2_000, tasks=200_000, seed=7, progress=False)
        yield url


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _sample_users(conn):
    """The heaviest user and a typical one, with one of their tasks and tags."""
    rows = conn.execute(
        """
        (select user_id from app.tasks group by user_id order by count(*) desc limit 1)
        union all
        (select user_id from app.tasks group by user_id order by count(*) limit 1 offset 1000)
        """
    ).fetchall()
    users = []
    for (user_id,) in rows:
        task = conn.execute("select id from app.tasks where user_id = %s and deleted_at is null limit 1", [user_id])
        tag = conn.execute(
            "select tag_id from app.task_tags where user_id = %s group by tag_id order by count(*) desc limit 1",
            [user_id],
        )
        users.append((user_id, task.fetchone()[0], tag.fetchone()[0]))
    return users


@pytest.mark.parametrize("name", READ_QUERIES)
def test_read_query_uses_its_index_and_never_scans_tasks(big_db, name):
    expected = served_by(name)
    assert expected, f"{name} does not say which index serves it"
    query_sql = getattr(QUERIES, name).sql
    with psycopg.connect(big_db) as conn:
        for user_id, task_id, tag_id in _sample_users(conn):
            params = dict(READ_QUERIES[name])
            params.update({k: v for k, v in (("task_id", task_id), ("tag_id", tag_id)) if k in params})
            with acting_as(conn, "todo_app", user_id):
                plan = conn.execute("explain (format json) " + query_sql, params).fetchone()[0][0]["Plan"]
            nodes = list(_nodes(plan))
            seq_scans = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "tasks"]
            assert seq_scans == [], json.dumps(plan, indent=1)
            used = {n.get("Index Name") for n in nodes}
            assert set(expected) <= used, (name, expected, json.dumps(plan, indent=1))
            sorts = [n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")]
            if "page_size" in params:
                assert sorts == [], (name, "the index must deliver the page in order", json.dumps(plan, indent=1))
