"""Point-in-time recovery on the embedded server: WAL archiving, base backups, `make recover`.

One setting turns it on: ``TODODB_WAL_ARCHIVE=<folder>``. The embedded server then copies every finished WAL
segment to ``<folder>/wal`` (``archive_mode``, ``archive_command``; ``archive_timeout`` 60 s, so a quiet server
still hands over its last minute), and `make basebackup` writes a base backup (``pg_basebackup``, its own WAL
streamed in, so each one is whole by itself) to ``<folder>/base/<UTC time>``. `make recover TO='<timestamp>'`
copies the newest base backup that had finished before that moment into a new data folder beside the live one,
replays the archive up to it (``recovery_target_time``: every transaction committed at or before it, none after),
promotes it and starts it on a socket of its own. The live server is not touched: copy back what was lost
(``pg_dump -t``, or point the app at the recovered folder).

On a hosted server the provider keeps the base backups and the WAL (Neon: restore a branch to a time; RDS:
restore to a point in time); the commands here refuse to run there, and say so.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from tooling import server
from tooling.config import Settings
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect

FINISHED = "tododb-finished"  # in a base backup's folder: when it finished, by the server's clock (ISO 8601)
ARCHIVE_TIMEOUT = "1min"  # as SHOW spells it, so that an unchanged setting is left alone
RECOVERY_WAIT_SECONDS = 300


def _wal(archive: Path) -> Path:
    return archive / "wal"


def _bases(archive: Path) -> Path:
    return archive / "base"


def archiving_settings(archive: Path) -> dict[str, str]:
    """What the server is told: copy a finished segment once (never over one already there), atomically."""
    wal = shlex.quote(str(_wal(archive)))
    command = f"test ! -f {wal}/%f && cp %p {wal}/%f.partial && mv {wal}/%f.partial {wal}/%f"
    return {"archive_mode": "on", "archive_command": command, "archive_timeout": ARCHIVE_TIMEOUT}


def prepare_archive(archive: Path, data_dir: Path) -> None:
    """The archive's folders, owned by the system user that runs the server (it writes them), reachable by it."""
    owner = data_dir.stat()
    try:
        for folder in (archive, _wal(archive), _bases(archive)):
            folder.mkdir(parents=True, exist_ok=True)
            os.chown(folder, owner.st_uid, owner.st_gid)
            folder.chmod(0o700)
        _make_reachable(archive)
    except OSError as exc:
        raise ToolError(f"TODODB_WAL_ARCHIVE={archive}: cannot make the archive's folders there: {exc}") from None


def _make_reachable(path: Path) -> None:
    """Every folder above ``path`` traversable by the server's system user (the wheel does the same for its data
    folder)."""
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if mode & 0o011 != 0o011:
            parent.chmod(mode | 0o011)


def configure_archiving(conn: psycopg.Connection, archive: Path, data_dir: Path) -> bool:
    """Ask the server to archive into ``archive`` (kept by ALTER SYSTEM). True when it is archiving there now; a
    changed ``archive_mode`` needs a restart, the rest a reload (done here)."""
    prepare_archive(archive, data_dir)
    wanted = archiving_settings(archive)
    current = {name: one(conn.execute(sql.SQL("show {}").format(sql.Identifier(name))))[0] for name in wanted}
    changed = [name for name in wanted if current[name] != wanted[name]]
    for name in changed:
        conn.execute(sql.SQL("alter system set {} = {}").format(sql.Identifier(name), sql.Literal(wanted[name])))
    if changed:
        conn.execute("select pg_reload_conf()")
    return current["archive_mode"] == "on"


def _require_embedded(settings: Settings, what: str) -> Path:
    if settings.database_url:
        raise ToolError(
            f"{what} works on the embedded server only: on a hosted server the provider keeps the base backups "
            "and the WAL (Neon: restore a branch to a time; RDS: point-in-time restore)"
        )
    if settings.wal_archive is None:
        raise ToolError(
            f"{what} needs WAL archiving: set TODODB_WAL_ARCHIVE to a folder (then `make stop` once, so that the "
            "server starts archiving into it)"
        )
    return settings.wal_archive


