"""Applied migrations are immutable: a checksum of each file is recorded when it is applied.

yoyo knows a migration by its file name only and never notices an edited file,
so an edit to an applied migration would silently make the database differ
from what the files say. The tool records a SHA-256 of each migration (its
file and its rollback) in `_tododb_migration_checksums`, in the same
transaction that applies it, and refuses to go on when an applied file has
changed. `tooling migrate --accept-edited ID` re-records one deliberately.
Migrations applied before checksums existed are recorded on first sight.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from yoyo.migrations import Migration

from tooling.errors import ToolError

TABLE = "_tododb_migration_checksums"


def checksum(migration: Migration) -> str:
    forward = Path(migration.path)
    rollback = forward.with_name(forward.name[: -len(".sql")] + ".rollback.sql")
    digest = hashlib.sha256(forward.read_bytes())
    digest.update(b"\0")
    if rollback.exists():
        digest.update(rollback.read_bytes())
    return digest.hexdigest()


def ensure_table(backend) -> None:
    backend.execute(
        f"create table if not exists {TABLE} (migration_id text primary key, sha256 text not null, "
        "recorded_at timestamptz not null default now())"
    )


def exists(backend) -> bool:
    return backend.execute(f"select to_regclass('{TABLE}')").fetchone()[0] is not None


def record(backend, migration: Migration) -> None:
    backend.execute(
        f"insert into {TABLE} (migration_id, sha256) values (:id, :sum) "
        "on conflict (migration_id) do update set sha256 = excluded.sha256, recorded_at = now()",
        {"id": migration.id, "sum": checksum(migration)},
    )


def forget(backend, migration: Migration) -> None:
    backend.execute(f"delete from {TABLE} where migration_id = :id", {"id": migration.id})


def verify(backend, applied: list[Migration], adopt: bool) -> None:
    """Refuse when an applied migration's file changed; record the ones never recorded (when ``adopt``)."""
    recorded = dict(backend.execute(f"select migration_id, sha256 from {TABLE}").fetchall()) if exists(backend) else {}
    for migration in applied:
        known = recorded.get(migration.id)
        if known is None:
            if adopt:
                record(backend, migration)
        elif known != checksum(migration):
            raise ToolError(
                f"migrations/{migration.id}.sql (or its rollback) was edited after it was applied; restore it and "
                f"fix forward with a new migration, or accept the edit with `tooling migrate --accept-edited "
                f"{migration.id}`"
            )
