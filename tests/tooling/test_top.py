"""`make top`: the operator's view of a live database. A quiet database has no warning, for the superuser and
for an owner that is not one; each kind of trouble is named, past its threshold and not before, with what
to do: a session idle in a transaction, a lock wait and its blocker, dead tuples and bloat, slow statements,
connections in use."""

from __future__ import annotations

import os
import threading
import time

import psycopg
import pytest

from tests.owners import OWNER, OWNER_PASSWORD, reachable_url
from tests.support import db_url, run_cli
from tooling import top

CHECKS = ("slowest statements", "cache hit ratio", "bloat", "dead tuples", "sessions", "lock waits", "connections")
QUIET = top.Thresholds()
EAGER = top.Thresholds(
    idle_in_transaction_seconds=0,
    lock_wait_seconds=0,
    connections_ratio=0,
    bloat_min_bytes=1,
    dead_min_tuples=1,
    slow_statement_ms=100,
)


def _levels(lines, starting: str) -> list[str]:
    return [line.level for line in lines if line.text.startswith(starting)]


def _assert_every_check_reported(lines) -> None:
    text = " ".join(line.text for line in lines)
    assert "could not check" not in text
    missing = [c for c in CHECKS if c not in text and not (c == "slowest statements" and "statement:" in text)]
    assert missing == []


def test_a_quiet_database_has_no_warning(superuser_migrated):
    lines = top.examine(db_url(superuser_migrated))
    _assert_every_check_reported(lines)
    assert [str(line) for line in lines if line.level in ("warn", "SECURITY")] == []


def test_it_works_for_an_owner_that_is_not_a_superuser(owner_migrated):
    url = reachable_url(owner_migrated.info.dbname, OWNER, OWNER_PASSWORD)
    with psycopg.connect(url) as owner:
        assert not owner.execute("select rolsuper from pg_roles where rolname = current_user").fetchone()[0]
    lines = top.examine(url)
    _assert_every_check_reported(lines)
    assert [str(line) for line in lines if line.level in ("warn", "SECURITY")] == []
    # Another role's session idle in a transaction: out of this owner's sight, and said so (not "none").
    owner_migrated.execute("select 1")
    assert owner_migrated.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    hidden = [line for line in top.examine(url, EAGER) if line.text.startswith("sessions:")]
    assert [line.level for line in hidden] == ["info"] and "out of this role's sight" in hidden[0].text


def test_a_session_idle_in_a_transaction_is_named_past_its_threshold(superuser_migrated):
    url = db_url(superuser_migrated)
    with psycopg.connect(url) as idle:
        idle.execute("select 1")  # a transaction is open, and nothing runs in it
        pid = idle.info.backend_pid
        time.sleep(0.2)
        named = [line for line in top.examine(url, EAGER) if line.text.startswith(f"pid {pid} ")]
        quiet = [line for line in top.examine(url, QUIET) if line.text.startswith(f"pid {pid} ")]
    assert [line.level for line in named] == ["warn"] and "idle in transaction" in named[0].text
    assert "pg_terminate_backend" in named[0].text
    assert quiet == []  # 60 s is the default threshold


def test_a_statement_running_long_is_named_past_its_threshold(superuser_migrated):
    url = db_url(superuser_migrated)
    with psycopg.connect(url, autocommit=True) as busy:
        pid = busy.info.backend_pid
        thread = threading.Thread(target=lambda: busy.execute("select pg_sleep(1.5)"))
        thread.start()
        try:
            time.sleep(0.5)
            long_after = top.Thresholds(long_running_seconds=0.2)
            named = [line for line in top.examine(url, long_after) if line.text.startswith(f"pid {pid} ")]
            quiet = [line for line in top.examine(url, QUIET) if line.text.startswith(f"pid {pid} ")]
        finally:
            thread.join(timeout=10)
    assert [line.level for line in named] == ["warn"] and "pg_cancel_backend" in named[0].text
    assert quiet == []  # 300 s is the default threshold


CONTENTIONS = {
    "a table lock": ("lock table public.contended in access exclusive mode", "select count(*) from public.contended"),
    # Two updates of one row: the wait is on the holder's transaction id, which pg_locks gives no database.
    "a row lock": ("update public.contended set n = n + 1", "update public.contended set n = n + 1"),
}


