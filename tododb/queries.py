"""The app's named SQL queries (``queries/*.sql`` in the repository, shipped in the
package as ``tododb._sql``), loaded with aiosql.

One object, ``QUERIES``, with a method per query: ``QUERIES.open_tasks_by_due_date(conn,
after_due_at=..., after_id=..., page_size=50)``.  The same SQL serves the app, the
tests and the benchmark.  Each query relies on row-level security: call it on a
connection that acts as a user (see ``tododb.pool.as_user``).

Keyset cursors: the first page of an ascending list starts after ``FIRST_ASC``,
of a descending list before ``FIRST_DESC``; the next page passes the last row's
sort key instead.
"""

from __future__ import annotations

from importlib.resources import files

import aiosql

# Package data, read the same way from a checkout (editable install) and from an installed wheel.
SQL_FILES = sorted((f for f in files("tododb._sql").iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
QUERIES = aiosql.from_str("\n\n".join(f.read_text(encoding="utf-8") for f in SQL_FILES), "psycopg")

ZERO_UUID = "00000000-0000-0000-0000-000000000000"
MAX_UUID = "ffffffff-ffff-ffff-ffff-ffffffffffff"
# Sort-key cursors that come before every row (ascending) / after every row (descending).
FIRST_ASC = ("-infinity", ZERO_UUID)
FIRST_DESC = ("infinity", MAX_UUID)


def served_by(query_name: str) -> list[str]:
    """The indexes a query's comment says serve it ("Served by ..."), for tests to hold it to."""
    import re

    doc = getattr(QUERIES, query_name).__doc__ or ""
    match = re.search(r"Served by (.*?)(?:\.|$)", " ".join(doc.split()))
    return re.findall(r"\b[a-z_]+_(?:idx|key|pkey)\b", match.group(1)) if match else []
