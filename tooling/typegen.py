"""`make types`: typed results for the named queries, generated from their SQL (the idea of sqlc, no ORM).

A scratch database on the embedded PostgreSQL 18 is migrated from nothing, and every named query in
``tododb.queries.QUERIES`` is described by the server itself, never parsed by us: it is prepared (libpq
``PQprepare``, the aiosql placeholders ``%(name)s`` turned into ``$1, $2, …`` in the order of their first
appearance, so the casts in the SQL, ``:after_id::uuid``, give each parameter its type) and
``PQdescribePrepared`` returns the parameter types and, per result column, its name, type and origin
(``PQftable``/``PQftablecol``: the table column it is a plain reference to, through subqueries, CTEs and
RETURNING). ``EXPLAIN (VERBOSE, GENERIC_PLAN, FORMAT JSON)`` adds the output expressions and the plan's shape.
Nothing is executed. ``tododb/typed.py`` is written from that: a frozen dataclass per result shape (queries
with the same columns share one class, each query keeps a name of its own for it) and a typed function per query
that calls ``QUERIES`` and builds the dataclass from psycopg's tuple positionally.

Nullability, the rule applied (a column is ``Optional`` unless one of these proves it is never NULL):

1. A plain reference to a table column (libpq names its table) is not NULL when the column is ``NOT NULL``
   (``pg_attribute.attnotnull``, the constraint validated), unless the plan holds an outer join (Left, Right
   or Full, wherever in the query: libpq does not say which side a column came from), grouping sets (the
   rows ``rollup`` adds) or a data-modifying CTE; then every table column is Optional. In RETURNING, only
   the target's own columns count: ``old.x``/``new.x`` (PostgreSQL 18) are NULL where there is no such row.
   A column of a view (libpq names the view) is what the view's own query says of that column, by the same
   rules (``app.project_member_profiles.email`` is ``users.email`` through an inner join: not NULL).
2. A set operation (``UNION [ALL]``, ``INTERSECT``, ``EXCEPT`` at the top level), for which PostgreSQL names
   no origin: each branch is described on its own and a column is not NULL when it is in every branch.
3. An expression is not NULL when its output in the plan is ``count(…)``, or ``COALESCE(…)`` whose last
   argument is a constant (``coalesce(c.task_count, 0)``). Everything else is Optional: other functions and
   operators, ``VALUES`` lists, columns of a function in FROM, scalar subqueries.

Rows, per aiosql operator: plain select → ``list[Row]``; ``^`` → ``Row | None``; ``<!`` → ``Row | None`` (or
the value itself when RETURNING names one column, as aiosql returns it); ``$`` → the value, ``| None`` unless
the plan proves exactly one row (a plain aggregate, or a ``select`` without ``from``) and the value is not NULL
by the rule above; ``!`` → the row count. Parameters are keyword-only and each accepts ``None`` (SQL cannot
tell a parameter where NULL means something, ``coalesce(:priority, 'medium')``, from one that the schema
refuses, which the server then does: InvalidInput); ``uuid`` parameters also take ``str`` (an id from a URL,
checked by the server), ``timestamptz`` ones also ``str`` (the cursor sentinels ``'infinity'``, which
``datetime`` cannot hold).

Types: uuid → ``uuid.UUID``, text/varchar/citext → ``str``, timestamptz → ``datetime.datetime``, numeric →
``decimal.Decimal``, integers → ``int``, boolean → ``bool`` (and a few more in ``_BUILTIN``); a domain is its base
type, and a text domain whose CHECK is ``value in ('a', 'b')`` (and an enum) is a ``Literal`` of its values, named
after the type (``app.task_status`` → ``TaskStatus``). A type without a mapping stops the generator, naming it.

Like the schema snapshot, the file is generated on the embedded server whatever DATABASE_URL says, is checked
in, and ``make test`` fails when it is stale.
"""

from __future__ import annotations

import json
import keyword
import os
import re
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import aiosql
import psycopg
from psycopg.pq import ExecStatus

from tooling import migrate, server
from tooling.config import ROOT, Settings
from tooling.errors import ToolError, one_line
from tooling.scratch import scratch_database
from tooling.target import connect

TYPED = ROOT / "tododb" / "typed.py"

