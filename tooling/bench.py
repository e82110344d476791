"""`make bench`: the named queries against a large generated data set, with budgets.

1. Creates a scratch database on the configured server (the embedded one by
   default), migrates it and loads BENCH_TASKS tasks (default 2,000,000) for
   one user per 100 tasks with the bulk generator: inboxes, personal and
   shared projects (a fifth of them, 2-20 members), a few users in 200
   projects (seeds/bulk.toml).
2. Draws its samples with a fixed seed (tooling/bench_sharing.py): users
   (heavy ones a fifth of the draw), members of shared projects with the
   project's owner, and the user in the most projects. Runs every read query
   many times as todo_app under row-level security and the same SQL as the
   owner with explicit filters (RLS bypassed: the owner of the scratch
   database is the superuser), the two interleaved call by call in
   alternating order (see _measure); then every write query, each in a
   rolled-back transaction. The app's side runs on a LOGIN member of todo_app,
   as the app connects (the history trigger checks only such sessions'
   writes). Times are the server's: EXPLAIN (ANALYZE, TIMING OFF) execution
   time, triggers included; planning time is reported beside it. A named
   query that does not exist (yet) is skipped, and said so.
3. Sharing's two figures: a member's read of a shared project
   (project_open_tasks) against the owner's explicit-filter query (the same
   SQL: its project_id is explicit), as a p50 ratio and as microseconds
   added; and the reads of the user in the most projects, with their plans
   and buffers (EXPLAIN (ANALYZE, BUFFERS)).
4. Runs pgbench (tooling/bench_pgbench.py) with the app's mix (bench/app_mix.pgbench), 16 clients; then, where Debian's
   pgbouncer is installed, the same mix through a private PgBouncer in transaction mode
   (tooling/bouncer.py) at 16, 256 and 1,000 clients, as a LOGIN member of todo_app made for
   the run: TPS, p95 latency (from pgbench's per-transaction log) and failed transactions each.
5. Prints the table, writes bench/results/latest.{json,md} (tooling/bench_report.py) and exits 1 when a
   budget in bench/budgets.toml is missed.
"""

from __future__ import annotations

import os
import platform
import statistics
import tomllib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from tododb.pool import act_as
from tododb.queries import QUERIES, ZERO_UUID, first_page_params, parameters, reads
from tooling import bench_pgbench, bench_report, bench_sharing, generate, latency, migrate, server
from tooling.config import Settings
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.scratch import scratch_database
from tooling.target import connect, login_url

SCRATCH_DB = "tododb_bench"
PAGE_SIZE = 50
# The sign-in path runs before any identity; it is not part of the app's request mix.
NOT_MEASURED = ("sign_up", "user_for_login", "record_login")


@dataclass(frozen=True)
class Call:
    """How the bench calls a named query (the name before any space): its parameters from a sample row,
    which sample (``users``: the drawn users; ``pairs``: a shared project with its owner, another member
    and an outsider), as whom (the row's key), and what to do first in the same rolled-back transaction
    (``prepare(conn, row)`` returns more parameters)."""

    params: Callable[[dict], dict]
    sample: str = "users"
    actor: str = "id"
    prepare: Callable[[psycopg.Connection, dict], dict] | None = None


def _invited(conn: psycopg.Connection, row: dict) -> dict:
    """The project's owner invites the outsider, who then accepts (the measured call)."""
    act_as(conn, "todo_app", row["owner"])
    invitation = one(
        conn.execute("select app.invite_to_project(%s, %s, 'editor')", [row["project"], row["outsider_email"]])
    )[0]
    return {"invitation_id": invitation}


def _read_call(name: str) -> Call:
    """How the bench calls a read, derived from the query: its first page as its comment states it, and the
    sample's task, tag and project (and member) for the parameters that name one. A read of one project (it takes
    ``project_id``) is a member's read of a shared project, its owner's side the same SQL with the project
    explicit."""
    if "project_id" in parameters(name):
        return Call(
            lambda p: first_page_params(name, PAGE_SIZE, project_id=p["project"], user_id=p["member"]),
            "pairs",
            "member",
        )
    return Call(lambda u: first_page_params(name, PAGE_SIZE, status="pending", task_id=u["task"], tag_id=u["tag"]))


