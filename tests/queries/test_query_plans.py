"""Every read query is served by the index its comment names, at a realistic
size: 200,000 tasks from the bulk generator (heavy users included), plus one
user who is a member of 200 more projects (20,000 tasks between them: open,
dated, undated, done, binned, some assigned to that user, some tagged by them),
analyzed, and run (EXPLAIN ANALYZE) as todo_app under row-level security for a
heavy user, a typical one and the one in 200 projects.

No query may read app.tasks with a sequential scan. A list comes out of its
indexes in order, each range read stopping at the page size; the one sort a
list across projects may have is the merge of those ranges (a top-N sort over a
nested loop of the user's memberships, each with its own Limit), which never
holds more than memberships x page_size keys."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from tests.support import BCRYPT_HASH, PARAMS, acting_as
from tododb.queries import QUERIES, first_page_params, reads, served_by
from tooling import generate
from tooling.scratch import scratch_database

PAGE = 50
# Every read (tododb.queries.reads(): a new one is covered here without touching a list), on its first page as
# its comment states it; a sample user's task, tag and project (and the user) for the parameters that name one.
READ_QUERIES = reads()


def _params(name: str, sample: dict) -> dict:
    values = {key: sample.get(key) for key in ("task_id", "tag_id", "project_id", "user_id")}
    return first_page_params(name, PAGE, status="pending", **values)


MEMBER = uuid.UUID("5a4ed000-0000-4000-8000-000000000200")  # the user in 200 projects
MANY_PROJECTS = 200
TASKS_PER_PROJECT = 100

# 200 projects, each owned by one of the generated users, with MEMBER as an editor (a viewer in every tenth),
# and 100 tasks each, created by the owner: 15 % completed, 75 % dated (45 days either side of now, on the
# hour, so due dates tie), 3 % in the bin, 20 % assigned to MEMBER and 20 % to the owner; MEMBER tags some.
MANY_PROJECTS_SQL = [
    """
    insert into app.users (id, email, name, password_hash)
    values (%(member)s, 'in-200-projects@example.com', 'In 200 projects', %(hash)s)
    """,
    """
    insert into app.projects (id, owner_id, name)
    select md5('plans:project:' || o.n)::uuid, o.id, 'Team ' || o.n
    from (
      select u.id, row_number() over (order by u.id) as n
      from app.users as u where u.id <> %(member)s order by u.id limit %(projects)s
    ) as o
    """,
    """
    insert into app.project_members (project_id, user_id, role)
    select p.id, %(member)s, case when p.name like '%%0' then 'viewer' else 'editor' end
    from app.projects as p where p.name like 'Team %%'
    """,
    """
    insert into app.tasks (id, user_id, project_id, title, status, due_at, deleted_at, assignee_id)
    select md5('plans:task:' || p.id || ':' || g)::uuid, p.owner_id, p.id, 'Team task ' || g,
           case when r.s < 0.15 then 'completed' when r.s < 0.6 then 'pending' else 'in_progress' end,
           case when r.d < 0.75 then date_trunc('hour', now()) + interval '1 hour' * floor(r.w * 2160 - 1080) end,
           case when r.x < 0.03 then now() end,
           case when r.a < 0.2 then %(member)s when r.a < 0.4 then p.owner_id end
    from app.project_members as m
    inner join app.projects as p on m.project_id = p.id
    cross join generate_series(1, %(tasks)s) as g
    cross join lateral (
      select (hashint8extended(g, hashtext(p.id::text)) & 1023) / 1024.0 as s,
             (hashint8extended(g, hashtext(p.id::text) + 1) & 1023) / 1024.0 as d,
             (hashint8extended(g, hashtext(p.id::text) + 2) & 1048575) / 1048576.0 as w,
             (hashint8extended(g, hashtext(p.id::text) + 3) & 1023) / 1024.0 as x,
             (hashint8extended(g, hashtext(p.id::text) + 4) & 1023) / 1024.0 as a
    ) as r
    where m.user_id = %(member)s and not p.is_inbox
    """,
    """
    insert into app.tags (id, user_id, name)
    select md5('plans:tag:' || k)::uuid, %(member)s, 'team tag ' || k from generate_series(1, 5) as k
    """,
    """
    insert into app.task_tags (user_id, task_id, tag_id, created_at)
    select %(member)s, t.id, md5('plans:tag:' || (1 + abs(hashtext(t.id::text)) %% 5))::uuid,
           now() - interval '1 minute' * (abs(hashtext(t.id::text || 'at')) %% 100000)
    from app.tasks as t
    where t.project_id in (select m.project_id from app.project_members as m where m.user_id = %(member)s)
      and abs(hashtext(t.id::text || 'tagged')) %% 10 < 3
    """,
]


@pytest.fixture(scope="module")
def big_db(migrated_proc):
    """A migrated database with 2,000 users and 200,000 tasks, and MEMBER in 200 projects, for this module only."""
    admin = PARAMS.url(PARAMS.maintenance_dbname)
    with scratch_database(admin, "tododb_test_plans", template=migrated_proc.template_dbname) as url:
        generate.load(url, users=2_000, tasks=200_000, seed=7, progress=False)
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.transaction():
                for statement in MANY_PROJECTS_SQL:
                    conn.execute(
                        statement,
                        {"member": MEMBER, "hash": BCRYPT_HASH, "projects": MANY_PROJECTS, "tasks": TASKS_PER_PROJECT},
                    )
            for table in ("users", "projects", "project_members", "tags", "tasks", "task_tags", "task_events"):
                conn.execute(f"vacuum (analyze) app.{table}")
        yield url


def _nodes(plan):
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def _rows(node) -> float:
    """How many rows a node of EXPLAIN ANALYZE returned in all (its per-loop average times its loops)."""
    return node.get("Actual Rows", 0) * node.get("Actual Loops", 0)


def _sample_users(conn):
    """The user who sees the most tasks of one project (heavy), a typical one, and the one in the most projects;
    for each, one live task they can see, their most used tag and their largest project."""
    heavy = conn.execute(
        "select p.owner_id from app.tasks as t join app.projects as p on p.id = t.project_id "
        "group by p.owner_id, p.id order by count(*) desc, p.id limit 1"
    ).fetchone()[0]
    typical = conn.execute(
        "select m.user_id from app.project_members as m join app.tasks as t on t.project_id = m.project_id "
        "group by m.user_id order by count(*), m.user_id limit 1 offset 1000"
    ).fetchone()[0]
    many = conn.execute(
        "select m.user_id from app.project_members as m group by m.user_id order by count(*) desc, m.user_id limit 1"
    ).fetchone()[0]
    users = []
    for user_id in dict.fromkeys([heavy, typical, many]):
        visible = "t.project_id in (select m.project_id from app.project_members as m where m.user_id = %s)"
        task = conn.execute(
            f"select t.id from app.tasks as t where {visible} and t.deleted_at is null order by t.id limit 1", [user_id]
        ).fetchone()
        tag = conn.execute(
            "select tag_id from app.task_tags where user_id = %s group by tag_id order by count(*) desc, tag_id "
            "limit 1",
            [user_id],
        ).fetchone()
        project = conn.execute(
            f"select t.project_id from app.tasks as t where {visible} group by t.project_id "
            "order by count(*) desc, t.project_id limit 1",
            [user_id],
        ).fetchone()
        users.append(
            {
                "user_id": user_id,
                "task_id": task[0],
                "tag_id": tag[0] if tag else uuid.uuid4(),
                "project_id": project[0],
            }
        )
    return users


def _explain(conn, name: str, sample: dict) -> tuple[dict, dict]:
    params = _params(name, sample)
    with acting_as(conn, "todo_app", sample["user_id"]):
        explained = conn.execute(
            "explain (analyze, buffers, format json) " + getattr(QUERIES, name).sql, params
        ).fetchone()[0][0]
    return explained, params


def _is_membership_merge(sort) -> bool:
    """A sort whose input is a nested loop over the identity's memberships with a Limit per project, or one
    step of upcoming_tasks' two-step merge (its input the keys of the CTE `firsts`, and those of `rest`)."""
    (child,) = sort["Plans"]
    if child["Node Type"] == "CTE Scan" and child.get("CTE Name") == "firsts":
        return True
    if child["Node Type"] == "Append":
        return {p.get("CTE Name") for p in child["Plans"]} <= {"firsts", "rest"} or all(
            p["Node Type"] in ("CTE Scan", "Nested Loop") for p in child["Plans"]
        )
    if child["Node Type"] != "Nested Loop":
        return False
    outer, inner = child["Plans"]
    return (
        outer.get("Relation Name") == "project_members"
        and outer.get("Index Name") == "project_members_user_id_idx"
        and inner["Node Type"] == "Limit"
    )