# PostgreSQL built-in types (pg_catalog) → the Python type psycopg loads them as, by default.
_BUILTIN: dict[str, str] = {
    "bool": "bool",
    "int2": "int",
    "int4": "int",
    "int8": "int",
    "oid": "int",
    "float4": "float",
    "float8": "float",
    "numeric": "decimal.Decimal",
    "text": "str",
    "varchar": "str",
    "bpchar": "str",
    "name": "str",
    "char": "str",
    "uuid": "uuid.UUID",
    "timestamptz": "datetime.datetime",
    "timestamp": "datetime.datetime",
    "date": "datetime.date",
    "time": "datetime.time",
    "interval": "datetime.timedelta",
    "bytea": "bytes",
    "json": "Any",
    "jsonb": "Any",
    "void": "None",
}
# What a parameter of that type also accepts: values psycopg sends that the server converts, and checks.
_PARAMETER_ALSO: dict[str, str] = {
    "uuid.UUID": "str",  # an id taken from a URL
    "datetime.datetime": "str",  # 'infinity' / '-infinity': the keyset cursors' sentinels
    "decimal.Decimal": "int",
}
# Extension types psycopg loads as text (it has no loader for them).
_TEXT_EXTENSION_TYPES = {"citext"}
_ANY_OF = re.compile(r"CHECK \(\(VALUE = ANY \(ARRAY\[((?:'(?:[^']|'')*'::text(?:, )?)+)\]\)\)\)")
_ITEM = re.compile(r"'((?:[^']|'')*)'::text")
# The names a generated function uses itself (its connection, its locals, the queries).
_GENERATED_NAMES = {"conn", "row", "rows", "value", "count", "QUERIES"}


# --- what the server says about a query ---------------------------------------------------------------------


Literals = dict[str, tuple[str, str, tuple[str, ...]]]  # alias → (the type's name, what it is, its values)


@dataclass(frozen=True)
class Column:
    name: str
    annotation: str  # the Python type, without "| None"
    nullable: bool

    @property
    def typed(self) -> str:
        return f"{self.annotation} | None" if self.nullable else self.annotation


@dataclass(frozen=True)
class Parameter:
    name: str
    annotation: str  # what a caller may pass, "| None" included


@dataclass(frozen=True)
class Described:
    name: str
    operation: str  # aiosql's SQLOperationType name
    doc: str
    parameters: tuple[Parameter, ...]
    columns: tuple[Column, ...]
    one_row: bool  # the plan returns exactly one row, always

    @property
    def shape(self) -> tuple[tuple[str, str], ...]:
        return tuple((c.name, c.typed) for c in self.columns)


@dataclass
class _Types:
    """Python types for PostgreSQL type oids, read from the catalog once; the Literal aliases they need."""

    conn: psycopg.Connection
    cache: dict[int, str] = field(default_factory=dict)
    literals: Literals = field(default_factory=dict)

    def python(self, oid: int, where: str) -> str:
        if oid not in self.cache:
            self.cache[oid] = self._resolve(oid, where)
        return self.cache[oid]

    def _resolve(self, oid: int, where: str) -> str:
        row = self.conn.execute(
            """
            select t.typname, n.nspname, t.typtype, t.typbasetype, t.typelem, t.typcategory,
                   pg_catalog.format_type(t.oid, null)
            from pg_catalog.pg_type as t join pg_catalog.pg_namespace as n on n.oid = t.typnamespace
            where t.oid = %s""",
            [oid],
        ).fetchone()
        if row is None:
            raise ToolError(f"{where}: the server reports type oid {oid}, which pg_type does not know")
        name, schema, kind, base, element, category, shown = row
        if kind == "d":
            python = self.python(base, where)
            values = self._domain_values(oid) if python == "str" else None
            return self._literal(schema, name, values, f"domain {shown}") if values else python
        if kind == "e":
            labels = tuple(
                label
                for (label,) in self.conn.execute(
                    "select enumlabel from pg_catalog.pg_enum where enumtypid = %s order by enumsortorder", [oid]
                )
            )
            return self._literal(schema, name, labels, f"enum {shown}")
        if category == "A" and element and element < 16384:  # arrays of built-in types load as lists
            return f"list[{self.python(element, where)} | None]"
        if schema == "pg_catalog" and name in _BUILTIN:
            return _BUILTIN[name]
        if name in _TEXT_EXTENSION_TYPES:
            return "str"
        raise ToolError(f"{where}: no Python type for PostgreSQL type {shown}; add one to tooling/typegen.py")

    def _domain_values(self, oid: int) -> tuple[str, ...] | None:
        """The values a text domain allows, when one of its CHECKs is exactly ``value in ('a', 'b', …)``."""
        for (definition,) in self.conn.execute(
            "select pg_catalog.pg_get_constraintdef(oid) from pg_catalog.pg_constraint "
            "where contypid = %s and contype = 'c' order by conname",
            [oid],
        ):
            match = _ANY_OF.fullmatch(definition)
            if match:
                return tuple(value.replace("''", "'") for value in _ITEM.findall(match.group(1)))
        return None

    def _literal(self, schema: str, name: str, values: Sequence[str], why: str) -> str:
        alias = "".join(part.capitalize() for part in name.split("_") if part)
        if not alias.isidentifier() or keyword.iskeyword(alias):
            raise ToolError(f"{why}: {alias!r} cannot name its Python type")
        known = self.literals.get(alias)
        if known and known[0] != f"{schema}.{name}":
            raise ToolError(f"{why} and {known[0]} would both be called {alias} in tododb/typed.py")
        self.literals[alias] = (f"{schema}.{name}", why, tuple(values))
        return alias


