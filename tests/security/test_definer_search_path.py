"""Every SECURITY DEFINER function pins a safe search_path: only schemas no one
but their owner can create in, then pg_temp, named explicitly and last.

Without pg_temp in the path (`set search_path = ''` included) PostgreSQL
searches the caller's temporary schema *first* for relations and types, so a
caller could plant `pg_temp.users` and have a definer function read it with
its owner's rights. The check is tooling.doctor.unsafe_definer_functions, the
one `make doctor` reports as SECURITY; the scratch functions below prove it
flags what it must and passes what it may.
"""

from __future__ import annotations

import pytest

from tooling.doctor import unsafe_definer_functions


def test_the_migrated_database_has_no_definer_function_with_an_unsafe_search_path(superuser_migrated):
    assert unsafe_definer_functions(superuser_migrated) == []


def _findings_for(conn, name: str) -> list[str]:
    return [line for line in unsafe_definer_functions(conn) if line.startswith(f"scratch.{name}(")]


@pytest.fixture
def scratch(empty_db):
    """A schema only its owner (the tests' superuser) can create in, and one anyone can."""
    empty_db.execute("create schema scratch")
    empty_db.execute("create schema open_to_all")
    empty_db.execute("grant create on schema open_to_all to public")
    return empty_db


# (settings of the function, flagged?, what the reason must say)
CASES = {
    "definer_empty_path": ("security definer set search_path = ''", True, "does not name pg_temp"),
    "definer_no_path": ("security definer", True, "no search_path is pinned"),
    "definer_catalog_then_temp": ("security definer set search_path = pg_catalog, pg_temp", False, ""),
    "definer_temp_then_catalog": (
        "security definer set search_path = pg_temp, pg_catalog",
        True,
        "names pg_temp before its end",
    ),
    "definer_catalog_only": ("security definer set search_path = pg_catalog", True, "does not name pg_temp"),
    "definer_own_schema_then_temp": ("security definer set search_path = scratch, pg_catalog, pg_temp", False, ""),
    "definer_open_schema_then_temp": (
        "security definer set search_path = open_to_all, pg_temp",
        True,
        "in which PUBLIC may create objects",
    ),
    "definer_missing_schema_then_temp": (
        "security definer set search_path = nowhere, pg_temp",
        True,
        "'nowhere', which does not exist",
    ),
    "definer_user_schema_then_temp": (
        'security definer set search_path = "$user", pg_temp',
        True,
        "'$user', which does not exist",
    ),
    "definer_quoted_list": (
        "security definer set search_path = 'pg_catalog, pg_temp'",
        True,
        "does not name pg_temp",
    ),  # one (missing) schema named "pg_catalog, pg_temp"
    "definer_upper_case": ("security definer set search_path = PG_CATALOG, PG_TEMP", False, ""),
    "invoker_no_path": ("security invoker", False, ""),
    "invoker_empty_path": ("security invoker set search_path = ''", False, ""),
}


@pytest.mark.parametrize("name", list(CASES))
def test_definer_functions_are_judged_by_their_search_path(scratch, name):
    settings, flagged, reason = CASES[name]
    scratch.execute(f"create function scratch.{name}(n int) returns int language sql stable {settings} as 'select n'")
    found = _findings_for(scratch, name)
    if flagged:
        assert len(found) == 1 and reason in found[0], found
        assert found[0].startswith(f"scratch.{name}(integer): ")
    else:
        assert found == []


def test_a_schema_becomes_unsafe_once_another_role_may_create_in_it(scratch):
    scratch.execute(
        "create function scratch.reader() returns int language sql stable security definer "
        "set search_path = scratch, pg_temp as 'select 1'"
    )
    assert _findings_for(scratch, "reader") == []
    scratch.execute("grant create on schema scratch to todo_app")
    assert "in which todo_app may create objects" in _findings_for(scratch, "reader")[0]


def test_functions_in_every_schema_but_the_system_ones_are_checked(scratch):
    scratch.execute("create function public.anywhere() returns int language sql stable security definer as 'select 1'")
    assert [
        line
        for line in unsafe_definer_functions(scratch)
        if line.startswith("anywhere()") or line.startswith("public.anywhere()")
    ]
