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
4. Runs pgbench with the app's mix (bench/app_mix.pgbench), 16 clients; then, where Debian's
   pgbouncer is installed, the same mix through a private PgBouncer in transaction mode
   (tooling/bouncer.py) at 16, 256 and 1,000 clients, as a LOGIN member of todo_app made for
   the run: TPS, p95 latency (from pgbench's per-transaction log) and failed transactions each.
5. Prints the table, writes bench/results/latest.{json,md} and exits 1 when a
   budget in bench/budgets.toml is missed.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import tomllib
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tododb.pool import act_as
from tododb.queries import QUERIES, ZERO_UUID, first_page, first_page_params, parameters, reads
from tooling import bench_sharing, bouncer, generate, latency, migrate, server
from tooling.config import ROOT, Settings
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.scratch import scratch_database
from tooling.target import connect, login_url

BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
SCRATCH_DB = "tododb_bench"
CLIENTS_PER_PGBENCH_THREAD = 64  # through PgBouncer (see _pgbench_through_pgbouncer)
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
    sample's task, tag and project for the parameters that name one. A read of one project (it takes
    ``project_id``) is a member's read of a shared project, its owner's side the same SQL with the project
    explicit."""
    if "project_id" in parameters(name):
        return Call(lambda p: first_page_params(name, PAGE_SIZE, project_id=p["project"]), "pairs", "member")
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
            "title": "renamed",
            "description": "x",
            "priority": "low",
            "due_at": None,
            "estimated_hours": None,
        }
    ),
    "assign_task": Call(lambda u: {"task_id": u["task"], "assignee_id": u["task_assignee"]}),
    "set_task_status": Call(
        lambda u: {"task_id": u["task"], "status": "completed" if u["task_status"] != "completed" else "pending"}
    ),
    "soft_delete_task": Call(lambda u: {"task_id": u["task"]}),
    "restore_task": Call(lambda u: {"task_id": u["deleted_task"]}),
    "create_tag": Call(lambda u: {"name": "bench tag"}),
    "tag_task": Call(lambda u: {"task_id": u["task"], "tag_id": u["other_tag"]}),
    "untag_task": Call(lambda u: {"task_id": u["tagged_task"], "tag_id": u["tag"]}),
    "set_theme": Call(lambda u: {"theme": "dark"}),
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
    sample: str = "users"

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
    skipped: list[str] = field(default_factory=list)  # named queries the bench calls that do not exist (yet)
    unmeasured: list[str] = field(default_factory=list)  # named queries that exist and the bench does not call
    sharing: dict = field(default_factory=dict)  # a member's read of a shared project against the owner's
    heaviest: dict = field(default_factory=dict)  # the user in the most projects: who, results, plans
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


def _result(name, kind, samples, owner=None, budget=None, sample="users") -> Result:
    execution = [s[0] for s in samples]
    return Result(
        query=name,
        kind=kind,
        runs=len(samples),
        p50=statistics.median(execution),
        p95=_percentile(execution, 0.95),
        p99=_percentile(execution, 0.99),
        planning_p50=statistics.median(s[1] for s in samples),
        rows=statistics.mean(s[2] for s in samples),
        owner_p50=statistics.median(s[0] for s in owner) if owner else None,
        owner_planning_p50=statistics.median(s[1] for s in owner) if owner else None,
        budget_p95=budget,
        sample=sample,
    )


def _pgbench(
    url: str,
    users: int,
    heavy: int,
    seed: int,
    seconds: int,
    clients: int = 16,
    latencies: bool = False,
    threads: int = 2,
) -> dict[str, float]:
    """pgbench with the app's mix. ``latencies``: log every transaction and report its p95, and report
    a run that failed (clients aborted, no connection) instead of raising."""
    pgbench = server.binaries_dir() / "pgbench"
    params = psycopg.conninfo.conninfo_to_dict(url)
    env = {
        **os.environ,
        "PGHOST": str(params.get("host", "")),
        "PGPORT": str(params.get("port", "5432")),
        "PGUSER": str(params.get("user", "")),
        "PGDATABASE": str(params.get("dbname", "")),
        **({"PGPASSWORD": str(params["password"])} if params.get("password") else {}),
    }
    with tempfile.TemporaryDirectory(prefix="tododb-pgbench-") as logs:
        script = Path(logs) / "app_mix.pgbench"
        script.write_text(_mix_script())
        command = [
            str(pgbench),
            "-n",
            "-c",
            str(clients),
            "-j",
            str(threads),
            "-T",
            str(seconds),
            "-f",
            str(script),
            "-D",
            f"users={users}",
            "-D",
            f"heavy={heavy}",
            "-D",
            f"seed={seed}",
            *(arg for name, value in MIX_PARAMETERS.items() for arg in ("-D", f"{name}={value}")),
        ]
        if latencies:
            command += ["-l", "--log-prefix", str(Path(logs) / "tx")]
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        times = _logged_latencies_ms(Path(logs)) if latencies else []
    tps = re.search(r"tps = ([\d.]+)", done.stdout)
    latency = re.search(r"latency average = ([\d.]+) ms", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    if done.returncode != 0 and not latencies:
        raise ToolError(f"pgbench failed: {one_line(done.stderr)[-300:]}")
    failed_count = int(failed.group(1)) if failed else 0
    result: dict[str, Any] = {
        "clients": clients,
        "threads": threads,
        "seconds": seconds,
        "tps": float(tps.group(1)) if tps else 0.0,
        "latency_avg_ms": float(latency.group(1)) if latency else 0.0,
        "failed": failed_count,
    }
    if latencies:
        connecting = re.search(r"initial connection time = ([\d.]+) ms", done.stdout)
        aborted = len(re.findall(r"client \d+ aborted", done.stderr))
        result |= {
            "p95_ms": _percentile(times, 0.95) if times else 0.0,
            "aborted_clients": aborted,
            "connect_ms": float(connecting.group(1)) if connecting else 0.0,
        }
        if done.returncode != 0:
            # 1: it could not start (every client counts as failed); 2: clients aborted mid-run.
            result["error"] = one_line(done.stderr)[-300:]
            result["failed"] = failed_count + (clients if done.returncode == 1 or not tps else aborted)
    return result


# The parameters of the mix's named queries, as pgbench substitutes them: text, quoted where SQL needs it.
MIX_PARAMETERS = {
    **{name: f"'{value}'" for name, value in first_page("open_tasks_by_due_date").items()},
    "page_size": "50",
    "title": "'pgbench task'",
    "description": "null",
    "priority": "'medium'",
    "due_at": "null",
    "estimated_hours": "null",
    "status": "'completed'",
}


def _mix_script() -> str:
    """bench/app_mix.pgbench with the named queries' SQL in place: the mix runs what the app runs, as it is now
    (a hand-copied one went stale once tasks moved into projects: 4 TPS where the app's queries give hundreds)."""
    text = (BENCH_DIR / "app_mix.pgbench").read_text()
    for name in re.findall(r"\{\{(\w+)\}\}", text):
        query_sql = _query_sql(name)
        if query_sql is None:
            raise ToolError(f"bench/app_mix.pgbench uses the named query {name}, which does not exist")
        # psycopg's placeholders (as aiosql gives the SQL) become pgbench's variables; the task is the new one.
        query_sql = query_sql.strip().rstrip(";").replace("%(task_id)s", "':new_id'")
        query_sql = re.sub(r"%\((\w+)\)s", r":\1", query_sql).replace("%%", "%")
        text = text.replace("{{" + name + "}}", query_sql)
    return text


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
    with connect(url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login password {} in role todo_app").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
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


def _pgbench_through_pgbouncer(url: str, users: int, heavy: int, seed: int, seconds: int, clients: list[int]) -> dict:
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
        running = stack.enter_context(
            bouncer.running(
                login_url(url, name, password),
                {name: secret},
                binary=binary,
                max_client_conn=max(bouncer.MAX_CLIENT_CONN, max(clients) + 100),
            )
        )
        admin = stack.enter_context(connect(url, autocommit=True))
        mark = one(admin.execute("select now(), coalesce(max(id), 0) from app.task_events"))
        runs = []
        for count in clients:
            _undo_pgbench_writes(admin, *mark)  # every run starts from the same data
            print(f"pgbench through PgBouncer {running.version_text}: {count} clients, {seconds} s ...", flush=True)
            # One pgbench thread per 64 clients: a thread polls every one of its sockets at each wakeup. With
            # 500 clients on each of 2 threads, pgbench itself took half a core from the server beside it and
            # TPS at 1,000 clients fell to 0.64-0.75x of 16; at 64 per thread, 0.9-1.0x (measured on 2 cores).
            runs.append(
                _pgbench(
                    running.url(name, password),
                    users,
                    heavy,
                    seed,
                    seconds,
                    count,
                    latencies=True,
                    threads=max(2, -(-count // CLIENTS_PER_PGBENCH_THREAD)),
                )
            )
        return {
            "version": running.version_text,
            "seconds": seconds,
            "runs": runs,
            "settings": {
                key: running.settings[key] for key in ("pool_mode", "default_pool_size", "max_client_conn", "auth_type")
            },
        }


def _admin_url(settings: Settings) -> str:
    """A connection to the configured server's `postgres` database, to create the scratch one from."""
    if settings.database_url:
        return psycopg.conninfo.make_conninfo(settings.database_url, dbname="postgres")
    return server.ensure_running(settings.data_dir).url("postgres")


def load_budgets(path: Path = BENCH_DIR / "budgets.toml") -> dict:
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
) -> Report:
    """``pgbouncer_seconds``: each run through PgBouncer (default BENCH_PGBOUNCER_SECONDS, else
    ``pgbench_seconds`` up to 10 s; 0 skips them; no pgbench at all skips them too)."""
    budgets = load_budgets()
    if pgbouncer_seconds is None:
        pgbouncer_seconds = int(os.environ.get("BENCH_PGBOUNCER_SECONDS") or min(pgbench_seconds, 10))
    with scratch_database(_admin_url(settings), SCRATCH_DB) as url:
        return _run(url, settings, budgets, tasks, seed, runs, pgbench_seconds, pgbouncer_seconds)


def _measure_queries(
    report: Report,
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


def _sharing_figure(report: Report, budget: dict, pairs: int) -> None:
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


def _measure_heaviest(report: Report, app: psycopg.Connection, row: dict | None, budgets: dict, runs: int) -> None:
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
) -> Report:
    migrate.apply_pending(url, settings.migrations_dir, echo=lambda *_: None)
    users = max(10, tasks // 100)
    print(f"loading {users:,} users and {tasks:,} tasks into {SCRATCH_DB} ...", flush=True)
    load = generate.load(url, users=users, tasks=tasks, seed=seed)
    report = Report(
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
        report.pgbench = _pgbench(url, users, max(load.heavy_users, 1), seed, pgbench_seconds)
        if pgbouncer_seconds:
            report.pgbouncer = _pgbench_through_pgbouncer(
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
    report.failures = _judge(report, budgets)
    return report


def measure(url: str, report: Report, budgets: dict, seed: int, runs: int) -> list[dict]:
    """The named queries on a loaded database (``url``: as its owner, a superuser); returns the drawn users.

    Reads first, the ones of the user in the most projects included, and the writes last: a write
    rolled back still leaves its heap pages not all-visible, which index-only scans then pay for.
    """
    with ExitStack() as stack:
        owner = stack.enter_context(connect(url))
        name, password, _ = stack.enter_context(_app_login(url))
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


def _judge(report: Report, budgets: dict) -> list[str]:
    """What missed its budget: latencies and sharing's figures at the full size only; a budget that could
    not be measured (its query missing) counts as missed there too; PgBouncer's failures at any size."""
    missed = []
    if report.judged:
        for r in report.results + report.heaviest.get("results", []):
            if r.budget_p95 is not None and r.p95 > r.budget_p95:
                who = " (the user in the most projects)" if r.sample == "heaviest" else ""
                missed.append(f"{r.query}{who}: p95 {r.p95:.3f} ms > {r.budget_p95} ms")
        heaviest_measured = {r.query for r in report.heaviest.get("results", [])}
        for name in budgets["heaviest"]["judged"]:
            if name not in heaviest_measured:
                missed.append(f"{name} (the user in the most projects): not measured ({_why_not(name, report)})")
        s, budget = report.sharing, budgets["sharing"]
        if not s.get("measured"):
            missed.append(
                f"a member's read of a shared project ({budget['query']}): not measured "
                f"({_why_not(budget['query'], report)})"
            )
        else:
            if s["ratio_p50"] > budget["max_ratio_p50"]:
                missed.append(
                    f"a member's read of a shared project ({s['query']}): p50 {s['ratio_p50']:.2f}x the "
                    f"owner's explicit-filter query > {budget['max_ratio_p50']}x"
                )
            if s["added_us_p50"] > budget["max_added_us_p50"]:
                missed.append(
                    f"a member's read of a shared project ({s['query']}): p50 {s['added_us_p50']:.1f} µs "
                    f"over the owner's explicit-filter query > {budget['max_added_us_p50']} µs"
                )
    missed += _judge_pgbouncer(report, budgets["pgbouncer"])
    by_way = {f.label.split(":")[0]: f for f in report.latency}
    if report.judged and by_way:
        ratio = by_way["read"].p50_ms / by_way["floor"].p50_ms
        if ratio > budgets["latency"]["max_read_to_floor"]:
            missed.append(f"end-to-end read p50 {ratio:.2f}x the floor > {budgets['latency']['max_read_to_floor']}x")
    return missed


def _why_not(name: str, report: Report) -> str:
    return "no such named query yet" if _query_sql(name) is None else "nothing in this data set to call it with"


def _judge_pgbouncer(report: Report, budget: dict) -> list[str]:
    """Failed transactions through PgBouncer are judged at any size (they are errors, not slowness);
    the TPS at the most clients against the best, like the latencies, only at the full size."""
    runs = report.pgbouncer.get("runs") or []
    if not runs:
        return []
    missed = [
        f"pgbench through PgBouncer, {r['clients']} clients: {r['failed']} failed transactions "
        f"> {budget['max_failed']}" + (f" ({r['error']})" if r.get("error") else "")
        for r in runs
        if r["failed"] > budget["max_failed"]
    ]
    most, best = runs[-1], max(r["tps"] for r in runs)
    ratio = most["tps"] / best if best else 0.0
    report.pgbouncer["tps_ratio"] = ratio
    if report.judged and ratio < budget["min_tps_ratio"]:
        missed.append(
            f"pgbench through PgBouncer: {most['tps']:.0f} TPS at {most['clients']} clients is "
            f"{ratio:.2f}x the best ({best:.0f}) < {budget['min_tps_ratio']}x"
        )
    return missed


def _result_rows(results: list[Result], owner: bool = True) -> list[str]:
    rows = []
    for r in results:
        cells = [
            r.query,
            r.kind,
            f"{r.p50:.3f}",
            f"{r.p95:.3f}",
            f"{r.p99:.3f}",
            f"{r.planning_p50:.3f}",
            f"{r.rows:.1f}",
        ]
        if owner:
            cells += [f"{r.owner_p50:.3f}" if r.owner_p50 else "", f"{r.rls_ratio:.2f}" if r.rls_ratio else ""]
        cells.append("" if r.budget_p95 is None else f"{r.budget_p95}")
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def markdown(report: Report) -> str:
    lines = [
        f"Bench of {report.started}: {report.users:,} users, {report.tasks:,} tasks "
        f"(loaded in {report.load_seconds:.0f} s), {report.machine}. Server-side execution time in ms "
        "(EXPLAIN ANALYZE, timing off); reads as todo_app under RLS (a LOGIN member of todo_app), by drawn users, "
        "a project's reads by members of shared projects; owner = the same SQL as the database owner "
        "(no RLS; explicit filters).",
        "",
        "| query | kind | p50 | p95 | p99 | planning p50 | rows | owner p50 | RLS ratio | budget p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        *_result_rows(report.results),
        "",
    ]
    if report.skipped:
        lines.append(f"Skipped (no such named query yet, or nothing to call it with): {', '.join(report.skipped)}")
    if report.unmeasured:
        lines.append(
            f"Named queries the bench does not call (add them to tooling/bench.py): {', '.join(report.unmeasured)}"
        )
    lines.append(
        f"RLS overhead (read mix, sum of p50): {report.rls_overhead:.2f}x on execution time, "
        f"{report.rls_overhead_with_planning:.2f}x on planning + execution"
    )
    s = report.sharing
    if s.get("measured"):
        lines.append(
            f"A member's read of a shared project ({s['query']}: {s['projects']} shared projects, each read by one "
            f"of its editors or viewers, {s['runs']} calls): p50 {s['member_p50'] * 1000:.1f} µs against the "
            f"owner's explicit-filter query {s['owner_p50'] * 1000:.1f} µs: {s['ratio_p50']:.2f}x, "
            f"{s['added_us_p50']:+.1f} µs (budget "
            f"{s['max_ratio_p50']}x and {s['max_added_us_p50']} µs)"
        )
    elif s:
        lines.append(f"A member's read of a shared project ({s['query']}): not measured")
    lines.append(
        f"Bulk load: {report.tasks / report.load_seconds:,.0f} tasks/s; peak RSS of the loading process "
        f"{report.peak_rss_mb:.0f} MB"
    )
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
    lines += _heaviest_markdown(report.heaviest)
    lines.append("")
    if not report.judged:
        lines.append("Budgets: not judged (they apply at the full size; this run is smaller)")
    else:
        lines.append("Budgets: " + ("all met" if not report.failures else "MISSED: " + "; ".join(report.failures)))
    return "\n".join(lines) + "\n"


def _heaviest_markdown(heaviest: dict) -> list[str]:
    if not heaviest:
        return []
    if "skipped" in heaviest:
        return ["", f"The user in the most projects: skipped, {heaviest['skipped']}"]
    lines = [
        "",
        f"The user in the most projects ({heaviest['user']}: {heaviest['projects']} projects, "
        f"{heaviest['visible_tasks']:,} tasks in them), every read as that user (a project's reads on their "
        f"largest project, {heaviest['project_tasks']:,} tasks); judged: {', '.join(heaviest['judged'])}:",
        "",
        "| query | kind | p50 | p95 | p99 | planning p50 | rows | budget p95 |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *_result_rows(heaviest["results"], owner=False),
        "",
        "Their plans, EXPLAIN (ANALYZE, BUFFERS):",
    ]
    for name, plan in heaviest["plans"].items():
        lines += ["", f"{name}:", "", "```", plan, "```"]
    return lines


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
        lines.append(
            f"| {r['clients']:,} | {r['threads']} | {r['tps']:.0f} | {r['p95_ms']:.2f} | "
            f"{r['latency_avg_ms']:.2f} | {failed} | {r['connect_ms']:.0f} |"
        )
    if "tps_ratio" in bounced:
        lines += ["", f"TPS at {bounced['runs'][-1]['clients']:,} clients: {bounced['tps_ratio']:.2f}x the best"]
    return lines


def write_results(report: Report) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    data = asdict(report) | {"results": [asdict(r) | {"rls_ratio": r.rls_ratio} for r in report.results]}
    (RESULTS_DIR / "latest.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    (RESULTS_DIR / "latest.md").write_text(markdown(report))
    return RESULTS_DIR / "latest.md"
