"""The house conventions, checked on the migrated catalog so that a new
migration that forgets one fails here, named."""

from __future__ import annotations

import re

from tooling import inventory


def _rows(conn, query):
    return conn.execute(query).fetchall()


def test_every_table_and_column_in_app_has_a_comment(superuser_migrated):
    missing = _rows(
        superuser_migrated,
        """
        select c.relname, a.attname
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where n.nspname = 'app' and c.relkind in ('r', 'p')
          and (obj_description(c.oid, 'pg_class') is null or col_description(c.oid, a.attnum) is null)
        """,
    )
    assert missing == []


def test_every_check_and_foreign_key_has_a_comment(superuser_migrated):
    missing = _rows(
        superuser_migrated,
        """
        select conrelid::regclass::text, conname from pg_constraint
        where connamespace = 'app'::regnamespace and contype in ('c', 'f')
          and obj_description(oid, 'pg_constraint') is null
        """,
    )
    assert missing == []


def test_every_domain_and_function_has_a_comment(superuser_migrated):
    missing = _rows(
        superuser_migrated,
        """
        select t.typname from pg_type t
        where t.typnamespace = 'app'::regnamespace and t.typtype = 'd' and obj_description(t.oid, 'pg_type') is null
        union all
        select p.proname from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'app_private'::regnamespace)
          and obj_description(p.oid, 'pg_proc') is null
        """,
    )
    assert missing == []


def test_constraint_and_index_names_follow_the_convention(superuser_migrated):
    names = _rows(
        superuser_migrated,
        """
        select coalesce(c.relname, t.typname), con.conname, con.contype
        from pg_constraint con
        left join pg_class c on c.oid = con.conrelid
        left join pg_type t on t.oid = con.contypid
        where con.connamespace = 'app'::regnamespace and con.contype in ('c', 'f', 'p', 'u')
        """,
    )
    suffix = {"c": "_check", "f": "_fkey", "p": "_pkey", "u": "_key"}
    wrong = [(owner, name) for owner, name, kind in names if not re.fullmatch(rf"{owner}(_\w+)?{suffix[kind]}", name)]
    assert wrong == []
    indexes = _rows(superuser_migrated, "select tablename, indexname from pg_indexes where schemaname = 'app'")
    assert [(t, i) for t, i in indexes if not re.fullmatch(rf"{t}_\w+_(idx|key|pkey)|{t}_pkey", i)] == []


def test_every_foreign_key_says_on_delete_and_is_served_by_an_index(superuser_migrated):
    keys = _rows(
        superuser_migrated,
        """
        select con.conrelid::regclass::text, con.conname, con.confdeltype
        from pg_constraint con
        where con.connamespace = 'app'::regnamespace and con.contype = 'f'
        """,
    )
    assert keys, "no foreign keys found"
    assert [k for k in keys if k[2] == "a"] == [], "a foreign key left on delete at its default (no action)"
    # The rule make doctor applies (tooling.inventory): one definition of "served by an index".
    assert inventory.unindexed_foreign_keys(superuser_migrated, ("app", "app_private")) == [], (
        "a foreign key without an index led by its columns"
    )


def test_every_table_with_updated_at_has_the_timestamps_trigger(superuser_migrated):
    missing = _rows(
        superuser_migrated,
        """
        select c.relname from pg_class c
        join pg_attribute a on a.attrelid = c.oid and a.attname = 'updated_at'
        where c.relnamespace = 'app'::regnamespace and c.relkind = 'r'
          and not exists (select from pg_trigger t where t.tgrelid = c.oid and t.tgname = '_100_timestamps')
        """,
    )
    assert missing == []


def test_every_table_holding_user_data_carries_the_key_its_policies_go_by(superuser_migrated):
    """user_id (a user's rows) or project_id (a project's rows); projects themselves carry owner_id."""
    missing = _rows(
        superuser_migrated,
        """
        select c.relname from pg_class c
        where c.relnamespace = 'app'::regnamespace and c.relkind = 'r' and c.relname not in ('users', 'projects')
          and not exists (
            select from pg_attribute a where a.attrelid = c.oid and a.attname in ('user_id', 'project_id')
          )
        """,
    )
    assert missing == []


def test_every_function_but_the_identity_reader_pins_its_search_path_to_pg_catalog_then_pg_temp(superuser_migrated):
    functions = _rows(
        superuser_migrated,
        """
        select p.proname, p.prosecdef, p.proconfig, p.provolatile
        from pg_proc p
        where p.pronamespace in ('app'::regnamespace, 'app_private'::regnamespace)
        """,
    )
    assert functions
    # app.current_user_id() runs in every policy: no SET clause, on purpose (see 0003).
    hot_path_exempt = {"current_user_id"}
    # pg_temp named, and last: with '' PostgreSQL still searches it first for relations and types (0024).
    for name, definer, config, _ in functions:
        if name in hot_path_exempt:
            assert not definer and config is None, (name, config)
        else:
            assert config == ["search_path=pg_catalog, pg_temp"], (name, definer, config)


def test_every_policy_has_a_comment_and_a_conventional_name(superuser_migrated):
    policies = _rows(
        superuser_migrated,
        """
        select c.relname, p.polname, obj_description(p.oid, 'pg_policy')
        from pg_policy p join pg_class c on c.oid = p.polrelid
        where c.relnamespace = 'app'::regnamespace
        """,
    )
    assert policies
    assert [p for p in policies if p[2] is None] == []
    # The suffix says whom the policy is for: the row's user, a project's members, editors or owner, the
    # definer code's role (auth), or the backfill of 0040 (gone in 0043).
    pattern = (
        r"{}_(select|insert|update|delete|all)_"
        r"(own|auth|member|editor|owner|owner_or_self|owner_or_invitee|visible_task)"
    )
    assert [p for p in policies if not re.fullmatch(pattern.format(p[0]), p[1])] == []
