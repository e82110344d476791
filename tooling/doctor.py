"""`tooling doctor`: is this database in the shape the project expects?

Each check prints one line: `ok` or `info`, or a finding with what to do:
`warn` (worth fixing) or `SECURITY` (a hole: the command then exits 1).
Security findings are the ones that would let one user reach another's
rows or let anyone call what they should not: a table in `app` without
forced row-level security, anything in the project's schemas granted to
PUBLIC, an app role that can log in directly or bypass row-level security,
a SECURITY DEFINER function whose search_path is not pinned safely.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tooling import drift, inventory, migrate
from tooling.errors import ToolError, one_line
from tooling.rows import one
from tooling.target import connect

SUPPORTED_MAJORS = range(15, 19)  # the majors CI runs (15 and 18) and those between
SCHEMAS = ("app", "app_private")
APP_ROLES = ("todo_app", "todo_readonly", "todo_auth")
UNUSED_INDEX_AFTER_DAYS = 7  # index usage means little before statistics cover a week of traffic


@dataclass(frozen=True)
class Line:
    level: str  # ok, info, warn, SECURITY
    text: str

    def __str__(self) -> str:
        return f"{self.level:<8} {self.text}"


def _server(conn: psycopg.Connection) -> list[Line]:
    version = one(conn.execute("select current_setting('server_version')"))[0]
    major = conn.info.server_version // 10000
    supported = f"{SUPPORTED_MAJORS.start} to {SUPPORTED_MAJORS.stop - 1}"
    if major in SUPPORTED_MAJORS:
        return [Line("ok", f"server: PostgreSQL {version} (supported: {supported})")]
    return [
        Line(
            "warn",
            f"server: PostgreSQL {version} is not supported (supported: {supported}); "
            "upgrade, or run the test suite against it before trusting it",
        )
    ]


def describe_connection(host: str, ssl: tuple | None) -> Line:
    """``ssl``: (ssl, version, cipher) of this session from pg_stat_ssl."""
    if host.startswith("/") or not host:
        return Line("ok", f"connection: Unix socket {host or '(default)'} (TLS does not apply)")
    if ssl and ssl[0]:
        return Line("ok", f"connection: {host}, TLS {ssl[1]} ({ssl[2]})")
    if host in ("localhost", "127.0.0.1", "::1"):
        return Line("info", f"connection: {host} without TLS (local only)")
    return Line("warn", f"connection: {host} without TLS; add sslmode=verify-full (or require) to DATABASE_URL")


def _connection(conn: psycopg.Connection) -> list[Line]:
    ssl = conn.execute("select ssl, version, cipher from pg_stat_ssl where pid = pg_backend_pid()").fetchone()
    return [describe_connection(conn.info.host, ssl)]


def _migrations(states: list[migrate.MigrationState]) -> list[Line]:
    pending = [s.migration_id for s in states if s.applied_at is None]
    missing = [s.migration_id for s in states if not s.has_file]
    lines = []
    if pending:
        lines.append(Line("warn", f"migrations: {len(pending)} pending ({pending[0]} first); run `make migrate`"))
    if missing:
        lines.append(Line("warn", f"migrations: {missing[0]} is applied but its file is missing; restore the file"))
    applied = len(states) - len(pending)
    return lines or [Line("ok", f"migrations: {applied} applied, none pending, every applied file unchanged")]


def _drift(url: str, migrations_dir: Path, states: list[migrate.MigrationState]) -> list[Line]:
    found = drift.check(url, migrations_dir, states)
    if not found.checked:
        return [Line("info", found.summary())]
    if not found.differences:
        return [Line("ok", "drift: none (the catalog matches the applied migrations)")]
    return [
        Line("warn", f"drift: {difference}; undo the manual change, or make it a migration")
        for difference in found.differences
    ]


def _row_security(conn: psycopg.Connection) -> list[Line]:
    tables = conn.execute(
        "select c.oid::regclass::text, c.relrowsecurity, c.relforcerowsecurity from pg_class c "
        "where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') order by 1"
    ).fetchall()
    lines = [
        Line(
            "SECURITY",
            f"{table}: row-level security is {'not forced' if enabled else 'off'}; "
            f"enable and force it in a migration (`alter table {table} force row level security`)",
        )
        for table, enabled, forced in tables
        if not (enabled and forced)
    ]
    return lines or [Line("ok", f"row-level security: enabled and forced on all {len(tables)} tables in app")]


_PUBLIC_GRANTS = """
    select kind, name, privilege from (
      select 'schema' as kind, n.nspname::text as name, a.privilege_type as privilege
      from pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
      where n.nspname = any(%(schemas)s) and a.grantee = 0
      union all
      select case c.relkind when 'S' then 'sequence' when 'v' then 'view' else 'table' end,
             c.oid::regclass::text, a.privilege_type
      from pg_class c, aclexplode(coalesce(c.relacl, acldefault(
             (case when c.relkind = 'S' then 's' else 'r' end)::"char", c.relowner))) a
      where c.relnamespace::regnamespace::text = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'S', 'f')
        and a.grantee = 0
      union all
      select 'column', c.oid::regclass::text || '.' || att.attname, a.privilege_type
      from pg_attribute att join pg_class c on c.oid = att.attrelid, aclexplode(att.attacl) a
      where c.relnamespace::regnamespace::text = any(%(schemas)s) and a.grantee = 0
      union all
      select 'function', p.oid::regprocedure::text, a.privilege_type
      from pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
      where p.pronamespace::regnamespace::text = any(%(schemas)s) and a.grantee = 0
    ) as granted order by 1, 2, 3
