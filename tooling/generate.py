"""Bulk generator: a large, realistic, deterministic data set, made by the server.

`tooling seed --users N --tasks M [--seed S]` loads N users and M tasks (with
their projects and memberships, tags, links and the history the triggers
write) into the configured database. Everything is computed in SQL from the
row number and the seed through `hashint8extended`, so the same N, M and S
give the same rows (ids included) whatever the batch size, and the Python
process only sends statements: its memory stays flat however large M is.
Rows go in through the real tables and triggers (each user's inbox and each
project's owner row come from them), in batches, with a progress bar; ANALYZE
(and VACUUM, for index-only scans) at the end.

The shape (seeds/bulk.toml): heavy users with thousands of tasks in their
inbox, most users with tens; about a fifth of all projects shared, with 2-20
members (owner, editors, viewers), a few of them large; a few users who are
editors in 200 projects; tasks in inboxes, personal and shared projects,
those in shared projects created by one of the project's owner or editors and
some assigned to a member.

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

from psycopg.types.numeric import Int8
from tqdm import tqdm

from tooling.config import ROOT
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect

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


def _cumulative(total: str, index: str, count: str, skew: str) -> str:
    """SQL for how many of ``total`` tasks go to the containers before ``index`` (of ``count``): a skewed
    split, the first containers the fullest (as a draw of floor(count * u^skew) would make it), exact in sum."""
    return f"floor(({total})::float8 * power(({index})::float8 / ({count}), 1.0 / {skew}))::bigint"


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
select {_id("user", "i")}, 'user' || i || '@{EMAIL_DOMAIN}', 'Bulk user ' || i, %(password_hash)s,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s * {uniform("i + 9000000000", 1)}
from generate_series(0, %(users)s - 1) as i
"""

TAGS_SQL = f"""
insert into app.tags (id, user_id, name, created_at)
select {_id("tag", "i", "k")}, {_id("user", "i")}, 'tag ' || k,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s
from generate_series(0, %(users)s - 1) as i
cross join lateral generate_series(0, ({_tag_count("i")}) - 1) as k
"""

# Where the tasks go, as temporary tables the task batches read. bulk_shared / bulk_personal: the projects
# besides the inboxes (app.users' trigger makes those), owned by users below the many-project ones (who are
# in exactly many_projects). Shared project j has w members in slots 0..w-1:
# slot 0 is its owner, the next ones the users after the owner (a window over the users below the
# many-project ones, so no one is in a project twice), and, in the projects the many-project users joined
# (every stride-th, up to many_projects - 1 of them), those users in the last slots, as editors.
# bulk_places: every inbox and project with its number of tasks and the range of task numbers it takes,
# in the order of the project's id, so a batch of consecutive tasks fills neighbouring projects and
# touches a narrow slice of every index that leads with project_id (or, for an inbox, user_id): at
# 2,000,000 tasks, batches of randomly placed tasks dirtied pages all over those indexes (a full-page
# image in the WAL for most of them) and loaded at about half the speed.
PROJECTS_SQL = [
    f"""
create temporary table bulk_personal on commit preserve rows as
select p as j, {_id("project", "'personal'", "p")} as project_id, o.ui as owner_ui
from generate_series(0, %(personal)s - 1) as p
cross join lateral (select floor(%(window_users)s * {uniform("p + 8000000000", 50)})::bigint as ui) as o
""",
    f"""
create temporary table bulk_shared on commit preserve rows as
select j, {_id("project", "'shared'", "j")} as project_id, o.ui as owner_ui, e.extras, e.extras + m.window_size as w
from generate_series(0, %(shared)s - 1) as j
cross join lateral (
  select case when j %% %(stride)s = 0 and j / %(stride)s < %(many_projects)s - 1 then %(many_users)s else 0 end
         as extras
) as e
cross join lateral (select floor(%(window_users)s * {uniform("j + 8100000000", 40)})::bigint as ui) as o
cross join lateral (
  select least(
           greatest(
             %(members_min)s + floor((%(members_max)s - %(members_min)s + 1)
                                     * power({uniform("j + 8200000000", 41)}, %(members_skew)s))::bigint,
             e.extras + %(members_min)s
           ),
           %(members_max)s
         ) - e.extras as wanted
) as d
cross join lateral (select least(d.wanted, %(window_users)s) as window_size) as m
""",
    f"""
create temporary table bulk_members on commit preserve rows as
select s.j, k.k, s.project_id,
       case when k.k < s.w - s.extras then (s.owner_ui + k.k) %% %(window_users)s
            else %(window_users)s + (k.k - (s.w - s.extras)) end as ui,
       case when k.k = 0 then 'owner'
            when k.k >= s.w - s.extras then 'editor'
            when {uniform("s.j * 64 + k.k + 8300000000", 42)} < %(viewer_share)s then 'viewer'
            else 'editor' end as role
from bulk_shared as s
cross join lateral generate_series(0, s.w - 1) as k (k)
""",
    f"""
create temporary table bulk_places on commit preserve rows as
with counted as (
  select 'inbox' as place, i as j, {_id("user", "i")} as project_id, i as owner_ui,
         case when i < %(heavy_users)s then %(heavy_tasks)s
              else {_cumulative("%(inbox_tasks)s", "i - %(heavy_users)s + 1", "%(light_users)s", "%(light_skew)s")}
                   - {_cumulative("%(inbox_tasks)s", "i - %(heavy_users)s", "%(light_users)s", "%(light_skew)s")}
         end as tasks
  from generate_series(0, %(users)s - 1) as i
  union all
  select 'personal', j, project_id, owner_ui,
         {_cumulative("%(personal_tasks)s", "j + 1", "%(personal)s", "%(project_skew)s")}
         - {_cumulative("%(personal_tasks)s", "j", "%(personal)s", "%(project_skew)s")}
  from bulk_personal
  union all
  select 'shared', j, project_id, owner_ui,
         {_cumulative("%(shared_tasks)s", "j + 1", "%(shared)s", "%(project_skew)s")}
         - {_cumulative("%(shared_tasks)s", "j", "%(shared)s", "%(project_skew)s")}
  from bulk_shared
)
select place, j, project_id, owner_ui, tasks, sum(tasks) over (order by project_id) - tasks as first_task
from counted
where tasks > 0
""",
    "create unique index on bulk_shared (j)",
    "create unique index on bulk_members (j, k)",
    "create index on bulk_places (first_task)",
    "analyze bulk_shared, bulk_personal, bulk_members, bulk_places",
    f"""
insert into app.projects (id, owner_id, name, created_at)
select project_id, {_id("user", "owner_ui")}, 'Project ' || j,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s
from bulk_personal
union all
select project_id, {_id("user", "owner_ui")}, 'Shared project ' || j,
       %(anchor)s::timestamptz - interval '1 day' * %(history_days)s
from bulk_shared
""",
    # The owner rows came with the projects (their trigger); the other members join now.
    f"""
insert into app.project_members (project_id, user_id, role, created_at)
select project_id, {_id("user", "ui")}, role, %(anchor)s::timestamptz - interval '1 day' * %(history_days)s
from bulk_members
where k > 0
""",
]

