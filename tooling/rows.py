"""The one row of a statement that always returns one (a count, a setting, an aggregate, a `returning`)."""

from __future__ import annotations

from typing import Any

import psycopg


def one(cursor: psycopg.Cursor[Any]) -> Any:
    """``cursor``'s single row; a statement that returned none is a bug here, not the user's mistake."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("a statement that always returns one row returned none")
    return row