def positional(named_sql: str, declared: Iterable[str]) -> tuple[str, list[str]]:
    """aiosql's psycopg SQL (``%(name)s``) as PostgreSQL's (``$1``), names in the order of first appearance."""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        name = match.group(1)
        if name not in order:
            order.append(name)
        return f"${order.index(name) + 1}"

    text = re.sub(r"%%|%\((\w+)\)s", number, named_sql)
    missing = [name for name in declared if name not in order]
    if missing:
        raise ToolError(f"parameters declared but not used in the SQL: {', '.join(missing)}")
    return text, order


_WORD = re.compile(r"[A-Za-z_][A-Za-z_0-9$]*")


def _code(sql: str) -> Iterator[tuple[int, int]]:
    """Each position of ``sql`` outside strings, quoted names, comments and dollar quotes, with the parenthesis
    depth there. A small scanner, not a parser: enough to find top-level keywords and matching parentheses."""
    depth, i, n = 0, 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or c == '"':
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:
                        end += 2
                        continue
                    break
                end += 1
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end + 1
        elif sql.startswith("/*", i):
            level, i = 1, i + 2
            while i < n and level:
                if sql.startswith("/*", i):
                    level, i = level + 1, i + 2
                elif sql.startswith("*/", i):
                    level, i = level - 1, i + 2
                else:
                    i += 1
        elif c == "$" and (quote := re.match(r"\$(?:[A-Za-z_][A-Za-z_0-9]*)?\$", sql[i:])):
            end = sql.find(quote.group(0), i + len(quote.group(0)))
            i = n if end < 0 else end + len(quote.group(0))
        else:
            depth -= c == ")"
            yield i, depth
            depth += c == "("
            i += 1


def set_operation_branches(sql: str) -> list[str]:
    """The branches of a top-level ``UNION``/``INTERSECT``/``EXCEPT``, or ``[sql]`` when it is none.

    Each branch is a query of its own with the same columns. A parenthesized branch ends at its closing
    parenthesis: what follows the last one (``… ) order by … limit …``) belongs to the whole set operation.
    """
    cuts: list[tuple[int, int]] = []
    skip_to = 0
    for i, depth in _code(sql):
        if i < skip_to or depth or (i and (sql[i - 1].isalnum() or sql[i - 1] in "_$")):
            continue
        word = _WORD.match(sql, i)
        if word:
            skip_to = word.end()
            if word.group(0).lower() in ("union", "intersect", "except"):
                after = re.match(r"\s+(all|distinct)\b", sql[word.end() :], re.IGNORECASE)
                cuts.append((i, word.end() + (after.end() if after else 0)))
    if not cuts:
        return [sql]
    starts = [0] + [end for _, end in cuts]
    ends = [start for start, _ in cuts] + [len(sql)]
    branches = []
    for a, b in zip(starts, ends, strict=True):
        branch = sql[a:b].strip()
        if branch.startswith("("):
            close = next((i for i, depth in _code(branch) if depth == 0 and branch[i] == ")"), None)
            branch = branch if close is None else branch[: close + 1]
        branches.append(branch)
    return branches


