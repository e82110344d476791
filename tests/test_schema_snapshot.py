"""schema/schema.sql is what the migrations produce: regenerated from nothing
on the embedded server, it must be byte-identical to the committed file."""

from __future__ import annotations

import pytest

from tooling import snapshot
from tooling.config import load_settings


def test_committed_schema_snapshot_is_current():
    fresh = snapshot.generate(load_settings())
    if fresh != snapshot.SNAPSHOT.read_text():
        pytest.fail("schema/schema.sql is stale: run `make schema` and commit the result", pytrace=False)
    assert "CREATE POLICY tasks_select_own ON app.tasks" in fresh and "\\restrict" not in fresh