def _run_as_owner(data_dir: Path, binary: str, args: list[str], failure: str, timeout: float = 600) -> None:
    """A server binary run as the system user that owns ``data_dir`` (the files it writes are then theirs)."""
    command = [str(server.binaries_dir() / binary), *args]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=timeout, user=server.run_as(data_dir)
        )
    except subprocess.CalledProcessError as exc:
        raise ToolError(f"{failure}: {one_line(exc.stderr or exc)}") from None
    except subprocess.TimeoutExpired:
        raise ToolError(f"{failure}: no answer in {timeout:.0f} s") from None


@dataclass(frozen=True)
class BaseBackup:
    folder: Path
    finished: datetime


def base_backups(archive: Path) -> list[BaseBackup]:
    """The finished base backups, oldest first (one still being written has no FINISHED file yet)."""
    found = []
    for folder in sorted(_bases(archive).glob("*")) if _bases(archive).is_dir() else []:
        marker = folder / FINISHED
        if marker.is_file():
            found.append(BaseBackup(folder, datetime.fromisoformat(marker.read_text().strip())))
    return sorted(found, key=lambda b: b.finished)


def base_backup(settings: Settings) -> BaseBackup:
    """`make basebackup`: a whole copy of the embedded server's cluster, the start of every recovery after it."""
    archive = _require_embedded(settings, "a base backup")
    embedded = server.ensure_running(settings.data_dir, archive)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    partial = _bases(archive) / f"{stamp}.partial"
    with connect(embedded.url("postgres"), embedded_dir=settings.data_dir, autocommit=True) as conn:
        if one(conn.execute("show archive_mode"))[0] != "on":
            raise ToolError("the embedded server is not archiving WAL yet: `make stop`, then run this again")
        _run_as_owner(
            settings.data_dir,
            "pg_basebackup",
            ["-h", str(embedded.socket_dir), "-p", str(embedded.port), "-U", server.SUPERUSER, "-D", str(partial)]
            + ["--format=plain", "--wal-method=stream", "--checkpoint=fast", "--no-password"],
            "pg_basebackup failed",
        )
        finished = one(conn.execute("select clock_timestamp()"))[0]
        conn.execute("select pg_switch_wal()")  # the segment the backup ended in goes to the archive now
    folder = _bases(archive) / stamp
    partial.rename(folder)
    marker = folder / FINISHED
    marker.write_text(finished.isoformat() + "\n")
    os.chown(marker, folder.stat().st_uid, folder.stat().st_gid)
    return BaseBackup(folder, finished)


def parse_target(text: str) -> datetime:
    """A moment with its time zone ('2026-12-02 12:00:00+00', '...Z'); anything else is one line."""
    try:
        moment = datetime.fromisoformat(text.strip().replace(" UTC", "+00:00"))
    except ValueError:
        raise ToolError(f"TO={text!r} is not a timestamp: give one like '2026-12-02 12:00:00+00'") from None
    if moment.tzinfo is None:
        raise ToolError(f"TO={text!r} has no time zone: add one ('+00' for UTC), recovery must not guess it")
    return moment


def _flush_live_wal(settings: Settings) -> None:
    """If the live server runs: switch to a new WAL segment and wait until the archive has the one just closed,
    so that the last minutes are in it too. A server that is down has archived what it could."""
    if not (settings.data_dir / "postmaster.pid").exists() or server.remove_stale_pidfile(settings.data_dir):
        return
    embedded = server.ensure_running(settings.data_dir, settings.wal_archive)
    with connect(embedded.url("postgres"), embedded_dir=settings.data_dir, autocommit=True) as conn:
        # The segment holding the last byte before the switch: when nothing was written since the last switch,
        # pg_switch_wal() does nothing and that segment is archived already.
        closed = one(conn.execute("select pg_walfile_name(pg_switch_wal() - 1)"))[0]
        deadline = time.monotonic() + 60
        while True:
            archived, failed = one(conn.execute("select last_archived_wal, last_failed_wal from pg_stat_archiver"))
            if archived is not None and archived >= closed:
                return
            if time.monotonic() > deadline:
                raise ToolError(f"WAL segment {closed} did not reach the archive in 60 s (last failed: {failed})")
            time.sleep(0.1)