# Every read (tododb.queries.reads(): a new one is measured without touching a list), and a later page of
# the main list.
READS: dict[str, Call] = {}
for _name in reads():
    READS[_name] = _read_call(_name)
    if _name == "open_tasks_by_due_date":
        READS[f"{_name} (page 5)"] = Call(lambda u: u["open_page5"])
# "Upcoming" as the app opens it: from the present on (its first page starts with the overdue tasks).
READS["upcoming_tasks"] = Call(lambda u: {"after_due_at": u["now"], "after_id": ZERO_UUID, "page_size": PAGE_SIZE})
WRITES = {
    "create_task": Call(
        lambda u: {"title": "bench", "description": None, "priority": "high", "due_at": None, "estimated_hours": None}
    ),
    "create_task_in_project": Call(
        lambda u: {
            "title": "bench",
            "description": None,
            "priority": "high",
            "due_at": None,
            "estimated_hours": None,
            "project_id": u["project"],
            "assignee_id": u["assignee"],
        }
    ),
    "update_task": Call(
        lambda u: {
            "task_id": u["task"],
            "version": u["task_version"],
            "title": "renamed",
            "description": "x",
            "priority": "low",
            "due_at": None,
            "estimated_hours": None,
        }
    ),
    "assign_task": Call(
        lambda u: {"task_id": u["task"], "version": u["task_version"], "assignee_id": u["task_assignee"]}
    ),
    "set_task_status": Call(
        lambda u: {
            "task_id": u["task"],
            "version": u["task_version"],
            "status": "completed" if u["task_status"] != "completed" else "pending",
        }
    ),
    "soft_delete_task": Call(lambda u: {"task_id": u["task"]}),
    "restore_task": Call(lambda u: {"task_id": u["deleted_task"]}),
    "create_tag": Call(lambda u: {"name": "bench tag"}),
    "tag_task": Call(lambda u: {"task_id": u["task"], "tag_id": u["other_tag"]}),
    "untag_task": Call(lambda u: {"task_id": u["tagged_task"], "tag_id": u["tag"]}),
    "set_theme": Call(lambda u: {"version": u["profile_version"], "theme": "dark"}),
    "create_project": Call(lambda u: {"name": "bench project"}),
    "invite_to_project": Call(
        lambda p: {"project_id": p["project"], "email": "invitee@bench.invalid", "role": "editor"},
        sample="pairs",
        actor="owner",
    ),
    "accept_invitation": Call(lambda p: {}, sample="pairs", actor="outsider", prepare=_invited),
    "change_member_role": Call(
        lambda p: {
            "project_id": p["project"],
            "user_id": p["member"],
            "version": p["member_version"],
            "role": "viewer" if p["member_role"] == "editor" else "editor",
        },
        sample="pairs",
        actor="owner",
    ),
    "remove_member": Call(
        lambda p: {"project_id": p["project"], "user_id": p["member"]}, sample="pairs", actor="owner"
    ),
    "leave_project": Call(lambda p: {"project_id": p["project"]}, sample="pairs", actor="member"),
    "transfer_ownership": Call(
        lambda p: {"project_id": p["project"], "new_owner": p["member"]}, sample="pairs", actor="owner"
    ),
}
# The owner's version of a read: the same SQL with each table the query leaves to row-level security narrowed
# to the user (the task queries name their projects, memberships or ids themselves).
OWNER_FILTERS = {
    "from app.tags as g": "from (select * from app.tags where user_id = %(bench_user)s) as g",
    "from app.users as u": "from (select * from app.users where id = %(bench_user)s) as u",
}


def _owner_sql(query_sql: str) -> str:
    text = query_sql
    for plain, narrowed in OWNER_FILTERS.items():
        text = text.replace(plain, narrowed)
    return text


def _query_sql(name: str) -> str | None:
    """The SQL of the named query ``name`` (before any space), None when there is none (yet)."""
    query = getattr(QUERIES, name.split(" ")[0], None)
    return None if query is None else query.sql


