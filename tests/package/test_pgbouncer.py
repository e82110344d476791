"""The app's pool and queries through a real PgBouncer in transaction mode (tests/bouncer.py).

1. The scenarios of the pool, reset, timeout, retry and task-query test modules run again with
   every connection a PgBouncer client: their own test functions, with `login_pool`,
   `login_role` and `acting_as` swapped for versions that go through PgBouncer. PgBouncer's
   `default_pool_size` is 1 there, so every transaction of every client runs on the same
   server connection: the case where session state could leak.
2. What only a transaction pooler shows: several clients sharing one server connection
   never see each other's identity, reset or limits; the startup `options` and client-side
   prepared statements that the pool avoids really break behind it; a server connection lost
   between transactions goes unnoticed and one lost before COMMIT is an unknown outcome.
3. A thousand client connections open at once, each running one as_user-style transaction,
   on twenty server connections.

Skipped, saying "no pgbouncer", where the pgbouncer binary is missing (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager

import psycopg
import pytest
from psycopg_pool import ConnectionPool

import tododb.pool
from tests.bouncer import bouncer_login_pool, bouncer_login_role, needs_pgbouncer, pgbouncer, server_pid
from tests.logins import login_role
from tests.package import test_errors_and_retries, test_pool, test_pool_reset, test_pool_timeouts
from tests.package.test_pool_reset import CLEAN, plant_trap, traces_of_the_trap
from tests.package.test_pool_timeouts import LIMITS, READ_LIMITS
from tests.queries import test_queries_tasks
from tests.support import new_task, new_user
from tododb import QUERIES, OutcomeUnknown, Unavailable, transaction
from tododb.pool import PoolSettings, act_as, as_user, create_pool
from tooling import bouncer

pytestmark = needs_pgbouncer

TASK = dict(description=None, priority=None, due_at=None, estimated_hours=None)


# --- 1. the other modules' scenarios, through PgBouncer -------------------------------------------------------


def _missing(module, name: str) -> Callable[..., None]:
    def gone(**_):
        pytest.fail(f"{module.__name__}.{name} is gone: update the scenario list in tests/package/test_pgbouncer.py")

    gone.__name__ = name
    return gone


def scenarios(module, names: list[str], **extra: dict) -> list:
    """pytest params for the named test functions of ``module`` (``extra``: more arguments for one of them)."""
    params = []
    for name in names:
        function = getattr(module, name, None) or _missing(module, name)
        params.append(pytest.param(function, extra.get(name, {}), id=name))
    return params


def call(scenario: Callable[..., None], arguments: dict[str, object], **available: object) -> None:
    """Run a test function with the arguments it names."""
    wanted = inspect.signature(scenario).parameters
    scenario(**{name: value for name, value in {**available, **arguments}.items() if name in wanted})


@pytest.mark.parametrize(
    "scenario, arguments",
    scenarios(
        test_pool,
        [
            "test_identity_never_leaks_from_one_borrower_to_the_next",
            "test_an_exception_inside_the_block_leaves_nothing_written",
            "test_statement_timeout_applies_to_pooled_connections",
        ],
    ),
)
def test_pool_scenarios_through_pgbouncer(scenario, arguments, superuser_migrated):
    users = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    with bouncer_login_pool(superuser_migrated, statement_timeout=1) as pool:  # the `pool` fixture, through PgBouncer
        call(scenario, arguments, pool=(pool, users))


# Not here: test_a_connection_that_cannot_be_reset_is_replaced kills the client's server backend by
# conn.info.backend_pid, which behind PgBouncer names no server process (see the focused tests below).
@pytest.mark.parametrize(
    "scenario, arguments",
    scenarios(
        test_pool_reset,
        [
            "test_a_temp_domain_planted_by_one_borrower_never_captures_the_next_ones_casts",
            "test_without_the_reset_the_same_trap_captures_the_next_borrower",
            "test_a_session_wide_identity_role_or_search_path_never_reaches_the_next_borrower",
            "test_prepared_statements_are_forgotten_by_the_server_and_by_psycopg",
            "test_client_side_transaction_characteristics_are_restored",
        ],
    ),
)
def test_pool_reset_scenarios_through_pgbouncer(scenario, arguments, superuser_migrated, monkeypatch):
    monkeypatch.setattr(test_pool_reset, "login_pool", bouncer_login_pool)
    monkeypatch.setattr(test_pool_reset, "login_role", bouncer_login_role)
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    tasks = new_task(superuser_migrated, ann, "ann's secret"), new_task(superuser_migrated, bob, "bob's secret")
    superuser_migrated.commit()
    call(scenario, arguments, superuser_migrated=superuser_migrated, people=((ann, bob), tasks))


# Not here: test_the_limits_never_travel_in_the_startup_packet puts `options` in the URL, which
# PgBouncer refuses (test_pgbouncer_refuses_startup_options_and_the_pool_sends_none below).
@pytest.mark.parametrize(
    "scenario, arguments",
    scenarios(
        test_pool_timeouts,
        [
            "test_as_user_sets_the_default_limits_and_they_end_with_the_transaction",
            "test_as_user_sets_the_configured_limits",
            "test_the_limits_cost_no_extra_round_trip",
            "test_a_statement_past_statement_timeout_is_cancelled",
            "test_waiting_for_a_lock_past_lock_timeout_fails",
            "test_a_transaction_left_idle_past_the_limit_ends_its_session_and_the_pool_replaces_it",
        ],
    ),
)
def test_pool_timeout_scenarios_through_pgbouncer(scenario, arguments, superuser_migrated, monkeypatch):
    monkeypatch.setattr(test_pool_timeouts, "login_pool", bouncer_login_pool)
    ann = new_user(superuser_migrated, "ann@example.com")
    superuser_migrated.commit()
    call(scenario, arguments, superuser_migrated=superuser_migrated, ann=ann, monkeypatch=monkeypatch)


# Not here: the two connection-loss scenarios kill the server backend by conn.info.backend_pid (see the
# focused tests below). The real deadlock needs two server connections: its second `login_pool` gets a
# PgBouncer of its own.
@pytest.mark.parametrize(
    "scenario, arguments",
    scenarios(
        test_errors_and_retries,
        [
            "test_a_taken_name_is_a_conflict_naming_the_rule",
            "test_broken_rules_and_malformed_data_are_invalid_input",
            "test_another_users_row_is_not_found_and_writing_one_is_not_allowed",
            "test_a_serialization_failure_or_deadlock_runs_the_work_again",
            "test_retries_are_bounded_and_end_as_contention",
            "test_a_real_deadlock_is_retried_and_both_transactions_land",
        ],
        test_a_serialization_failure_or_deadlock_runs_the_work_again={"sqlstate": "40001"},
    ),
)
def test_error_and_retry_scenarios_through_pgbouncer(scenario, arguments, superuser_migrated, monkeypatch):
    monkeypatch.setattr(test_errors_and_retries, "login_pool", bouncer_login_pool)
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    with bouncer_login_pool(superuser_migrated) as pool:  # the `app` fixture, through PgBouncer
        call(scenario, arguments, app=(pool, ann, bob, superuser_migrated))


def test_a_forced_deadlock_is_retried_through_pgbouncer(superuser_migrated):
    """The 40P01 case of the parametrized retry scenario (the list above runs it with 40001)."""
    ann = new_user(superuser_migrated, "ann@example.com")
    with bouncer_login_pool(superuser_migrated) as pool:
        test_errors_and_retries.test_a_serialization_failure_or_deadlock_runs_the_work_again(
            (pool, ann, None, superuser_migrated), "40P01"
        )


@pytest.fixture
def acting_through_pgbouncer(superuser_migrated) -> Iterator[Callable]:
    """``tests.support.acting_as`` on a PgBouncer client connection as a LOGIN member of todo_app
    (instead of the fixture's superuser connection), after committing what the test wrote so far."""
    with ExitStack() as stack:
        opened: list[psycopg.Connection] = []

        @contextmanager
        def acting_as(conn, role, user_id):
            assert conn is superuser_migrated
            if not opened:
                superuser_migrated.commit()
                superuser_migrated.autocommit = True  # login_role needs it; later writes commit as they go
                url = stack.enter_context(bouncer_login_role(superuser_migrated, superuser_migrated.info.dbname))
                opened.append(stack.enter_context(psycopg.connect(url, prepare_threshold=None)))
            client = opened[0]
            with client.transaction(force_rollback=True):
                act_as(client, role, user_id)
                yield client

        yield acting_as


TASK_QUERY_SCENARIOS = sorted(name for name in vars(test_queries_tasks) if name.startswith("test_"))


@pytest.mark.parametrize("scenario, arguments", scenarios(test_queries_tasks, TASK_QUERY_SCENARIOS))
def test_task_query_scenarios_through_pgbouncer(
    scenario, arguments, superuser_migrated, acting_through_pgbouncer, monkeypatch
):
    monkeypatch.setattr(test_queries_tasks, "acting_as", acting_through_pgbouncer)
    people = (new_user(superuser_migrated), new_user(superuser_migrated))
    shared = {}
    if "projects" in inspect.signature(scenario).parameters:  # the scenarios about shared projects
        shared["projects"] = test_queries_tasks.make_projects(superuser_migrated, people)
    call(scenario, arguments, superuser_migrated=superuser_migrated, people=people, **shared)


# --- 2. what only a transaction pooler shows ------------------------------------------------------------------


@pytest.fixture
def people(superuser_migrated):
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    tasks = new_task(superuser_migrated, ann, "ann's secret"), new_task(superuser_migrated, bob, "bob's secret")
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    return (ann, bob), tasks


@contextmanager
def shared_server_connection(superuser_migrated) -> Iterator[tuple[str, str]]:
    """A PgBouncer with ONE server connection for a fresh login role: yields (PgBouncer URL, role)."""
    with bouncer_login_role(superuser_migrated, superuser_migrated.info.dbname, pool_size=1) as url:
        yield url, psycopg.conninfo.conninfo_to_dict(url)["user"]


def one_connection_pool(url: str, **settings: object) -> tododb.pool.AppPool:
    return create_pool(PoolSettings(url=url, min_size=1, max_size=1, **settings))


def server_connections(superuser_migrated, role: str) -> int:
    return superuser_migrated.execute("select count(*) from pg_stat_activity where usename = %s", [role]).fetchone()[0]


def test_clients_share_one_server_connection_and_never_see_each_others_identity(superuser_migrated, people):
    (ann, bob), _ = people
    with shared_server_connection(superuser_migrated) as (url, role):
        with create_pool(PoolSettings(url=url, min_size=4, max_size=4)) as pool:
            seen, outside, errors = [], [], []

            def client(k: int) -> None:
                try:
                    for i in range(20):
                        user = (ann, bob)[(k + i) % 2]
                        with as_user(pool, user) as conn:
                            seen.append(
                                (
                                    user,
                                    server_pid(conn),
                                    id(conn),
                                    *conn.execute(
                                        "select current_setting('app.user_id'), current_user::text"
                                    ).fetchone(),
                                    sorted(title for (title,) in conn.execute("select title from app.tasks")),
                                )
                            )
                        with pool.connection() as conn:  # outside as_user: the login role, no identity
                            outside.append(
                                conn.execute(
                                    "select coalesce(current_setting('app.user_id', true), ''),"
                                    " current_user = session_user, (select count(*) from app.tasks)"
                                ).fetchone()
                            )
                except Exception as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=(k,)) for k in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            assert errors == [] and len(seen) == 80
            assert len({client_conn for _, _, client_conn, *_ in seen}) > 1  # several PgBouncer clients ...
            assert len({pid for _, pid, *_ in seen}) == 1  # ... and one server connection for them all
            assert server_connections(superuser_migrated, role) == 1
        for user, _, _, identity, current, titles in seen:
            assert (identity, current) == (str(user), "todo_app")
            assert titles == (["ann's secret"] if user == ann else ["bob's secret"])
        assert set(outside) == {("", True, 0)}


