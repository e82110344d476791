"""Bulk generator: a large, realistic, deterministic data set, made by the server.

`tooling seed --users N --tasks M [--seed S]` loads N users and M tasks (with
tags, links and the history the triggers write) into the configured database.
Everything is computed in SQL from the row number and the seed through
`hashint8extended`, so the same N, M and S give the same rows (ids included)
whatever the batch size, and the Python process only sends statements: its
memory stays flat however large M is. Rows go in through the real tables and
triggers, in batches, with a progress bar; ANALYZE (and VACUUM, for
index-only scans) at the end.

It writes as the connection's role, which must be able to bypass row-level
security (the superuser of the embedded server): bulk data belongs to many
users at once.
"""

from __future__ import annotations

import resource
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.types.numeric import Int8
from tqdm import tqdm

from tooling.config import ROOT
from tooling.errors import ToolError, one_line

SETTINGS_FILE = ROOT / "seeds" / "bulk.toml"
EMAIL_DOMAIN = "bench.example"
# Not a hash of anything: bulk users never sign in.
PASSWORD_HASH = "$2b$12$" + "bulkbulkbulkbulkbulkbulkbulkbulkbulkbulkbulkbulkbulkbu"


def uniform(key: str, salt: int) -> str:
    """SQL for a uniform number in [0, 1) determined by ``key`` (a bigint expression), the seed and ``salt``."""
    return (
        f"((pg_catalog.hashint8extended(({key})::bigint, %(seed)s::bigint * 1000 + {salt}) "
        f"& 9007199254740991)::float8 / 9007199254740992.0)"
    )


def _user_of_task(g: str) -> str:
    """SQL for the user index of task ``g``: heavy users first, then a skewed draw among the light ones."""
    return (
        f"case when {g} < %(heavy_users)s * %(heavy_tasks)s then {g} / %(heavy_tasks)s "
        f"else %(heavy_users)s + floor(%(light_users)s * power({uniform(g, 2)}, %(light_skew)s))::bigint end"
    )


def _id(kind: str, *parts: str) -> str:
    joined = " || ':' || ".join(f"({p})::text" for p in parts)
    return f"md5('tododb-bulk:' || %(seed)s::text || ':{kind}:' || {joined})::uuid"


def _tag_count(ui: str) -> str:
    return (
        f"case when {ui} < %(heavy_users)s then %(heavy_tags)s "
        f"else 1 + floor(%(light_tags_max)s * {uniform(ui + ' + 7000000000', 20)})::int end"
    )


USERS_SQL = f"""
insert into app.users (id, email, name, password_hash, created_at)
select {_id('user', 'i')}, 'user' || i || '@{EMAIL_DOMAIN}', 'Bulk user ' || i, %(password_hash)s,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s * {uniform('i + 9000000000', 1)}
from generate_series(0, %(users)s - 1) as i
"""

TAGS_SQL = f"""
insert into app.tags (id, user_id, name, created_at)
select {_id('tag', 'i', 'k')}, {_id('user', 'i')}, 'tag ' || k,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s
from generate_series(0, %(users)s - 1) as i
cross join lateral generate_series(0, ({_tag_count('i')}) - 1) as k
"""

