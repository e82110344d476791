"""The test databases' files in memory: a tablespace on tmpfs for the templates, so every clone is made there.

Why: each test gets its own clone of a template (``CREATE DATABASE ... TEMPLATE``), and that is most of the
suite's time on a disk: about 200 ms to create and up to 90 ms to drop a migrated database (roughly 700
files on ext4), against about 25 ms and 5 ms on tmpfs (measured on the CI machine, PostgreSQL 18). What is
tested does not change: the same server, the same SQL, the same catalogs; only where a database's files
live. The server's own data directory (WAL, the cluster's catalogs) stays where it is, so crash and
restart tests are as before.

Used only where it can be: a local server (its data directory is on this machine), a tmpfs at
``/dev/shm``, and a directory the server's OS user can own (we are that user, or root). Anywhere else
the templates stay in the default tablespace and the suite is merely slower. ``TODODB_TEST_TABLESPACE=off``
turns it off.
"""

from __future__ import annotations

import os
from pathlib import Path

import psycopg
from psycopg import sql

NAME = "tododb_test_ram"
TMPFS = Path("/dev/shm")


def _location(admin: psycopg.Connection) -> Path | None:
    """Where the tablespace's folder goes for this server, made and owned by its OS user; None if it cannot."""
    if os.environ.get("TODODB_TEST_TABLESPACE", "").lower() in {"off", "0", "no"} or not TMPFS.is_dir():
        return None
    data_directory = Path(admin.execute("show data_directory").fetchone()[0])
    try:
        owner = data_directory.stat()
    except OSError:  # not on this machine: a remote server
        return None
    if os.geteuid() not in (0, owner.st_uid):
        return None
    port = admin.execute("show port").fetchone()[0]
    folder = TMPFS / f"tododb-tests-{owner.st_uid}-{port}"
    folder.mkdir(mode=0o700, exist_ok=True)
    os.chown(folder, owner.st_uid, owner.st_gid)
    return folder


def ensure(admin: psycopg.Connection) -> str | None:
    """The tablespace's name, creating it when needed; None where it cannot be used. ``admin``: autocommit."""
    if admin.execute("select 1 from pg_tablespace where spcname = %s", [NAME]).fetchone():
        return NAME
    folder = _location(admin)
    if folder is None:
        return None
    if any(folder.iterdir()):  # left by a run that could not drop it (and its server since forgot it)
        return None
    admin.execute(sql.SQL("create tablespace {} location {}").format(sql.Identifier(NAME), sql.Literal(str(folder))))
    return NAME


def move_database(admin: psycopg.Connection, dbname: str) -> None:
    """Move ``dbname`` (nobody connected to it) into the tablespace, so that its clones are made there."""
    name = ensure(admin)
    if name is not None:
        admin.execute(
            sql.SQL("alter database {} set tablespace {}").format(sql.Identifier(dbname), sql.Identifier(name))
        )


def drop(admin: psycopg.Connection) -> None:
    """At the end of the run: drop the tablespace once no database is left in it (else leave it be)."""
    row = admin.execute(
        "select oid, pg_tablespace_location(oid) from pg_tablespace where spcname = %s", [NAME]
    ).fetchone()
    if row is None:
        return
    if admin.execute("select 1 from pg_database where dattablespace = %s", [row[0]]).fetchone():
        return
    try:
        admin.execute(sql.SQL("drop tablespace {}").format(sql.Identifier(NAME)))
    except psycopg.Error:  # a table of some database still in it: the next run reuses the tablespace
        return
    try:
        Path(row[1]).rmdir()  # the server removed what it put there; the folder is ours
    except OSError:
        pass