@contextmanager
def another_client(url: str, user_id) -> Iterator[psycopg.Connection]:
    """A second PgBouncer client, a plain connection that resets nothing itself, acting as ``user_id``."""
    with psycopg.connect(url, prepare_threshold=None) as conn, conn.transaction():
        act_as(conn, "todo_app", user_id)
        yield conn


def test_the_reset_reaches_the_server_connection_another_client_gets_next(superuser_migrated, people):
    """One client plants a trap and a session-wide identity; the next transaction on that server
    connection, another client's, finds the session clean: the first client's DISCARD ALL ran there."""
    (ann, bob), (_, bobs_task) = people
    with shared_server_connection(superuser_migrated) as (url, _), one_connection_pool(url) as pool:
        with as_user(pool, ann) as conn:
            plant_trap(conn)
            conn.execute("select set_config('app.user_id', %s, false)", [str(ann)])
            trapped = server_pid(conn)
        with pool.connection():  # given out again only once its reset ran
            pass
        with another_client(url, bob) as conn:
            assert server_pid(conn) == trapped
            assert traces_of_the_trap(conn) == CLEAN
            assert QUERIES.get_task(conn, task_id=bobs_task)[1] == "bob's secret"
            assert traces_of_the_trap(conn) == CLEAN
        with another_client(url, None) as conn:
            assert server_pid(conn) == trapped
            assert conn.execute("select count(*) from app.tasks").fetchone() == (0,)


