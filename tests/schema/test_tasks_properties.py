"""Property: whatever sequence of writes hits app.tasks, no row ever breaks
the invariants, and the history tells the same story as the table."""

from __future__ import annotations

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import new_user

STATUSES = st.sampled_from(["pending", "in_progress", "completed"])
SLOT = st.integers(min_value=0, max_value=4)  # which of the live tasks an operation aims at

OPERATIONS = st.one_of(
    st.tuples(st.just("insert"), STATUSES),
    st.tuples(st.just("set_status"), SLOT, STATUSES),
    st.tuples(st.just("set_title"), SLOT),
    st.tuples(st.just("soft_delete"), SLOT),
    st.tuples(st.just("restore"), SLOT),
    st.tuples(st.just("hard_delete"), SLOT),
    st.tuples(st.just("write_completed_at"), SLOT, st.booleans()),
    st.tuples(st.just("bulk_status"), STATUSES),
)

STATEMENTS = {
    "set_status": "update app.tasks set status = %(status)s where id = %(id)s",
    "set_title": "update app.tasks set title = title || '.' where id = %(id)s",
    "soft_delete": "update app.tasks set deleted_at = now() where id = %(id)s",
    "restore": "update app.tasks set deleted_at = null where id = %(id)s",
    "hard_delete": "delete from app.tasks where id = %(id)s",
    "bulk_status": "update app.tasks set status = %(status)s",
}

INVARIANTS = {
    "status agrees with completed_at": """
        select count(*) from app.tasks where (status = 'completed') <> (completed_at is not null)""",
    "updated_at never before created_at": "select count(*) from app.tasks where updated_at < created_at",
    "completed_at never before created_at": "select count(*) from app.tasks where completed_at < created_at",
    "one creation event per task ever created": """
        select count(*) from (
          select task_id from app.task_events group by task_id
          having count(*) filter (where kind = 'created') <> 1) as broken""",
    "the latest status event matches the current status": """
        select count(*) from app.tasks as t
        where t.status is distinct from (
          select e.new_status from app.task_events as e
          where e.task_id = t.id and e.kind in ('created', 'status_changed') order by e.id desc limit 1)""",
    "hard deletes are recorded": """
        select count(*) from (select distinct task_id from app.task_events) as e
        where not exists (select from app.tasks as t where t.id = e.task_id)
          and not exists (select from app.task_events as h where h.task_id = e.task_id and h.kind = 'hard_deleted')""",
}


def _apply(conn: psycopg.Connection, owner, op: tuple) -> None:
    kind = op[0]
    if kind == "insert":
        conn.execute("insert into app.tasks (user_id, title, status) values (%s, 'generated', %s)", [owner, op[1]])
        return
    if kind == "bulk_status":
        conn.execute(STATEMENTS[kind], {"status": op[1]})
        return
    ids = [row[0] for row in conn.execute("select id from app.tasks order by created_at, id").fetchall()]
    if not ids:
        return
    task_id = ids[op[1] % len(ids)]
    if kind == "write_completed_at":
        value = "now()" if op[2] else "null"
        conn.execute(f"update app.tasks set completed_at = {value} where id = %s", [task_id])
        return
    conn.execute(STATEMENTS[kind], {"id": task_id, "status": op[2] if len(op) > 2 else None})


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATIONS, min_size=1, max_size=12))
def test_no_sequence_of_writes_breaks_the_task_invariants(superuser_migrated, operations):
    with superuser_migrated.transaction(force_rollback=True):
        owner = new_user(superuser_migrated)
        for op in operations:
            try:
                with superuser_migrated.transaction():
                    _apply(superuser_migrated, owner, op)
            except psycopg.errors.CheckViolation as exc:
                # Only a direct write of completed_at may be refused, and only by the rule that says so.
                assert op[0] == "write_completed_at", op
                assert exc.diag.constraint_name == "tasks_completed_at_status_check"
            for name, query in INVARIANTS.items():
                assert superuser_migrated.execute(query).fetchone() == (0,), (name, op, operations)
