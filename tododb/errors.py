"""Failures a user can cause, and how they are told.

Every error a user (a backend's operator, or whoever runs the tool) can fix —
bad configuration, an unreachable server, a failing migration — is a
``TododbError`` whose text is one line; the tool's CLI prints it as it is. A
traceback is reserved for bugs.
"""

from __future__ import annotations

from typing import TypeVar

import psycopg


class TododbError(Exception):
    """An error the user can act on; its text is the whole message shown."""


def one_line(text: object) -> str:
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


# --- what a web backend maps to its responses --------------------------------------------------------------
#
#   Conflict       409  a unique (or exclusion) rule: the name is taken; StaleVersion when the row moved on since
#                       the client read it (a versioned update changed nothing): reload it, show, let them retry
#   InvalidInput   422  malformed data (class 22) or another broken rule (class 23)
#   NotFound       404  no such row for this user: under row-level security "not yours" and "not there" are alike
#   NotAllowed     404  (or 403) a privilege or a policy's WITH CHECK refused the write (42501)
#   Unavailable    503  the server cannot be reached, the pool has no connection free, the server is shutting
#                       down or full; Contention when retries of a serialization failure or deadlock ran out;
#                       OutcomeUnknown when the connection broke while COMMIT was under way (never retried)
#
# Each carries the SQLSTATE and the name of the constraint the server reported (None where there is none).


class DataError(TododbError):
    """A statement the server refused, classified; ``sqlstate`` and ``constraint`` say what exactly."""

    kind = "refused"

    def __init__(self, message: str, sqlstate: str | None = None, constraint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate
        self.constraint = constraint

    @classmethod
    def from_psycopg(cls, exc: psycopg.Error) -> DataError:
        constraint = exc.diag.constraint_name if exc.diag else None
        reason = one_line(exc.diag.message_primary or exc) if exc.diag else one_line(exc)
        named = f" ({constraint})" if constraint else ""
        made = cls(f"{cls.kind}{named}: {reason}", exc.sqlstate, constraint)
        made.__cause__ = exc
        return made


class Conflict(DataError):
    kind = "conflict"


class StaleVersion(Conflict):
    """A versioned update changed nothing because the row is no longer at the version the client sent: another
    device or member saved first. ``current_version`` is where the row is now (reload it before trying again)."""

    kind = "stale version"

    def __init__(self, message: str, current_version: int) -> None:
        super().__init__(message)
        self.current_version = current_version


def refuse_stale(current_version: int | None, sent_version: int | None, what: str) -> None:
    """After a versioned update that changed nothing: raise StaleVersion when the row is there (``current_version``,
    read by its ``*_version`` query in the same transaction) at a version other than the one sent. Otherwise the
    update found no row it may change (missing, not the identity's to edit, or not in the state it needs), and the
    caller's ``None`` says so, as for any update."""
    if current_version is not None and current_version != sent_version:
        raise StaleVersion(
            f"stale version: the {what} is at version {current_version}, not {sent_version}; reload it and retry",
            current_version,
        )


class InvalidInput(DataError):
    kind = "invalid input"


class NotFound(DataError):
    kind = "not found"


class NotAllowed(NotFound):
    kind = "not allowed"


class Unavailable(DataError):
    kind = "unavailable"


class Contention(Unavailable):
    kind = "contention"


class OutcomeUnknown(Unavailable):
    kind = "commit outcome unknown"


RETRYABLE = frozenset({"40001", "40P01"})  # serialization failure, deadlock: the server rolled back, run it again
_UNAVAILABLE_CLASSES = ("08", "53", "57P")  # connection, insufficient resources, operator intervention


def classify(exc: BaseException) -> BaseException:
    """The typed error for ``exc`` (a psycopg or pool error), or ``exc`` itself when it is none of ours."""
    from psycopg_pool import PoolTimeout

    if isinstance(exc, PoolTimeout):
        made = Unavailable(f"unavailable: no pooled connection became free in time ({one_line(exc)})")
        made.__cause__ = exc
        return made
    if not isinstance(exc, psycopg.Error):
        return exc
    state = exc.sqlstate or ""
    if state in ("23505", "23P01"):
        return Conflict.from_psycopg(exc)
    if state.startswith(("22", "23")):
        return InvalidInput.from_psycopg(exc)
    if state == "42501":
        return NotAllowed.from_psycopg(exc)
    if state in RETRYABLE:
        return Contention.from_psycopg(exc)
    if isinstance(exc, psycopg.OperationalError) and (not state or state.startswith(_UNAVAILABLE_CLASSES)):
        return Unavailable.from_psycopg(exc)
    return exc


T = TypeVar("T")


def require(row: T | None, what: str = "row") -> T:
    """``row`` itself, or NotFound: a query for one row that found none (missing, or another user's)."""
    if row is None:
        raise NotFound(f"not found: no such {what} for this user")
    return row
