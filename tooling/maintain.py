"""`tooling maintain purge|archive --older-than AGE`: the retention jobs.

purge   hard-deletes tasks that have been in the bin (soft-deleted) for
        longer than AGE; history records each as hard_deleted.
archive moves tasks completed longer than AGE ago, with their tag links,
        out of app.tasks into app.tasks_archive.

The work is done by SQL functions in the schema (0021), one batch of at
most --batch-size tasks per call; this module calls them in a loop, each
batch in its own transaction, until one finds nothing left. Locks are held
for one batch only; a run that is interrupted (Ctrl-C, kill, lost
connection) keeps its finished batches, and the unfinished one is rolled
back by the server, so running it again finishes the job with nothing lost
and nothing moved twice. The cutoff is fixed when the run starts.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect

JOBS = {
    # job: (function, what it does to a task, what it counts)
    "purge": ("app_private.purge_deleted_tasks", "purged", "tasks deleted before"),
    "archive": ("app_private.archive_completed_tasks", "archived", "tasks completed before"),
}
# What each job's batches would still find at the end: rows they skipped because another session held them
# locked (0028), or that became due while the job ran.
LEFT_BEHIND = {
    "purge": "select count(*) from app.tasks where deleted_at < %s",
    "archive": "select count(*) from app.tasks where status = 'completed' and completed_at < %s and deleted_at is null",
}
_AGE = re.compile(r"(\d+)([hdw])")
_UNITS = {"h": "hours", "d": "days", "w": "weeks"}


@dataclass
class Outcome:
    job: str
    tasks: int
    batches: int
    cutoff: datetime
    seconds: float
    skipped: int = 0

    def summary(self) -> str:
        verb, counted = JOBS[self.job][1], JOBS[self.job][2]
        line = (
            f"{verb} {self.tasks:,} {counted} {self.cutoff:%Y-%m-%d %H:%M:%S %Z} in {self.batches} "
            f"batch(es), {self.seconds:.1f} s"
        )
        if self.skipped:
            line += (
                f"; {self.skipped:,} left behind, held locked by another session or due since the run began"
                " (the next run takes them; if they stay, look for a session idle in transaction)"
            )
        return line


def parse_age(text: str) -> timedelta:
    """`30d`, `12h`, `2w`: a positive age."""
    match = _AGE.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ToolError(f"--older-than must be a positive age such as 30d, 12h or 2w, not {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def _connect(url: str) -> psycopg.Connection:
    conn = connect(url, application_name="tododb maintain")
    # If this process dies, the server notices within seconds and rolls the batch back.
    conn.execute("set client_connection_check_interval = '2s'")
    conn.execute("set lock_timeout = '5s'")
    conn.execute("set statement_timeout = '5min'")
    conn.commit()
    return conn


def _check(conn: psycopg.Connection, function: str) -> None:
    role, bypasses = one(
        conn.execute("select current_user, rolsuper or rolbypassrls from pg_roles where rolname = current_user")
    )
    if not bypasses:
        raise ToolError(
            f"maintenance must run as a role that bypasses row-level security (a superuser, or the owner with"
            f" BYPASSRLS) to see every user's tasks; {role!r} does not"
        )
    if one(conn.execute("select to_regprocedure(%s)", [f"{function}(timestamptz, integer)"]))[0] is None:
        raise ToolError(f"{function} does not exist: run `make migrate` first")
    conn.commit()


def run(url: str, job: str, older_than: timedelta, batch_size: int = 1000, echo=print) -> Outcome:
    if batch_size < 1:
        raise ToolError(f"--batch-size must be at least 1, not {batch_size}")
    function = JOBS[job][0]
    started = time.perf_counter()
    with _connect(url) as conn:
        _check(conn, function)
        cutoff = one(conn.execute("select now() - %s::interval", [older_than]))[0]
        conn.commit()
        done = batches = 0
        while True:
            try:
                with conn.transaction():
                    count = one(conn.execute(f"select {function}(%s, %s)", [cutoff, batch_size]))[0]
            except psycopg.errors.LockNotAvailable:
                raise ToolError(
                    f"a batch waited too long for tasks the app holds locked; the {done:,} tasks already"
                    f" {JOBS[job][1]} are kept: run the same command again"
                ) from None
            except psycopg.Error as exc:
                raise ToolError(
                    f"{job} stopped ({exc.sqlstate} {one_line(exc.diag.message_primary or exc)}); the {done:,}"
                    f" tasks already {JOBS[job][1]} are kept: fix the cause and run it again"
                ) from None
            conn.commit()
            if count == 0:
                break
            done += count
            batches += 1
            echo(f"  batch {batches}: {count:,} tasks {JOBS[job][1]} ({done:,} so far)")
        skipped = one(conn.execute(LEFT_BEHIND[job], [cutoff]))[0]
        conn.commit()
    return Outcome(job, done, batches, cutoff, time.perf_counter() - started, skipped)
