"""`make bench`: the named queries against a large generated data set, with budgets.

1. Creates a scratch database on the configured server (the embedded one by
   default), migrates it and loads BENCH_TASKS tasks (default 2,000,000) for
   one user per 100 tasks with the bulk generator.
2. Draws users with a fixed seed, heavy users (thousands of tasks) a fifth of
   the draw, and runs every read query many times as todo_app under row-level
   security, and the same SQL as the owner with an explicit user_id filter
   (the RLS overhead), the two interleaved call by call in alternating order
   (see _measure); then every write query, each in a rolled-back
   transaction. Times are the server's: EXPLAIN (ANALYZE, TIMING OFF)
   execution time, triggers included; planning time is reported beside it.
3. Runs pgbench with the app's mix (bench/app_mix.pgbench), 16 clients; then, where Debian's
   pgbouncer is installed, the same mix through a private PgBouncer in transaction mode
   (tooling/bouncer.py) at 16, 256 and 1,000 clients, as a LOGIN member of todo_app made for
   the run: TPS, p95 latency (from pgbench's per-transaction log) and failed transactions each.
4. Prints the table, writes bench/results/latest.{json,md} and exits 1 when a
   budget in bench/budgets.toml is missed.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import statistics
import subprocess
import tempfile
import tomllib
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from psycopg import sql

from tooling import bouncer, generate, latency, migrate, server
from tooling.config import ROOT, Settings
from tooling.target import login_url
from tooling.errors import ToolError, one_line
from tododb.pool import act_as
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES
from tooling.scratch import scratch_database

BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
SCRATCH_DB = "tododb_bench"
DRAWN_USERS = 50
HEAVY_SHARE = 0.2
HEAVY_MIN_TASKS = 1000
CLIENTS_PER_PGBENCH_THREAD = 64  # through PgBouncer (see _pgbench_through_pgbouncer)

# How each read query is called for a drawn user (u: the user's sample rows).
READS = {
    "open_tasks_by_due_date": lambda u: {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1], "page_size": 50},
    "open_tasks_by_due_date (page 5)": lambda u: u["open_page5"],
    "overdue_tasks": lambda u: {"after_due_at": FIRST_ASC[0], "after_id": FIRST_ASC[1], "page_size": 50},
    "tasks_by_status": lambda u: {"status": "pending", "after_created_at": FIRST_DESC[0], "after_id": FIRST_DESC[1],
                                  "page_size": 50},
    "deleted_tasks": lambda u: {"after_deleted_at": FIRST_DESC[0], "after_id": FIRST_DESC[1], "page_size": 50},
    "get_task": lambda u: {"task_id": u["task"]},
    "tasks_with_tag": lambda u: {"tag_id": u["tag"], "after_tagged_at": FIRST_DESC[0], "after_id": FIRST_DESC[1],
                                 "page_size": 50},
    "count_tasks_by_status": lambda u: {},
    "count_overdue_tasks": lambda u: {},
    "list_tags": lambda u: {},
    "current_user_profile": lambda u: {},
}
WRITES = {
    "create_task": lambda u: {"title": "bench", "description": None, "priority": "high", "due_at": None,
                              "estimated_hours": None},
    "update_task": lambda u: {"task_id": u["task"], "title": "renamed", "description": "x", "priority": "low",
                              "due_at": None, "estimated_hours": None},
    "set_task_status": lambda u: {"task_id": u["task"], "status": "completed" if u["task_status"] != "completed"
                                  else "pending"},
    "soft_delete_task": lambda u: {"task_id": u["task"]},
    "restore_task": lambda u: {"task_id": u["deleted_task"]},
    "create_tag": lambda u: {"name": "bench tag"},
    "tag_task": lambda u: {"task_id": u["task"], "tag_id": u["other_tag"]},
    "untag_task": lambda u: {"task_id": u["tagged_task"], "tag_id": u["tag"]},
    "set_theme": lambda u: {"theme": "dark"},
}
# The owner's version of a read: the same SQL with each user-data table narrowed to the user.
OWNER_FILTERS = {
    "from app.tasks as t": "from (select * from app.tasks where user_id = %(bench_user)s) as t",
    "join app.tasks as t": "join (select * from app.tasks where user_id = %(bench_user)s) as t",
    "from app.task_tags as tt": "from (select * from app.task_tags where user_id = %(bench_user)s) as tt",
    "from app.tags as g": "from (select * from app.tags where user_id = %(bench_user)s) as g",
    "from app.users as u": "from (select * from app.users where id = %(bench_user)s) as u",
}


@dataclass
class Result:
    query: str
    kind: str
    runs: int
    p50: float
    p95: float
    p99: float
    planning_p50: float
    rows: float
    owner_p50: float | None = None
    owner_planning_p50: float | None = None
    budget_p95: float | None = None

    @property
    def rls_ratio(self) -> float | None:
        return self.p50 / self.owner_p50 if self.owner_p50 else None


@dataclass
class Report:
    tasks: int
    users: int
    load_seconds: float
    machine: str
    started: str
    results: list[Result] = field(default_factory=list)
    pgbench: dict[str, float] = field(default_factory=dict)
    pgbouncer: dict = field(default_factory=dict)
    latency: list = field(default_factory=list)  # tooling.latency.Figure, end to end over a simulated network
    latency_rtt_ms: float = 0.0
    rls_overhead: float = 0.0
    rls_overhead_with_planning: float = 0.0
    peak_rss_mb: float = 0.0
    judged: bool = False
    failures: list[str] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _owner_sql(query_sql: str) -> str:
    text = query_sql
    for plain, narrowed in OWNER_FILTERS.items():
        text = text.replace(plain, narrowed)
    return text


def _explain(conn: psycopg.Connection, query_sql: str, params: dict) -> tuple[float, float, float]:
    plan = conn.execute("explain (analyze, timing off, format json) " + query_sql, params).fetchone()[0][0]
    return plan["Execution Time"], plan["Planning Time"], plan["Plan"].get("Actual Rows", 0)


def _sample(conn: psycopg.Connection, seed: int) -> list[dict]:
    """Draw users (a fifth heavy) and, for each, the rows the queries need."""
    counts = conn.execute("select user_id, count(*) from app.tasks group by user_id order by user_id").fetchall()
    heavy = [u for u, n in counts if n >= HEAVY_MIN_TASKS]
    light = [u for u, n in counts if n < HEAVY_MIN_TASKS]
    rng = random.Random(seed)
    n_heavy = min(len(heavy), max(1, round(DRAWN_USERS * HEAVY_SHARE)))
    drawn = rng.sample(heavy, n_heavy) + rng.sample(light, min(len(light), DRAWN_USERS - n_heavy))
    users = []
    for user_id in drawn:
        task = conn.execute(
            "select id, status from app.tasks where user_id = %s and deleted_at is null order by id limit 1", [user_id]
        ).fetchone()
        deleted = conn.execute(
            "select id from app.tasks where user_id = %s and deleted_at is not null limit 1", [user_id]
        ).fetchone()
        link = conn.execute(
            "select tag_id, task_id from app.task_tags where user_id = %s order by tag_id limit 1", [user_id]
        ).fetchone()
        tags = [t for (t,) in conn.execute("select id from app.tags where user_id = %s order by id", [user_id])]
        if not (task and link and tags):
            continue
        open_rows = conn.execute(
            "select due_at, id from app.tasks where user_id = %s and deleted_at is null and status <> 'completed' "
            "order by due_at, id offset 199 limit 1",
            [user_id],
        ).fetchone()
        users.append({
            "id": user_id, "heavy": user_id in heavy, "task": task[0], "task_status": task[1],
            "deleted_task": deleted[0] if deleted else task[0], "tag": link[0], "tagged_task": link[1],
            "other_tag": next((t for t in tags if t != link[0]), link[0]),
            "open_page5": {"after_due_at": open_rows[0] if open_rows else FIRST_ASC[0],
                           "after_id": open_rows[1] if open_rows else FIRST_ASC[1], "page_size": 50},
        })
    if not users:
        raise ToolError("the bench data has no user with tasks, tags and links to draw")
    return users


def _measure(conn, users, query_sql, make_params, runs, with_owner=False) -> tuple[list, list]:
    """Samples as todo_app under RLS and, when asked, the owner's version of the same call beside it.

    Interleaved call by call, so drift in the machine's speed (checkpoints
    after the load) hits both alike; and the order alternates, because the
    second of two calls finds the same pages already in the CPU's caches
    (measured: always-second made the owner's p50 up to 2x faster).
    """
    app, owner = [], []
    for i in range(runs + len(users)):  # the first pass over the users warms the cache and is not counted
        user = users[i % len(users)]
        params = make_params(user)
        calls = [("app", query_sql, params)]
        if with_owner:
            calls.append(("owner", _owner_sql(query_sql), params | {"bench_user": user["id"]}))
            if i % 2:
                calls.reverse()
        for who, text, values in calls:
            with conn.transaction(force_rollback=True):
                if who == "app":
                    act_as(conn, "todo_app", user["id"])
                sample = _explain(conn, text, values)
            if i >= len(users):
                (app if who == "app" else owner).append(sample)
    return app, owner


def _result(name, kind, samples, owner=None, budget=None) -> Result:
    execution = [s[0] for s in samples]
    return Result(
        query=name, kind=kind, runs=len(samples),
        p50=statistics.median(execution), p95=_percentile(execution, 0.95), p99=_percentile(execution, 0.99),
        planning_p50=statistics.median(s[1] for s in samples), rows=statistics.mean(s[2] for s in samples),
        owner_p50=statistics.median(s[0] for s in owner) if owner else None,
        owner_planning_p50=statistics.median(s[1] for s in owner) if owner else None, budget_p95=budget,
    )


def _pgbench(url: str, users: int, heavy: int, seed: int, seconds: int, clients: int = 16,
             latencies: bool = False, threads: int = 2) -> dict[str, float]:
    """pgbench with the app's mix. ``latencies``: log every transaction and report its p95, and report
    a run that failed (clients aborted, no connection) instead of raising."""
    pgbench = server.binaries_dir() / "pgbench"
    params = psycopg.conninfo.conninfo_to_dict(url)
    env = {**os.environ, "PGHOST": str(params.get("host", "")), "PGPORT": str(params.get("port", "5432")),
           "PGUSER": str(params.get("user", "")), "PGDATABASE": str(params.get("dbname", "")),
           **({"PGPASSWORD": params["password"]} if params.get("password") else {})}
    command = [str(pgbench), "-n", "-c", str(clients), "-j", str(threads), "-T", str(seconds),
               "-f", str(BENCH_DIR / "app_mix.pgbench"),
               "-D", f"users={users}", "-D", f"heavy={heavy}", "-D", f"seed={seed}"]
    with tempfile.TemporaryDirectory(prefix="tododb-pgbench-") as logs:
        if latencies:
            command += ["-l", "--log-prefix", str(Path(logs) / "tx")]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        times = _logged_latencies_ms(Path(logs)) if latencies else []
    tps = re.search(r"tps = ([\d.]+)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 and not latencies:
        raise ToolError(f"pgbench failed: {one_line(done.stderr)[-300:]}")
    result = {"clients": clients, "threads": threads, "seconds": seconds, "tps": float(tps.group(1)) if tps else 0.0,
              "latency_avg_ms": float(latency.group(1)) if latency else 0.0,
              "failed": int(failed.group(1)) if failed else 0}
    if latencies:
        connecting = re.search(r"initial connection time = ([\d.]+) ms", done.stdout)
        aborted = len(re.findall(r"client \d+ aborted", done.stderr))
        result |= {"p95_ms": _percentile(times, 0.95) if times else 0.0, "aborted_clients": aborted,
                   "connect_ms": float(connecting.group(1)) if connecting else 0.0}
        if done.returncode != 0:
            # 1: it could not start (every client counts as failed); 2: clients aborted mid-run.
            result["error"] = one_line(done.stderr)[-300:]
            result["failed"] += clients if done.returncode == 1 or not tps else aborted
    return result


def _logged_latencies_ms(folder: Path) -> list[float]:
    """Per-transaction latencies from pgbench's logs (``-l``: the third field, in microseconds)."""
    times = []
    for log in folder.glob("tx*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():  # "failed" / "skipped" otherwise
                times.append(int(fields[2]) / 1000)
    return times


@contextmanager
def _app_login(url: str) -> Iterator[tuple[str, str, str]]:
    """A LOGIN role with a password, member of todo_app, as the app connects (never the owner): yields
    (name, password, what PgBouncer's auth file holds for it); dropped afterwards."""
    name, password = f"tododb_bench_app_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("create role {} login password {} in role todo_app").format(
            sql.Identifier(name), sql.Literal(password)))
        try:
            yield name, password, bouncer.secret_for(name, password, admin)
        finally:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", [name])
            admin.execute(sql.SQL("drop owned by {}").format(sql.Identifier(name)))
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _undo_pgbench_writes(admin: psycopg.Connection, since, last_event: int) -> None:
    """Remove the tasks (and their history) the mix created since ``since``, so that a later run
    does not count through a thousand more tasks per user than an earlier one did."""
    with admin.transaction():
        admin.execute("set local tododb.history_maintenance = on")  # the owner's way past append-only history
        admin.execute("delete from app.tasks where title = 'pgbench task' and created_at >= %s", [since])
        admin.execute("delete from app.task_events where id > %s", [last_event])
    admin.execute("vacuum (analyze) app.tasks, app.task_events")


