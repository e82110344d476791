"""What each command of `tododb` does: one function per command, taking the parsed arguments and the
settings, each a thin call into the module that does the work (tooling/cli.py parses and dispatches)."""

from __future__ import annotations

import argparse
import os
import time

from tooling import migrate, server
from tooling.config import ROOT, Settings
from tooling.errors import ToolError
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
    file = args.file or backup.default_file(url)
    if not args.verify:
        file = backup.backup(url, file)
    else:
        file, verified = backup.backup_and_verify(url, file)
    print(f"backed up {describe_target(url)} to {file} ({file.stat().st_size / 1e6:.1f} MB, custom format)")
    if args.verify:
        print(
            f"verified: restored into a scratch database, {verified.tables} tables and {verified.rows:,} rows with "
            "the counts and checksums of the snapshot the backup was taken from"
        )


def cmd_basebackup(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import recovery

    started = time.perf_counter()
    made = recovery.base_backup(settings)
    size = sum(f.stat().st_size for f in made.folder.rglob("*") if f.is_file())
    print(
        f"base backup {made.folder} ({size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s, finished at "
        f"{made.finished.isoformat()}: recovery to any later moment starts from it"
    )


def cmd_recover(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import recovery

    target = recovery.parse_target(args.to)
    started = time.perf_counter()
    into, base = recovery.recover(settings, target, args.into)
    print(
        f"recovered the cluster as of {target.isoformat()} into {into} in {time.perf_counter() - started:.1f} s "
        f"(base backup {base.folder.name}, then the archived WAL); its server runs beside the live one:"
    )
    print(f"  DATABASE_URL='{server.EmbeddedServer(socket_dir=into, port=5432).url()}'")
    print(f"  copy back what was lost (pg_dump -t ...), then stop it: TODODB_DATA_DIR={into} tododb stop")


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


def cmd_top(args: argparse.Namespace, settings: Settings) -> None:
    from tooling import top

    url = database_url(settings)
    print(f"top: {describe_target(url)}")
    lines = top.examine(url)
    for line in lines:
        print(line)
    warnings = [line for line in lines if line.level == "warn"]
    print(f"{len(warnings)} warning(s)" if warnings else "no warnings")


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
