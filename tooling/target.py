"""Connecting, in one place: which database a command works on, and how it is reached.

- ``validate``: a ``DATABASE_URL`` libpq would refuse is refused first, in one line (``config`` calls it
  when it reads the settings);
- ``database_url``: ``DATABASE_URL``, or else the embedded server (started if it is not up);
- ``describe_target``: a password-free label for a URL, the one every message about a target uses;
- ``connect``: every connection the tool opens (tests/tooling/test_target.py finds any other
  ``psycopg.connect``); a failure to connect is one line (``ToolError``) that names the target;
- ``login_url``: where a LOGIN role with a password can reach the same database.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import psycopg

from tododb.conninfo import validate_database_url as validate
from tooling.errors import ToolError, describe_connect_failure, one_line

if TYPE_CHECKING:
    from tooling.config import Settings

__all__ = ["connect", "database_url", "describe_target", "login_url", "reachable", "validate"]

# How long a connection attempt may take when the URL does not say (libpq's default is to wait forever).
CONNECT_TIMEOUT_SECONDS = 10


def database_url(settings: Settings) -> str:
    """The URL to use, starting the embedded server first when none is configured."""
    if settings.database_url:
        return settings.database_url
    from tooling import server  # it connects through this module: imported when needed, not at load

    return server.ensure_running(settings.data_dir, settings.wal_archive).url()


def describe_target(url: str) -> str:
    """A password-free label for ``url``, safe to print in an error."""
    params = psycopg.conninfo.conninfo_to_dict(url)
    host = params.get("host") or "the default socket"
    port = params.get("port") or "5432"
    user = params.get("user") or "(default user)"
    dbname = params.get("dbname") or user
    return f"database {dbname!r} as {user!r} at {host}:{port}"


def connect(url: str, *, embedded_dir: Path | None = None, **kwargs: Any) -> psycopg.Connection:
    """``psycopg.connect(url, **kwargs)``; a failure to connect becomes one line naming the target.

    The URL reaches libpq untouched (sslmode, options, several hosts...). ``connect_timeout`` is the URL's,
    else ``CONNECT_TIMEOUT_SECONDS``. ``embedded_dir``: the URL is the embedded server in that data folder,
    and a failure says so (its log is where to look, not ``DATABASE_URL``).
    """
    if "connect_timeout" not in kwargs and "connect_timeout" not in psycopg.conninfo.conninfo_to_dict(url):
        kwargs["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        if embedded_dir is not None:
            raise ToolError(
                f"the embedded server in {embedded_dir} is not answering: {one_line(exc)}; see {embedded_dir / 'log'}"
            ) from None
        raise describe_connect_failure(exc, describe_target(url)) from None


def reachable(url: str, timeout_seconds: int = 5) -> bool:
    """Whether a connection to ``url`` opens (it is closed at once)."""
    try:
        connect(url, connect_timeout=timeout_seconds).close()
    except ToolError:
        return False
    return True


def login_url(admin_url: str, name: str, password: str) -> str:
    """A URL on which the password role can log in: the admin's socket, or else 127.0.0.1 (a server such as
    Debian's authenticates socket users by their OS name, and this role has none)."""
    params = psycopg.conninfo.conninfo_to_dict(admin_url)
    host, port, dbname = (
        str(params.get("host") or "127.0.0.1"),
        params.get("port") or 5432,
        quote(str(params["dbname"])),
    )
    auth = f"{quote(name, safe='')}:{quote(password, safe='')}"
    candidates = [f"postgresql://{auth}@/{dbname}?host={quote(host)}&port={port}"] if host.startswith("/") else []
    candidates.append(f"postgresql://{auth}@{'127.0.0.1' if host.startswith('/') else host}:{port}/{dbname}")
    for url in candidates:
        if reachable(url):
            return url
    return candidates[-1]  # the pool then says in one line why it cannot connect