def test_pgbouncer_itself_resets_nothing_between_clients_in_transaction_mode(superuser_migrated, people):
    """Why the pool's own reset matters here: PgBouncer's server_reset_query runs only in session mode,
    so without our reset a trap planted by one client captures another client's casts."""
    (ann, bob), (_, bobs_task) = people
    with (
        shared_server_connection(superuser_migrated) as (url, _),
        ConnectionPool(
            url, min_size=1, max_size=1, reset=None, open=True, kwargs={"prepare_threshold": None}
        ) as unreset,
    ):
        with unreset.connection() as conn, conn.transaction():
            act_as(conn, "todo_app", ann)
            plant_trap(conn)
            trapped = server_pid(conn)
        with another_client(url, bob) as conn:
            assert server_pid(conn) == trapped
            assert QUERIES.get_task(conn, task_id=bobs_task)[1] == "bob's secret"
            loot = set(conn.execute("select value, identity from pg_temp.loot"))
            assert (str(bobs_task), str(bob)) in loot


def test_limits_hold_per_transaction_and_never_reach_another_client(superuser_migrated, people):
    (ann, _), _ = people
    with (
        shared_server_connection(superuser_migrated) as (url, _),
        one_connection_pool(url, statement_timeout=0.5, lock_timeout=0.25) as strict,
        one_connection_pool(url) as default,
    ):
        with default.connection() as conn:
            server_defaults = conn.execute(READ_LIMITS).fetchone()
            shared = server_pid(conn)
        with as_user(strict, ann) as conn:
            assert server_pid(conn) == shared
            assert conn.execute(READ_LIMITS).fetchone() == ("500ms", "250ms", "30s")
        with pytest.raises(psycopg.Error) as caught:
            with as_user(strict, ann) as conn:
                conn.execute("select pg_sleep(5)")
        assert caught.value.sqlstate == "57014"  # query_canceled
        with default.connection() as conn:  # the same server connection, another client, outside as_user
            assert server_pid(conn) == shared
            assert conn.execute(READ_LIMITS).fetchone() == server_defaults
        with as_user(default, ann) as conn:  # the boundary: under the default 30 s, 0.7 s passes
            assert server_pid(conn) == shared
            assert conn.execute(READ_LIMITS).fetchone() == ("30s", "5s", "30s")
            conn.execute("select pg_sleep(0.7)")


