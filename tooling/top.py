"""`make top`: the operator's view of a live database, one line per finding, each with its threshold and
what to do.

What `make doctor` is to the schema (is it in the shape the project expects?), this is to the running
server: the slowest statements (pg_stat_statements, where the server has it: reported as unavailable
elsewhere, never an error), the cache hit ratio, table and index bloat estimates, dead tuples and the last
(auto)vacuum, sessions idle in a transaction or running long, lock waits, connections in use against the
maximum, and whether WAL archiving (point-in-time recovery) is working. Everything is read from the
statistics views, so it works for a database owner that is not a superuser (hosted servers); such a role
sees other roles' sessions without their state or query text, and is told how many it cannot judge.
"""

from __future__ import annotations

from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC

import psycopg

from tooling.doctor import Line
from tooling.errors import ToolError, one_line
from tooling.migration_lock import LOCK_APPLICATION_NAME
from tooling.rows import one
from tooling.target import connect


@dataclass(frozen=True)
class Thresholds:
    """Where a figure becomes a warning (the defaults are for a production database)."""

    slow_statement_ms: float = 100.0  # mean execution time
    cache_hit_ratio: float = 0.99  # judged once this many blocks were asked for:
    cache_min_blocks: int = 10_000
    bloat_ratio: float = 0.3  # of a relation's pages, estimated wasted, and at least:
    bloat_min_bytes: int = 8 * 1024 * 1024
    dead_tuple_ratio: float = 0.2  # of live tuples, and at least:
    dead_min_tuples: int = 1_000
    idle_in_transaction_seconds: float = 60.0
    long_running_seconds: float = 300.0
    lock_wait_seconds: float = 5.0
    connections_ratio: float = 0.8  # of the connections a non-superuser may open


SLOWEST = 5  # statements listed
NOT_SYSTEM = "n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_toast'"


def _statements_view(conn: psycopg.Connection) -> str | None:
    """The qualified pg_stat_statements view of this database, if the extension is installed in it."""
    row = conn.execute(
        "select pg_catalog.quote_ident(n.nspname) from pg_catalog.pg_extension as e"
        " join pg_catalog.pg_namespace as n on n.oid = e.extnamespace where e.extname = 'pg_stat_statements'"
    ).fetchone()
    return f"{row[0]}.pg_stat_statements" if row else None


def _statements_in_postgres(url: str, stack: ExitStack) -> tuple[psycopg.Connection | None, str | None]:
    """A connection to the server's `postgres` database (closed with ``stack``) and its view, if any."""
    try:
        other = stack.enter_context(connect(psycopg.conninfo.make_conninfo(url, dbname="postgres"), connect_timeout=5))
    except ToolError:
        return None, None
    return other, _statements_view(other)


def _statements_unavailable(conn: psycopg.Connection) -> Line:
    # pg_settings, not SHOW: the setting is hidden from roles without pg_read_all_settings (no row).
    setting = conn.execute(
        "select setting from pg_catalog.pg_settings where name = 'shared_preload_libraries'"
    ).fetchone()
    if setting is None:
        why = "not visible to this role"
    elif "pg_stat_statements" in setting[0]:
        why = "installed in no database here"
    else:
        why = "not loaded by this server"
    return Line(
        "info",
        f"slowest statements: unavailable (pg_stat_statements is {why}): on a hosted server enable it in the "
        "provider's settings; the embedded server loads it at its next start (`make stop`); elsewhere add it to "
        "shared_preload_libraries, restart, and `create extension pg_stat_statements`",
    )


