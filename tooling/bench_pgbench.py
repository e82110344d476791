"""`make bench`, step 4: pgbench with the app's mix, on the server and through PgBouncer.

bench/app_mix.pgbench names the queries it runs (``{{open_tasks_by_due_date}}``); mix_script() puts
their SQL in place, so the mix runs what the app runs. run_mix() gives TPS, average latency and, with
``latencies``, the p95 from pgbench's per-transaction log; run_mix_through_pgbouncer() runs the same mix
through a private PgBouncer in transaction mode (tooling/bouncer.py) at each client count, as a LOGIN
member of todo_app made for the run, each run from the same data.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from tododb.queries import QUERIES, first_page
from tooling import bouncer, server
from tooling.bench_report import BENCH_DIR, percentile
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect, login_url

CLIENTS_PER_PGBENCH_THREAD = 64  # through PgBouncer (see run_mix_through_pgbouncer)


def run_mix(
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
        script.write_text(mix_script())
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
            "p95_ms": percentile(times, 0.95) if times else 0.0,
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


def mix_script() -> str:
    """bench/app_mix.pgbench with the named queries' SQL in place: the mix runs what the app runs, as it is now
    (a hand-copied one went stale once tasks moved into projects: 4 TPS where the app's queries give hundreds)."""
    text = (BENCH_DIR / "app_mix.pgbench").read_text()
    for name in re.findall(r"\{\{(\w+)\}\}", text):
        query = getattr(QUERIES, name, None)
        if query is None:
            raise ToolError(f"bench/app_mix.pgbench uses the named query {name}, which does not exist")
        # psycopg's placeholders (as aiosql gives the SQL) become pgbench's variables; the task is the new one,
        # at the version its insert returned.
        query_sql = query.sql.strip().rstrip(";").replace("%(task_id)s", "':new_id'")
        query_sql = query_sql.replace("%(version)s", ":new_version")
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
def app_login(url: str) -> Iterator[tuple[str, str, str]]:
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


def run_mix_through_pgbouncer(url: str, users: int, heavy: int, seed: int, seconds: int, clients: list[int]) -> dict:
    """The app's mix through a private PgBouncer (transaction mode) at each client count."""
    binary = bouncer.find()
    if binary is None:
        return {"skipped": "no pgbouncer (Debian: apt-get install pgbouncer)"}
    with ExitStack() as stack:
        try:
            name, password, secret = stack.enter_context(app_login(url))
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
                run_mix(
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