@pytest.mark.parametrize("contention", CONTENTIONS)
def test_a_lock_wait_names_its_blocker(superuser_migrated, contention):
    hold, wait_for = CONTENTIONS[contention]
    url = db_url(superuser_migrated)
    superuser_migrated.execute("create table public.contended (n int); insert into public.contended values (0)")
    superuser_migrated.commit()
    with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as waiter:
        holder.execute(hold)
        holding_pid = holder.info.backend_pid
        waiting_pid = waiter.info.backend_pid
        done = threading.Event()

        def wait() -> None:
            try:
                waiter.execute("set lock_timeout = '20s'")
                waiter.execute(wait_for)
            finally:
                done.set()

        thread = threading.Thread(target=wait)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                waits = holder.execute(
                    "select count(*) from pg_locks where pid = %s and not granted", [waiting_pid]
                ).fetchone()[0]
                if waits:
                    break
                time.sleep(0.05)
            eager = [line for line in top.examine(url, EAGER) if line.text.startswith(f"pid {waiting_pid}: waiting")]
            quiet = [line for line in top.examine(url, QUIET) if line.text.startswith(f"pid {waiting_pid}: waiting")]
        finally:
            holder.rollback()
            thread.join(timeout=30)
    assert done.is_set()
    assert [line.level for line in eager] == ["warn"]
    assert f"held by pid {holding_pid}" in eager[0].text
    assert [line.level for line in quiet] == ["info"]  # shown, not yet a warning (5 s is the default)


def test_dead_tuples_and_bloat_are_named_with_what_to_do(superuser_migrated):
    conn = superuser_migrated
    conn.execute(
        "create table public.churn (id int primary key, pad text) with (autovacuum_enabled = false);"
        "insert into public.churn select g, repeat('x', 200) from generate_series(1, 50000) as g;"
    )
    conn.commit()
    conn.execute("analyze public.churn")
    conn.commit()
    url = db_url(conn)
    before = top.examine(url, top.Thresholds(bloat_min_bytes=1, dead_min_tuples=1))
    assert [str(line) for line in before if line.text.startswith("churn")] == []  # full pages: nothing to say
    conn.execute("delete from public.churn where id % 10 <> 0")
    conn.commit()
    conn.execute("select pg_stat_force_next_flush()")
    conn.execute("analyze public.churn")
    conn.commit()
    after = [line for line in top.examine(url, top.Thresholds(bloat_min_bytes=1, dead_min_tuples=1))]
    churn = [str(line) for line in after if line.text.startswith("churn")]  # public is on the search path
    assert any("dead tuples" in line and "VACUUM" in line for line in churn), churn
    assert any(line.startswith("warn     churn: table bloat") for line in churn), churn
    assert any(line.startswith("warn     churn_pkey: index bloat") for line in churn), churn


def test_connections_in_use_are_judged_against_the_maximum(superuser_migrated):
    url = db_url(superuser_migrated)
    assert _levels(top.examine(url, EAGER), "connections") == ["warn"]
    assert _levels(top.examine(url, QUIET), "connections") == ["ok"]


def _statements_loaded(conn: psycopg.Connection) -> bool:
    return "pg_stat_statements" in conn.execute("show shared_preload_libraries").fetchone()[0]


def test_the_slowest_statements_where_the_server_has_them_and_unavailable_elsewhere(superuser_migrated):
    url = db_url(superuser_migrated)
    embedded = not os.environ.get("TEST_DATABASE_URL")
    superuser_migrated.execute("select pg_sleep(0.15)")
    superuser_migrated.commit()
    lines = top.examine(url, EAGER)
    if embedded:
        assert _statements_loaded(superuser_migrated), "the tool enables pg_stat_statements on the embedded server"
    if _statements_loaded(superuser_migrated):
        slow = [line for line in lines if line.text.startswith("statement:") and "pg_sleep" in line.text]
        assert [line.level for line in slow] == ["warn"], [str(line) for line in lines]
        assert "EXPLAIN (ANALYZE, BUFFERS)" in slow[0].text
    else:
        assert _levels(lines, "slowest statements: unavailable") == ["info"]


def test_the_command_prints_every_check_and_exits_zero(superuser_migrated):
    result = run_cli("top", env={"DATABASE_URL": db_url(superuser_migrated)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("top: database")
    for check in ("cache hit ratio", "bloat", "dead tuples", "sessions", "lock waits", "connections"):
        assert check in result.stdout, check
