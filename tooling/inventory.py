"""What the catalog says the schema holds, for the checks that must cover all of it.

Each list is read from the catalog, never kept by hand, so a table a new
migration adds is covered by every check that uses it (doctor, and the
tests of row-level security, its mutation tests and the schema conventions)
without anyone touching a list.
"""

from __future__ import annotations

import psycopg

# A row belongs to one user when its table is app.users or has a user_id column (the user whose row it is:
# the owner of a tag, the creator of a task, the member of a project). The tables shared by project
# (projects, invitations) are not among them: tests/security/test_sharing_rls.py covers those.
_USER_TABLES = """
select c.relname
from pg_catalog.pg_class as c
where c.relnamespace = 'app'::regnamespace and c.relkind in ('r', 'p') and not c.relispartition
  and (c.relname = 'users' or exists (
    select from pg_catalog.pg_attribute as a
    where a.attrelid = c.oid and a.attname = 'user_id' and not a.attisdropped))
order by 1
"""

# A foreign key whose columns lead no index: a delete (or key update) of a referenced row scans the table.
# A partial index serves the key's lookups (`where col = $1`) only if they imply its predicate: none, or
# `col IS NOT NULL` on one of the key's own columns.
_UNINDEXED_FOREIGN_KEYS = """
select con.conrelid::regclass::text, con.conname,
       (select string_agg(a.attname, ', ' order by k.n) from unnest(con.conkey) with ordinality k(attnum, n)
        join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum)
from pg_catalog.pg_constraint con
where con.contype = 'f' and con.connamespace::regnamespace::text = any(%s)
  and not exists (
    select from pg_catalog.pg_index i
    where i.indrelid = con.conrelid
      and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] @> con.conkey
      and (i.indkey::int2[])[0:cardinality(con.conkey) - 1] <@ con.conkey
      and (i.indpred is null or exists (
        select from unnest(con.conkey) as k(attnum)
        join pg_catalog.pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum
        where pg_catalog.pg_get_expr(i.indpred, i.indrelid)
              = '(' || pg_catalog.quote_ident(a.attname) || ' IS NOT NULL)')))
order by 1, 2
"""


def user_tables(conn: psycopg.Connection) -> list[str]:
    """The tables of schema app whose rows each belong to one user (see _USER_TABLES), by name."""
    return [name for (name,) in conn.execute(_USER_TABLES)]


def unindexed_foreign_keys(conn: psycopg.Connection, schemas: tuple[str, ...]) -> list[tuple[str, str, str]]:
    """(table, constraint, columns) of every foreign key in ``schemas`` that no index is led by."""
    return [tuple(row) for row in conn.execute(_UNINDEXED_FOREIGN_KEYS, [list(schemas)])]
