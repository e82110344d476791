"""A private PgBouncer in transaction mode in front of a PostgreSQL database, for the tests and the bench.

Debian's ``pgbouncer`` package, never its system service: each ``running()`` starts its own
process with its own ini file and auth file in a temporary folder, listening on 127.0.0.1 on a
free port, and stops it on the way out. PgBouncer refuses to run as root: run as root, the process
runs as the owner of the server's socket folder (the embedded server's OS user) or ``postgres``.

The settings are the ones README documents as tested:

- ``pool_mode = transaction``: a server connection is lent to a client for one transaction;
  nothing set for the session (``set``, ``set_config(..., false)``, temporary objects, prepared
  statements) is guaranteed to reach the client's next transaction, nor to stay away from
  another client's. The app's pool relies on none of it: role, identity and limits are set in
  every transaction (``set_config(..., true)``), and psycopg prepares nothing
  (``prepare_threshold=None``);
- ``auth_type = scram-sha-256`` with an ``auth_file`` holding the role's SCRAM secret as the
  server stores it (``pg_authid.rolpassword``), so PgBouncer checks the client's proof and logs
  in to the server with the same keys, and no password is written down; where the secret cannot
  be read (not a superuser, or an md5 password), the plain password, in a file only the
  PgBouncer user can read;
- ``max_client_conn = 1100``, ``default_pool_size = 20`` (server connections per database and
  user), ``reserve_pool_size = 0``;
- ``max_prepared_statements = 0`` on PgBouncer 1.21 and later (earlier ones do not know it and
  pass protocol-level prepared statements through untracked): the app prepares nothing, and a
  borrower that turns psycopg's preparing on keeps its statements within one transaction.
"""

from __future__ import annotations

import os
import pwd
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import psycopg

from tooling.errors import ToolError, one_line

POOL_MODE = "transaction"
MAX_CLIENT_CONN = 1100
DEFAULT_POOL_SIZE = 20
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


def find() -> Path | None:
    """The pgbouncer binary (Debian installs it in /usr/sbin, which a user's PATH may lack), or None."""
    found = shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/local/sbin:/usr/bin")
    return Path(found) if found else None


def version(binary: Path) -> tuple[int, ...]:
    """PgBouncer's version, e.g. (1, 18, 0)."""
    done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=10)
    match = re.search(r"PgBouncer (\d+)\.(\d+)(?:\.(\d+))?", done.stdout + done.stderr)
    if not match:
        raise ToolError(f"cannot tell the version of {binary}: {one_line(done.stdout + done.stderr)}")
    return tuple(int(part or 0) for part in match.groups())


def tracks_prepared_statements(found: tuple[int, ...]) -> bool:
    """PgBouncer 1.21 and later can track protocol-level prepared statements (max_prepared_statements)."""
    return found >= (1, 21)


