"""The app's named SQL queries (``queries/*.sql`` in the repository, shipped in the
package as ``tododb._sql``), loaded with aiosql.

One object, ``QUERIES``, with a method per query: ``QUERIES.open_tasks_by_due_date(conn,
after_due_at=..., after_id=..., page_size=50)``.  The same SQL serves the app, the
tests and the benchmark.  Each query relies on row-level security: call it on a
connection that acts as a user (see ``tododb.pool.as_user``).

Keyset cursors: the first page of an ascending list starts after ``FIRST_ASC``,
of a descending list before ``FIRST_DESC``; the next page passes the last row's
sort key instead. Each list's comment says which ("First page: ..."), and
``first_page(name)`` reads it from there: ``QUERIES.upcoming_tasks(conn,
**first_page("upcoming_tasks"), page_size=50)``.
"""

from __future__ import annotations

import re
from importlib.resources import files
from typing import Any

import aiosql

# Package data, read the same way from a checkout (editable install) and from an installed wheel.
SQL_FILES = sorted((f for f in files("tododb._sql").iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
QUERIES = aiosql.from_str("\n\n".join(f.read_text(encoding="utf-8") for f in SQL_FILES), "psycopg")

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
# Sort-key cursors that come before every row (ascending) / after every row (descending).
FIRST_ASC = ("-infinity", ZERO_UUID)
FIRST_DESC = ("infinity", MAX_UUID)


def _doc(query_name: str, queries: Any = QUERIES) -> str:
    return " ".join((getattr(queries, query_name).__doc__ or "").split())


def first_page(query_name: str, queries: Any = QUERIES) -> dict[str, str]:
    """The cursor of a list's first page, as its comment states it ("First page: after_x = '...', after_id =
    '...'"): the one place it is written. Empty for a query that is not a keyset list."""
    match = re.search(r"First page: ((?:\w+ = '[^']*'(?:, )?)+)", _doc(query_name, queries))
    return dict(re.findall(r"(\w+) = '([^']*)'", match.group(1))) if match else {}


# A read calls no function of app but current_user_id(): one that does is a sign-in or sharing step,
# which acts (sign_up, invite_to_project, ...) or runs as todo_auth (user_for_login).
_ACTING_CALL = re.compile(r"\bapp\.(?!current_user_id\b)\w+\s*\(")
_READ_OPERATIONS = ("SELECT", "SELECT_ONE", "SELECT_VALUE")


def reads(queries: Any = QUERIES) -> list[str]:
    """The named queries that only read what row-level security shows the identity, in name order: every one
    of them is plan-tested and benchmarked as todo_app (a new one is covered without touching a list)."""
    return [
        name
        for name in sorted(queries.available_queries)
        if not name.endswith("_cursor")
        and getattr(queries, name).operation.name in _READ_OPERATIONS
        and not _ACTING_CALL.search(getattr(queries, name).sql)
    ]


def first_page_params(
    query_name: str, page_size: int | None = None, *, queries: Any = QUERIES, **values: Any
) -> dict[str, Any]:
    """Every parameter of a read's first page: the cursor from its comment, ``page_size`` if it takes one, and
    the rest by name from ``values`` (those it does not take are left out; one it takes and ``values`` lacks is
    a KeyError naming it)."""
    params: dict[str, Any] = dict(first_page(query_name, queries))
    for name in parameters(query_name, queries):
        if name in params:
            continue
        if name == "page_size" and page_size is not None:
            params[name] = page_size
        elif name in values:
            params[name] = values[name]
        else:
            raise KeyError(f"{query_name} takes {name}: no value given for it")
    return params


def parameters(query_name: str, queries: Any = QUERIES) -> list[str]:
    """A query's parameters, in the order its name line lists them."""
    return list(getattr(queries, query_name).parameters or [])


def served_by(query_name: str) -> list[str]:
    """The indexes a query's comment says serve it ("Served by ..."), for tests to hold it to."""
    match = re.search(r"Served by (.*?)(?:\.|$)", _doc(query_name))
    return re.findall(r"\b[a-z_]+_(?:idx|key|pkey)\b", match.group(1)) if match else []