def test_pgbouncer_refuses_startup_options_and_the_pool_sends_none(superuser_migrated, people):
    with shared_server_connection(superuser_migrated) as (url, _):
        with pytest.raises(psycopg.OperationalError, match="unsupported startup parameter"):
            psycopg.connect(url + "?options=-c%20statement_timeout%3D1s", connect_timeout=5)
        with one_connection_pool(url) as pool, pool.connection() as conn:
            from_client = conn.execute(
                "select name from pg_settings where source = 'client' and name = any(%s)", [list(LIMITS)]
            ).fetchall()
            assert from_client == []


def test_client_side_prepared_statements_break_across_clients_and_the_pool_prepares_none(superuser_migrated, people):
    """PgBouncer 1.18 passes protocol-level prepared statements through untracked: two clients whose
    psycopg prepares (prepare_threshold=0) collide on the one server connection they share. The pool's
    connections prepare nothing (prepare_threshold=None), and the same sequence runs cleanly."""
    query = "select count(*) from app.tasks"
    with shared_server_connection(superuser_migrated) as (url, _):
        with psycopg.connect(url, prepare_threshold=0) as first, psycopg.connect(url, prepare_threshold=0) as second:
            first.execute(query)
            first.commit()  # _pg3_0 now lives on the shared server connection, known to `first` only
            with pytest.raises(psycopg.errors.DuplicatePreparedStatement):
                second.execute("select 1")  # psycopg names its first statement _pg3_0 too
        with psycopg.connect(url, autocommit=True) as cleaner:
            cleaner.execute("deallocate all")
        with one_connection_pool(url) as a, one_connection_pool(url) as b:
            for _ in range(8):  # past psycopg's default threshold (5) on each client
                for pool in (a, b):
                    with pool.connection() as conn:
                        assert conn.execute(query).fetchone() == (0,)
                        assert conn.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)