def _pgbench_through_pgbouncer(url: str, users: int, heavy: int, seed: int, seconds: int,
                               clients: list[int]) -> dict:
    """The app's mix through a private PgBouncer (transaction mode) at each client count."""
    binary = bouncer.find()
    if binary is None:
        return {"skipped": "no pgbouncer (Debian: apt-get install pgbouncer)"}
    with ExitStack() as stack:
        try:
            name, password, secret = stack.enter_context(_app_login(url))
        except psycopg.Error as exc:
            return {"skipped": f"could not create the app's login role for it: {one_line(exc)}"}
        # PgBouncer logs in as that role: on the server's socket where it may, else on 127.0.0.1 (Debian's
        # cluster authenticates socket users by their OS name).
        running = stack.enter_context(bouncer.running(
            login_url(url, name, password), {name: secret}, binary=binary,
            max_client_conn=max(bouncer.MAX_CLIENT_CONN, max(clients) + 100)))
        admin = stack.enter_context(psycopg.connect(url, autocommit=True))
        mark = admin.execute("select now(), coalesce(max(id), 0) from app.task_events").fetchone()
        runs = []
        for count in clients:
            _undo_pgbench_writes(admin, *mark)  # every run starts from the same data
            print(f"pgbench through PgBouncer {running.version_text}: {count} clients, {seconds} s ...", flush=True)
            # One pgbench thread per 64 clients: a thread polls every one of its sockets at each wakeup. With
            # 500 clients on each of 2 threads, pgbench itself took half a core from the server beside it and
            # TPS at 1,000 clients fell to 0.64-0.75x of 16; at 64 per thread, 0.9-1.0x (measured on 2 cores).
            runs.append(_pgbench(running.url(name, password), users, heavy, seed, seconds, count, latencies=True,
                                 threads=max(2, -(-count // CLIENTS_PER_PGBENCH_THREAD))))
        return {"version": running.version_text, "seconds": seconds, "runs": runs,
                "settings": {key: running.settings[key] for key in (
                    "pool_mode", "default_pool_size", "max_client_conn", "auth_type")}}


def _admin_url(settings: Settings) -> str:
    """A connection to the configured server's `postgres` database, to create the scratch one from."""
    if settings.database_url:
        return psycopg.conninfo.make_conninfo(settings.database_url, dbname="postgres")
    return server.ensure_running(settings.data_dir).url("postgres")


def load_budgets(path: Path = BENCH_DIR / "budgets.toml") -> dict:
    """The budgets, checked before any work: a typo must not cost a ten-minute run."""
    try:
        budgets = tomllib.loads(path.read_text())
        for value in (budgets["at_tasks"], budgets["reads"]["p95_ms"], budgets["writes"]["p95_ms"],
                      budgets["rls"]["max_overhead_p50"], budgets["pgbouncer"]["max_failed"],
                      budgets["pgbouncer"]["min_tps_ratio"], *budgets["pgbouncer"]["clients"]):
            float(value)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ToolError(f"{path} is not a valid budgets file: {one_line(repr(exc))}") from None
    return budgets


def run(settings: Settings, tasks: int, seed: int = 1, runs: int = 200, pgbench_seconds: int = 20,
        pgbouncer_seconds: int | None = None) -> Report:
    """``pgbouncer_seconds``: each run through PgBouncer (default BENCH_PGBOUNCER_SECONDS, else
    ``pgbench_seconds`` up to 10 s; 0 skips them; no pgbench at all skips them too)."""
    budgets = load_budgets()
    if pgbouncer_seconds is None:
        pgbouncer_seconds = int(os.environ.get("BENCH_PGBOUNCER_SECONDS") or min(pgbench_seconds, 10))
    with scratch_database(_admin_url(settings), SCRATCH_DB) as url:
        return _run(url, settings, budgets, tasks, seed, runs, pgbench_seconds, pgbouncer_seconds)


def _run(url: str, settings: Settings, budgets: dict, tasks: int, seed: int, runs: int, pgbench_seconds: int,
         pgbouncer_seconds: int = 0) -> Report:
    migrate.apply_pending(url, settings.migrations_dir, echo=lambda *_: None)
    users = max(10, tasks // 100)
    print(f"loading {users:,} users and {tasks:,} tasks into {SCRATCH_DB} ...", flush=True)
    load = generate.load(url, users=users, tasks=tasks, seed=seed)
    report = Report(tasks=tasks, users=users, load_seconds=load.seconds, started=datetime.now(timezone.utc).isoformat(
        timespec="seconds"), machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.system()}")
    with psycopg.connect(url) as conn:
        drawn = _sample(conn, seed)
        print(f"measuring {len(drawn)} users ({sum(u['heavy'] for u in drawn)} heavy), {runs} runs per query ...",
              flush=True)
        for name, make in READS.items():
            query_sql = getattr(QUERIES, name.split(" ")[0]).sql
            app, owner = _measure(conn, drawn, query_sql, make, runs, with_owner=True)
            report.results.append(_result(name, "read", app, owner, budgets["reads"]["p95_ms"]))
        for name, make in WRITES.items():
            samples, _ = _measure(conn, drawn, getattr(QUERIES, name).sql, make, runs)
            report.results.append(_result(name, "write", samples, None, budgets["writes"]["p95_ms"]))
        heavy = conn.execute(
            "select count(*) from (select user_id from app.tasks group by user_id having count(*) >= %s) as h",
            [HEAVY_MIN_TASKS],
        ).fetchone()[0]
    if pgbench_seconds:
        print(f"pgbench: the app's mix, 16 clients, {pgbench_seconds} s ...", flush=True)
        report.pgbench = _pgbench(url, users, max(heavy, 1), seed, pgbench_seconds)
        if pgbouncer_seconds:
            report.pgbouncer = _pgbench_through_pgbouncer(url, users, max(heavy, 1), seed, pgbouncer_seconds,
                                                          [int(c) for c in budgets["pgbouncer"]["clients"]])
    rtt = float(budgets["latency"]["rtt_ms"])
    print(f"end to end: a page read over a simulated {rtt:g} ms round trip, three ways ...", flush=True)
    report.latency, report.latency_rtt_ms = latency.measure(url, drawn[0]["id"], rtt_ms=rtt, runs=runs), rtt
    reads = [r for r in report.results if r.kind == "read"]
    report.rls_overhead = sum(r.p50 for r in reads) / sum(r.owner_p50 for r in reads)
    report.rls_overhead_with_planning = sum(r.p50 + r.planning_p50 for r in reads) / sum(
        r.owner_p50 + r.owner_planning_p50 for r in reads
    )
    report.peak_rss_mb = load.peak_rss_mb
    report.judged = tasks >= budgets["at_tasks"]
    for r in report.results if report.judged else []:
        if r.budget_p95 is not None and r.p95 > r.budget_p95:
            report.failures.append(f"{r.query}: p95 {r.p95:.3f} ms > {r.budget_p95} ms")
    if report.judged and report.rls_overhead > budgets["rls"]["max_overhead_p50"]:
        report.failures.append(f"RLS overhead {report.rls_overhead:.2f}x > {budgets['rls']['max_overhead_p50']}x")
    report.failures += _judge_pgbouncer(report, budgets["pgbouncer"])
    by_way = {f.label.split(":")[0]: f for f in report.latency}
    if report.judged and by_way:
        ratio = by_way["read"].p50_ms / by_way["floor"].p50_ms
        if ratio > budgets["latency"]["max_read_to_floor"]:
            report.failures.append(f"end-to-end read p50 {ratio:.2f}x the floor > {budgets['latency']['max_read_to_floor']}x")
    return report


def _judge_pgbouncer(report: Report, budget: dict) -> list[str]:
    """Failed transactions through PgBouncer are judged at any size (they are errors, not slowness);
    the TPS at the most clients against the best, like the latencies, only at the full size."""
    runs = report.pgbouncer.get("runs") or []
    if not runs:
        return []
    missed = [f"pgbench through PgBouncer, {r['clients']} clients: {r['failed']} failed transactions "
              f"> {budget['max_failed']}" + (f" ({r['error']})" if r.get("error") else "")
              for r in runs if r["failed"] > budget["max_failed"]]
    most, best = runs[-1], max(r["tps"] for r in runs)
    ratio = most["tps"] / best if best else 0.0
    report.pgbouncer["tps_ratio"] = ratio
    if report.judged and ratio < budget["min_tps_ratio"]:
        missed.append(f"pgbench through PgBouncer: {most['tps']:.0f} TPS at {most['clients']} clients is "
                      f"{ratio:.2f}x the best ({best:.0f}) < {budget['min_tps_ratio']}x")
    return missed


def markdown(report: Report) -> str:
    lines = [
        f"Bench of {report.started}: {report.users:,} users, {report.tasks:,} tasks "
        f"(loaded in {report.load_seconds:.0f} s), {report.machine}. Server-side execution time in ms "
        "(EXPLAIN ANALYZE, timing off); reads as todo_app under RLS; owner = same SQL, explicit user_id.",
        "",
        "| query | kind | p50 | p95 | p99 | planning p50 | rows | owner p50 | RLS ratio | budget p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in report.results:
        owner = f"{r.owner_p50:.3f}" if r.owner_p50 else ""
        ratio = f"{r.rls_ratio:.2f}" if r.rls_ratio else ""
        lines.append(
            f"| {r.query} | {r.kind} | {r.p50:.3f} | {r.p95:.3f} | {r.p99:.3f} | {r.planning_p50:.3f} | "
            f"{r.rows:.1f} | {owner} | {ratio} | {r.budget_p95} |"
        )
    lines.append("")
    lines.append(
        f"RLS overhead (read mix, sum of p50): {report.rls_overhead:.2f}x on execution time, "
        f"{report.rls_overhead_with_planning:.2f}x on planning + execution"
    )
    lines.append(f"Bulk load: {report.tasks / report.load_seconds:,.0f} tasks/s; peak RSS of the loading process "
                 f"{report.peak_rss_mb:.0f} MB")
    if report.pgbench:
        p = report.pgbench
        lines.append(
            f"pgbench (app mix: open-tasks page, counts, create, complete; {p['clients']} clients, "
            f"{p['seconds']} s): {p['tps']:.0f} TPS, average latency {p['latency_avg_ms']:.2f} ms, "
            f"{p['failed']} failed"
        )
    lines += _pgbouncer_markdown(report.pgbouncer)
    if report.latency:
        lines += ["", latency.table(report.latency, report.latency_rtt_ms)]
    lines.append("")
    if not report.judged:
        lines.append("Budgets: not judged (they apply at the full size; this run is smaller)")
    else:
        lines.append("Budgets: " + ("all met" if not report.failures else "MISSED: " + "; ".join(report.failures)))
    return "\n".join(lines) + "\n"


def _pgbouncer_markdown(bounced: dict) -> list[str]:
    if not bounced:
        return []
    if "skipped" in bounced:
        return [f"pgbench through PgBouncer: skipped, {bounced['skipped']}"]
    s = bounced["settings"]
    lines = [
        "",
        f"pgbench through PgBouncer {bounced['version']} ({s['pool_mode']} mode, default_pool_size "
        f"{s['default_pool_size']}, max_client_conn {s['max_client_conn']}, {s['auth_type']}), app mix as a LOGIN "
        f"member of todo_app, {bounced['seconds']} s per run; latency per transaction as pgbench saw it:",
        "",
        "| clients | pgbench threads | TPS | p95 latency ms | average latency ms | failed | connecting ms |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in bounced["runs"]:
        failed = f"{r['failed']}" + (f" ({r['aborted_clients']} clients aborted)" if r.get("aborted_clients") else "")
        lines.append(f"| {r['clients']:,} | {r['threads']} | {r['tps']:.0f} | {r['p95_ms']:.2f} | "
                     f"{r['latency_avg_ms']:.2f} | {failed} | {r['connect_ms']:.0f} |")
    if "tps_ratio" in bounced:
        lines += ["", f"TPS at {bounced['runs'][-1]['clients']:,} clients: {bounced['tps_ratio']:.2f}x the best"]
    return lines


def write_results(report: Report) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = asdict(report) | {"results": [asdict(r) | {"rls_ratio": r.rls_ratio} for r in report.results]}
    (RESULTS_DIR / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (RESULTS_DIR / "latest.md").write_text(markdown(report))
    return RESULTS_DIR / "latest.md"
