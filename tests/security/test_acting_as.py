"""The test helper acts exactly as the app will: a role and an identity set
for one transaction only, gone when it ends."""

from __future__ import annotations

import uuid

from psycopg import sql

from tests.support import acting_as


def test_acting_as_sets_role_and_identity_for_one_transaction_only(superuser_migrated):
    role = f"tododb_probe_{uuid.uuid4().hex[:8]}"
    user_id = uuid.uuid4()
    superuser_migrated.autocommit = True
    superuser_migrated.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
    try:
        owner = superuser_migrated.execute("select current_user").fetchone()[0]
        with acting_as(superuser_migrated, role, user_id) as conn:
            assert conn.execute("select current_user").fetchone() == (role,)
            assert conn.execute("select current_setting('app.user_id')").fetchone() == (str(user_id),)
        # Back to the owner, and the identity did not outlive the transaction.
        assert superuser_migrated.execute("select current_user").fetchone() == (owner,)
        assert superuser_migrated.execute("select current_setting('app.user_id', true)").fetchone() in [(None,), ("",)]
    finally:
        superuser_migrated.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_acting_as_without_identity_sets_an_empty_one(superuser_migrated):
    with acting_as(superuser_migrated, "pg_read_all_data", None) as conn:
        assert conn.execute("select current_setting('app.user_id')").fetchone() == ("",)
