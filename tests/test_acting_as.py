"""The test helper acts exactly as the app will: a role and an identity set
for one transaction only, gone when it ends."""

from __future__ import annotations

import uuid

from psycopg import sql

from tests.support import acting_as


def test_acting_as_sets_role_and_identity_for_one_transaction_only(postgresql):
    role = f"tododb_probe_{uuid.uuid4().hex[:8]}"
    user_id = uuid.uuid4()
    postgresql.autocommit = True
    postgresql.execute(sql.SQL("create role {} nologin").format(sql.Identifier(role)))
    try:
        owner = postgresql.execute("select current_user").fetchone()[0]
        with acting_as(postgresql, role, user_id) as conn:
            assert conn.execute("select current_user").fetchone() == (role,)
            assert conn.execute("select current_setting('app.user_id')").fetchone() == (str(user_id),)
        # Back to the owner, and the identity did not outlive the transaction.
        assert postgresql.execute("select current_user").fetchone() == (owner,)
        assert postgresql.execute("select current_setting('app.user_id', true)").fetchone() in [(None,), ("",)]
    finally:
        postgresql.execute(sql.SQL("drop role {}").format(sql.Identifier(role)))


def test_acting_as_without_identity_sets_an_empty_one(postgresql):
    with acting_as(postgresql, "pg_read_all_data", None) as conn:
        assert conn.execute("select current_setting('app.user_id')").fetchone() == ("",)