def _gone(superuser_migrated, pid: int, timeout: float = 5) -> None:
    superuser_migrated.execute("select pg_terminate_backend(%s)", [pid])
    deadline = time.monotonic() + timeout
    while server_connections_by_pid(superuser_migrated, pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def server_connections_by_pid(superuser_migrated, pid: int) -> int:
    return superuser_migrated.execute("select count(*) from pg_stat_activity where pid = %s", [pid]).fetchone()[0]


def test_a_server_connection_lost_between_transactions_goes_unnoticed(superuser_migrated, people):
    (ann, _), _ = people
    with shared_server_connection(superuser_migrated) as (url, _), one_connection_pool(url) as pool:
        with as_user(pool, ann) as conn:
            lost = server_pid(conn)
        _gone(superuser_migrated, lost)
        time.sleep(0.2)  # PgBouncer notices the closed server socket
        row = transaction(
            pool, ann, lambda conn: (server_pid(conn), conn.execute("select count(*) from app.tasks").fetchone()[0])
        )
        assert row[0] != lost and row[1] == 1


def test_a_server_connection_lost_before_commit_is_outcome_unknown_and_never_run_again(superuser_migrated, people):
    (ann, _), _ = people
    with shared_server_connection(superuser_migrated) as (url, _), one_connection_pool(url) as pool:
        runs = []

        def work(conn):
            runs.append(1)
            QUERIES.create_task(conn, title="maybe", **TASK)
            _gone(superuser_migrated, server_pid(conn))  # gone before COMMIT is sent

        with pytest.raises(OutcomeUnknown) as caught:
            transaction(pool, ann, work, sleep=lambda _: None)
        assert runs == [1] and isinstance(caught.value, Unavailable)
        # The pool and PgBouncer both recover: the next transaction gets a new server connection.
        assert transaction(pool, ann, lambda conn: conn.execute("select 1").fetchone()) == (1,)


def test_a_server_connection_lost_mid_work_is_unavailable_and_retried_by_no_one(superuser_migrated, people):
    (ann, _), _ = people
    with shared_server_connection(superuser_migrated) as (url, _), one_connection_pool(url) as pool:
        runs = []

        def work(conn):
            runs.append(1)
            _gone(superuser_migrated, server_pid(conn))
            conn.execute("select 1")

        with pytest.raises(Unavailable) as caught:
            transaction(pool, ann, work, sleep=lambda _: None)
        assert runs == [1] and not isinstance(caught.value, OutcomeUnknown)


def test_one_round_trip_reads_keep_their_identity_on_a_shared_server_connection(superuser_migrated, people):
    """read() sends role, identity and query before one Sync: PgBouncer must keep them on one server
    connection, or the query would run without them. Several clients, one server connection."""
    (ann, bob), _ = people
    with (
        shared_server_connection(superuser_migrated) as (url, _),
        create_pool(PoolSettings(url=url, min_size=3, max_size=3)) as pool,
    ):
        results, errors = [], []

        def client(k: int) -> None:
            try:
                for i in range(30):
                    user = (ann, bob)[(k + i) % 2]
                    rows = tododb.pool.read(
                        pool,
                        user,
                        "open_tasks_by_due_date",
                        after_due_at="-infinity",
                        after_id="00000000-0000-0000-0000-000000000000",
                        page_size=10,
                    )
                    results.append((user, sorted(row[1] for row in rows)))
            except Exception as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=client, args=(k,)) for k in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert errors == [] and len(results) == 90
    for user, titles in results:
        assert titles == (["ann's secret"] if user == ann else ["bob's secret"])


