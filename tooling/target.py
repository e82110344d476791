"""Which database a command works on (``DATABASE_URL``, or the embedded server), and connecting to it."""

from __future__ import annotations

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
