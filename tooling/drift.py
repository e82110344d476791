"""Drift: does the live database still look like what its applied migrations make?

A hand-made change (an index added in psql, a policy dropped during an
incident, a grant) leaves the migration records untouched, so nothing else
notices it. The check migrates a scratch database on the same server with
exactly the migrations the live one has applied (their files are verified
unchanged by the checksums first), reads both catalogs the same way
(tooling.catalog) and names every object that differs.

Comparing against a scratch database rather than the committed
schema/schema.sql keeps the check exact for a database that is behind (only
its applied migrations count) and for another server version (both sides
are read by the same server). Database-level privileges are left out: they
belong to the deployment, not to the migrations.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from tooling import catalog, migrate
from tooling.errors import ToolError, one_line
from tooling.scratch import scratch_database
from tooling.target import connect

COMPARED = tuple(name for name in catalog.AREAS if name != "database")


@dataclass
class Drift:
    checked: bool
    differences: list[str] = field(default_factory=list)
    reason: str = ""  # why it could not be checked

    def summary(self) -> str:
        if not self.checked:
            return f"drift: not checked ({self.reason})"
        if not self.differences:
            return "drift: none (the live catalog matches its applied migrations)"
        return f"drift: {len(self.differences)} object(s) differ from what the applied migrations make"


def check(url: str, migrations_dir: Path, states: list[migrate.MigrationState] | None = None) -> Drift:
    """Compare ``url`` with its applied migrations; ``states`` saves reading them again if the caller has."""
    if states is None:
        states = migrate.states(url, migrations_dir)  # refuses edited applied files
    applied = {s.migration_id for s in states if s.applied_at is not None}
    missing = [s.migration_id for s in states if not s.has_file]
    if missing:
        return Drift(False, reason=f"applied migration {missing[0]} has no file to rebuild it from")
    try:
        with scratch_database(url, f"tododb_drift_{os.getpid()}") as scratch_url:
            migrate.apply_pending(scratch_url, migrations_dir, echo=lambda *_: None, only=applied)
            with connect(scratch_url) as conn:
                expected = catalog.snapshot(conn, COMPARED)
    except psycopg.errors.InsufficientPrivilege as exc:
        return Drift(False, reason=f"cannot create a scratch database to compare with: {one_line(exc)}")
    except ToolError as exc:
        return Drift(False, reason=f"the applied migrations do not rebuild on a scratch database: {exc}")
    with connect(url) as conn:
        live = catalog.snapshot(conn, COMPARED)
    return Drift(True, catalog.differing_objects(expected, live, "the migrations", "the live database"))