# --- 3. a thousand clients --------------------------------------------------------------------------------------

CLIENTS = 1000
USERS = 10


def test_a_thousand_clients_at_once_each_run_one_as_user_transaction(superuser_migrated):
    """1,000 client connections open at the same time on PgBouncer's 20 server connections; then each
    runs one transaction as the app does (role, identity and limits in one select, a write, a read)."""
    users = [new_user(superuser_migrated, f"user{i}@example.com") for i in range(USERS)]
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    bouncer.raise_open_files(CLIENTS + 256)  # this process holds a socket per client
    limits = PoolSettings(url="postgresql://unused/db").transaction_settings()
    begin = "select " + ", ".join(f"pg_catalog.set_config('{name}', %s, true)" for name in ["app.user_id", *limits])
    with (
        login_role(superuser_migrated, superuser_migrated.info.dbname) as login_url,
        pgbouncer(superuser_migrated, login_url, pool_size=20) as url,
    ):
        role = psycopg.conninfo.conninfo_to_dict(url)["user"]
        opened, servers, running = [], [], threading.Event()

        def watch_server_connections() -> None:  # beside the crowd, on the fixture's own connection
            while running.is_set():
                servers.append(server_connections(superuser_migrated, role))
                time.sleep(0.05)

        async def client(i: int, all_open: asyncio.Event):
            user = users[i % USERS]
            conn = await psycopg.AsyncConnection.connect(url, prepare_threshold=None, connect_timeout=60)
            async with conn:
                opened.append(i)
                await all_open.wait()
                async with conn.transaction():
                    await conn.execute("set local role todo_app")
                    await conn.execute(begin, [str(user), *limits.values()])
                    cursor = await conn.execute(
                        "insert into app.tasks (title) values (%s) returning user_id", [f"client {i}"]
                    )
                    owner = (await cursor.fetchone())[0]
                    cursor = await conn.execute("select distinct user_id from app.tasks")
                    visible = [row[0] for row in await cursor.fetchall()]
                return user, owner, visible

        async def crowd():
            all_open = asyncio.Event()
            tasks = [asyncio.create_task(client(i, all_open)) for i in range(CLIENTS)]
            deadline = time.monotonic() + 90
            while len(opened) < CLIENTS and time.monotonic() < deadline and not any(t.done() for t in tasks):
                await asyncio.sleep(0.05)
            assert len(opened) == CLIENTS, f"{len(opened)} of {CLIENTS} clients connected"
            all_open.set()
            return await asyncio.wait_for(asyncio.gather(*tasks), 90)

        running.set()
        watcher = threading.Thread(target=watch_server_connections)
        watcher.start()
        started = time.monotonic()
        try:
            outcomes = asyncio.run(crowd())
        finally:
            elapsed = time.monotonic() - started
            running.clear()
            watcher.join(10)
    assert len(outcomes) == CLIENTS
    for user, owner, visible in outcomes:
        assert owner == user and visible == [user]  # each wrote and saw only its own user's rows
    assert 0 < max(servers) <= 20  # a thousand clients on at most twenty server connections
    per_user = dict(superuser_migrated.execute("select user_id, count(*) from app.tasks group by user_id").fetchall())
    assert per_user == {user: CLIENTS // USERS for user in users}
    assert elapsed < 120, f"{CLIENTS} clients took {elapsed:.0f} s"
