"""Database URLs: refused early, in one line, when libpq would refuse them later."""

from __future__ import annotations

from typing import Any

import psycopg

from tododb.errors import TododbError, one_line

URL_SCHEMES = ("postgresql://", "postgres://")


def validate_database_url(url: str) -> dict[str, Any]:
    """Parse ``url`` the way libpq will, so a typo fails fast with one line."""
    example = "expected postgresql://user:password@host:5432/dbname"
    if not url.startswith(URL_SCHEMES):
        raise TododbError(f"DATABASE_URL is malformed: it must start with postgresql://; {example}")
    try:
        params = psycopg.conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as exc:
        raise TododbError(f"DATABASE_URL is malformed: {one_line(exc)}; {example}") from None
    port = str(params.get("port", "5432"))
    if not all(part.isdigit() for part in port.split(",")):
        raise TododbError(f"DATABASE_URL is malformed: port {port!r} is not a number; {example}")
    return params
