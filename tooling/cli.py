"""The command line: parse the arguments, run the command (tooling/commands.py), tell a failure in one line.

Mirrors the Makefile (`migrate`, `rollback [--all]`, `status`, `migration`, `psql`, `stop`, `seed`,
`health`, `schema`, `types`, `backup`, `restore`, `maintain`, `doctor`, `top`, `bench`). A failure the user can
fix ends as one line on stderr and exit status 1; Ctrl-C ends with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import psycopg

from tooling import commands
from tooling.config import load_settings
from tooling.errors import ToolError, one_line


class _Parser(argparse.ArgumentParser):
    """Usage mistakes end in one line too, pointing at --help instead of printing the usage."""

    def error(self, message: str):
        self.exit(2, f"tododb: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tooling", description="tododb: migrations and the embedded server")
    parser.add_argument(
        "--migrations", type=Path, default=None, metavar="DIR", help="migrations folder (default: ./migrations)"
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    migrate_parser = sub.add_parser("migrate", help="apply pending migrations, then print the status")
    migrate_parser.add_argument(
        "--accept-edited", metavar="ID", help="re-record the checksum of an applied migration edited on purpose"
    )
    migrate_parser.set_defaults(func=commands.cmd_migrate)
    rollback = sub.add_parser("rollback", help="roll back the latest migration (or --all)")
    rollback.add_argument("--all", action="store_true", help="roll back every applied migration")
    rollback.set_defaults(func=commands.cmd_rollback)
    sub.add_parser("status", help="list applied and pending migrations, and check for drift").set_defaults(
        func=commands.cmd_status
    )
    migration = sub.add_parser(
        "migration", help="write the next migration pair (numbered, depends, timeouts) to fill in"
    )
    migration.add_argument("name", metavar="NAME", help="verb_object, e.g. add_task_color")
    migration.add_argument(
        "--kind",
        choices=["plain", "concurrent-index"],
        default="plain",
        help="concurrent-index: a non-transactional pair that builds an index without blocking writes",
    )
    migration.set_defaults(func=commands.cmd_migration)
    psql = sub.add_parser("psql", help="open psql on the configured database (extra arguments go to psql)")
    psql.set_defaults(func=commands.cmd_psql)
    sub.add_parser("stop", help="stop the embedded server").set_defaults(func=commands.cmd_stop)
    seed = sub.add_parser("seed", help="load the development data, or bulk data with --users and --tasks")
    seed.add_argument("--users", type=int, help="bulk: number of users")
    seed.add_argument("--tasks", type=int, help="bulk: number of tasks")
    seed.add_argument("--seed", type=int, default=1, help="bulk: the random seed (same seed, same data)")
    seed.set_defaults(func=commands.cmd_seed)
    sub.add_parser("health", help="check the connection: server version and round trip").set_defaults(
        func=commands.cmd_health
    )
    schema = sub.add_parser(
        "schema", help="regenerate schema/schema.sql and schema/README.md from a freshly migrated database"
    )
    schema.add_argument("--check", action="store_true", help="only say whether the committed snapshot is current")
    schema.set_defaults(func=commands.cmd_schema)
    types = sub.add_parser(
        "types", help="regenerate tododb/typed.py (typed results of the named queries) from a freshly migrated database"
    )
    types.add_argument("--check", action="store_true", help="only say whether the committed tododb/typed.py is current")
    types.set_defaults(func=commands.cmd_types)
    backup_parser = sub.add_parser("backup", help="write a pg_dump custom-format archive of the database")
    backup_parser.add_argument("--file", type=Path, help="where (default: backups/<dbname>-<UTC time>.dump)")
    backup_parser.add_argument(
        "--no-verify", dest="verify", action="store_false", help="skip restoring it into a scratch database to compare"
    )
    backup_parser.set_defaults(func=commands.cmd_backup)
    sub.add_parser(
        "basebackup", help="a base backup of the embedded server, for point-in-time recovery (TODODB_WAL_ARCHIVE)"
    ).set_defaults(func=commands.cmd_basebackup)
    recover = sub.add_parser(
        "recover", help="the embedded server's cluster as it was at a moment, in a new data folder, started"
    )
    recover.add_argument("--to", required=True, metavar="TIMESTAMP", help="e.g. '2026-12-02 12:00:00+00'")
    recover.add_argument("--into", type=Path, help="the new data folder (default: beside the live one)")
    recover.set_defaults(func=commands.cmd_recover)
    restore = sub.add_parser("restore", help="restore an archive into an empty database")
    restore.add_argument("file", type=Path, nargs="?", help="the archive (default: the newest in backups/)")
    restore.add_argument("--into", metavar="DBNAME", help="a database on the same server, created if missing")
    restore.add_argument("--force", action="store_true", help="replace the contents of a database that is not empty")
    restore.set_defaults(func=commands.cmd_restore)
    maintain = sub.add_parser("maintain", help="retention jobs: purge old deleted tasks, archive old completed ones")
    maintain.add_argument(
        "job",
        choices=["purge", "archive"],
        help="purge: hard-delete tasks in the bin; archive: move completed tasks to app.tasks_archive",
    )
    maintain.add_argument(
        "--older-than", required=True, metavar="AGE", help="e.g. 30d (purge) or 365d (archive); h and w work too"
    )
    maintain.add_argument("--batch-size", type=int, default=1000, help="tasks per transaction (default 1000)")
    maintain.set_defaults(func=commands.cmd_maintain)
    sub.add_parser(
        "doctor", help="check the database: version, TLS, migrations, drift, RLS, grants, indexes"
    ).set_defaults(func=commands.cmd_doctor)
    sub.add_parser(
        "top", help="the live database: slowest statements, cache, bloat, vacuum, sessions, lock waits, connections"
    ).set_defaults(func=commands.cmd_top)
    bench = sub.add_parser("bench", help="benchmark the named queries on a large generated data set")
    bench.add_argument("--tasks", type=int, default=int(os.environ.get("BENCH_TASKS") or 2_000_000))
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--runs", type=int, default=200, help="measured runs per query")
    bench.add_argument("--pgbench-seconds", type=int, default=int(os.environ.get("BENCH_PGBENCH_SECONDS") or 20))
    bench.set_defaults(func=commands.cmd_bench)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "psql":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.psql_args = extra
    try:
        settings = load_settings(args.migrations)
        args.func(args, settings)
    except ToolError as exc:
        print(f"tododb: {exc}", file=sys.stderr)
        return 1
    except psycopg.Error as exc:
        # A connection lost mid-command (server stopped, session terminated).
        print(f"tododb: database error: {one_line(exc)}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader left, nothing is wrong.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("tododb: interrupted; an unfinished migration is rolled back by the server", file=sys.stderr)
        return 130
    return 0
