"""Which database a command works on: ``DATABASE_URL``, or the embedded server."""

from __future__ import annotations

from tooling import server
from tooling.config import Settings


def database_url(settings: Settings) -> str:
    """The URL to use, starting the embedded server first when none is configured."""
    if settings.database_url:
        return settings.database_url
    return server.ensure_running(settings.data_dir).url()
