"""Where the tool finds its database and its files.

``DATABASE_URL`` comes from the environment, else from a ``.env`` file in the
checkout (the environment wins, so ``make migrate DATABASE_URL=...`` always
overrides a stale ``.env``).  Unset or empty means: use the embedded server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from tooling.errors import ToolError
from tooling.target import validate

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about its surroundings."""

    database_url: str | None
    migrations_dir: Path
    data_dir: Path
    lock_wait_seconds: float
    wal_archive: Path | None = None  # TODODB_WAL_ARCHIVE: the embedded server archives its WAL there (recovery)


def _setting(name: str, dotenv: dict[str, str | None]) -> str | None:
    # An empty variable counts as unset, in the environment and in .env alike.
    return os.environ.get(name) or dotenv.get(name) or None


def load_settings(migrations_dir: Path | None = None, env_file: Path = ROOT / ".env") -> Settings:
    """Read the settings; a malformed ``DATABASE_URL`` is refused here, before any work."""
    dotenv = dotenv_values(env_file) if env_file.is_file() else {}
    url = _setting("DATABASE_URL", dotenv)
    if url is not None:
        validate(url)
    lock_wait = _setting("TODODB_LOCK_WAIT", dotenv) or "60"
    try:
        lock_wait_seconds = float(lock_wait)
    except ValueError:
        raise ToolError(f"TODODB_LOCK_WAIT must be a number of seconds, not {lock_wait!r}") from None
    data_dir = _setting("TODODB_DATA_DIR", dotenv)
    wal_archive = _setting("TODODB_WAL_ARCHIVE", dotenv)
    return Settings(
        database_url=url,
        migrations_dir=(migrations_dir or ROOT / "migrations").resolve(),
        data_dir=Path(data_dir).resolve() if data_dir else ROOT / ".pgdata",
        lock_wait_seconds=lock_wait_seconds,
        wal_archive=Path(wal_archive).resolve() if wal_archive else None,
    )