def _slowest_statements(conn: psycopg.Connection, url: str, limits: Thresholds) -> list[Line]:
    """This database's statements with the highest mean execution time. The view is read where the
    extension is installed: this database, else the server's `postgres` database (where the tool installs
    it on the embedded server, so that the app's catalog stays as its migrations make it)."""
    try:
        with ExitStack() as stack:
            source: psycopg.Connection | None = conn
            view = _statements_view(conn)
            if view is None:
                source, view = _statements_in_postgres(url, stack)
            if source is None or view is None:
                return [_statements_unavailable(conn)]
            rows = source.execute(
                f"select s.calls, s.mean_exec_time, s.total_exec_time, s.query from {view} as s"
                " where s.dbid = (select d.oid from pg_catalog.pg_database as d where d.datname = %s)"
                "   and s.calls > 0 order by s.mean_exec_time desc limit %s",
                [conn.info.dbname, SLOWEST],
            ).fetchall()
    except psycopg.Error as exc:  # e.g. the library is not loaded (55000): a setting away, not an error
        return [Line("info", f"slowest statements: unavailable ({one_line(exc)})")]
    if not rows:
        return [Line("ok", "slowest statements: none recorded yet for this database")]
    lines = []
    for calls, mean_ms, total_ms, query in rows:
        level = "warn" if mean_ms > limits.slow_statement_ms else "info"
        advice = f" > {limits.slow_statement_ms:g} ms: EXPLAIN (ANALYZE, BUFFERS) it" if level == "warn" else ""
        if not query or query == "<insufficient privilege>":
            query = "(query text not visible to this role)"
        text = " ".join(query.split())[:100]
        lines.append(
            Line(
                level,
                f"statement: mean {mean_ms:.2f} ms{advice}, {calls} calls, {total_ms / 1000:.1f} s in all: {text}",
            )
        )
    return lines


