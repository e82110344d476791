"""`make backup` / `make restore`: pg_dump custom-format archives of the configured database.

A backup is verified unless asked not to (`make backup VERIFY=0`): it is taken from a snapshot the tool
exports, each table's rows are counted and checksummed in that snapshot, and the archive is restored into a
scratch database where the same figures must come out (tooling/backup_verify.py).

A backup is the whole database: schema, data, grants, policies, owners, and
the migration records (so a restored copy knows which migrations it has and
`make status` finds no drift). pg_dump reads with row-level security off and
stops rather than write a partial archive, so a backup must be taken by a
superuser or a role with BYPASSRLS (the embedded server's is a superuser).
Optimizer statistics are not archived (they are server-version specific);
a restore runs ANALYZE instead. The archive is restored through
pg_restore's script and psql, so that a header line the embedded (newer)
binaries write, which older servers refuse, can be left out.

A restore goes into an empty database (the configured one, or a new one
named with --into) in one transaction: it lands whole or not at all. A
database that already holds a schema is refused unless --force is given.
With --force the archive is restored into a staging database first, and
only when that succeeded is the old database dropped and the staging one
renamed in its place: a failed restore loses nothing. (pg_restore --clean
would not do: objects the archive lacks, such as default privileges, stay
behind and change what the restored objects get.)
The cluster-wide roles (todo_app, todo_readonly, todo_auth) and the owner
must exist on the target server; `make migrate` on any database there
creates the three roles.

A password never goes on a client's command line, which every local user
can read (`ps`): pg_dump and psql get the URL without it, and the password
as PGPASSWORD in their own environment, which only their user (and root)
can read (client_invocation; `tooling psql` uses it too).
"""

from __future__ import annotations

import itertools
import os
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from tooling import backup_verify, server
from tooling.config import ROOT
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.scratch import drop_database
from tooling.target import connect, describe_target

BACKUP_DIR = ROOT / "backups"

# What makes a database "not empty": anything a restore would collide with.
_CONTENTS = """
    select (select count(*) from pg_namespace n
            where n.nspname not like 'pg\\_%' and n.nspname not in ('information_schema', 'public'))
         + (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
            where n.nspname = 'public')
         + (select count(*) from pg_extension where extname <> 'plpgsql')
"""


def client_invocation(url: str) -> tuple[str, dict[str, str]]:
    """How to start a libpq client (pg_dump, psql) on ``url``: a connection
    string without the password, for its command line, and the environment to
    run it with, holding the password as PGPASSWORD (this process's own
    environment is left alone). Without a password in ``url``, the client
    finds one where libpq always looks (PGPASSWORD, ~/.pgpass)."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    password = params.pop("password", None)
    env = dict(os.environ)
    if password is not None:
        env["PGPASSWORD"] = str(password)
    return psycopg.conninfo.make_conninfo("", **params), env


def _run(tool: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(server.binaries_dir() / tool), *args], capture_output=True, text=True, env=env)


def default_file(url: str) -> Path:
    dbname = psycopg.conninfo.conninfo_to_dict(url).get("dbname") or "tododb"
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return BACKUP_DIR / f"{dbname}-{stamp}.dump"


def latest_file() -> Path:
    found = sorted(BACKUP_DIR.glob("*.dump"), key=lambda path: path.stat().st_mtime)
    if not found:
        raise ToolError(f"no backup in {BACKUP_DIR.relative_to(ROOT)}/: run `make backup` first, or pass FILE=...")
    return found[-1]


def backup(url: str, file: Path) -> Path:
    """Write a custom-format archive of ``url`` to ``file``; it appears only when complete."""
    return _dump(url, file, verify=False)[0]


def backup_and_verify(url: str, file: Path) -> tuple[Path, backup_verify.Verified]:
    """``backup``, then the proof that the archive restores to the data it was taken from (tooling.backup_verify):
    the archive is kept either way, and a failed proof is a ToolError that says so."""
    file, expected = _dump(url, file, verify=True)
    assert expected is not None
    return file, backup_verify.verify(url, file, expected, _restore_into_scratch)


def _dump(url: str, file: Path, verify: bool) -> tuple[Path, backup_verify.Figures | None]:
    """pg_dump from a snapshot the tool exports, and (``verify``) every table's figures in that snapshot."""
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    conninfo, env = client_invocation(url)
    try:
        with backup_verify.exported_snapshot(url) as (snapshot, conn):
            done = _run(
                "pg_dump",
                "--format=custom",
                "--no-statistics",
                f"--snapshot={snapshot}",
                f"--file={partial}",
                f"--dbname={conninfo}",
                env=env,
            )
            expected = backup_verify.figures(conn) if verify and done.returncode == 0 else None
    except (ToolError, psycopg.Error) as exc:  # no snapshot (cannot connect), or its session lost
        partial.unlink(missing_ok=True)
        raise ToolError(f"cannot back up {describe_target(url)}, no backup written: {one_line(exc)}") from None
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        raise ToolError(f"pg_dump of {describe_target(url)} failed, no backup written: {one_line(done.stderr)}")
    partial.replace(file)
    return file, expected