def _explain(conn: psycopg.Connection, query_sql: str, params: dict) -> tuple[float, float, float]:
    plan = one(conn.execute("explain (analyze, timing off, format json) " + query_sql, params))[0][0]
    return plan["Execution Time"], plan["Planning Time"], plan["Plan"].get("Actual Rows", 0)


def _measure(
    app: psycopg.Connection, owner: psycopg.Connection | None, rows: list[dict], query_sql: str, call: Call, runs: int
) -> tuple[list, list]:
    """Samples as todo_app under RLS on ``app`` and, when ``owner`` is given, the owner's version of the same
    call beside it (identity set too, for the queries that name it; RLS bypassed).

    Interleaved call by call, so drift in the machine's speed (checkpoints
    after the load) hits both alike; and the order alternates, because the
    second of two calls finds the same pages already in the CPU's caches
    (measured: always-second made the owner's p50 up to 2x faster).
    """
    app_samples: list[tuple[float, float, float]] = []
    owner_samples: list[tuple[float, float, float]] = []
    for i in range(runs + len(rows)):  # the first pass over the rows warms the cache and is not counted
        row = rows[i % len(rows)]
        params = call.params(row)
        calls = [("app", query_sql)]
        if owner is not None:
            calls.append(("owner", _owner_sql(query_sql)))
            if i % 2:
                calls.reverse()
        for who, text in calls:
            conn = app if who == "app" or owner is None else owner
            with conn.transaction(force_rollback=True):
                values = params | (call.prepare(conn, row) if call.prepare else {})
                if who == "app":
                    act_as(conn, "todo_app", row[call.actor])
                else:
                    conn.execute("select set_config('app.user_id', %s, true)", [str(row[call.actor])])
                    values |= {"bench_user": row[call.actor]}
                sample = _explain(conn, text, values)
            if i >= len(rows):
                (app_samples if who == "app" else owner_samples).append(sample)
    return app_samples, owner_samples


def _result(name, kind, samples, owner=None, budget=None, sample="users") -> bench_report.Result:
    execution = [s[0] for s in samples]
    return bench_report.Result(
        query=name,
        kind=kind,
        runs=len(samples),
        p50=statistics.median(execution),
        p95=bench_report.percentile(execution, 0.95),
        p99=bench_report.percentile(execution, 0.99),
        planning_p50=statistics.median(s[1] for s in samples),
        rows=statistics.mean(s[2] for s in samples),
        owner_p50=statistics.median(s[0] for s in owner) if owner else None,
        owner_planning_p50=statistics.median(s[1] for s in owner) if owner else None,
        budget_p95=budget,
        sample=sample,
    )


def _admin_url(settings: Settings) -> str:
    """A connection to the configured server's `postgres` database, to create the scratch one from."""
    if settings.database_url:
        return psycopg.conninfo.make_conninfo(settings.database_url, dbname="postgres")
    return server.ensure_running(settings.data_dir, settings.wal_archive).url("postgres")


def load_budgets(path: Path = bench_report.BENCH_DIR / "budgets.toml") -> dict:
    """The budgets, checked before any work: a typo must not cost a ten-minute run."""
    try:
        budgets = tomllib.loads(path.read_text())
        for value in (
            budgets["at_tasks"],
            budgets["reads"]["p95_ms"],
            budgets["writes"]["p95_ms"],
            budgets["sharing"]["max_ratio_p50"],
            budgets["sharing"]["max_added_us_p50"],
            budgets["pgbouncer"]["max_failed"],
            budgets["pgbouncer"]["min_tps_ratio"],
            *budgets["pgbouncer"]["clients"],
            budgets["latency"]["rtt_ms"],
            budgets["latency"]["max_read_to_floor"],
        ):
            float(value)
        if budgets["sharing"]["query"] not in READS or READS[budgets["sharing"]["query"]].sample != "pairs":
            raise ValueError(f"sharing.query {budgets['sharing']['query']!r} is not a read of a shared project")
        unknown = [name for name in budgets["heaviest"]["judged"] if name not in READS]
        if unknown:
            raise ValueError(f"heaviest.judged names no read the bench runs: {unknown}")
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ToolError(f"{path} is not a valid budgets file: {one_line(repr(exc))}") from None
    return budgets