def secret_for(user: str, password: str, admin: psycopg.Connection | None = None) -> str:
    """What goes in the auth file for ``user``: the server's SCRAM secret when ``admin`` can read it."""
    if admin is not None:
        try:
            with admin.transaction():
                row = admin.execute(
                    "select rolpassword from pg_catalog.pg_authid where rolname = %s", [user]
                ).fetchone()
        except psycopg.Error:
            row = None  # not a superuser: pg_authid is not readable
        if row and row[0] and row[0].startswith("SCRAM-SHA-256$"):
            return row[0]
    return password


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft limit on open files towards ``wanted`` (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _run_as(server_host: str) -> pwd.struct_passwd | None:
    """The unprivileged OS user PgBouncer runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    if server_host.startswith("/"):
        try:
            owner = Path(server_host).stat().st_uid
            if owner != 0:
                return pwd.getpwuid(owner)
        except (OSError, KeyError):
            pass
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise ToolError("PgBouncer refuses to run as root, and there is no postgres or nobody user to run it as")


@dataclass
class Bouncer:
    """A running PgBouncer."""

    port: int
    dbname: str
    version: tuple[int, ...]
    settings: dict[str, str]
    process: subprocess.Popen
    folder: Path

    def url(self, user: str, password: str, dbname: str | None = None) -> str:
        auth = quote(user, safe="") + ":" + quote(password, safe="")
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{quote(dbname or self.dbname)}"

    def log(self) -> str:
        try:
            return (self.folder / "pgbouncer.log").read_text(errors="replace")
        except OSError:
            return ""

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))


def settings_for(
    port: int,
    folder: Path,
    found: tuple[int, ...],
    *,
    pool_size: int,
    max_client_conn: int,
    sslmode: str | None,
    extra: Mapping[str, object],
) -> dict[str, str]:
    settings: dict[str, object] = {
        "listen_addr": "127.0.0.1",
        "listen_port": port,
        "unix_socket_dir": "",  # TCP on loopback only: no socket file in /tmp to clash with
        "auth_type": "scram-sha-256",
        "auth_file": folder / "userlist.txt",
        "pool_mode": POOL_MODE,
        "max_client_conn": max_client_conn,
        "default_pool_size": pool_size,
        "min_pool_size": 0,
        "reserve_pool_size": 0,
        "log_connections": 0,  # a thousand clients would flood the log
        "log_disconnections": 0,
        "log_pooler_errors": 1,
        "logfile": "",
        "pidfile": "",
    }
    if sslmode:
        settings["server_tls_sslmode"] = sslmode
    if tracks_prepared_statements(found):
        settings["max_prepared_statements"] = 0
    settings.update(extra)
    return {name: str(value) for name, value in settings.items()}


@contextmanager
def running(
    server_url: str,
    secrets: Mapping[str, str],
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    max_client_conn: int = MAX_CLIENT_CONN,
    extra: Mapping[str, object] | None = None,
    binary: Path | None = None,
) -> Iterator[Bouncer]:
    """Start a PgBouncer in front of ``server_url``'s database for ``secrets`` (user: SCRAM secret or
    password); yield it; stop it and remove its folder on the way out."""
    binary = binary or find()
    if binary is None:
        raise ToolError("pgbouncer is not installed (Debian: apt-get install pgbouncer)")
    found = version(binary)
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    host, port, dbname = (
        str(params.get("host") or "/var/run/postgresql"),
        str(params.get("port") or 5432),
        str(params["dbname"]),
    )
    user = _run_as(host)
    # PgBouncer keeps a file per client and per server connection; so does a pgbench beside it.
    raise_open_files(2 * max_client_conn + 4 * pool_size + 256)
    folder = Path(tempfile.mkdtemp(prefix="tododb-pgbouncer-"))
    try:
        if user is not None:
            os.chown(folder, user.pw_uid, user.pw_gid)
        auth_file = folder / "userlist.txt"
        auth_file.write_text("".join(f"{_quoted(name)} {_quoted(secret)}\n" for name, secret in secrets.items()))
        auth_file.chmod(0o600)
        for attempt in range(3):  # the port we picked may be taken before PgBouncer binds it
            listen = _free_port()
            settings = settings_for(
                listen,
                folder,
                found,
                pool_size=pool_size,
                max_client_conn=max_client_conn,
                sslmode=str(params["sslmode"]) if params.get("sslmode") else None,
                extra=extra or {},
            )
            ini = folder / "pgbouncer.ini"
            ini.write_text(
                "[databases]\n"
                f"{dbname} = host={host} port={port} dbname={dbname}\n\n"
                "[pgbouncer]\n" + "".join(f"{name} = {value}\n" for name, value in settings.items())
            )
            ini.chmod(0o600)
            log_path = folder / "pgbouncer.log"
            for path in (auth_file, ini):
                if user is not None:
                    os.chown(path, user.pw_uid, user.pw_gid)
            with open(log_path, "w") as log:
                process = subprocess.Popen(
                    [str(binary), str(ini)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=folder,
                    user=None if user is None else user.pw_uid,
                    group=None if user is None else user.pw_gid,
                    extra_groups=None if user is None else [],
                )
            bouncer = Bouncer(listen, dbname, found, settings, process, folder)
            if _wait_listening(bouncer):
                break
            _stop(bouncer)
            if "Address already in use" not in bouncer.log() or attempt == 2:
                lines = [line for line in bouncer.log().splitlines() if line.strip()]
                raise ToolError(f"pgbouncer did not start: {one_line(lines[-1] if lines else 'no log')}")
        try:
            yield bouncer
        finally:
            _stop(bouncer)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _wait_listening(bouncer: Bouncer) -> bool:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if bouncer.process.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", bouncer.port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def _stop(bouncer: Bouncer) -> None:
    """SIGTERM: PgBouncer's immediate shutdown (its clients and server connections are closed)."""
    process = bouncer.process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
