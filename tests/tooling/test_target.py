"""Connecting goes through one module, tooling.target: a URL is checked before any work, a target is
described without its password, and a failure to connect is one line that names it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tooling.config import ROOT
from tooling.errors import ToolError
from tooling.target import connect, describe_target, reachable, validate


def test_hosted_server_url_with_sslmode_is_accepted():
    params = validate("postgresql://app:s3cret@ep-1.example.neon.tech/tododb?sslmode=require")
    assert params["sslmode"] == "require"


@pytest.mark.parametrize(
    "bad",
    ["mysql://app@localhost/tododb", "postgresql://app@localhost:54x2/tododb", "host=localhost dbname=tododb"],
)
def test_malformed_urls_are_refused(bad):
    with pytest.raises(ToolError, match="DATABASE_URL is malformed"):
        validate(bad)


def test_target_description_never_shows_the_password():
    label = describe_target("postgresql://app:s3cret@db.example:6543/tododb")
    assert "s3cret" not in label
    assert "db.example:6543" in label and "'tododb'" in label


def test_a_failure_to_connect_is_one_line_naming_the_target(tmp_path):
    url = f"postgresql://app:s3cret@/tododb?host={tmp_path}&port=1"  # no server listens on that socket
    with pytest.raises(ToolError) as refused:
        connect(url)
    message = str(refused.value)
    assert "\n" not in message and "s3cret" not in message
    assert message.startswith("cannot connect to ") and describe_target(url) in message
    assert not reachable(url)


def test_a_failure_to_reach_the_embedded_server_points_at_its_log(tmp_path):
    url = f"postgresql://postgres@/postgres?host={tmp_path}&port=1"
    with pytest.raises(ToolError) as refused:
        connect(url, embedded_dir=tmp_path)
    assert str(refused.value).startswith(f"the embedded server in {tmp_path} is not answering")
    assert str(tmp_path / "log") in str(refused.value)


def test_connect_reaches_a_running_server(superuser_migrated):
    url = superuser_migrated.info.dsn
    assert reachable(url)
    with connect(url) as conn:
        assert conn.execute("select current_database()").fetchone()[0] == superuser_migrated.info.dbname


def _direct_connects(path: Path) -> list[int]:
    """Lines of ``path`` that call psycopg.connect (or psycopg.Connection.connect) themselves."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "connect":
            owner = node.func.value
            name = ast.unparse(owner)
            if name in ("psycopg", "psycopg.Connection"):
                found.append(node.lineno)
    return found


def test_every_connection_of_the_tool_goes_through_target():
    offenders = {
        str(path.relative_to(ROOT)): lines
        for path in sorted((ROOT / "tooling").glob("*.py"))
        if path.name != "target.py" and (lines := _direct_connects(path))
    }
    assert offenders == {}, "connect with tooling.target.connect (one-line failures, a connect timeout)"
    assert _direct_connects(ROOT / "tooling" / "target.py"), "the scan must see the one call that is allowed"