def run(
    settings: Settings,
    tasks: int,
    seed: int = 1,
    runs: int = 200,
    pgbench_seconds: int = 20,
    pgbouncer_seconds: int | None = None,
) -> bench_report.Report:
    """``pgbouncer_seconds``: each run through PgBouncer (default BENCH_PGBOUNCER_SECONDS, else
    ``pgbench_seconds`` up to 10 s; 0 skips them; no pgbench at all skips them too)."""
    budgets = load_budgets()
    if pgbouncer_seconds is None:
        pgbouncer_seconds = int(os.environ.get("BENCH_PGBOUNCER_SECONDS") or min(pgbench_seconds, 10))
    with scratch_database(_admin_url(settings), SCRATCH_DB) as url:
        return _run(url, settings, budgets, tasks, seed, runs, pgbench_seconds, pgbouncer_seconds)


def _measure_queries(
    report: bench_report.Report,
    kind: str,
    app: psycopg.Connection,
    owner: psycopg.Connection | None,
    samples: dict,
    budgets: dict,
    runs: int,
) -> None:
    """Every read (beside the owner's version) or every write the bench knows, each over its sample."""
    for name, call in (READS if kind == "read" else WRITES).items():
        query_sql = _query_sql(name)
        if query_sql is None:
            report.skipped.append(name)
            print(f"  skipped {name}: no such named query in queries/ (yet)", flush=True)
            continue
        rows = samples[call.sample]
        if not rows:
            report.skipped.append(name)
            print(f"  skipped {name}: no {call.sample} to call it with in this data set", flush=True)
            continue
        app_samples, owner_samples = _measure(app, owner, rows, query_sql, call, runs)
        report.results.append(
            _result(name, kind, app_samples, owner_samples, budgets[f"{kind}s"]["p95_ms"], call.sample)
        )


def _sharing_figure(report: bench_report.Report, budget: dict, pairs: int) -> None:
    """A member's read of a shared project against the owner's explicit-filter query."""
    found = [r for r in report.results if r.query == budget["query"]]
    if not found or not found[0].owner_p50:
        report.sharing = {"query": budget["query"], "measured": False}
        return
    r = found[0]
    assert r.owner_p50  # checked above
    report.sharing = {
        "query": r.query,
        "measured": True,
        "runs": r.runs,
        "projects": pairs,
        "member_p50": r.p50,
        "owner_p50": r.owner_p50,
        "ratio_p50": r.p50 / r.owner_p50,
        "added_us_p50": (r.p50 - r.owner_p50) * 1000,
        "member_planning_p50": r.planning_p50,
        "owner_planning_p50": r.owner_planning_p50,
        "max_ratio_p50": budget["max_ratio_p50"],
        "max_added_us_p50": budget["max_added_us_p50"],
    }


def _measure_heaviest(
    report: bench_report.Report, app: psycopg.Connection, row: dict | None, budgets: dict, runs: int
) -> None:
    """Every read as the user in the most projects; then each one's plan with buffers."""
    if row is None:
        report.heaviest = {"skipped": "no user with tasks, tags and links to draw"}
        return
    judged = set(budgets["heaviest"]["judged"])
    results, plans = [], {}
    for name, call in READS.items():
        query_sql = _query_sql(name)
        if query_sql is None:
            continue
        samples, _ = _measure(app, None, [row], query_sql, call, runs)
        results.append(
            _result(name, "read", samples, None, budgets["reads"]["p95_ms"] if name in judged else None, "heaviest")
        )
        with app.transaction(force_rollback=True):
            act_as(app, "todo_app", row[call.actor])
            plans[name] = bench_sharing.plan(app, query_sql, call.params(row))
    report.heaviest = {
        "user": str(row["id"]),
        "projects": row["projects"],
        "visible_tasks": row["visible"],
        "project_tasks": row["project_tasks"],
        "judged": sorted(judged),
        "results": results,
        "plans": plans,
    }


