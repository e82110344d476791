"""Which database a command works on (``DATABASE_URL``, or the embedded server), and connecting to it."""

from __future__ import annotations

from urllib.parse import quote

import psycopg

from tooling import server
from tooling.config import Settings, describe_target
from tooling.errors import describe_connect_failure


def database_url(settings: Settings) -> str:
    """The URL to use, starting the embedded server first when none is configured."""
    if settings.database_url:
        return settings.database_url
    return server.ensure_running(settings.data_dir).url()


def connect(url: str, **kwargs) -> psycopg.Connection:
    """psycopg.connect, with a failure to connect told in one line (ToolError)."""
    try:
        return psycopg.connect(url, **kwargs)
    except psycopg.OperationalError as exc:
        raise describe_connect_failure(exc, describe_target(url)) from None


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
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return url
        except psycopg.OperationalError:
            continue
    return candidates[-1]  # the pool then says in one line why it cannot connect