"""


def _public_grants(conn: psycopg.Connection) -> list[Line]:
    rows = conn.execute(_PUBLIC_GRANTS, {"schemas": list(SCHEMAS)}).fetchall()
    lines = [
        Line(
            "SECURITY",
            f"{kind} {name}: {privilege} is granted to PUBLIC (every role); revoke it in a "
            "migration and grant it to the roles that need it",
        )
        for kind, name, privilege in rows
    ]
    return lines or [Line("ok", f"grants: nothing in {', '.join(SCHEMAS)} is granted to PUBLIC")]


def _roles(conn: psycopg.Connection) -> list[Line]:
    rows = conn.execute(
        "select rolname, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole, rolcreatedb from pg_roles "
        "where rolname = any(%s) order by 1",
        [[*APP_ROLES, "todo_migrator"]],  # todo_migrator exists only where an ordinary owner migrated (0016a)
    ).fetchall()
    lines = []
    for name, login, superuser, bypass, createrole, createdb in rows:
        powers = [
            label
            for label, on in (
                ("LOGIN", login),
                ("SUPERUSER", superuser),
                ("BYPASSRLS", bypass),
                ("CREATEROLE", createrole),
                ("CREATEDB", createdb),
            )
            if on
        ]
        if powers:
            lines.append(
                Line(
                    "SECURITY",
                    f"role {name} has {', '.join(powers)}; `alter role {name} "
                    + " ".join(f"NO{p}" for p in powers)
                    + "` (log in as a member instead)",
                )
            )
    missing = sorted(set(APP_ROLES) - {row[0] for row in rows})  # todo_migrator need not exist
    if missing:
        lines.append(Line("warn", f"roles {', '.join(missing)} do not exist; run `make migrate`"))
    return lines or [Line("ok", f"roles: {', '.join(APP_ROLES)} are group roles (no LOGIN, no BYPASSRLS)")]


# Per-role defaults (ALTER ROLE ... SET) of the app's logins, here or in every database: an app login may set its
# own, and every new session, and every DISCARD ALL of the pool, starts from them (an identity, a search_path).
_APP_LOGIN_SETTINGS = """
    select r.rolname, array_to_string(s.setconfig, ', ')
    from pg_db_role_setting s join pg_roles r on r.oid = s.setrole
    where s.setdatabase in (0, (select oid from pg_database where datname = current_database()))
      and r.rolcanlogin and not r.rolsuper
      and exists (select from pg_roles app where app.rolname in ('todo_app', 'todo_readonly')
                  and pg_has_role(r.oid, app.oid, 'MEMBER'))
    order by 1
