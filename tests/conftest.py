"""Test databases on a real server, through pytest-postgresql.

The server is the embedded one (started by the tool if needed) or the one in
``TEST_DATABASE_URL``.  Two templates are built once per session:

* ``postgresql``: a fresh database with every migration applied, cloned from
  a template for each test (``CREATE DATABASE ... TEMPLATE``: cheap);
* ``empty_db``: a fresh database with nothing applied, for the migration and
  CLI tests that drive the runner themselves.
"""

from __future__ import annotations

from pytest_postgresql import factories

from tests.support import MIGRATIONS_DIR, PARAMS
from tooling import migrate


def apply_all_migrations(host, port, user, dbname, password=None, **_ignored) -> None:
    """pytest-postgresql loader: migrate the template with the real runner."""
    url = PARAMS.url(dbname)
    migrate.apply_pending(url, MIGRATIONS_DIR, echo=lambda *_: None)


_server = dict(
    host=PARAMS.host,
    port=PARAMS.port,
    user=PARAMS.user,
    password=PARAMS.password,
    maintenance_dbname=PARAMS.maintenance_dbname,
)

migrated_proc = factories.postgresql_noproc(dbname="tododb_test", load=[apply_all_migrations], **_server)
empty_proc = factories.postgresql_noproc(dbname="tododb_test_empty", **_server)

postgresql = factories.postgresql("migrated_proc")
empty_db = factories.postgresql("empty_proc")
