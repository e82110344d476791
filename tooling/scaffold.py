"""`make migration NAME=verb_object [KIND=concurrent-index]`: write the next migration pair, preamble included.

The file gets the next number, `-- depends:` on the latest migration (files apply in name order), the
timeouts and, for an index built concurrently, the non-transactional shape of migrations/README.md. What
only the author can write is left as `TODO` lines, which `make lint` refuses, so a pair that was never
filled in cannot land.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tooling.errors import ToolError

KINDS = ("plain", "concurrent-index")
NAME = re.compile(r"^[a-z]+(_[a-z0-9]+)+$")  # verb_object: lower-case words joined by underscores
NUMBERED = re.compile(r"^(\d{4})[a-z]?_[a-z0-9_]+\.sql$")

_PLAIN = """\
-- TODO: say what this migration does, in one sentence (`make status` shows this line).
-- depends: {depends}
set local lock_timeout = '5s';
set local statement_timeout = '30s';
"""

_PLAIN_ROLLBACK = """\
-- TODO: say what undoing {id} restores, in one sentence.
set local lock_timeout = '5s';
set local statement_timeout = '30s';
"""

_CONCURRENT_INDEX = """\
-- TODO: Create the index <query> reads <table> by, without blocking writes.
-- depends: {depends}
-- transactional: false
set lock_timeout = '5s';
set statement_timeout = '1h';

-- A build that failed or was cancelled leaves an INVALID index of that name behind: drop it first.
-- TODO: name the index <table>_<columns>_idx, here and below.
drop index concurrently if exists app.todo_columns_idx;

-- squawk-ignore prefer-robust-stmts
create index concurrently todo_columns_idx on app.todo (todo);

comment on index app.todo_columns_idx is 'TODO: the query it serves and what it reads.';
"""

_CONCURRENT_INDEX_ROLLBACK = """\
-- TODO: Drop the index {id} creates.
set lock_timeout = '5s';
set statement_timeout = '1h';

drop index concurrently if exists app.todo_columns_idx;
"""


@dataclass(frozen=True)
class Scaffold:
    forward: Path
    rollback: Path
    depends: str


def latest(folder: Path) -> tuple[int, str]:
    """The highest migration number in ``folder`` and the id of the last migration in name order."""
    numbered = sorted(
        p for p in folder.glob("*.sql") if not p.name.endswith(".rollback.sql") and NUMBERED.match(p.name)
    )
    if not numbered:
        raise ToolError(f"no numbered migration in {folder}: nothing to depend on")
    number = max(int(p.name[:4]) for p in numbered)  # NUMBERED: four digits first
    return number, numbered[-1].stem


def new_migration(folder: Path, name: str, kind: str = "plain") -> Scaffold:
    """Write NNNN_<name>.sql and its rollback in ``folder``; refuse a bad name or kind, or an existing name."""
    if not NAME.match(name or ""):
        raise ToolError(
            f"NAME={name!r}: give verb_object in lower case, words joined by underscores (e.g. NAME=add_task_color)"
        )
    if kind not in KINDS:
        raise ToolError(f"KIND={kind!r}: one of {', '.join(KINDS)}")
    taken = [p.name for p in folder.glob(f"*_{name}.sql")]
    if taken:
        raise ToolError(f"a migration named {name} exists already ({taken[0]}): choose another name")
    number, depends = latest(folder)
    migration_id = f"{number + 1:04d}_{name}"
    forward, rollback = folder / f"{migration_id}.sql", folder / f"{migration_id}.rollback.sql"
    forward_text, rollback_text = (
        (_PLAIN, _PLAIN_ROLLBACK) if kind == "plain" else (_CONCURRENT_INDEX, _CONCURRENT_INDEX_ROLLBACK)
    )
    forward.write_text(forward_text.format(depends=depends, id=migration_id))
    rollback.write_text(rollback_text.format(depends=depends, id=migration_id))
    return Scaffold(forward, rollback, depends)