"""


def _app_login_settings(conn: psycopg.Connection) -> list[Line]:
    lines = [
        Line(
            "warn",
            f"role {name} (an app login) has per-role settings: {settings}; every session it opens "
            f"starts with them: `alter role {name} reset all` unless you set them on purpose",
        )
        for name, settings in conn.execute(_APP_LOGIN_SETTINGS)
    ]
    return lines or [Line("ok", "app logins: none carries per-role settings")]


def _role_graph(conn: psycopg.Connection) -> list[Line]:
    """Memberships among tododb's cluster-wide roles. Every owner of a tododb database on the server may change
    them (it holds ADMIN OPTION), and a change reaches every tododb database: `grant todo_auth to todo_app`
    made by one owner lets every app login read every password hash, here too."""
    uses = "(m.inherit_option or m.set_option)" if conn.info.server_version >= 160000 else "true"
    rows = conn.execute(
        f"""
        select g.rolname, r.rolname, {uses}
        from pg_auth_members m join pg_roles g on g.oid = m.roleid join pg_roles r on r.oid = m.member
        where r.rolname = any(%(app)s)
           or (g.rolname = 'todo_auth' and r.rolname <> 'todo_migrator' and {uses} and not r.rolsuper)
        order by 1, 2
        """,
        {"app": list(APP_ROLES)},
    ).fetchall()
    lines = []
    for group, member, _ in rows:
        if member in APP_ROLES:
            lines.append(
                Line(
                    "SECURITY",
                    f"role {member} is a member of {group}: every {member} login has "
                    f"{group}'s rights in every tododb database on this server; "
                    f"`revoke {group} from {member}` (as whoever granted it)",
                )
            )
        else:
            lines.append(
                Line(
                    "warn",
                    f"role {member} holds todo_auth's rights (INHERIT or SET): the sign-in "
                    "policies then show it every user's password hash, in every tododb database "
                    f"on this server; `revoke todo_auth from {member}`, or grant ADMIN OPTION "
                    "alone",
                )
            )
    return lines or [
        Line("ok", "role memberships: the app roles belong to no role, and no owner holds the sign-in role's rights")
    ]


def _database_connect(conn: psycopg.Connection) -> list[Line]:
    """tododb's roles are cluster-wide: every tododb database on a server shares todo_app. With CONNECT granted
    to PUBLIC (the default), the app login of another tododb database there can connect here and act as
    todo_app, with any identity."""
    open_to_all = one(
        conn.execute("select has_database_privilege('public', current_database(), 'CONNECT'), current_database()")
    )
    if not open_to_all[0]:
        return [Line("ok", "database: CONNECT is not granted to PUBLIC")]
    return [
        Line(
            "info",
            f"database: PUBLIC may connect; if other tododb databases share this server, their app "
            f"logins could act as todo_app here: `revoke connect on database {open_to_all[1]} from "
            "public`, then grant CONNECT to this database's owner and app logins",
        )
    ]


def _foreign_key_indexes(conn: psycopg.Connection) -> list[Line]:
    rows = inventory.unindexed_foreign_keys(conn, SCHEMAS)
    lines = [
        Line(
            "warn",
            f"{table}: foreign key {name} ({columns}) has no index led by its columns; deletes of the "
            f"referenced rows scan {table}: add one in a migration",
        )
        for table, name, columns in rows
    ]
    return lines or [Line("ok", "foreign keys: every one is served by an index led by its columns")]


_PATH_ELEMENT = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^",]*))\s*(,|$)')


def _search_path_elements(value: str) -> list[str]:
    """A search_path setting split as the server splits it: on commas outside
    double quotes; a quoted name kept as written, an unquoted one lowercased."""
    elements, pos = [], 0
    while (match := _PATH_ELEMENT.match(value, pos)) is not None:
        quoted, bare, separator = match.groups()
        if quoted is not None:
            elements.append(quoted.replace('""', '"'))
        elif bare.strip():
            elements.append(bare.strip().lower())
        if not separator:
            break
        pos = match.end()
    return elements


_DEFINER_FUNCTIONS = """
    select p.oid::regprocedure::text,
           (select substr(c, length('search_path=') + 1) from unnest(p.proconfig) c
            where starts_with(c, 'search_path='))
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where p.prosecdef and n.nspname not in ('pg_catalog', 'information_schema')
    order by 1
