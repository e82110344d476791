"""Failures a user can cause, and how they are told.

Every error a user (a backend's operator, or whoever runs the tool) can fix —
bad configuration, an unreachable server, a failing migration — is a
``TododbError`` whose text is one line; the tool's CLI prints it as it is. A
traceback is reserved for bugs.
"""

from __future__ import annotations

import psycopg


class TododbError(Exception):
    """An error the user can act on; its text is the whole message shown."""


def one_line(text: str) -> str:
    """Collapse a (possibly multi-line) server or library message to one line."""
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def describe_connect_failure(exc: psycopg.Error, target: str) -> TododbError:
    """Explain why a connection attempt to ``target`` (a password-free label) failed."""
    sqlstate = exc.sqlstate or ""
    reason = one_line(exc)
    if sqlstate.startswith("28") or "password authentication failed" in reason:
        hint = "check the user name and password in DATABASE_URL"
        return TododbError(f"authentication failed on {target}: {reason}; {hint}")
    if sqlstate == "3D000":
        return TododbError(f"database does not exist on {target}: {reason}; create it or fix DATABASE_URL")
    hint = "check that the server is running and that DATABASE_URL points at it"
    return TododbError(f"cannot connect to {target}: {reason}; {hint}")