def _restore_into_scratch(target: str, file: Path) -> None:
    """Restore ``file`` into the empty database ``target``, as `make restore` does."""
    _pg_restore(target, file, _hands_to_todo_auth(file))


def _contents(url: str) -> int:
    with connect(url) as conn:
        return one(conn.execute(_CONTENTS))[0]


def _create_database(url: str, dbname: str) -> str:
    """The URL of ``dbname`` on ``url``'s server, created if it does not exist."""
    try:
        with connect(url, autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s", [dbname]).fetchone()
            if not exists:
                conn.execute(sql.SQL("create database {}").format(sql.Identifier(dbname)))
    except psycopg.errors.InsufficientPrivilege as exc:
        raise ToolError(f"cannot create database {dbname!r}: {one_line(exc)}") from None
    return psycopg.conninfo.make_conninfo(url, dbname=dbname)


def _hands_to_todo_auth(file: Path) -> bool:
    """Whether the archive hands anything to todo_auth (a table-of-contents line ends with the object's
    owner); a file that is not an archive is a ToolError."""
    listed = _run("pg_restore", "--list", str(file))
    if listed.returncode != 0:
        raise ToolError(f"{file} is not a pg_dump custom-format archive: {one_line(listed.stderr)}")
    return any(line.rstrip().endswith(" todo_auth") for line in listed.stdout.splitlines() if not line.startswith(";"))


def restore(url: str, file: Path, into: str | None = None, force: bool = False) -> str:
    """Restore ``file`` into ``url`` (or database ``into`` on its server); return the target's URL."""
    if not file.is_file():
        raise ToolError(f"backup file {file} does not exist")
    hands_to_todo_auth = _hands_to_todo_auth(file)
    target = _create_database(url, into) if into else url
    objects = _contents(target)
    if objects and not force:
        raise ToolError(
            f"{describe_target(target)} is not empty ({objects} schema(s), relation(s) or extension(s)): "
            "restore into a new database with INTO=name (--into), or replace its contents with FORCE=1 (--force)"
        )
    if not objects:
        _pg_restore(target, file, hands_to_todo_auth)
        return target
    dbname = str(psycopg.conninfo.conninfo_to_dict(target)["dbname"])
    staging = f"{dbname}_restoring"
    admin = psycopg.conninfo.make_conninfo(target, dbname="postgres")
    drop_database(admin, staging)  # a leftover of an interrupted run
    try:
        _pg_restore(_create_database(admin, staging), file, hands_to_todo_auth)
    except ToolError:
        drop_database(admin, staging)
        raise
    try:
        drop_database(admin, dbname)
        with connect(admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("alter database {} rename to {}").format(sql.Identifier(staging), sql.Identifier(dbname))
            )
    except psycopg.Error as exc:
        raise ToolError(
            f"the restored copy is in database {staging!r}, but replacing {dbname!r} failed: {one_line(exc)}"
        ) from None
    return target


# Where an owner that is not a superuser restores, what it lends itself and todo_auth for the handover of the
# definer code todo_auth owns (the sign-in and sharing functions, in both schemas), and takes back at the end
# (see _handover_lines): after each schema is created, todo_auth may create in it.
_AFTER_SCHEMA = {
    b"CREATE SCHEMA app;\n": b"GRANT CREATE ON SCHEMA app TO todo_auth;\n",
    b"CREATE SCHEMA app_private;\n": b"GRANT CREATE ON SCHEMA app_private TO todo_auth;\n",
}


def _handover_lines(conn: psycopg.Connection) -> tuple[list[bytes], list[bytes]] | None:
    """Lines to put before and after the script so that an owner that is not a superuser can restore.

    The archive hands the sign-in and sharing functions to todo_auth (`ALTER FUNCTION ... OWNER TO todo_auth`), which
    PostgreSQL allows only to a role that may SET ROLE todo_auth, and only while todo_auth may create in the
    function's schema: what 0016a lends for migration 0017. An ordinary owner (hosted servers) holds ADMIN
    OPTION on todo_auth, not those rights: it takes them inside the restore's one transaction and gives them
    back at its end, so nothing outlives the restore. None when nothing is needed (a superuser).
    """
    option = "SET" if conn.info.server_version >= 160000 else "MEMBER"
    needs = conn.execute(
        "select not pg_has_role(current_user, r.oid, %s) from pg_roles r where r.rolname = 'todo_auth'", [option]
    ).fetchone()
    if not needs or not needs[0]:
        return None
    return (
        [b"grant todo_auth to current_user;\n"],
        [b"revoke create on schema app, app_private from todo_auth;\n", b"revoke todo_auth from current_user;\n"],
    )


# pg_restore 17+ starts its script with this setting, which older servers do not know.
_NEWER_SETTINGS = {b"SET transaction_timeout = 0;\n": 170000}


def _pg_restore(target: str, file: Path, hands_to_todo_auth: bool = False) -> None:
    """pg_restore's script of the archive, run by psql in one transaction.

    The embedded binaries are newer than some supported servers (15, 16), and
    pg_restore writes `SET transaction_timeout` whatever the server; going
    through its script lets that one header line be left out for a server
    that predates it. Everything else is what `pg_restore --dbname` runs.
    """
    with connect(target) as conn:
        version = conn.info.server_version
        handover = _handover_lines(conn) if hands_to_todo_auth else None
    prologue, epilogue = handover or ([], [])
    binaries = server.binaries_dir()
    # Their messages go to files, not pipes: a chatty restore must not stall on a full pipe.
    with tempfile.TemporaryFile() as script_log, tempfile.TemporaryFile() as psql_log:
        script = subprocess.Popen(
            [str(binaries / "pg_restore"), "--file=-", str(file)], stdout=subprocess.PIPE, stderr=script_log
        )
        conninfo, env = client_invocation(target)
        psql = subprocess.Popen(
            [
                str(binaries / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--dbname={conninfo}",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=psql_log,
            env=env,
        )
        assert script.stdout is not None and psql.stdin is not None  # both are pipes (PIPE above)
        try:
            for line in itertools.chain(prologue, script.stdout, epilogue):  # streamed, never held whole
                if _NEWER_SETTINGS.get(line, 0) > version:
                    continue
                psql.stdin.write(line)
                if handover and line in _AFTER_SCHEMA:
                    psql.stdin.write(_AFTER_SCHEMA[line])
        except BrokenPipeError:
            pass  # psql stopped at an error: its messages say which
        finally:
            try:
                psql.stdin.close()  # flushes: raises again when psql has gone
            except BrokenPipeError:
                pass
            script.stdout.close()
        failed = (script.wait() != 0) | (psql.wait() != 0)
        if failed:
            script_log.seek(0)
            psql_log.seek(0)
            messages = psql_log.read().decode(errors="replace") or script_log.read().decode(errors="replace")
            raise ToolError(
                f"restore into {describe_target(target)} failed and was rolled back, nothing changed: "
                f"{one_line(messages)[:500]}"
            )
    with connect(target, autocommit=True) as conn:
        conn.execute("analyze")