TASKS_SQL = f"""
with gen as materialized (
  select g, ui, created, r_status,
         {_tag_count('ui')} as tag_count
  from generate_series(%(lo)s::bigint, %(hi)s::bigint - 1) as g
  cross join lateral (select ({_user_of_task('g')}) as ui) as u
  cross join lateral (
    select %(anchor)s::timestamptz - interval '1 day' * %(history_days)s * {uniform('g', 5)} as created,
           {uniform('g', 3)} as r_status
  ) as c
),
inserted as (
  insert into app.tasks (id, user_id, title, description, status, priority, due_at, completed_at,
                         estimated_hours, deleted_at, created_at)
  select {_id('task', 'g')}, {_id('user', 'ui')}, 'Task ' || g,
         case when {uniform('g', 10)} < %(with_description)s then 'Notes for task ' || g end,
         case when r_status < %(completed)s then 'completed'
              when r_status < %(completed)s + %(pending)s then 'pending'
              else 'in_progress' end,
         case when {uniform('g', 4)} < 0.25 then 'low' when {uniform('g', 4)} < 0.8 then 'medium' else 'high' end,
         case when {uniform('g', 6)} < %(with_due_date)s
              then %(anchor)s::timestamptz + interval '1 day' * (90 * {uniform('g', 7)} - 45) end,
         case when r_status < %(completed)s
              then created + (%(anchor)s::timestamptz - created) * {uniform('g', 8)} end,
         case when {uniform('g', 9)} < %(with_estimate)s
              then round((0.25 + 16 * {uniform('g', 11)})::numeric, 2) end,
         case when {uniform('g', 12)} < %(soft_deleted)s
              then created + (%(anchor)s::timestamptz - created) * {uniform('g', 13)} end,
         created
  from gen
  returning 1
)
insert into app.task_tags (user_id, task_id, tag_id, created_at)
select {_id('user', 'ui')}, {_id('task', 'g')}, {_id('tag', 'ui', 'k')},
       created + (%(anchor)s::timestamptz - created) * {uniform('g', 16)}
from gen
cross join lateral (
  select floor(tag_count * {uniform('g', 15)})::int as k where {uniform('g', 14)} < %(tagged)s
  union all
  select (floor(tag_count * {uniform('g', 15)})::int + 1) %% tag_count
  where {uniform('g', 14)} < %(second_tag)s and tag_count > 1
) as links
"""


@dataclass(frozen=True)
class LoadReport:
    users: int
    tasks: int
    seconds: float
    peak_rss_mb: float  # of this Python process: flat, the server does the work

    @property
    def tasks_per_second(self) -> float:
        return self.tasks / self.seconds if self.seconds else float("inf")


def _parameters(users: int, tasks: int, seed: int, settings_file: Path) -> dict[str, object]:
    if users < 1 or tasks < 0:
        raise ToolError("--users must be at least 1 and --tasks at least 0")
    try:
        settings = tomllib.loads(settings_file.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ToolError(f"cannot read the generator settings {settings_file}: {one_line(exc)}") from None
    u, t, links = settings["users"], settings["tasks"], settings["links"]
    heavy_users = max(1, round(users * u["heavy_share"]))
    # Heavy users take at most half of the tasks, so small loads stay skewed, not absurd.
    heavy_tasks = min(u["heavy_tasks"], tasks // (2 * heavy_users)) if tasks else 0
    # Integers go to the server as bigint: psycopg would send small ones as
    # smallint, and products such as heavy_users * heavy_tasks would overflow.
    return {key: Int8(value) if isinstance(value, int) and not isinstance(value, bool) else value for key, value in {
        "seed": seed,
        "users": users,
        "heavy_users": heavy_users,
        "light_users": max(users - heavy_users, 1),
        "heavy_tasks": max(heavy_tasks, 1),
        "light_skew": u["light_skew"],
        "heavy_tags": u["heavy_tags"],
        "light_tags_max": u["light_tags_max"],
        "password_hash": PASSWORD_HASH,
        **{key: t[key] for key in t},
        **{key: links[key] for key in links},
    }.items()}


def load(
    url: str,
    users: int,
    tasks: int,
    seed: int = 1,
    batch_size: int = 50_000,
    settings_file: Path = SETTINGS_FILE,
    progress: bool = True,
) -> LoadReport:
    """Generate and load the data set; refuses a database that already holds generated data."""
    params = _parameters(users, tasks, seed, settings_file)
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        if conn.execute("select exists (select from app.users where email like %s)", [f"%@{EMAIL_DOMAIN}"]).fetchone()[0]:
            raise ToolError("this database already holds generated data; load into a fresh one")
        params["anchor"] = conn.execute("select date_trunc('day', now())").fetchone()[0]
        with conn.transaction():
            conn.execute(USERS_SQL, params)
            conn.execute(TAGS_SQL, params)
        with tqdm(total=tasks, unit="task", unit_scale=True, disable=not progress, desc="tasks") as bar:
            for lo in range(0, tasks, batch_size):
                hi = min(lo + batch_size, tasks)
                with conn.transaction():
                    conn.execute(TASKS_SQL, params | {"lo": Int8(lo), "hi": Int8(hi)})
                bar.update(hi - lo)
        for table in ("users", "tags", "tasks", "task_tags", "task_events"):
            conn.execute(f"vacuum (analyze) app.{table}")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return LoadReport(users, tasks, time.perf_counter() - started, peak_rss_mb)
