"""Round trips per request, counted on the wire (tooling/wire.py).

Every round trip costs the network's latency: against a hosted server 1 ms
away, six of them are 6 ms of waiting for a 0.1 ms query. A read through
``tododb.read`` costs one: role, identity, limits and the query travel
together in one implicit transaction. A transaction through ``as_user`` costs
one before its statements (BEGIN with role, identity and limits) and one after
(COMMIT). A connection just used is lent without a liveness check.
"""

from __future__ import annotations

import time

import pytest

from tests.logins import login_role
from tests.support import new_task, new_user
from tododb import QUERIES, as_user, read
from tododb.pool import PoolSettings, create_pool
from tododb.queries import first_page_params
from tooling.wire import counting_proxy

PAGE = first_page_params("open_tasks_by_due_date", 50)


@pytest.fixture
def wire(superuser_migrated):
    ann, bob = new_user(superuser_migrated, "ann@example.com"), new_user(superuser_migrated, "bob@example.com")
    new_task(superuser_migrated, ann, "ann's")
    new_task(superuser_migrated, bob, "bob's")
    superuser_migrated.commit()
    superuser_migrated.autocommit = True
    with login_role(superuser_migrated, superuser_migrated.info.dbname) as url, counting_proxy(url) as (proxy, through):
        with create_pool(PoolSettings(url=through, min_size=1, max_size=1)) as pool:
            yield proxy, pool, ann, bob


def _measured(proxy, pool, request):
    time.sleep(0.2)  # the pool's reset of the last borrow (off the request path) is done
    proxy.reset()
    result = request()
    trips = proxy.round_trips
    return result, trips


def test_a_named_read_costs_one_round_trip_and_sees_only_its_user(wire):
    proxy, pool, ann, bob = wire
    rows, trips = _measured(proxy, pool, lambda: read(pool, ann, "open_tasks_by_due_date", **PAGE))
    assert [row[1] for row in rows] == ["ann's"] and trips == 1
    rows, trips = _measured(proxy, pool, lambda: read(pool, bob, "open_tasks_by_due_date", **PAGE))
    assert [row[1] for row in rows] == ["bob's"] and trips == 1
    one, _ = _measured(proxy, pool, lambda: read(pool, None, "current_user_profile"))
    assert one is None  # no identity: nothing, and the last one's identity did not linger


def test_a_transaction_costs_one_round_trip_before_and_one_after_its_statements(wire):
    proxy, pool, ann, _ = wire

    def request():
        with as_user(pool, ann) as conn:
            return [row[1] for row in QUERIES.open_tasks_by_due_date(conn, **PAGE)]

    titles, trips = _measured(proxy, pool, request)
    assert titles == ["ann's"] and trips == 3  # BEGIN + role, identity, limits | the query | COMMIT


def test_the_identity_of_a_read_ends_with_it(wire):
    proxy, pool, ann, _ = wire
    read(pool, ann, "open_tasks_by_due_date", **PAGE)
    with pool.connection() as conn:
        assert conn.execute("select current_setting('app.user_id', true), current_user = session_user").fetchone() in (
            ("", True),
            (None, True),
        )


def test_read_refuses_a_write_query_in_one_line(wire):
    _, pool, ann, _ = wire
    from tododb import TododbError

    with pytest.raises(TododbError, match="read\\(\\) runs select queries"):
        read(pool, ann, "create_tag", name="x")
