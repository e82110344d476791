"""A database at the previous release (up to 0029_drop_free_text_statistics), filled as years of use would
have left it: what the data migration of shared projects (0040) starts from.

The rows are made by the server (generate_series), in one transaction, as the superuser with
``session_replication_role = replica``: the history trigger does not run, so each task's history is written
here the way that trigger wrote it (one `created` per task, then status changes and soft deletes, each
with its user as the actor and the time it happened), and the timestamps stay those of the past instead of
today's. This module keeps the 0029 shape on purpose and does not use tooling.generate, which follows the
current schema: a previous release does not change when the schema does.

The spread: a few heavy users with thousands of tasks, most users with tens (a uniform draw, so about
``light_tasks`` each); some tags per user and links to about 40 % of the tasks; 1 % soft-deleted; half
completed; and the history of some tasks that were hard-deleted long ago (their events stay, 0014).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg.types.numeric import Int8

from tests.support import BCRYPT_HASH

PREVIOUS_RELEASE = "0029_drop_free_text_statistics"


@dataclass(frozen=True)
class Spread:
    """How many tasks, and how they fall on users."""

    tasks: int
    heavy_users: int = 4
    heavy_tasks: int = 5_000  # each
    light_tasks: int = 45  # on average, per light user

    @property
    def light_users(self) -> int:
        return max(1, (self.tasks - self.heavy_users * self.heavy_tasks) // self.light_tasks)

    @property
    def users(self) -> int:
        return self.heavy_users + self.light_users


def _uniform(key: str, salt: int) -> str:
    """SQL for a number in [0, 1) fixed by ``key`` (a bigint expression) and ``salt``: the same rows every run."""
    return f"((hashint8extended(({key})::bigint, {salt}) & 9007199254740991)::float8 / 9007199254740992.0)"


def _user_id(index: str) -> str:
    return f"md5('previous-release:user:' || ({index})::text)::uuid"


def _task_id(g: str) -> str:
    return f"md5('previous-release:task:' || ({g})::text)::uuid"


# Every statement below sees the parameters heavy_users, heavy_tasks, light_users, users, tasks (bigint).
_STATEMENTS = [
    # Users, created over the two years before the tasks' year.
    f"""
    insert into app.users (id, email, name, password_hash, created_at, updated_at)
    select {_user_id("i")}, 'previous-' || i || '@example.com', 'User ' || i, %(password_hash)s,
           now() - interval '800 days' + interval '1 minute' * i, now() - interval '800 days' + interval '1 minute' * i
    from generate_series(0, %(users)s - 1) as i
    """,
    # Tags: 12 for a heavy user, 0 to 3 for the others.
    f"""
    insert into app.tags (id, user_id, name, created_at, updated_at)
    select md5('previous-release:tag:' || i || ':' || k)::uuid, {_user_id("i")}, 'tag ' || k,
           now() - interval '400 days', now() - interval '400 days'
    from generate_series(0, %(users)s - 1) as i
    cross join lateral generate_series(
      1, case when i < %(heavy_users)s then 12 else floor(4 * {_uniform("i", 1)})::int end
    ) as k
    """,
    # Tasks: heavy users first (heavy_tasks each), then a uniform draw among the light users.
    f"""
    insert into app.tasks (id, user_id, title, description, status, priority, due_at, completed_at,
                           estimated_hours, deleted_at, created_at, updated_at)
    select {_task_id("g")}, {_user_id("ui")}, 'Task ' || g,
           case when {_uniform("g", 2)} < 0.3 then 'Notes for task ' || g end,
           s.status,
           (array['low', 'medium', 'high'])[1 + floor(3 * {_uniform("g", 3)})::int],
           case when {_uniform("g", 4)} < 0.6 then now() + interval '1 day' * (90 * {_uniform("g", 5)} - 45) end,
           d.completed_at,
           case when {_uniform("g", 6)} < 0.4 then round((0.25 + 16 * {_uniform("g", 7)})::numeric, 2) end,
           d.deleted_at, c.created, greatest(c.created, d.completed_at, d.deleted_at)
    from generate_series(0, %(tasks)s - 1) as g
    cross join lateral (
      select case when g < %(heavy_users)s * %(heavy_tasks)s then g / %(heavy_tasks)s
                  else %(heavy_users)s + floor(%(light_users)s * {_uniform("g", 8)})::bigint end as ui,
             now() - interval '1 day' - interval '365 days' * {_uniform("g", 9)} as created
    ) as c
    cross join lateral (
      select case when {_uniform("g", 10)} < 0.5 then 'completed'
                  when {_uniform("g", 10)} < 0.8 then 'pending' else 'in_progress' end as status
    ) as s
    cross join lateral (
      select case when s.status = 'completed'
                  then c.created + (now() - interval '1 day' - c.created) * {_uniform("g", 11)} end as completed_at,
             case when {_uniform("g", 12)} < 0.01
                  then c.created + (now() - interval '1 day' - c.created) * {_uniform("g", 13)} end as deleted_at
    ) as d
    """,
    # History, in the order the trigger wrote it: every task's creation (as pending)...
    """
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status, created_at)
    select t.user_id, t.id, t.user_id, 'created', null, 'pending', t.created_at
    from app.tasks as t
    order by t.created_at, t.id
    """,
    # ...started (every task in progress, half of the completed ones)...
    f"""
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status, created_at)
    select t.user_id, t.id, t.user_id, 'status_changed', 'pending', 'in_progress',
           t.created_at + (coalesce(t.completed_at, t.updated_at) - t.created_at) / 2
    from app.tasks as t
    where t.status = 'in_progress' or (t.status = 'completed' and {_uniform("hashtext(t.id::text)", 14)} < 0.5)
    order by 7, t.id
    """,
    # ...completed (from where each one was)...
    f"""
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status, created_at)
    select t.user_id, t.id, t.user_id, 'status_changed',
           case when {_uniform("hashtext(t.id::text)", 14)} < 0.5 then 'in_progress' else 'pending' end,
           'completed', t.completed_at
    from app.tasks as t
    where t.status = 'completed'
    order by t.completed_at, t.id
    """,
    # ...soft-deleted...
    """
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status, created_at)
    select t.user_id, t.id, t.user_id, 'deleted', null, null, t.deleted_at
    from app.tasks as t
    where t.deleted_at is not null
    order by t.deleted_at, t.id
    """,
    # ...and the history of tasks hard-deleted long ago (one for every 200 tasks): it outlives them.
    f"""
    insert into app.task_events (user_id, task_id, actor_id, kind, old_status, new_status, created_at)
    select {_user_id("h %% %(users)s")}, md5('previous-release:gone:' || h)::uuid, {_user_id("h %% %(users)s")},
           e.kind, null, e.new_status, now() - interval '500 days' + e.after
    from generate_series(0, %(tasks)s / 200 - 1) as h
    cross join lateral (
      values ('created', 'pending', interval '0'), ('hard_deleted', null, interval '1 day')
    ) as e (kind, new_status, after)
    order by h, e.after
    """,
    # Links: about 40 % of the tasks of users who have tags carry one of them.
    f"""
    insert into app.task_tags (user_id, task_id, tag_id, created_at)
    select t.user_id, t.id, g.id, t.created_at
    from app.tasks as t
    cross join lateral (
      select tg.id from app.tags as tg where tg.user_id = t.user_id
      order by md5(tg.id::text || t.id::text) limit 1
    ) as g
    where {_uniform("hashtext(t.id::text)", 15)} < 0.4
    """,
]


def fill(admin: psycopg.Connection, spread: Spread) -> None:
    """Load the data set; ``admin`` is a superuser connection in autocommit mode on a database at 0029."""
    params = {
        "heavy_users": Int8(spread.heavy_users),
        "heavy_tasks": Int8(spread.heavy_tasks),
        "light_users": Int8(spread.light_users),
        "users": Int8(spread.users),
        "tasks": Int8(spread.tasks),
        "password_hash": BCRYPT_HASH,
    }
    with admin.transaction():
        admin.execute("set local session_replication_role = replica")  # no triggers: history written above
        for statement in _STATEMENTS:
            admin.execute(statement, params)
    # As a live database would be: statistics and the visibility map up to date.
    for table in ("users", "tags", "tasks", "task_tags", "task_events"):
        admin.execute(f"vacuum (analyze) app.{table}")


def user_ids(admin: psycopg.Connection, spread: Spread) -> tuple[str, list[str]]:
    """The first heavy user, and a few light ones: whose view of their data is compared before and after."""
    heavy = admin.execute(f"select {_user_id('0')}::text").fetchone()[0]
    light = [
        admin.execute(f"select {_user_id('%s')}::text", [Int8(i)]).fetchone()[0]
        for i in (spread.heavy_users, spread.heavy_users + spread.light_users // 2, spread.users - 1)
    ]
    return heavy, light