def _cache_hit_ratio(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    hit, read = one(
        conn.execute("select blks_hit, blks_read from pg_catalog.pg_stat_database where datname = current_database()")
    )
    total = hit + read
    if total < limits.cache_min_blocks:
        return [Line("ok", f"cache hit ratio: not judged yet ({total:,} block reads so far)")]
    ratio = hit / total
    if ratio < limits.cache_hit_ratio:
        return [
            Line(
                "warn",
                f"cache hit ratio {ratio:.2%} < {limits.cache_hit_ratio:.0%}: the working set does not fit in "
                "shared_buffers; raise it (about a quarter of memory), or find the statements that read most",
            )
        ]
    return [Line("ok", f"cache hit ratio {ratio:.2%} (≥ {limits.cache_hit_ratio:.0%})")]


# An estimate from the planner's statistics, no extension needed: the pages the live rows would fill
# (their average width from pg_stats, plus each tuple's header and line pointer, at the fillfactor)
# against the pages the relation has. Rough by design; pgstattuple measures exactly where it is installed.
_TABLE_BLOAT = f"""
select c.oid::regclass::text, c.relpages::bigint,
       ceil(c.reltuples * (28 + coalesce(w.width, 0))
            / ((current_setting('block_size')::int - 24)
               * coalesce((select split_part(o, '=', 2)::int from unnest(c.reloptions) as o
                           where o like 'fillfactor=%'), 100) / 100.0))::bigint
from pg_catalog.pg_class as c
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
join lateral (
  select sum(s.avg_width) as width, count(*) as covered from pg_catalog.pg_stats as s
  where s.schemaname = n.nspname and s.tablename = c.relname and not s.inherited
) as w on true
where c.relkind in ('r', 'm') and c.reltuples >= 0 and c.relpages > 0 and {NOT_SYSTEM}
  -- Only where the statistics cover every column (after an ANALYZE, readable by this role): a column
  -- without them would count as 0 bytes and the table look bloated.
  and w.covered = (select count(*) from pg_catalog.pg_attribute as a
                   where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped)
"""

# B-tree indexes on plain columns: per entry an 8-byte tuple header, the key's average width rounded up to
# 8, and a 4-byte line pointer, at the index's fillfactor (90 unless it sets one).
_INDEX_BLOAT = f"""
select i.indexrelid::regclass::text, ic.relpages::bigint,
       ceil(ic.reltuples * (12 + 8 * ceil(sum(s.avg_width) / 8.0))
            / ((current_setting('block_size')::int - 40)
               * coalesce((select split_part(o, '=', 2)::int from unnest(ic.reloptions) as o
                           where o like 'fillfactor=%'), 90) / 100.0))::bigint
from pg_catalog.pg_index as i
join pg_catalog.pg_class as ic on ic.oid = i.indexrelid
join pg_catalog.pg_class as c on c.oid = i.indrelid
join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
join pg_catalog.pg_am as am on am.oid = ic.relam and am.amname = 'btree'
join pg_catalog.pg_attribute as a on a.attrelid = c.oid and a.attnum = any(i.indkey::int2[])
join pg_catalog.pg_stats as s on s.schemaname = n.nspname and s.tablename = c.relname and s.attname = a.attname
  and not s.inherited
where ic.relpages > 1 and ic.reltuples >= 0 and i.indexprs is null and {NOT_SYSTEM}
group by i.indexrelid, ic.relpages, ic.reltuples, ic.reloptions
having count(*) = max(i.indnatts)  -- statistics for every key column (see the table's estimate)
"""


def _bloat(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    block = int(one(conn.execute("select current_setting('block_size')"))[0])
    lines = []
    for kind, query, fix in (
        ("table", _TABLE_BLOAT, "VACUUM gives the space to new rows; to return it, pg_repack or VACUUM FULL (locks)"),
        ("index", _INDEX_BLOAT, "REINDEX INDEX CONCURRENTLY it"),
    ):
        for name, pages, expected in conn.execute(query):
            wasted = max(0, pages - max(expected, 1))
            if wasted / pages >= limits.bloat_ratio and wasted * block >= limits.bloat_min_bytes:
                lines.append(
                    Line(
                        "warn",
                        f"{name}: {kind} bloat about {wasted / pages:.0%} (≥ {limits.bloat_ratio:.0%}), "
                        f"{wasted * block / 1e6:.0f} MB estimated wasted: {fix}",
                    )
                )
    return lines or [Line("ok", f"bloat: no table or index estimated over {limits.bloat_ratio:.0%} wasted")]


def _dead_tuples(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    rows = conn.execute(
        "select s.relid::regclass::text, s.n_live_tup, s.n_dead_tup, greatest(s.last_vacuum, s.last_autovacuum)"
        " from pg_catalog.pg_stat_user_tables as s order by s.n_dead_tup desc"
    ).fetchall()
    lines = []
    for name, live, dead, vacuumed in rows:
        if dead >= limits.dead_min_tuples and dead > limits.dead_tuple_ratio * max(live, 1):
            when = f"last vacuumed {vacuumed.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if vacuumed else "never vacuumed"
            lines.append(
                Line(
                    "warn",
                    f"{name}: {dead:,} dead tuples, {dead / max(live, 1):.0%} of {live:,} live "
                    f"(> {limits.dead_tuple_ratio:.0%}), {when}: autovacuum is behind; look for long "
                    "transactions holding it back, then VACUUM (ANALYZE) it",
                )
            )
    return lines or [Line("ok", f"dead tuples: no table over {limits.dead_tuple_ratio:.0%} of its live rows")]


def _sessions(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    # Another role's session shows no state or times (nor backend type) to a role without pg_read_all_stats,
    # as a hosted server's owner is: such sessions are counted, and said to be out of sight.
    rows = conn.execute(
        "select a.pid, a.usename, a.application_name, a.state,"
        "       extract(epoch from now() - a.state_change)::float8, extract(epoch from now() - a.query_start)::float8"
        " from pg_catalog.pg_stat_activity as a"
        " where a.datname = current_database() and a.pid <> pg_backend_pid()"
        "   and (a.backend_type = 'client backend' or a.backend_type is null)"
        " order by a.pid"
    ).fetchall()
    lines = []
    hidden = 0
    for pid, user, application, state, in_state, running in rows:
        if state is None:
            hidden += 1
            continue
        who = f"pid {pid} ({user}{', ' + application if application else ''})"
        if state.startswith("idle in transaction") and in_state > limits.idle_in_transaction_seconds:
            if application == LOCK_APPLICATION_NAME:
                lines.append(Line("info", f"{who}: a migration run holding its lock, idle in transaction by design"))
                continue
            lines.append(
                Line(
                    "warn",
                    f"{who}: idle in transaction for {in_state:.0f} s (> {limits.idle_in_transaction_seconds:g} s), "
                    "holding its locks and holding back vacuum: end it with pg_terminate_backend(pid), and set "
                    "idle_in_transaction_session_timeout for that role",
                )
            )
        elif state == "active" and running is not None and running > limits.long_running_seconds:
            lines.append(
                Line(
                    "warn",
                    f"{who}: one statement running for {running:.0f} s (> {limits.long_running_seconds:g} s): "
                    "look at it (pg_stat_activity.query), cancel it with pg_cancel_backend(pid) if it is stuck",
                )
            )
    if hidden:
        lines.append(
            Line(
                "info",
                f"sessions: {hidden} of other roles are out of this role's sight (their state and times); "
                "grant it pg_read_all_stats to judge them too",
            )
        )
    return lines or [Line("ok", "sessions: none idle in a transaction or running long")]


def _lock_waits(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    rows = conn.execute(
        "select l.pid, pg_catalog.pg_blocking_pids(l.pid), extract(epoch from now() - min(l.waitstart))::float8"
        " from pg_catalog.pg_locks as l"
        # By the waiting session's database: a row lock's wait (transactionid) names no database itself.
        " join pg_catalog.pg_stat_activity as a on a.pid = l.pid and a.datname = current_database()"
        " where not l.granted group by l.pid order by 3 desc nulls last"
    ).fetchall()
    lines = []
    for pid, blockers, waited in rows:
        waited = waited or 0.0
        level = "warn" if waited > limits.lock_wait_seconds else "info"
        lines.append(
            Line(
                level,
                f"pid {pid}: waiting {waited:.1f} s for a lock held by pid {', '.join(map(str, blockers)) or '?'}"
                + (
                    f" (> {limits.lock_wait_seconds:g} s): see what the blocker runs (pg_stat_activity), end it if "
                    "it is stuck; a migration's lock_timeout keeps DDL from queueing like this"
                    if level == "warn"
                    else ""
                ),
            )
        )
    return lines or [Line("ok", "lock waits: none")]


def _connections(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    used, usable = one(
        conn.execute(
            # pg_stat_database counts every role's sessions; pg_stat_activity hides their kind from a role
            # without pg_read_all_stats.
            "select (select coalesce(sum(numbackends), 0) from pg_catalog.pg_stat_database)::int,"
            " current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int"
            " - coalesce(current_setting('reserved_connections', true)::int, 0)"
        )
    )
    ratio = used / usable
    if ratio > limits.connections_ratio:
        return [
            Line(
                "warn",
                f"connections: {used} of {usable} in use ({ratio:.0%} > {limits.connections_ratio:.0%}): put a "
                "pooler in front (PgBouncer in transaction mode), or lower the pools' maximum sizes",
            )
        ]
    return [Line("ok", f"connections: {used} of {usable} in use ({ratio:.0%})")]


def _wal_archiving(conn: psycopg.Connection, limits: Thresholds) -> list[Line]:
    if one(conn.execute("show archive_mode"))[0] == "off":
        return [
            Line(
                "ok",
                "WAL archiving: off (point-in-time recovery: TODODB_WAL_ARCHIVE on the embedded server; a hosted "
                "provider archives for you)",
            )
        ]
    archived, last_archived, failed, last_failed, failed_at = one(
        conn.execute(
            "select archived_count, last_archived_time, failed_count, last_failed_wal, last_failed_time"
            " from pg_catalog.pg_stat_archiver"
        )
    )
    if failed_at is not None and (last_archived is None or failed_at > last_archived):
        return [
            Line(
                "warn",
                f"WAL archiving: failing since {failed_at:%Y-%m-%d %H:%M:%S %Z} (segment {last_failed}, {failed} "
                "failures): is the archive folder there and writable? Until it works, WAL piles up in pg_wal and "
                "recovery cannot reach past the last archived segment",
            )
        ]
    when = f", the last at {last_archived:%Y-%m-%d %H:%M:%S %Z}" if last_archived else ""
    return [Line("ok", f"WAL archiving: on, {archived} segments archived{when}")]


def examine(url: str, limits: Thresholds = Thresholds()) -> list[Line]:
    """Every live figure of the database at ``url``, one line each (or one per finding)."""
    with connect(url, autocommit=True) as conn:
        lines = _slowest_statements(conn, url, limits)
        checks = (_cache_hit_ratio, _bloat, _dead_tuples, _sessions, _lock_waits, _connections, _wal_archiving)
        for check in checks:
            try:
                lines += check(conn, limits)
            except psycopg.Error as exc:
                name = check.__name__.strip("_").replace("_", " ")
                lines.append(Line("warn", f"{name}: could not check: {one_line(exc)}"))
    return lines