def _run(
    url: str,
    settings: Settings,
    budgets: dict,
    tasks: int,
    seed: int,
    runs: int,
    pgbench_seconds: int,
    pgbouncer_seconds: int = 0,
) -> bench_report.Report:
    migrate.apply_pending(url, settings.migrations_dir, echo=lambda *_: None)
    users = max(10, tasks // 100)
    print(f"loading {users:,} users and {tasks:,} tasks into {SCRATCH_DB} ...", flush=True)
    load = generate.load(url, users=users, tasks=tasks, seed=seed)
    report = bench_report.Report(
        tasks=tasks,
        users=users,
        load_seconds=load.seconds,
        started=datetime.now(UTC).isoformat(timespec="seconds"),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        peak_rss_mb=load.peak_rss_mb,
    )
    drawn = measure(url, report, budgets, seed, runs)
    if pgbench_seconds:
        print(f"pgbench: the app's mix, 16 clients, {pgbench_seconds} s ...", flush=True)
        report.pgbench = bench_pgbench.run_mix(url, users, max(load.heavy_users, 1), seed, pgbench_seconds)
        if pgbouncer_seconds:
            report.pgbouncer = bench_pgbench.run_mix_through_pgbouncer(
                url,
                users,
                max(load.heavy_users, 1),
                seed,
                pgbouncer_seconds,
                [int(c) for c in budgets["pgbouncer"]["clients"]],
            )
    rtt = float(budgets["latency"]["rtt_ms"])
    print(f"end to end: a page read over a simulated {rtt:g} ms round trip, three ways ...", flush=True)
    report.latency, report.latency_rtt_ms = latency.measure(url, drawn[0]["id"], rtt_ms=rtt, runs=runs), rtt
    report.judged = tasks >= budgets["at_tasks"]
    report.failures = bench_report.judge(report, budgets)
    return report


def measure(url: str, report: bench_report.Report, budgets: dict, seed: int, runs: int) -> list[dict]:
    """The named queries on a loaded database (``url``: as its owner, a superuser); returns the drawn users.

    Reads first, the ones of the user in the most projects included, and the writes last: a write
    rolled back still leaves its heap pages not all-visible, which index-only scans then pay for.
    """
    with ExitStack() as stack:
        owner = stack.enter_context(connect(url))
        name, password, _ = stack.enter_context(bench_pgbench.app_login(url))
        app = stack.enter_context(connect(login_url(url, name, password)))
        now = one(owner.execute("select now()"))[0]
        samples = {"users": bench_sharing.users(owner, seed, now), "pairs": bench_sharing.pairs(owner, seed)}
        if not samples["users"]:
            raise ToolError("the bench data has no user with tasks, tags and links to draw")
        heaviest = bench_sharing.heaviest(owner, now)
        drawn = samples["users"]
        print(
            f"measuring {len(drawn)} users ({sum(u['heavy'] for u in drawn)} heavy) and {len(samples['pairs'])} "
            f"members of shared projects, {runs} runs per query ...",
            flush=True,
        )
        _measure_queries(report, "read", app, owner, samples, budgets, runs)
        _sharing_figure(report, budgets["sharing"], len(samples["pairs"]))
        if heaviest is not None:
            print(
                f"the user in the most projects ({heaviest['projects']}, {heaviest['visible']:,} tasks): every read, "
                f"{runs} runs, then its plans ...",
                flush=True,
            )
        _measure_heaviest(report, app, heaviest, budgets, runs)
        _measure_queries(report, "write", app, None, samples, budgets, runs)
    called = {name.split(" ")[0] for name in (*READS, *WRITES)}
    report.unmeasured = sorted(
        q for q in QUERIES.available_queries if not q.endswith("_cursor") and q not in called and q not in NOT_MEASURED
    )
    reads = [r for r in report.results if r.kind == "read" and r.owner_p50 and r.owner_planning_p50 is not None]
    if reads:
        report.rls_overhead = sum(r.p50 for r in reads) / sum(r.owner_p50 or 0.0 for r in reads)
        report.rls_overhead_with_planning = sum(r.p50 + r.planning_p50 for r in reads) / sum(
            (r.owner_p50 or 0.0) + (r.owner_planning_p50 or 0.0) for r in reads
        )
    return drawn