def _subplan(plan, name):
    """The node of a CTE (or InitPlan) by its name in EXPLAIN's JSON."""
    (node,) = [n for n in _nodes(plan) if n.get("Subplan Name") == name]
    return node


@pytest.fixture(scope="module")
def samples(big_db):
    with psycopg.connect(big_db) as conn:
        users = _sample_users(conn)
    assert any(s["user_id"] == MEMBER for s in users)
    return users


@pytest.mark.parametrize("name", READ_QUERIES)
def test_read_query_uses_its_index_and_never_scans_tasks(big_db, samples, name):
    expected = served_by(name)
    assert expected, f"{name} does not say which index serves it"
    with psycopg.connect(big_db) as conn:
        for sample in samples:
            memberships = conn.execute(
                "select count(*) from app.project_members where user_id = %s", [sample["user_id"]]
            ).fetchone()[0]
            explained, params = _explain(conn, name, sample)
            plan = explained["Plan"]
            nodes = list(_nodes(plan))
            shown = json.dumps(plan, indent=1)
            seq_scans = [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "tasks"]
            assert seq_scans == [], shown
            used = {n.get("Index Name") for n in nodes}
            assert set(expected) <= used, (name, expected, shown)
            if "page_size" not in params:
                continue
            for sort in (n for n in nodes if n["Node Type"] in ("Sort", "Incremental Sort")):
                assert _is_membership_merge(sort), (name, "the indexes must deliver the page in order", shown)
                assert _rows(sort["Plans"][0]) <= memberships * PAGE, (
                    name,
                    "a merge holds at most a page per membership",
                    shown,
                )
            for limit in (n for n in nodes if n["Node Type"] == "Limit"):
                assert limit.get("Actual Rows", 0) <= PAGE, (name, shown)


