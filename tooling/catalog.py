"""The schema as the catalog holds it: every object a migration may create or
grant, as plain rows, and the differences between two such snapshots.

Used to prove a rollback leaves the catalog exactly as it found it (tests),
and to find drift: a live database compared with a scratch database migrated
by the same files (``tooling status``, ``tooling doctor``).

Each area's query puts the object's name first (``key`` columns) and what it
is after, so a difference can be reported per object: only on one side, or
defined differently. Privileges are compared by meaning: a never-touched ACL
(null) is shown as the default it stands for, so "granted, then revoked"
equals "never granted".
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg

_USER_SCHEMAS = "n.nspname not like 'pg\\_%' and n.nspname <> 'information_schema'"
# The runner's bookkeeping (yoyo's tables, the checksums) changes with every run; it is not the schema.
_NOT_RUNNER = "c.relname not like '\\_yoyo%' and c.relname not like 'yoyo\\_%' and c.relname not like '\\_tododb%'"


@dataclass(frozen=True)
class Area:
    label: str  # what one row is, for a report line
    key: int  # how many leading columns name the object
    fields: tuple[str, ...]  # what the other columns are, to say how two definitions differ
    query: str


AREAS: dict[str, Area] = {
    "schemas": Area(
        "schema",
        1,
        ("owner", "privileges", "comment"),
        f"""
        select n.nspname, pg_get_userbyid(n.nspowner), coalesce(n.nspacl, acldefault('n', n.nspowner))::text,
               obj_description(n.oid, 'pg_namespace')
        from pg_namespace n where {_USER_SCHEMAS} order by 1""",
    ),
    "extensions": Area(
        "extension",
        1,
        ("version", "schema"),
        """
        select e.extname, e.extversion, n.nspname
        from pg_extension e join pg_namespace n on n.oid = e.extnamespace order by 1""",
    ),
    "relations": Area(
        "relation",
        2,
        ("kind", "row security", "forced row security", "privileges", "comment", "view definition", "storage options"),
        f"""
        select n.nspname, c.relname, c.relkind, c.relrowsecurity, c.relforcerowsecurity,
               coalesce(c.relacl, acldefault((case when c.relkind = 'S' then 's' else 'r' end)::"char",
                                             c.relowner))::text,
               obj_description(c.oid, 'pg_class'),
               case when c.relkind in ('v', 'm') then pg_get_viewdef(c.oid) end,
               c.reloptions::text
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where {_USER_SCHEMAS} and {_NOT_RUNNER} order by 1, 2""",
    ),
    "columns": Area(
        "column",
        3,
        (
            "type",
            "not null",
            "default",
            "identity",
            "generated",
            "column privileges",
            "statistics options",
            "statistics target",
            "comment",
        ),
        f"""
        select n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid), a.attidentity, a.attgenerated, nullif(a.attacl, '{{}}')::text,
               a.attoptions::text, a.attstattarget,
               col_description(c.oid, a.attnum)
        from pg_attribute a
        join pg_class c on c.oid = a.attrelid
        join pg_namespace n on n.oid = c.relnamespace
        left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where {_USER_SCHEMAS} and {_NOT_RUNNER} and c.relkind <> 'i' and a.attnum > 0 and not a.attisdropped
        order by 1, 2, 3""",
    ),
    "constraints": Area(
        "constraint",
        3,
        ("kind", "definition", "validated", "comment"),
        f"""
        select n.nspname, coalesce(c.relname, t.typname), con.conname, con.contype,
               pg_get_constraintdef(con.oid), con.convalidated, obj_description(con.oid, 'pg_constraint')
        from pg_constraint con
        join pg_namespace n on n.oid = con.connamespace
        left join pg_class c on c.oid = con.conrelid
        left join pg_type t on t.oid = con.contypid
        where {_USER_SCHEMAS} and (c.relname is null or ({_NOT_RUNNER}))
        order by 1, 2, 3""",
    ),
    "indexes": Area(
        "index",
        3,
        ("definition", "valid", "comment"),
        f"""
        select n.nspname, c.relname, ic.relname, pg_get_indexdef(i.indexrelid), i.indisvalid,
               obj_description(ic.oid, 'pg_class')
        from pg_index i
        join pg_class c on c.oid = i.indrelid
        join pg_class ic on ic.oid = i.indexrelid
        join pg_namespace n on n.oid = c.relnamespace
        where {_USER_SCHEMAS} and {_NOT_RUNNER} order by 1, 2, 3""",
    ),
    "functions": Area(
        "function",
        3,
        ("kind", "definition", "owner", "privileges", "comment"),
        f"""
        select n.nspname, p.proname, pg_get_function_identity_arguments(p.oid), p.prokind,
               case when p.prokind <> 'a' then pg_get_functiondef(p.oid) end,
               pg_get_userbyid(p.proowner), coalesce(p.proacl, acldefault('f', p.proowner))::text,
               obj_description(p.oid, 'pg_proc')
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where {_USER_SCHEMAS} order by 1, 2, 3""",
    ),
    "triggers": Area(
        "trigger",
        3,
        ("definition", "enabled", "comment"),
        f"""
        select n.nspname, c.relname, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled,
               obj_description(t.oid, 'pg_trigger')
        from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
        where not t.tgisinternal and {_USER_SCHEMAS} order by 1, 2, 3""",
    ),
    "policies": Area(
        "policy",
        3,
        ("permissive", "roles", "command", "using", "with check"),
        """
        select schemaname, tablename, policyname, permissive, roles::text, cmd, qual, with_check
        from pg_policies order by 1, 2, 3""",
    ),
    "types": Area(
        "type",
        2,
        ("kind", "base type", "not null", "privileges", "comment", "labels"),
        f"""
        select n.nspname, t.typname, t.typtype, format_type(t.typbasetype, t.typtypmod), t.typnotnull,
               coalesce(t.typacl, acldefault('T', t.typowner))::text, obj_description(t.oid, 'pg_type'),
               (select array_agg(e.enumlabel order by e.enumsortorder) from pg_enum e where e.enumtypid = t.oid)::text
        from pg_type t join pg_namespace n on n.oid = t.typnamespace
        left join pg_class c on c.oid = t.typrelid
        where {_USER_SCHEMAS} and t.typcategory <> 'A' and (c.relkind is null or c.relkind = 'c')
        order by 1, 2""",
    ),
    "default_privileges": Area(
        "default privileges",
        3,
        ("privileges",),
        """
        select pg_get_userbyid(d.defaclrole), d.defaclnamespace::regnamespace::text, d.defaclobjtype,
               d.defaclacl::text
        from pg_default_acl d order by 1, 2, 3""",
    ),
    "database": Area(
        "database privileges",
        0,
        ("privileges",),
        """
        select coalesce(datacl, acldefault('d', datdba))::text from pg_database where datname = current_database()""",
    ),
}

Snapshot = dict[str, list[tuple]]


def snapshot(conn: psycopg.Connection, areas: tuple[str, ...] = tuple(AREAS)) -> Snapshot:
    """The chosen areas of the catalog, as rows (comparable with ``==``).

    Reading a view's definition locks the view and the tables it reads; a
    transaction this call opened is ended here, so those locks do not stay
    behind to block the next migration."""
    was_idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    rows = {name: conn.execute(AREAS[name].query).fetchall() for name in areas}
    if was_idle and not conn.autocommit:
        conn.rollback()
    return rows


def diff(before: Snapshot, after: Snapshot) -> dict[str, dict[str, list]]:
    """Only the rows that differ, per area: readable in an assertion message."""
    result = {}
    for name in before:
        gone = [row for row in before[name] if row not in after[name]]
        new = [row for row in after[name] if row not in before[name]]
        if gone or new:
            result[name] = {"only_before": gone, "only_after": new}
    return result


def _name(area: Area, row: tuple) -> str:
    parts = [str(part) for part in row[: area.key]]
    if area.label == "function":
        return f"{parts[0]}.{parts[1]}({parts[2]})"
    if area.label == "index":  # schema, table, index: the index is named in its schema
        return f"{parts[0]}.{parts[2]} on {parts[0]}.{parts[1]}"
    return ".".join(parts) or "(this database)"


def differing_objects(expected: Snapshot, actual: Snapshot, expected_side: str, actual_side: str) -> list[str]:
    """One line per object that differs: missing on one side, or defined differently."""
    lines = []
    for name, area in AREAS.items():
        if name not in expected:
            continue
        wanted = {row[: area.key]: row for row in expected[name]}
        found = {row[: area.key]: row for row in actual[name]}
        for key in sorted(wanted.keys() | found.keys(), key=lambda k: tuple(map(str, k))):
            label = f"{area.label} {_name(area, wanted.get(key) or found[key])}"
            if key not in found:
                lines.append(f"{label}: only in {expected_side}")
            elif key not in wanted:
                lines.append(f"{label}: only in {actual_side}")
            elif wanted[key] != found[key]:
                changed = [
                    f
                    for f, a, b in zip(area.fields, wanted[key][area.key :], found[key][area.key :], strict=True)
                    if a != b
                ]
                lines.append(f"{label}: differs in {', '.join(changed)}")
    return lines
