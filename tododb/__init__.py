"""tododb: the backend's library for the todo app's PostgreSQL data layer.

    from tododb import QUERIES, FIRST_ASC, as_user, create_pool

    pool = create_pool()                      # APP_DATABASE_URL: the app's own login role
    with as_user(pool, user_id) as conn:      # one transaction as that end user
        page = QUERIES.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)

The schema, migrations and operational tool live in the repository (``tooling``,
command ``tododb``); this package is what a backend installs.
"""

from tododb.errors import (
    Conflict,
    Contention,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutcomeUnknown,
    StaleVersion,
    TododbError,
    Unavailable,
    require,
)
from tododb.pool import as_user, create_pool, health, read, transaction
from tododb.queries import FIRST_ASC, FIRST_DESC, QUERIES

__all__ = [
    "FIRST_ASC",
    "FIRST_DESC",
    "QUERIES",
    "Conflict",
    "Contention",
    "InvalidInput",
    "NotAllowed",
    "NotFound",
    "OutcomeUnknown",
    "StaleVersion",
    "TododbError",
    "Unavailable",
    "as_user",
    "create_pool",
    "health",
    "read",
    "require",
    "transaction",
]