def test_upcoming_for_a_member_of_200_projects_merges_per_project_ranges(big_db, capsys):
    """The heaviest member: one pass over their 201 memberships reading each project's first three keys of
    tasks_project_id_due_at_open_idx (a Limit per project), then only the few projects whose third key comes
    before the page's bound read on; one top-N sort of those keys and 50 rows by primary key. Never every
    open task of those projects, nor a page per project, nor a sequential scan."""
    with psycopg.connect(big_db) as conn:
        memberships, open_dated = conn.execute(
            """
            select count(distinct m.project_id),
                   count(t.id) filter (where t.deleted_at is null and t.status <> 'completed' and t.due_at is not null)
            from app.project_members as m left join app.tasks as t on t.project_id = m.project_id
            where m.user_id = %s
            """,
            [MEMBER],
        ).fetchone()
        assert memberships == MANY_PROJECTS + 1  # and the inbox
        assert open_dated > memberships * PAGE  # more than a merge of per-project pages would ever hold
        explained, _ = _explain(conn, "upcoming_tasks", {"user_id": MEMBER})
        with acting_as(conn, "todo_app", MEMBER):
            rows = list(QUERIES.upcoming_tasks(conn, **_params("upcoming_tasks", {})))
        with acting_as(conn, "todo_app", MEMBER):
            expected = conn.execute(
                """
                select t.id from app.tasks as t
                where t.deleted_at is null and t.status <> 'completed' and t.due_at is not null
                order by t.due_at, t.id limit %s
                """,
                [PAGE],
            ).fetchall()
    assert [row[0] for row in rows] == [row[0] for row in expected]  # the same page as a plain sort would give
    plan = explained["Plan"]
    nodes = list(_nodes(plan))
    shown = json.dumps(plan, indent=1)
    assert not [n for n in nodes if n["Node Type"] == "Seq Scan" and n.get("Relation Name") == "tasks"], shown
    firsts = _subplan(plan, "CTE firsts")
    assert _rows(firsts) <= memberships * 3, shown  # three keys per project at most
    (per_project,) = [n for n in _nodes(firsts) if n["Node Type"] == "Limit"]
    assert per_project["Actual Loops"] == memberships, shown  # a Limit per project, one pass
    scans = [n for n in _nodes(per_project) if n.get("Index Name") == "tasks_project_id_due_at_open_idx"]
    # Three keys per project; PostgreSQL 15's WindowAgg (row_number) reads one row ahead of its Limit.
    assert scans and all(n["Actual Rows"] <= 4 for n in scans), shown
    # The read-on step: the innermost Limits over that index other than the per-project one (the page's own
    # Limit holds them all).
    rest = [
        n
        for n in nodes
        if n["Node Type"] == "Limit"
        and n.get("Actual Loops", 0)
        and n is not per_project
        and any(c.get("Index Name") == "tasks_project_id_due_at_open_idx" for c in _nodes(n))
        and not any(c["Node Type"] == "Limit" for c in list(_nodes(n))[1:])
    ]
    read_on = sum(n["Actual Loops"] for n in rest)
    assert read_on <= PAGE // 3 + 1, shown  # only the projects that can still hold some of the page
    # Each of those reads stops at the page's bound (an index condition), not at the project's last task.
    read_past_third = sum(
        _rows(c) for n in rest for c in _nodes(n) if c.get("Index Name") == "tasks_project_id_due_at_open_idx"
    )
    assert read_past_third <= PAGE, shown
    merged = _rows(firsts) + sum(_rows(n) for n in rest)
    assert merged <= memberships * 3 + (PAGE // 3 + 1) * PAGE and merged < memberships * PAGE / 5, shown
    fetched = [n for n in nodes if n.get("Index Name") == "tasks_pkey"]
    assert fetched and all(_rows(n) <= PAGE for n in fetched), shown
    with capsys.disabled():
        print(
            f"\nupcoming_tasks, member of {memberships} projects ({open_dated} open dated tasks): "
            f"{merged:.0f} keys merged ({read_on} projects read on, {read_past_third:.0f} keys read past their "
            f"third), {plan['Actual Rows']:.0f} rows, "
            f"shared buffers hit {plan.get('Shared Hit Blocks', 0)} read {plan.get('Shared Read Blocks', 0)}, "
            f"planning {explained['Planning Time']:.3f} ms, execution {explained['Execution Time']:.3f} ms"
        )