# Tasks lo..hi-1 of the places that take them. In a shared project the creator is the member in a drawn
# slot (its owner when that member is a viewer), and some tasks are assigned to the member in another.
TASKS_SQL = f"""
with gen as materialized (
  select g, pl.place, pl.j, pl.project_id, pl.owner_ui,
         %(anchor)s::timestamptz - interval '1 day' * %(history_days)s * {uniform("g", 5)} as created,
         {uniform("g", 3)} as r_status
  from bulk_places as pl
  cross join lateral generate_series(greatest(pl.first_task, %(lo)s::bigint),
                                     least(pl.first_task + pl.tasks, %(hi)s::bigint) - 1) as g
  where pl.first_task < %(hi)s::bigint and pl.first_task > %(lo)s::bigint - %(most_tasks)s::bigint
    and pl.first_task + pl.tasks > %(lo)s::bigint
),
placed as materialized (
  select gen.g, gen.created, gen.r_status, c.ui, gen.project_id, {_id("user", "am.ui")} as assignee_id
  from gen
  left join bulk_shared as s on gen.place = 'shared' and s.j = gen.j
  left join bulk_members as cm on cm.j = s.j and cm.k = floor(s.w * {uniform("gen.g", 32)})::bigint
  left join bulk_members as am
    on am.j = s.j and {uniform("gen.g", 33)} < %(assigned)s and am.k = floor(s.w * {uniform("gen.g", 34)})::bigint
  cross join lateral (
    select case when gen.place <> 'shared' then gen.owner_ui when cm.role = 'viewer' then s.owner_ui else cm.ui end
           as ui
  ) as c
),
inserted as (
  insert into app.tasks (id, user_id, project_id, assignee_id, title, description, status, priority, due_at,
                         completed_at, estimated_hours, deleted_at, created_at)
  select {_id("task", "g")}, {_id("user", "ui")}, project_id, assignee_id, 'Task ' || g,
         case when {uniform("g", 10)} < %(with_description)s then 'Notes for task ' || g end,
         case when r_status < %(completed)s then 'completed'
              when r_status < %(completed)s + %(pending)s then 'pending'
              else 'in_progress' end,
         case when {uniform("g", 4)} < 0.25 then 'low' when {uniform("g", 4)} < 0.8 then 'medium' else 'high' end,
         case when {uniform("g", 6)} < %(with_due_date)s
              then %(anchor)s::timestamptz + interval '1 day' * (90 * {uniform("g", 7)} - 45) end,
         case when r_status < %(completed)s
              then created + (%(anchor)s::timestamptz - created) * {uniform("g", 8)} end,
         case when {uniform("g", 9)} < %(with_estimate)s
              then round((0.25 + 16 * {uniform("g", 11)})::numeric, 2) end,
         case when {uniform("g", 12)} < %(soft_deleted)s
              then created + (%(anchor)s::timestamptz - created) * {uniform("g", 13)} end,
         created
  from placed
  returning 1
)
insert into app.task_tags (user_id, task_id, tag_id, created_at)
select {_id("user", "ui")}, {_id("task", "g")}, {_id("tag", "ui", "k")},
       created + (%(anchor)s::timestamptz - created) * {uniform("g", 16)}
from placed
cross join lateral (select {_tag_count("ui")} as tag_count) as n
cross join lateral (
  select floor(tag_count * {uniform("g", 15)})::int as k where {uniform("g", 14)} < %(tagged)s
  union all
  select (floor(tag_count * {uniform("g", 15)})::int + 1) %% tag_count
  where {uniform("g", 14)} < %(second_tag)s and tag_count > 1
) as links
"""


