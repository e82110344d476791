"""Free text keeps no planner statistics: EXPLAIN under row-level security
must not tell one user what other users' tasks are commonly called.

Text equality is leakproof, so the planner estimates `title = $1` from the
column's most-common values even under RLS, and EXPLAIN prints the estimate.
With no statistics on the column every value is estimated alike. The paired
test puts statistics back on the column and sees the leak, so the first one
can fail.
"""

from __future__ import annotations

import json

import pytest

from tests.support import acting_as, new_user

SECRET = "Call the lawyer about the divorce"
UNUSED = "A title nobody ever used"


@pytest.fixture
def bobs_common_title(superuser_migrated):
    ann = new_user(superuser_migrated, "ann@example.com")
    bob = new_user(superuser_migrated, "bob@example.com")
    superuser_migrated.execute(
        "insert into app.tasks (user_id, title, description) "
        "select %s, case when i %% 4 = 0 then %s else 'task ' || i end, case when i %% 4 = 0 then %s end "
        "from generate_series(1, 4000) as i",
        [bob, SECRET, SECRET],
    )
    superuser_migrated.execute("analyze app.tasks")
    return ann


def _estimate(conn, column: str, value: str) -> float:
    plan = conn.execute(f"explain (format json) select id from app.tasks where {column} = %s", [value]).fetchone()[0]
    return (plan if isinstance(plan, list) else json.loads(plan))[0]["Plan"]["Plan Rows"]


@pytest.mark.parametrize("column", ["title", "description"])
def test_another_users_common_text_is_estimated_like_any_other(superuser_migrated, bobs_common_title, column):
    with acting_as(superuser_migrated, "todo_app", bobs_common_title) as conn:
        assert _estimate(conn, column, SECRET) == _estimate(conn, column, UNUSED)
    assert superuser_migrated.execute(
        "select count(*) from pg_stats where schemaname = 'app' and tablename = 'tasks' and attname = %s", [column]
    ).fetchone() == (0,)


def test_with_statistics_on_the_column_the_estimate_gives_the_secret_away(superuser_migrated, bobs_common_title):
    superuser_migrated.execute("alter table app.tasks alter column title set statistics 100")
    superuser_migrated.execute("analyze app.tasks")
    with acting_as(superuser_migrated, "todo_app", bobs_common_title) as conn:
        assert _estimate(conn, "title", SECRET) > 100 * _estimate(conn, "title", UNUSED)
