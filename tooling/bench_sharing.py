"""Whom `make bench` acts as, and on which rows, now that tasks live in shared projects.

Three samples, drawn with a fixed seed from what each user can see (their memberships), as the
superuser (row-level security bypassed, filters explicit):

- users(): DRAWN_USERS users, heavy ones (at least HEAVY_MIN_TASKS tasks across their projects) a fifth
  of the draw; the users in MANY_PROJECTS or more projects are left out and measured on their own. Each
  with a task they may edit (in a shared project for every other user, when they edit one), a task in
  the bin, one of their tag links, a project they write to with a member to assign, and the cursor of
  page 5 of their open tasks.
- pairs(): PAIRS shared projects (a fifth of them large), each with its owner, one of its other members
  (an editor or a viewer: the member whose read of the project is held to the owner's explicit-filter
  query) and a user outside it (who accepts an invitation to it).
- heaviest(): the user in the most projects (200 at the full size), with every key of both samples, so
  that every read can be run as that user; plan() gives its plans with buffers.
"""

from __future__ import annotations

import random
from datetime import datetime

import psycopg

from tododb.queries import first_page_params
from tooling.rows import one

DRAWN_USERS = 50
HEAVY_SHARE = 0.2
HEAVY_MIN_TASKS = 1000
PAIRS = 50
MANY_PROJECTS = 50  # users in this many projects or more: measured apart (heaviest), not in the draw

# Per user: projects, and how many tasks they can see in them.
_VISIBLE = """
with per_project as (select project_id, count(*) as n from app.tasks group by project_id)
select m.user_id, count(*) as projects, coalesce(sum(p.n), 0)::bigint as visible
from app.project_members as m
left join per_project as p on p.project_id = m.project_id
group by m.user_id
order by m.user_id
"""
_EDITABLE = "select project_id from app.project_members where user_id = %(u)s and role <> 'viewer'"


def _rows_for(conn: psycopg.Connection, user_id, prefer_shared: bool, now: datetime) -> dict | None:
    """The rows one user's calls need, all within their projects; None when they lack some."""
    params = {"u": user_id, "shared": prefer_shared}
    task = conn.execute(
        f"select id, status, project_id, version from app.tasks where project_id in ({_EDITABLE}) "
        "and deleted_at is null "
        "order by (project_id <> %(u)s) = %(shared)s desc, id limit 1",
        params,
    ).fetchone()
    link = conn.execute(
        "select tag_id, task_id from app.task_tags where user_id = %(u)s order by tag_id, task_id limit 1", params
    ).fetchone()
    tags = [t for (t,) in conn.execute("select id from app.tags where user_id = %(u)s order by id", params)]
    if not (task and link and tags):
        return None
    deleted = conn.execute(
        f"select id from app.tasks where project_id in ({_EDITABLE}) and deleted_at is not null order by id limit 1",
        params,
    ).fetchone()
    # A project to write into: a shared one they edit when there is one, else their inbox; a member to assign.
    project = one(
        conn.execute(
            "select project_id from app.project_members where user_id = %(u)s and role <> 'viewer' "
            "order by (project_id <> %(u)s) desc, project_id limit 1",
            params,
        )
    )[0]
    assignee = one(
        conn.execute(
            "select user_id from app.project_members where project_id = %s "
            "order by user_id <> %s desc, user_id limit 1",
            [project, user_id],
        )
    )[0]
    task_assignee = one(
        conn.execute(
            "select user_id from app.project_members where project_id = %s "
            "order by user_id <> %s desc, user_id limit 1",
            [task[2], user_id],
        )
    )[0]
    page5 = conn.execute(
        "select due_at, id from app.tasks where project_id in (select project_id from app.project_members "
        "where user_id = %(u)s) and deleted_at is null and status <> 'completed' "
        "order by due_at, id offset 199 limit 1",
        params,
    ).fetchone()
    return {
        "id": user_id,
        "task": task[0],
        "task_status": task[1],
        "task_version": task[3],
        "profile_version": one(conn.execute("select version from app.users where id = %s", [user_id]))[0],
        "task_assignee": task_assignee,
        "deleted_task": deleted[0] if deleted else task[0],
        "tag": link[0],
        "tagged_task": link[1],
        "other_tag": next((t for t in tags if t != link[0]), link[0]),
        "project": project,
        "assignee": assignee,
        "now": now,
        "open_page5": (
            {"after_due_at": page5[0], "after_id": page5[1], "page_size": 50}
            if page5
            else first_page_params("open_tasks_by_due_date", 50)
        ),
    }