"""
# Per schema: the roles other than its owner (and superusers, who need no grant) that may create in it.
_SCHEMA_CREATORS = """
    select n.nspname, array(
             select case a.grantee when 0 then 'PUBLIC' else pg_get_userbyid(a.grantee) end
             from aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
             where a.privilege_type = 'CREATE' and a.grantee <> n.nspowner
               and not coalesce((select rolsuper from pg_roles where oid = a.grantee), false)
             order by 1)
    from pg_namespace n
"""


def unsafe_definer_functions(conn: psycopg.Connection) -> list[str]:
    """SECURITY DEFINER functions (any schema but the system's) that do not pin a safe
    search_path, as "regprocedure: reason".

    A definer runs with its owner's rights but resolves unqualified names through
    its search_path, so that path must hold only schemas no one else can create
    in (pg_catalog qualifies), and must name pg_temp explicitly as its last
    element: a path without pg_temp (`''` included) searches the caller's
    temporary schema *first* for relations and types, where any caller may
    plant a table or type that shadows the one the function meant.
    """
    creators: dict[str, Any] = dict(conn.execute(_SCHEMA_CREATORS).fetchall())
    found = []
    for function, value in conn.execute(_DEFINER_FUNCTIONS).fetchall():
        if value is None:
            found.append(f"{function}: no search_path is pinned (it runs with the caller's)")
            continue
        elements = _search_path_elements(value)
        shown = "''" if value in ("", '""') else value
        if "pg_temp" not in elements:
            found.append(
                f"{function}: search_path = {shown} does not name pg_temp, so the caller's temporary "
                "schema is searched first for relations and types"
            )
            continue
        for position, schema in enumerate(elements):
            if schema == "pg_temp":
                if position == len(elements) - 1:
                    break  # pg_temp last, every schema before it safe
                found.append(
                    f"{function}: search_path = {value} names pg_temp before its end, so the caller's "
                    "temporary objects are found before those of the schemas after it"
                )
            elif schema not in creators:
                found.append(
                    f"{function}: search_path = {value} names schema {schema!r}, which does not exist "
                    "(whoever creates it first decides what the function finds)"
                )
            elif creators[schema]:
                found.append(
                    f"{function}: search_path = {value} names schema {schema}, in which "
                    f"{', '.join(creators[schema])} may create objects"
                )
            else:
                continue
            break
    return found


def _definer_functions(conn: psycopg.Connection) -> list[Line]:
    lines = [
        Line(
            "SECURITY",
            f"function {finding}; pin `set search_path = pg_catalog, pg_temp` in a migration "
            "and schema-qualify every name inside",
        )
        for finding in unsafe_definer_functions(conn)
    ]
    return lines or [
        Line("ok", "definer functions: every SECURITY DEFINER function pins a safe search_path (pg_temp last)")
    ]


# Columns whose statistics target is 0 on purpose (0029: free text) but that still have statistics from before.
_LEFTOVER_STATISTICS = """
    select s.tablename || '.' || s.attname
    from pg_stats s
    join pg_attribute a on a.attrelid = format('%I.%I', s.schemaname, s.tablename)::regclass and a.attname = s.attname
    where s.schemaname = 'app' and a.attstattarget = 0
    order by 1
"""


def _free_text_statistics(conn: psycopg.Connection) -> list[Line]:
    leftover = [row[0] for row in conn.execute(_LEFTOVER_STATISTICS)]
    if not leftover:
        return [Line("ok", "statistics: none kept on free text (EXPLAIN shows no other user's common values)")]
    return [
        Line(
            "warn",
            f"statistics: {', '.join(leftover)} still hold statistics collected before 0029, which EXPLAIN"
            " can reveal to any user; clear them with pg_clear_attribute_stats() (PostgreSQL 18) or ask"
            " a superuser to delete those columns' rows from pg_statistic",
        )
    ]


def statistics_days(conn: psycopg.Connection) -> float:
    """How long the usage statistics have been collecting (since reset, or since the server started)."""
    return one(
        conn.execute(
            "select extract(epoch from now() - coalesce(stats_reset, pg_postmaster_start_time())) / 86400 "
            "from pg_stat_database where datname = current_database()"
        )
    )[0]


def unused_indexes(conn: psycopg.Connection) -> list[tuple[str, str, int]]:
    """Indexes never scanned since statistics began, except those that enforce a constraint."""
    return conn.execute(
        """
        select s.relid::regclass::text, s.indexrelid::regclass::text, pg_relation_size(s.indexrelid)
        from pg_stat_user_indexes s
        where s.schemaname = any(%s) and s.idx_scan = 0
          and not exists (select from pg_constraint con where con.conindid = s.indexrelid)
        order by 3 desc, 2""",
        [list(SCHEMAS)],
    ).fetchall()


def _index_usage(conn: psycopg.Connection) -> list[Line]:
    days = float(statistics_days(conn))
    if days < UNUSED_INDEX_AFTER_DAYS:
        return [
            Line(
                "info",
                f"index usage: statistics cover {days:.1f} days; unused indexes are judged after "
                f"{UNUSED_INDEX_AFTER_DAYS}",
            )
        ]
    lines = [
        Line(
            "warn",
            f"{index} on {table} ({size / 1e6:.1f} MB) has not been used in {days:.0f} days; if no "
            "query named in its comment runs here, drop it in a migration",
        )
        for table, index, size in unused_indexes(conn)
    ]
    return lines or [Line("ok", f"index usage: every index has been used in the last {days:.0f} days")]


def _largest_tables(conn: psycopg.Connection, limit: int = 5) -> list[Line]:
    rows = conn.execute(
        """
        select c.oid::regclass::text, pg_total_relation_size(c.oid), c.reltuples::bigint
        from pg_class c
        where c.relnamespace::regnamespace::text = any(%s) and c.relkind in ('r', 'p')
        order by 2 desc, 1 limit %s""",
        [list(SCHEMAS), limit],
    ).fetchall()
    listed = ", ".join(
        f"{name} {size / 1e6:.1f} MB ({f'~{count:,} rows' if count >= 0 else 'not analyzed yet'})"
        for name, size, count in rows
    )
    return [Line("info", f"largest tables: {listed}")]


def examine(url: str, migrations_dir: Path) -> list[Line]:
    with connect(url, autocommit=True) as conn:
        lines = _server(conn) + _connection(conn)
        try:
            states = migrate.states(url, migrations_dir)
        except ToolError as exc:  # an edited applied migration: nothing to compare with
            lines.append(Line("warn", f"migrations: {exc}"))
        else:
            lines += _migrations(states)
            lines += _drift(url, migrations_dir, states)
        for check in (
            _row_security,
            _public_grants,
            _roles,
            _role_graph,
            _app_login_settings,
            _database_connect,
            _definer_functions,
            _free_text_statistics,
            _foreign_key_indexes,
            _index_usage,
            _largest_tables,
        ):
            try:
                lines += check(conn)
            except psycopg.Error as exc:
                lines.append(
                    Line("warn", f"{check.__name__.strip('_').replace('_', ' ')}: could not check: {one_line(exc)}")
                )
    return lines