def recover(settings: Settings, target: datetime, into: Path | None = None) -> tuple[Path, BaseBackup]:
    """`make recover TO=...`: a new data folder holding the cluster as it was at ``target``, its server running."""
    archive = _require_embedded(settings, "point-in-time recovery")
    if target > datetime.now(UTC):
        raise ToolError(f"TO={target.isoformat()} is in the future: recovery can only go back to a moment passed")
    _flush_live_wal(settings)
    usable = [b for b in base_backups(archive) if b.finished < target]
    if not usable:
        every = base_backups(archive)
        oldest = f"the oldest finished at {every[0].finished.isoformat()}" if every else "there is none"
        raise ToolError(f"no base backup finished before {target.isoformat()} ({oldest}); `make basebackup` first")
    chosen = usable[-1]
    into = (into or settings.data_dir.parent / f"{settings.data_dir.name}-recovered-{target:%Y%m%dT%H%M%S}").resolve()
    if into.exists():
        raise ToolError(f"{into} exists already: recover into a new folder (INTO=...)")
    owner = chosen.folder.stat()
    shutil.copytree(chosen.folder, into, symlinks=True)
    (into / FINISHED).unlink()
    (into / "recovery.signal").touch()
    wal = shlex.quote(str(_wal(archive)))
    settings_text = "".join(
        f"{name} = {value}\n"
        for name, value in {
            "restore_command": _quoted(f"cp {wal}/%f %p"),
            "recovery_target_time": _quoted(target.isoformat()),
            "recovery_target_action": "'promote'",
            "archive_mode": "'off'",  # the copy must not write into the live server's archive
        }.items()
    )
    with (into / "postgresql.auto.conf").open("a") as conf:
        conf.write("# tododb recover\n" + settings_text)
    for path in [into, *into.rglob("*")]:
        os.chown(path, owner.st_uid, owner.st_gid, follow_symlinks=False)
    into.chmod(0o700)
    _make_reachable(into)
    _start_recovered(into)
    return into, chosen


def _quoted(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _start_recovered(into: Path) -> None:
    """Start the recovered copy on its own socket and wait until recovery has reached the target and promoted."""
    # The live server's socket lives in its data folder: the backup holds its lock file, which would stop this one.
    for leftover in ["postmaster.pid", "postmaster.opts", *(p.name for p in into.glob(".s.PGSQL.*"))]:
        (into / leftover).unlink(missing_ok=True)
    try:
        _run_as_owner(
            into,
            "pg_ctl",
            ["-D", str(into), "-w", "-t", str(RECOVERY_WAIT_SECONDS), "-l", str(into / "log")]
            + ["-o", f'-h "" -k {shlex.quote(str(into))}', "start"],
            "pg_ctl start failed",
            timeout=RECOVERY_WAIT_SECONDS + 30,
        )
    except ToolError:
        raise ToolError(f"recovery stopped: {server.last_log_line(into)}; see {into / 'log'}") from None
    url = server.EmbeddedServer(socket_dir=into, port=5432).url("postgres")
    deadline = time.monotonic() + RECOVERY_WAIT_SECONDS
    while True:
        try:
            with connect(url, embedded_dir=into, connect_timeout=5, autocommit=True) as conn:
                if not one(conn.execute("select pg_is_in_recovery()"))[0]:
                    return
        except ToolError:
            if not (into / "postmaster.pid").exists():
                raise ToolError(f"recovery stopped: {server.last_log_line(into)}; see {into / 'log'}") from None
        if time.monotonic() > deadline:
            raise ToolError(f"recovery did not finish in {RECOVERY_WAIT_SECONDS} s; see {into / 'log'}")
        time.sleep(0.2)