def _strip_parens(expression: str) -> str:
    """``(expr)`` → ``expr`` while the outer parentheses enclose it all."""
    while expression.startswith("(") and expression.endswith(")"):
        depth = 0
        for index, char in enumerate(expression):
            depth += char == "("
            depth -= char == ")"
            if depth == 0 and index < len(expression) - 1:
                return expression
        expression = expression[1:-1].strip()
    return expression


def _arguments(inner: str) -> list[str]:
    """Split a call's argument text at its top-level commas (strings respected)."""
    parts, depth, quoted, start = [], 0, False, 0
    for index, char in enumerate(inner):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "([":
            depth += 1
        elif not quoted and char in ")]":
            depth -= 1
        elif not quoted and depth == 0 and char == ",":
            parts.append(inner[start:index].strip())
            start = index + 1
    return parts + [inner[start:].strip()]


_CONSTANT = re.compile(r"'(?:[^']|'')*'(?:::[\w .\"]+(?:\(\d+(?:,\d+)?\))?)?|-?\d+(?:\.\d+)?|true|false", re.IGNORECASE)


def expression_not_null(expression: str) -> bool:
    """Rule 3: ``count(…)``, or ``COALESCE(…, constant)``; anything else may be NULL."""
    text = _strip_parens(expression.strip())
    if re.fullmatch(r"count\(.*\)", text, re.DOTALL):
        return True
    call = re.fullmatch(r"COALESCE\((.*)\)", text, re.DOTALL)
    if call:
        last = _strip_parens(_arguments(call.group(1))[-1])
        return bool(_CONSTANT.fullmatch(last))
    return False