@dataclass(frozen=True)
class LoadReport:
    users: int
    tasks: int
    seconds: float
    peak_rss_mb: float  # of this Python process: flat, the server does the work
    heavy_users: int = 0  # users 0..heavy_users-1 (by row number) have heavy_tasks each, in their inbox

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
    pr = settings["projects"]
    heavy_users = max(1, round(users * u["heavy_share"]))
    # Heavy users take at most half of the tasks, so small loads stay skewed, not absurd.
    heavy_tasks = min(u["heavy_tasks"], tasks // (2 * heavy_users)) if tasks else 0
    if users == heavy_users:  # one user: all of it
        heavy_tasks = tasks // heavy_users
    # A few users in many projects, once there are users enough to fill those projects with others too.
    many_users = pr["many_users"] if users >= 50 else 0
    personal = round(users * pr["personal_per_user"])
    shared = round((users + personal) * pr["shared"] / (1 - pr["shared"]))  # that share of all projects
    # The many-project users join every stride-th shared project, many_projects - 1 of them (their inbox
    # is the last one), or every shared project when there are fewer.
    stride = max(1, shared // max(1, pr["many_projects"] - 1))
    if many_users + pr["members_min"] > pr["members_max"]:
        raise ToolError(f"{settings_file}: many_users + members_min must not exceed members_max")
    # The tasks the heavy users leave, split among shared projects, personal ones and the light users' inboxes.
    rest = tasks - heavy_users * heavy_tasks
    shared_tasks = round(rest * t["in_shared"]) if shared else 0
    personal_tasks = round(rest * t["in_personal"]) if personal else 0
    # Integers go to the server as bigint: psycopg would send small ones as
    # smallint, and products such as heavy_users * heavy_tasks would overflow.
    return {
        key: Int8(value) if isinstance(value, int) and not isinstance(value, bool) else value
        for key, value in {
            "seed": seed,
            "users": users,
            "heavy_users": heavy_users,
            "light_users": max(users - heavy_users, 1),
            "heavy_tasks": heavy_tasks,
            "light_skew": u["light_skew"],
            "heavy_tags": u["heavy_tags"],
            "light_tags_max": u["light_tags_max"],
            "password_hash": PASSWORD_HASH,
            "personal": personal,
            "shared": shared,
            "stride": stride,
            "many_users": many_users,
            "many_projects": pr["many_projects"],
            "window_users": users - many_users,
            "members_min": pr["members_min"],
            "members_max": pr["members_max"],
            "members_skew": pr["members_skew"],
            "viewer_share": pr["viewer_share"],
            "inbox_tasks": rest - shared_tasks - personal_tasks,
            "personal_tasks": personal_tasks,
            "shared_tasks": shared_tasks,
            **{key: t[key] for key in t},
            **{key: links[key] for key in links},
        }.items()
    }


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
    with connect(url, autocommit=True) as conn:
        if one(conn.execute("select exists (select from app.users where email like %s)", [f"%@{EMAIL_DOMAIN}"]))[0]:
            raise ToolError("this database already holds generated data; load into a fresh one")
        params["anchor"] = one(conn.execute("select date_trunc('day', now())"))[0]
        with conn.transaction():
            conn.execute(USERS_SQL, params)
            conn.execute(TAGS_SQL, params)
            for statement in PROJECTS_SQL:
                conn.execute(statement, params)
        # No place takes more tasks than this: bounds each batch's search of bulk_places (by first_task).
        params["most_tasks"] = Int8(one(conn.execute("select coalesce(max(tasks), 0) from bulk_places"))[0])
        with tqdm(total=tasks, unit="task", unit_scale=True, disable=not progress, desc="tasks") as bar:
            for lo in range(0, tasks, batch_size):
                hi = min(lo + batch_size, tasks)
                with conn.transaction():
                    conn.execute(TASKS_SQL, params | {"lo": Int8(lo), "hi": Int8(hi)})
                bar.update(hi - lo)
        conn.execute("drop table bulk_places, bulk_members, bulk_shared, bulk_personal")
        for table in ("users", "projects", "project_members", "tags", "tasks", "task_tags", "task_events"):
            conn.execute(f"vacuum (analyze) app.{table}")
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    heavy_users = params["heavy_users"]
    assert isinstance(heavy_users, int)  # _parameters computes it
    return LoadReport(users, tasks, time.perf_counter() - started, peak_rss_mb, heavy_users)
