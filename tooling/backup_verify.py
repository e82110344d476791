"""`make backup`'s verify step: does the archive restore to the data it was taken from?

The backup is taken from a snapshot the tool exports (``pg_dump --snapshot``), and in that same snapshot
every table's row count and checksum is computed; so a live database that keeps changing while the dump
runs still compares exactly. The archive is then restored (as `make restore` does) into a scratch database
on the same server, the same figures are computed there, and the two must be equal, table for table; the
scratch database is dropped either way.

A table's checksum is the sum of a 64-bit hash of each row's text: independent of row order and of
physical layout, and cheap in memory however large the table (an ordered string of the rows would not
be). Both sides are read with TimeZone UTC, so a timestamp's text is the same on each.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tooling.errors import ToolError, one_line
from tooling.scratch import scratch_database
from tooling.target import connect

Figures = dict[str, tuple[int, int]]  # table -> (rows, checksum)

# Every table that holds rows of its own (partitions included, their parents not), outside the system.
_TABLES = """
select n.nspname, c.relname
from pg_catalog.pg_class as c join pg_catalog.pg_namespace as n on n.oid = c.relnamespace
where c.relkind = 'r' and c.relpersistence = 'p'
  and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
order by 1, 2
"""


# How a row reads as text, pinned on both sides: a database's own settings (ALTER DATABASE ... SET) are not in
# the archive, and would change a timestamp's, an interval's, a float's or a bytea's text.
_TEXT_SETTINGS = {
    "TimeZone": "UTC",
    "DateStyle": "ISO, MDY",
    "IntervalStyle": "postgres",
    "extra_float_digits": "1",
    "bytea_output": "hex",
}


@dataclass(frozen=True)
class Verified:
    tables: int
    rows: int


def figures(conn: psycopg.Connection) -> Figures:
    """Each table's row count and checksum, as ``conn`` sees them (a superuser or BYPASSRLS role: row-level
    security would hide rows, and pg_dump refuses such a role anyway)."""
    for name, value in _TEXT_SETTINGS.items():
        conn.execute("select pg_catalog.set_config(%s, %s, true)", [name, value])
    result: Figures = {}
    for schema, table in conn.execute(_TABLES).fetchall():
        query = sql.SQL(
            "select count(*), coalesce(sum(('x' || left(md5((t.*)::text), 16))::bit(64)::bigint), 0)::numeric"
            " from {}.{} as t"
        ).format(sql.Identifier(schema), sql.Identifier(table))
        rows, checksum = conn.execute(query).fetchone() or (0, 0)
        result[f"{schema}.{table}"] = (int(rows), int(checksum))
    return result


@contextmanager
def exported_snapshot(url: str) -> Iterator[tuple[str, psycopg.Connection]]:
    """A read-only repeatable-read transaction on ``url`` and the id of its exported snapshot, for
    ``pg_dump --snapshot``; held open until the block ends (pg_dump must import it while it exists)."""
    with connect(url) as conn:
        conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        conn.read_only = True
        # This session waits idle in its transaction while pg_dump runs: no timeout (a hosted server's
        # default included) may end it.
        timeouts = ["idle_in_transaction_session_timeout", "statement_timeout"]
        if conn.info.server_version >= 170000:
            timeouts.append("transaction_timeout")
        for name in timeouts:
            conn.execute("select pg_catalog.set_config(%s, '0', true)", [name])
        snapshot = conn.execute("select pg_catalog.pg_export_snapshot()").fetchone()
        assert snapshot is not None  # the function always returns one row
        # Held until the figures are taken: a TRUNCATE or a table rewrite committed meanwhile is not MVCC-safe
        # (the old snapshot would see the table empty), and a dropped table could not be counted.
        for schema, table in conn.execute(_TABLES).fetchall():
            conn.execute(
                sql.SQL("lock table {}.{} in access share mode").format(sql.Identifier(schema), sql.Identifier(table))
            )
        yield str(snapshot[0]), conn
        conn.rollback()


def compare(expected: Figures, found: Figures) -> list[str]:
    """One line per table whose figures differ (or that only one side has)."""
    lines = []
    for table in sorted(expected.keys() | found.keys()):
        if table not in found:
            lines.append(f"{table}: missing from the restored copy")
        elif table not in expected:
            lines.append(f"{table}: only in the restored copy")
        elif expected[table][0] != found[table][0]:
            lines.append(f"{table}: {expected[table][0]} rows, {found[table][0]} restored")
        elif expected[table] != found[table]:
            lines.append(f"{table}: {expected[table][0]} rows, but their contents differ")
    return lines


def verify(url: str, file: Path, expected: Figures, restore_into) -> Verified:
    """Restore ``file`` into a scratch database next to ``url`` (``restore_into(scratch_url, file)``) and
    compare its figures with ``expected``; a difference, or a restore that fails, is a ToolError."""
    admin = psycopg.conninfo.make_conninfo(url, dbname="postgres")
    name = f"tododb_verify_{uuid.uuid4().hex[:12]}"  # not the pid: two hosts' backups may share a server
    try:
        with scratch_database(admin, name) as scratch_url:
            restore_into(scratch_url, file)
            with connect(scratch_url) as conn:
                found = figures(conn)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ToolError(f"backup {file} written but not verified: no scratch database ({one_line(exc)})") from None
    except ToolError as exc:
        raise ToolError(f"backup {file} written but does not restore: {exc}") from None
    differences = compare(expected, found)
    if differences:
        raise ToolError(f"backup {file} does not restore to the data it was taken from: " + "; ".join(differences))
    return Verified(tables=len(found), rows=sum(rows for rows, _ in found.values()))