def _walk(plan: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _walk(child)


@dataclass(frozen=True)
class _Shape:
    """One described statement: its parameters, and per column its type oid, origin and plan output."""

    parameter_oids: tuple[int, ...]
    names: tuple[str, ...]
    type_oids: tuple[int, ...]
    not_null: tuple[bool, ...]
    origins: tuple[tuple[int, int], ...]
    one_row: bool


def _renumber(sql: str) -> str:
    """A branch of a set operation may use only some of the query's parameters: number those 1, 2, …"""
    order: list[str] = []

    def number(match: re.Match[str]) -> str:
        if match.group(1) not in order:
            order.append(match.group(1))
        return f"${order.index(match.group(1)) + 1}"

    return re.sub(r"\$(\d+)\b", number, sql)


def _describe_statement(conn: psycopg.Connection, sql: str, where: str) -> _Shape:
    pgconn = conn.pgconn
    prepared = pgconn.prepare(b"", sql.encode())
    if prepared.status != ExecStatus.COMMAND_OK:
        raise ToolError(f"{where}: the server refuses its SQL: {one_line(prepared.get_error_message())}")
    described = pgconn.describe_prepared(b"")
    if described.status != ExecStatus.COMMAND_OK:
        raise ToolError(f"{where}: cannot describe it: {one_line(described.get_error_message())}")
    params = tuple(described.param_type(i) for i in range(described.nparams))
    names = tuple((described.fname(i) or b"").decode() for i in range(described.nfields))
    origins = tuple((described.ftable(i), described.ftablecol(i)) for i in range(described.nfields))
    types = [described.ftype(i) for i in range(described.nfields)]
    if not names:
        return _Shape(params, (), (), (), (), False)

    # GENERIC_PLAN: a plan for the statement as it stands, placeholders and all (PostgreSQL 16+); never run.
    explained = pgconn.exec_(f"explain (verbose, generic_plan, format json) {sql}".encode())
    if explained.status != ExecStatus.TUPLES_OK:
        raise ToolError(f"{where}: cannot explain it: {one_line(explained.get_error_message())}")
    plan = json.loads((explained.get_value(0, 0) or b"[]").decode())[0]["Plan"]
    outputs = list(plan.get("Output", []))[: len(names)]
    # Where a plain column reference may still be NULL: the inner side of an outer join, the rows a grouping set
    # adds (rollup, cube), and the old/new rows of RETURNING (PostgreSQL 18: old.* of an insert is NULL), so
    # below the top only, and at the top whatever does not name the target itself.
    nodes = list(_walk(plan))
    unproven = any(
        node.get("Join Type") in ("Left", "Right", "Full")
        or "Grouping Sets" in node
        or (node["Node Type"] == "ModifyTable" and node is not plan)
        for node in nodes
    )
    target = plan.get("Alias") if plan["Node Type"] == "ModifyTable" else None
    one_row = (plan["Node Type"] == "Aggregate" and plan.get("Strategy") == "Plain" and "Filter" not in plan) or (
        plan["Node Type"] == "Result" and not plan.get("Plans") and "One-Time Filter" not in plan
    )

    not_null: list[bool] = []
    for index, (table, column) in enumerate(origins):
        view = _view_shape(conn, table, where) if table else None
        if view is not None:
            # A view's column: what its query says of it (the view's columns are its query's, in order).
            shown = outputs[index] if index < len(outputs) else "?."
            names_target = target is None or "." not in shown or shown.split(".", 1)[0].strip('"') == target
            not_null.append(view.not_null[column - 1] and not unproven and names_target)
            types[index] = view.type_oids[column - 1]
        elif table:
            # NOT NULL, and validated: PostgreSQL 18 sets attnotnull for a NOT VALID not-null constraint too.
            attribute = conn.execute(
                """
                select a.attnotnull and not exists (
                         select from pg_catalog.pg_constraint as c
                         where c.conrelid = a.attrelid and c.contype = 'n' and a.attnum = any (c.conkey)
                           and not c.convalidated),
                       a.atttypid
                from pg_catalog.pg_attribute as a where a.attrelid = %s and a.attnum = %s""",
                [table, column],
            ).fetchone()
            if attribute is None:
                raise ToolError(f"{where}: column {names[index]} comes from a column pg_attribute does not know")
            shown = outputs[index] if index < len(outputs) else "?."
            names_target = target is None or "." not in shown or shown.split(".", 1)[0].strip('"') == target
            not_null.append(bool(attribute[0]) and not unproven and names_target)
            types[index] = attribute[1]  # the column's own type: a domain, where the protocol says its base
        else:
            not_null.append(index < len(outputs) and expression_not_null(outputs[index]))

    branches = set_operation_branches(sql)
    if len(branches) > 1 and not any(origins[i][0] for i in range(len(names))):
        try:
            shapes = [_describe_statement(conn, _renumber(branch), where) for branch in branches]
        except ToolError:
            shapes = []  # a branch that is no query alone (a WITH before the first): every column Optional
        if shapes and all(len(shape.names) == len(names) for shape in shapes):
            not_null = [all(shape.not_null[i] for shape in shapes) for i in range(len(names))]
            # Where every branch names the same table column, keep its own type (a domain's Literal).
            for i in range(len(names)):
                columns = {shape.type_oids[i] for shape in shapes}
                if len(columns) == 1:
                    types[i] = columns.pop()
    return _Shape(params, names, tuple(types), tuple(not_null), origins, one_row)


def _view_shape(conn: psycopg.Connection, relation: int, where: str) -> _Shape | None:
    """The described query of view ``relation``, or None when the relation is no view."""
    row = conn.execute(
        "select c.relkind = 'v', pg_catalog.pg_get_viewdef(c.oid) from pg_catalog.pg_class as c where c.oid = %s",
        [relation],
    ).fetchone()
    if row is None or not row[0]:
        return None
    return _describe_statement(conn, row[1].strip().rstrip(";"), f"{where}, view {relation}")


def describe(conn: psycopg.Connection, queries: Any, docs: dict[str, str]) -> tuple[list[Described], Literals]:
    """Every named query of ``queries`` (an aiosql ``Queries`` for psycopg), as the server sees it."""
    registry = _Types(conn)
    names = set(queries.available_queries)
    found: list[Described] = []
    for name in sorted(names):
        fn = getattr(queries, name)
        operation = fn.operation.name
        if name.endswith("_cursor") and name.removesuffix("_cursor") in names and operation == "SELECT":
            continue  # aiosql's cursor twin of a select
        where = f"query {name}"
        if operation not in ("SELECT", "SELECT_ONE", "SELECT_VALUE", "INSERT_RETURNING", "INSERT_UPDATE_DELETE"):
            raise ToolError(f"{where}: aiosql operation {operation} has no typed form yet (tooling/typegen.py)")
        declared = list(fn.parameters or [])
        for parameter in declared:
            if not parameter.isidentifier() or keyword.iskeyword(parameter):
                raise ToolError(f"{where}: parameter {parameter!r} cannot be a Python keyword argument")
            if parameter in _GENERATED_NAMES:
                raise ToolError(f"{where}: parameter {parameter!r} clashes with a name of the generated function")
        sql, order = positional(fn.sql, declared)
        shape = _describe_statement(conn, sql, where)
        parameters: list[Parameter] = []
        for parameter_name, oid in zip(order, shape.parameter_oids, strict=True):
            python = registry.python(oid, f"{where}, parameter {parameter_name}")
            accepted = [python] + ([_PARAMETER_ALSO[python]] if python in _PARAMETER_ALSO else [])
            parameters.append(Parameter(parameter_name, " | ".join(accepted + ["None"])))
        columns: list[Column] = []
        for column_name, oid, not_null in zip(shape.names, shape.type_oids, shape.not_null, strict=True):
            if not column_name.isidentifier() or keyword.iskeyword(column_name):
                raise ToolError(f"{where}: column {column_name!r} is no Python name; give it an alias (as …)")
            if any(c.name == column_name for c in columns):
                raise ToolError(f"{where}: two columns are called {column_name}; give one an alias (as …)")
            columns.append(Column(column_name, registry.python(oid, f"{where}, column {column_name}"), not not_null))
        if operation in ("SELECT", "SELECT_ONE") and not columns:
            raise ToolError(f"{where}: it returns no columns; use the `!` operator for a statement without rows")
        if operation in ("SELECT_VALUE", "INSERT_RETURNING") and not columns:
            raise ToolError(f"{where}: its operator expects a result, but it returns no columns")
        if operation == "SELECT_VALUE" and len(columns) != 1:
            raise ToolError(f"{where}: `$` returns one value, but the query has {len(columns)} columns")
        # In the order aiosql declares them (`-- name: q(a, b)`), which is how a reader of the SQL knows them.
        by_name = {p.name: p for p in parameters}
        found.append(
            Described(
                name,
                operation,
                docs.get(name) or " ".join((fn.__doc__ or "").split()),
                tuple(by_name[p] for p in declared),
                tuple(columns),
                shape.one_row,
            )
        )
    return found, registry.literals


# --- the generated module -------------------------------------------------------------------------------------

HEADER = """\
# Generated by `make types` (tooling/typegen.py) from the named queries in queries/*.sql, as a freshly migrated
# database describes them. Do not edit: change the SQL or a migration, then run `make types` and commit the result.
"""

DOCSTRING = '''\
"""Typed results for the named queries: one function per query, one frozen dataclass per result shape.

    from tododb import FIRST_ASC, as_user, create_pool, typed

    with as_user(pool, user_id) as conn:
        page = typed.open_tasks_by_due_date(conn, after_due_at=FIRST_ASC[0], after_id=FIRST_ASC[1], page_size=50)
        titles = [task.title for task in page]        # task: OpenTasksByDueDateRow; task.due_at: datetime | None

Each function calls the same aiosql query as ``QUERIES.<name>`` and builds its rows from psycopg's tuples, so
the connection must return tuples (psycopg's default row factory, as ``as_user`` gives it). A column is
``Optional`` unless the catalog proves it NOT NULL (a NOT NULL table column outside any outer join, ``count``,
``coalesce`` with a constant): the rule in full is in tooling/typegen.py. Parameters are keyword-only and accept
None (SQL NULL); the schema refuses NULL where its rules do.
"""
'''


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


def _docstring(text: str, indent: str) -> str:
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') or "(no description in the SQL)"
    lines = textwrap.wrap(text, width=116 - len(indent), break_long_words=False, break_on_hyphens=False)
    if len(lines) == 1:
        return f'{indent}"""{lines[0]}"""'
    return f'{indent}"""' + f"\n{indent}".join(lines) + f'\n{indent}"""'


def _signature(name: str, parameters: Sequence[Parameter], returns: str) -> str:
    arguments = ["conn: Connection"] + (["*"] if parameters else []) + [f"{p.name}: {p.annotation}" for p in parameters]
    line = f"def {name}({', '.join(arguments)}) -> {returns}:"
    if len(line) <= 120:
        return line
    return f"def {name}(\n" + "".join(f"    {argument},\n" for argument in arguments) + f") -> {returns}:"


STALE_NOTE = (
    "Here a stale version is not None but raises tododb.StaleVersion: the version query, run only when nothing "
    "changed, tells it from a missing row."
)


def version_probe(query: Described, by_name: dict[str, Described]) -> Described | None:
    """The query that reads the current version of the row a versioned update targets, as its comment names it
    ("Version check: task_version."), or None for an update that takes no version. A named query that does not
    exist, is not a ``$`` read, or takes a parameter the update does not have stops the generator."""
    match = re.search(r"Version check: (\w+)", query.doc)
    if match is None:
        return None
    probe = by_name.get(match.group(1))
    taken = {p.name for p in query.parameters}
    if probe is None or probe.operation != "SELECT_VALUE" or "version" not in taken:
        raise ToolError(
            f"{query.name}: its version check {match.group(1)} must be a `$` query, and {query.name} must take version"
        )
    missing = [p.name for p in probe.parameters if p.name not in taken]
    if missing:
        raise ToolError(f"{query.name}: its version check {probe.name} takes {', '.join(missing)}, it does not")
    return probe


def render(described: Sequence[Described], literals: Literals) -> str:
    """The text of tododb/typed.py: deterministic (sorted by name, no oids, no dates)."""
    # One class per shape, named after the first query (by name) that has it; the others get an alias.
    classes: dict[tuple[tuple[str, str], ...], str] = {}
    row_name: dict[str, str] = {}
    for query in described:
        if query.columns and not (
            query.operation in ("SELECT_VALUE", "INSERT_UPDATE_DELETE")
            or (query.operation == "INSERT_RETURNING" and len(query.columns) == 1)
        ):
            classes.setdefault(query.shape, f"{_pascal(query.name)}Row")
            row_name[query.name] = f"{_pascal(query.name)}Row"

    body: list[str] = []
    if literals:
        body.append("# The values the schema allows (a domain's CHECK, an enum's labels).")
        for alias in sorted(literals):
            qualified, why, values = literals[alias]
            body.append(f"{alias}: TypeAlias = Literal[{', '.join(json.dumps(v) for v in values)}]  # {why}")
        body += ["", ""]

    users: dict[str, list[str]] = {}
    for query in described:
        if query.name in row_name:
            users.setdefault(classes[query.shape], []).append(query.name)
    for shape, class_name in sorted(classes.items(), key=lambda item: item[1]):
        names = users[class_name]
        body.append("@dataclass(frozen=True, slots=True)")
        body.append(f"class {class_name}:")
        body.append(_docstring(f"A row of {', '.join(names)}.", "    "))
        body += [""] + [f"    {column}: {annotation}" for column, annotation in shape] + ["", ""]
    aliases = [
        (row_name[q.name], classes[q.shape])
        for q in described
        if q.name in row_name and row_name[q.name] != classes[q.shape]
    ]
    if aliases:
        body.append("# Queries whose rows have the same shape share its class, under a name of their own.")
        body += [f"{alias}: TypeAlias = {target}" for alias, target in aliases] + ["", ""]

    by_name = {query.name: query for query in described}
    for query in described:
        arguments = ["conn"] + [f"{p.name}={p.name}" for p in query.parameters]
        probe = version_probe(query, by_name)

        def call(target: str, query: Described = query, arguments: list[str] = arguments) -> list[str]:
            line = f"{target} = QUERIES.{query.name}({', '.join(arguments)})"
            if len(line) <= 116:
                return [line]
            return [f"{target} = QUERIES.{query.name}("] + [f"    {argument}," for argument in arguments] + [")"]

        if query.operation == "INSERT_UPDATE_DELETE":
            returns, lines = "int", call("count: int") + ["return count"]
        elif query.operation == "SELECT_VALUE" or len(query.columns) == 1 and query.operation == "INSERT_RETURNING":
            column = query.columns[0]
            value = column.annotation if query.one_row and not column.nullable else f"{column.annotation} | None"
            returns, lines = value, call(f"value: {value}") + ["return value"]
        elif query.operation == "SELECT":
            row = row_name[query.name]
            returns, lines = f"list[{row}]", call("rows") + [f"return [{row}(*row) for row in rows]"]
        else:  # SELECT_ONE, INSERT_RETURNING: one row or none
            row = row_name[query.name]
            if query.one_row and query.operation == "SELECT_ONE":
                returns, lines = row, call("row") + [f"return {row}(*row)"]
            elif probe:
                what = probe.name.removesuffix("_version")
                check = ", ".join(["conn"] + [f"{p.name}={p.name}" for p in probe.parameters])
                stale = f"refuse_stale(QUERIES.{probe.name}({check}), version, {json.dumps(what)})"
                returns = f"{row} | None"
                lines = call("row") + ["if row is None:", f"    {stale}", "    return None", f"return {row}(*row)"]
            else:
                returns, lines = f"{row} | None", call("row") + [f"return None if row is None else {row}(*row)"]
        doc = f"{query.doc} {STALE_NOTE}" if probe else query.doc
        body.append(_signature(query.name, query.parameters, returns))
        body.append(_docstring(doc, "    "))
        body += [f"    {line}" for line in lines] + ["", ""]

    text = "\n".join(body)
    annotations = " ".join(
        [c.typed for q in described for c in q.columns] + [p.annotation for q in described for p in q.parameters]
    )
    imports = ["from dataclasses import dataclass"] if classes else []
    imports += [f"import {module}" for module in ("datetime", "decimal", "uuid") if f"{module}." in annotations]
    typing_names = ["Any"] if re.search(r"\bAny\b", annotations) else []
    typing_names += ["Literal"] if literals else []
    imports.append(f"from typing import {', '.join(typing_names + ['TypeAlias'])}")
    preamble = [
        HEADER + DOCSTRING,
        *sorted(imports, key=lambda line: line.split()[1]),
        "",
        "import psycopg",
        "from psycopg.rows import TupleRow",
        "",
        *(["from tododb.errors import refuse_stale"] if "refuse_stale(" in text else []),
        "from tododb.queries import QUERIES",
        "",
        "Connection: TypeAlias = psycopg.Connection[TupleRow]",
        '"""What every function takes: a connection that returns tuples (as ``as_user`` yields it)."""',
        "",
        "",
    ]
    return "\n".join(preamble) + text.rstrip("\n") + "\n"


# --- loading, generating, checking ------------------------------------------------------------------------------


def _sources(sql_dir: Path | None) -> list[str]:
    """The named queries' SQL files, as ``tododb.queries`` reads them (sorted by name): the package's, or those
    of ``sql_dir`` (a changed copy of queries/, in a test)."""
    folder: Any = files("tododb._sql") if sql_dir is None else sql_dir
    return [
        f.read_text(encoding="utf-8")
        for f in sorted((f for f in folder.iterdir() if f.name.endswith(".sql")), key=lambda f: f.name)
    ]


def load_queries(sql_dir: Path | None = None) -> Any:
    """The package's ``QUERIES``, or the queries of ``sql_dir`` loaded the way ``tododb.queries`` loads its own."""
    if sql_dir is None:
        from tododb.queries import QUERIES

        return QUERIES
    return aiosql.from_str("\n\n".join(_sources(sql_dir)), "psycopg")


def query_docs(sql_dir: Path | None = None) -> dict[str, str]:
    """Each query's description: the comment lines right under its ``-- name:`` line.

    Read from the files rather than aiosql's ``__doc__``, which, the files being joined into one text, also
    takes the next file's opening comment into the last query of the file before.
    """
    docs: dict[str, str] = {}
    for text in _sources(sql_dir):
        for match in re.finditer(r"^--\s*name:\s*(\w+).*\n((?:[ \t]*--.*\n?)*)", text, re.MULTILINE):
            lines = [line.strip().removeprefix("--").strip() for line in match.group(2).splitlines()]
            docs[match.group(1)] = " ".join(line for line in lines if line)
    return docs


def generate_from(url: str, sql_dir: Path | None = None) -> str:
    """tododb/typed.py's text for the package's queries (or ``sql_dir``'s), as the database at ``url`` describes
    them."""
    with connect(url, autocommit=True) as conn:
        described, literals = describe(conn, load_queries(sql_dir), query_docs(sql_dir))
    return render(described, literals)


def generate(settings: Settings) -> str:
    """Migrate a scratch database on the embedded server from nothing; describe the queries there."""
    admin = server.ensure_running(settings.data_dir, settings.wal_archive).url("postgres")
    with scratch_database(admin, f"tododb_types_{os.getpid()}") as url:
        migrate.apply_pending(url, settings.migrations_dir, echo=lambda *_: None)
        return generate_from(url)


def stale(settings: Settings) -> str | None:
    """The fresh text when the committed tododb/typed.py differs from it, else None."""
    text = generate(settings)
    return text if not TYPED.exists() or TYPED.read_text() != text else None


def write(settings: Settings) -> bool:
    """Regenerate tododb/typed.py; True when it changed."""
    text = stale(settings)
    if text is not None:
        TYPED.write_text(text)
    return text is not None