def users(conn: psycopg.Connection, seed: int, now: datetime) -> list[dict]:
    counts = conn.execute(_VISIBLE).fetchall()
    ordinary = [(u, n) for u, projects, n in counts if projects < MANY_PROJECTS]
    heavy = [u for u, n in ordinary if n >= HEAVY_MIN_TASKS]
    light = [u for u, n in ordinary if n < HEAVY_MIN_TASKS]
    rng = random.Random(seed)
    n_heavy = min(len(heavy), max(1, round(DRAWN_USERS * HEAVY_SHARE)))
    drawn = rng.sample(heavy, n_heavy) + rng.sample(light, min(len(light), DRAWN_USERS - n_heavy))
    heavy_set = set(heavy)
    rows = []
    for i, user_id in enumerate(drawn):
        row = _rows_for(conn, user_id, prefer_shared=i % 2 == 1, now=now)
        if row is not None:
            rows.append(row | {"heavy": user_id in heavy_set})
    return rows


def pairs(conn: psycopg.Connection, seed: int) -> list[dict]:
    """Shared projects with an open task, each with its owner, another member and an outsider."""
    # (Counted in one pass: no index on tasks leads with project_id over all of its rows.)
    projects = conn.execute(
        "with n as (select project_id, count(*) as tasks, count(*) filter ("
        "             where deleted_at is null and status <> 'completed') as open from app.tasks group by 1) "
        "select p.id, p.owner_id, n.tasks from app.projects as p join n on n.project_id = p.id "
        "where not p.is_inbox and n.open > 0 and exists ("
        "  select from app.project_members as m where m.project_id = p.id and m.role <> 'owner') "
        "order by p.id"
    ).fetchall()
    rng = random.Random(seed)
    large = [p for p in projects if p[2] >= HEAVY_MIN_TASKS]
    n_large = min(len(large), round(PAIRS * HEAVY_SHARE))
    chosen = rng.sample(large, n_large)
    taken = set(chosen)
    rest = [p for p in projects if p not in taken]
    chosen += rng.sample(rest, min(len(rest), PAIRS - n_large))
    rows = []
    for project_id, owner, tasks in chosen:
        members = conn.execute(
            "select user_id, role, version from app.project_members where project_id = %s and role <> 'owner' "
            "order by user_id",
            [project_id],
        ).fetchall()
        member, role, member_version = members[rng.randrange(len(members))]
        outsider = conn.execute(
            "select u.id, u.email::text from app.users as u where not exists (select from app.project_members as m "
            "where m.project_id = %s and m.user_id = u.id) order by u.id limit 1",
            [project_id],
        ).fetchone()
        if outsider is None:
            continue
        rows.append(
            {
                "project": project_id,
                "owner": owner,
                "member": member,
                "member_role": role,
                "member_version": member_version,
                "outsider": outsider[0],
                "outsider_email": outsider[1],
                "project_tasks": tasks,
            }
        )
    return rows


def heaviest(conn: psycopg.Connection, now: datetime) -> dict | None:
    """The user in the most projects (most visible tasks among those), with the keys of both samples."""
    counts = conn.execute(_VISIBLE).fetchall()
    if not counts:
        return None
    user_id, projects, visible = max(counts, key=lambda c: (c[1], c[2], str(c[0])))
    row = _rows_for(conn, user_id, prefer_shared=True, now=now)
    if row is None:
        return None
    # Their largest shared project, as a member's read of it; its owner and an outsider for the pair keys.
    project, owner, role, member_version, tasks = one(
        conn.execute(
            "with n as (select project_id, count(*) as tasks from app.tasks where project_id in ("
            "             select project_id from app.project_members where user_id = %(u)s) group by 1) "
            "select m.project_id, p.owner_id, m.role, m.version, n.tasks from app.project_members as m "
            "join app.projects as p on p.id = m.project_id join n on n.project_id = m.project_id "
            "where m.user_id = %(u)s order by n.tasks desc, m.project_id limit 1",
            {"u": user_id},
        )
    )
    outsider = conn.execute(
        "select u.id, u.email::text from app.users as u where not exists (select from app.project_members as m "
        "where m.project_id = %s and m.user_id = u.id) order by u.id limit 1",
        [project],
    ).fetchone()
    return row | {
        "member": user_id,
        "member_role": role,
        "member_version": member_version,
        "owner": owner,
        "projects": projects,
        "visible": visible,
        "project": project,
        "project_tasks": tasks,
        "outsider": outsider[0] if outsider else None,
        "outsider_email": outsider[1] if outsider else None,
    }


def plan(conn: psycopg.Connection, query_sql: str, params: dict) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) as text, in the current transaction (the caller acts as the user)."""
    rows = conn.execute("explain (analyze, buffers, format text) " + query_sql, params).fetchall()
    return "\n".join(line for (line,) in rows)
