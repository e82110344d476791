"""End-to-end latency of a page read through the backend's library, over a simulated network.

The server-side figures of the benchmark leave out what a hosted server costs most: the network. Here a
delaying proxy (tooling/wire.py) stands between the client and the server, holding every message half the
round-trip time each way, and a page of open tasks is read as a user three ways:

- ``before``: what ``as_user`` did before it saved round trips (a liveness check, BEGIN, SET LOCAL ROLE,
  the identity and limits, the query, COMMIT: six round trips);
- ``as_user``: BEGIN with role, identity and limits, the query, COMMIT (three);
- ``read``: role, identity, limits and the query in one implicit transaction (one).

Each is reported as client-side wall time (p50, p95) beside the floor: one round trip through the same proxy
(a trivial query: the proxy's own cost is in it) plus what the page read costs beyond a trivial query without
the proxy. ``read`` should stay within 1.3× of it.
"""

from __future__ import annotations

import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import sql

from tododb.pool import PoolSettings, as_user, create_pool, read
from tododb.queries import QUERIES, first_page_params
from tooling.target import connect, login_url
from tooling.wire import counting_proxy

PAGE = first_page_params("open_tasks_by_due_date", 50)


@dataclass(frozen=True)
class Figure:
    label: str
    round_trips: int
    p50_ms: float
    p95_ms: float


def _timed(run: Callable[[], object], runs: int) -> tuple[float, float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def _before(pool, user_id: str) -> Callable[[], object]:
    def run() -> object:
        with pool.connection() as conn:
            conn.execute("")  # the per-borrow liveness check
            with conn.transaction():
                conn.execute("set local role todo_app")
                conn.execute(
                    "select set_config('app.user_id', %s, true), set_config('statement_timeout', '30s', true)",
                    [user_id],
                )
                return list(QUERIES.open_tasks_by_due_date(conn, **PAGE))

    return run


def measure(admin_url: str, user_id: uuid.UUID | str, rtt_ms: float = 1.0, runs: int = 200) -> list[Figure]:
    """Read ``user_id``'s first page ``runs`` times each way through a proxy adding ``rtt_ms`` per round trip.

    ``admin_url``: a superuser (or CREATEROLE) connection to the database; a throwaway LOGIN role in todo_app
    is made for the pool, which refuses anything more privileged, and dropped at the end.
    """
    name, password = f"tododb_latency_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    user = str(user_id)
    with connect(admin_url, autocommit=True) as admin:
        admin.execute(
            sql.SQL("create role {} login password {} in role todo_app").format(
                sql.Identifier(name), sql.Literal(password)
            )
        )
        try:
            as_url = login_url(admin_url, name, password)
            figures = []
            with create_pool(PoolSettings(url=as_url, min_size=4, max_size=4)) as direct:
                server_p50, _ = _timed(lambda: read(direct, user, "open_tasks_by_due_date", **PAGE), runs)
            with connect(as_url, autocommit=True) as bare:
                trivial_direct, _ = _timed(lambda: bare.execute("select 1").fetchone(), runs)
            with counting_proxy(as_url, delay=rtt_ms / 2000) as (_, through):
                # One round trip as this proxy and this machine deliver it (the proxy's own cost included):
                # the floor is that, plus what the page read costs beyond a trivial query without the proxy.
                with connect(through, autocommit=True) as bare:
                    one_trip, _ = _timed(lambda: bare.execute("select 1").fetchone(), runs)
                # Several connections, as a backend has: a returned connection's reset (DISCARD ALL, a
                # round trip of its own) runs in the pool's worker while the next request takes another.
                with create_pool(PoolSettings(url=through, min_size=4, max_size=4)) as pool:
                    ways = {
                        "before": (6, _before(pool, user)),
                        "as_user": (3, lambda: list(_as_user_page(pool, user))),
                        "read": (1, lambda: read(pool, user, "open_tasks_by_due_date", **PAGE)),
                    }
                    for label, (trips, run) in ways.items():
                        run()  # warm
                        p50, p95 = _timed(run, runs)
                        figures.append(Figure(label, trips, p50, p95))
            floor = one_trip + max(0.0, server_p50 - trivial_direct)
            figures.append(Figure("floor: 1 round trip through the proxy + the read's own time", 1, floor, floor))
            return figures
        finally:
            admin.execute("select pg_terminate_backend(pid) from pg_stat_activity where usename = %s", [name])
            admin.execute(sql.SQL("drop role {}").format(sql.Identifier(name)))


def _as_user_page(pool, user: str) -> list:
    with as_user(pool, user) as conn:
        return list(QUERIES.open_tasks_by_due_date(conn, **PAGE))


def table(figures: list[Figure], rtt_ms: float) -> str:
    lines = [
        f"End-to-end page read (first page of open tasks) over a simulated {rtt_ms:g} ms round trip, "
        "client wall time in ms:",
        "",
        "| way | round trips | p50 | p95 |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {f.label} | {f.round_trips} | {f.p50_ms:.2f} | {f.p95_ms:.2f} |" for f in figures]
    return "\n".join(lines)
