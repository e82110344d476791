"""The command line: parse arguments, call the module that does the work.

Mirrors the Makefile (`migrate`, `rollback [--all]`, `status`, `migration`, `psql`, `stop`, `seed`,
`health`, `schema`, `types`, `backup`, `restore`, `maintain`, `doctor`, `bench`). A failure the user can
fix ends as one line on stderr and exit status 1; Ctrl-C ends with 130.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import psycopg

from tooling import migrate, server
from tooling.config import ROOT, Settings, load_settings
from tooling.errors import ToolError, one_line
from tooling.target import database_url, describe_target


def _print_status(url: str, rows: list[migrate.MigrationState]) -> None:
    print(f"migrations against {describe_target(url)}:")
    width = max(len(row.migration_id) for row in rows)
    for row in rows:
        if row.applied_at is None:
            state = "pending".ljust(28)
        else:
            state = f"applied {row.applied_at:%Y-%m-%d %H:%M:%S} UTC"
        note = row.description if row.has_file else "(applied, but its file is missing)"
        print(f"  {state}  {row.migration_id.ljust(width)}  {note}")
    applied = sum(row.applied_at is not None for row in rows)
    print(f"{applied} applied, {len(rows) - applied} pending")


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> None:
    url = database_url(settings)
    applied, states = migrate.apply_and_list(
        url, settings.migrations_dir, settings.lock_wait_seconds, accept_edited=args.accept_edited
    )
    if not applied:
        print("nothing to apply: the database is up to date")
    _print_status(url, states)


def cmd_rollback(args: argparse.Namespace, settings: Settings) -> None:
    url = database_url(settings)
    _, states = migrate.roll_back_and_list(url, settings.migrations_dir, args.all, settings.lock_wait_seconds)
    _print_status(url, states)


def cmd_status(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import drift

    url = database_url(settings)
    states = migrate.states(url, settings.migrations_dir)
    _print_status(url, states)
    found = drift.check(url, settings.migrations_dir, states)
    print(found.summary())
    for line in found.differences:
        print(f"  {line}")
    if found.differences:
        raise ToolError(
            f"the live database has drifted from its migrations ({len(found.differences)} object(s), listed above):"
            " undo the manual change, or make it a migration"
        )


def cmd_psql(args: argparse.Namespace, settings: Settings) -> None:
    from tooling.backup import client_invocation

    url = database_url(settings)
    psql = server.binaries_dir() / "psql"
    conninfo, env = client_invocation(url)  # the password in psql's environment, never on its command line
    os.execve(psql, [str(psql), conninfo, *args.psql_args], env)


def cmd_seed(args: argparse.Namespace, settings: Settings) -> None:
    url = database_url(settings)
    if args.users is None and args.tasks is None:
        from tooling.seed import seed

        seed(url)
        return
    if args.users is None or args.tasks is None:
        raise ToolError("the bulk generator needs both --users and --tasks")
    from tooling.generate import load

    report = load(url, args.users, args.tasks, seed=args.seed)
    print(
        f"loaded {report.users:,} users and {report.tasks:,} tasks in {report.seconds:.1f} s"
        f" ({report.tasks_per_second:,.0f} tasks/s, history and links included; analyzed);"
        f" peak RSS {report.peak_rss_mb:.0f} MB"
    )


def cmd_health(args: argparse.Namespace, settings: Settings) -> None:
    from tododb.pool import health

    result = health(database_url(settings))
    print(f"ok: PostgreSQL {result.server_version}, round trip {result.round_trip_ms:.2f} ms")


def cmd_bench(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import bench, bench_report

    started = time.perf_counter()
    report = bench.run(settings, tasks=args.tasks, seed=args.seed, runs=args.runs, pgbench_seconds=args.pgbench_seconds)
    print(bench_report.markdown(report), end="")
    path = bench_report.write_results(report)
    print(f"results: {path.relative_to(ROOT)} (and latest.json); {time.perf_counter() - started:.0f} s in all")
    if report.failures:
        raise ToolError("benchmark budgets missed: " + "; ".join(report.failures))


def cmd_schema(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import snapshot

    if args.check:
        old = [str(path.relative_to(ROOT)) for path in snapshot.stale(settings)]
        if old:
            raise ToolError(f"{' and '.join(old)} stale: run `make schema` and commit the result")
        print("schema/schema.sql and schema/README.md are current")
        return
    changed = [str(path.relative_to(ROOT)) for path in snapshot.write(settings)]
    print(("regenerated " + " and ".join(changed)) if changed else "schema/schema.sql and schema/README.md unchanged")


def cmd_types(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import typegen

    if args.check:
        if typegen.stale(settings) is not None:
            raise ToolError("tododb/typed.py stale: run `make types` and commit the result")
        print("tododb/typed.py is current")
        return
    print("regenerated tododb/typed.py" if typegen.write(settings) else "tododb/typed.py unchanged")


def cmd_backup(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import backup

    url = database_url(settings)
    file = backup.backup(url, args.file or backup.default_file(url))
    print(f"backed up {describe_target(url)} to {file} ({file.stat().st_size / 1e6:.1f} MB, custom format)")


def cmd_restore(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import backup

    file = args.file or backup.latest_file()
    started = time.perf_counter()
    target = backup.restore(database_url(settings), file, into=args.into, force=args.force)
    print(f"restored {file} into {describe_target(target)} in {time.perf_counter() - started:.1f} s (analyzed)")


def cmd_maintain(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import maintain

    age = maintain.parse_age(args.older_than)
    outcome = maintain.run(database_url(settings), args.job, age, batch_size=args.batch_size)
    print(outcome.summary())


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import doctor

    url = database_url(settings)
    print(f"doctor: {describe_target(url)}")
    lines = doctor.examine(url, settings.migrations_dir)
    for line in lines:
        print(line)
    findings = [line for line in lines if line.level in ("warn", "SECURITY")]
    security = [line for line in findings if line.level == "SECURITY"]
    print(f"{len(findings)} finding(s), {len(security)} of them security" if findings else "no findings")
    if security:
        raise ToolError(f"{len(security)} security finding(s), listed above")


def cmd_migration(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import scaffold

    made = scaffold.new_migration(settings.migrations_dir, args.name, args.kind)
    for path in (made.forward, made.rollback):
        print(f"wrote {path.relative_to(settings.migrations_dir.parent)}")
    print(f"depends on {made.depends}; replace its TODO lines (`make lint` refuses them), see migrations/README.md")


def cmd_stop(args: argparse.Namespace, settings: Settings) -> None:
    if settings.database_url:
        print("DATABASE_URL is set: that server is not ours to stop; stopping the embedded one if it runs")
    print(server.stop(settings.data_dir))


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
    migrate_parser.set_defaults(func=cmd_migrate)
    rollback = sub.add_parser("rollback", help="roll back the latest migration (or --all)")
    rollback.add_argument("--all", action="store_true", help="roll back every applied migration")
    rollback.set_defaults(func=cmd_rollback)
    sub.add_parser("status", help="list applied and pending migrations, and check for drift").set_defaults(
        func=cmd_status
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
    migration.set_defaults(func=cmd_migration)
    psql = sub.add_parser("psql", help="open psql on the configured database (extra arguments go to psql)")
    psql.set_defaults(func=cmd_psql)
    sub.add_parser("stop", help="stop the embedded server").set_defaults(func=cmd_stop)
    seed = sub.add_parser("seed", help="load the development data, or bulk data with --users and --tasks")
    seed.add_argument("--users", type=int, help="bulk: number of users")
    seed.add_argument("--tasks", type=int, help="bulk: number of tasks")
    seed.add_argument("--seed", type=int, default=1, help="bulk: the random seed (same seed, same data)")
    seed.set_defaults(func=cmd_seed)
    sub.add_parser("health", help="check the connection: server version and round trip").set_defaults(func=cmd_health)
    schema = sub.add_parser(
        "schema", help="regenerate schema/schema.sql and schema/README.md from a freshly migrated database"
    )
    schema.add_argument("--check", action="store_true", help="only say whether the committed snapshot is current")
    schema.set_defaults(func=cmd_schema)
    types = sub.add_parser(
        "types", help="regenerate tododb/typed.py (typed results of the named queries) from a freshly migrated database"
    )
    types.add_argument("--check", action="store_true", help="only say whether the committed tododb/typed.py is current")
    types.set_defaults(func=cmd_types)
    backup_parser = sub.add_parser("backup", help="write a pg_dump custom-format archive of the database")
    backup_parser.add_argument("--file", type=Path, help="where (default: backups/<dbname>-<UTC time>.dump)")
    backup_parser.set_defaults(func=cmd_backup)
    restore = sub.add_parser("restore", help="restore an archive into an empty database")
    restore.add_argument("file", type=Path, nargs="?", help="the archive (default: the newest in backups/)")
    restore.add_argument("--into", metavar="DBNAME", help="a database on the same server, created if missing")
    restore.add_argument("--force", action="store_true", help="replace the contents of a database that is not empty")
    restore.set_defaults(func=cmd_restore)
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
    maintain.set_defaults(func=cmd_maintain)
    sub.add_parser(
        "doctor", help="check the database: version, TLS, migrations, drift, RLS, grants, indexes"
    ).set_defaults(func=cmd_doctor)
    bench = sub.add_parser("bench", help="benchmark the named queries on a large generated data set")
    bench.add_argument("--tasks", type=int, default=int(os.environ.get("BENCH_TASKS") or 2_000_000))
    bench.add_argument("--seed", type=int, default=1)
    bench.add_argument("--runs", type=int, default=200, help="measured runs per query")
    bench.add_argument("--pgbench-seconds", type=int, default=int(os.environ.get("BENCH_PGBENCH_SECONDS") or 20))
    bench.set_defaults(func=cmd_bench)
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
