"""Test databases on a real server, through pytest-postgresql.

The server is the embedded one (started by the tool if needed) or the one in
``TEST_DATABASE_URL``.  Templates are built once per session and cloned for
each test (``CREATE DATABASE ... TEMPLATE``: cheap):

* ``superuser_migrated``: every migration applied by the server's superuser;
* ``owner_migrated``: every migration applied by an ordinary owner (CREATEDB,
  CREATEROLE, no superuser: as on hosted servers); the tests that must hold
  for both take ``migrated_db``, which runs them on each. There the history
  trigger runs with the owner's rights, under forced row-level security, so
  rows are written with the identity of the user they belong to, as an
  ordinary owner's maintenance must;
* ``empty_db``: nothing applied, for the migration and CLI tests that drive
  the runner themselves.

Where the server is local, the templates (and so every clone) live in a
tablespace on tmpfs (tests/ram_tablespace.py): cloning is most of the suite's
time on a disk.

Every fixture connection is the server's superuser.
"""

from __future__ import annotations

import psycopg
import pytest
from pytest_postgresql import factories

from tests import owners, ram_tablespace
from tests.support import MIGRATIONS_DIR, PARAMS
from tooling import migrate


def apply_all_migrations(host, port, user, dbname, password=None, **_ignored) -> None:
    """pytest-postgresql loader: migrate the template with the real runner, as the superuser."""
    migrate.apply_pending(PARAMS.url(dbname), MIGRATIONS_DIR, echo=lambda *_: None)


def apply_all_migrations_as_owner(host, port, user, dbname, password=None, **_ignored) -> None:
    """pytest-postgresql loader: hand the template to an ordinary owner, who migrates it."""
    with psycopg.connect(PARAMS.url(dbname), autocommit=True) as admin:
        owners.ensure_owner(admin)
        owners.grant_admin_on_existing_roles(admin)
        url = owners.hand_database_to_owner(admin, dbname)
    migrate.apply_pending(url, MIGRATIONS_DIR, echo=lambda *_: None)


def move_to_ram_tablespace(host, port, user, dbname, password=None, **_ignored) -> None:
    """pytest-postgresql loader, last: move the loaded template into the RAM tablespace where there is one."""
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as admin:
        ram_tablespace.move_database(admin, dbname)


@pytest.fixture(scope="session", autouse=True)
def _ram_tablespace_dropped_at_the_end():
    """Set up first, so torn down last: after pytest-postgresql has dropped the templates."""
    yield
    with psycopg.connect(PARAMS.url(PARAMS.maintenance_dbname), autocommit=True) as admin:
        ram_tablespace.drop(admin)


_server = dict(
    host=PARAMS.host,
    port=PARAMS.port,
    user=PARAMS.user,
    password=PARAMS.password,
    maintenance_dbname=PARAMS.maintenance_dbname,
)

migrated_proc = factories.postgresql_noproc(
    dbname="tododb_test", load=[apply_all_migrations, move_to_ram_tablespace], **_server
)
owner_migrated_proc = factories.postgresql_noproc(
    dbname="tododb_test_owner", load=[apply_all_migrations_as_owner, move_to_ram_tablespace], **_server
)
empty_proc = factories.postgresql_noproc(dbname="tododb_test_empty", load=[move_to_ram_tablespace], **_server)

superuser_migrated = factories.postgresql("migrated_proc")
owner_migrated = factories.postgresql("owner_migrated_proc")
empty_db = factories.postgresql("empty_proc")


@pytest.fixture(params=["superuser", "ordinary owner"])
def migrated_db(request) -> psycopg.Connection:
    """A migrated database, once as migrated by the superuser and once by an ordinary owner."""
    if request.param == "superuser":
        return request.getfixturevalue("superuser_migrated")
    return request.getfixturevalue("owner_migrated")
