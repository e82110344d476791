"""`make lint`: sqlfluff on migrations/ and queries/, squawk on every migration, no migration left with a
scaffold's `TODO` line (`make migration` writes them for the author to replace), ruff on the Python (its
lint rules and its format check) and mypy (strict on the backend's package and examples/, checked on the
tool); their settings are in pyproject.toml.

squawk is told that yoyo wraps each migration in a transaction
(`assume_in_transaction` in .squawk.toml) except the files marked
`-- transactional: false` (and their rollbacks), which are checked as what they
are: statements run one by one, outside a transaction.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tooling.config import ROOT

NON_TRANSACTIONAL = re.compile(r"^--\s*transactional\s*:\s*false\s*$", re.MULTILINE | re.IGNORECASE)


def _forward_of(path: Path) -> Path:
    return path.with_name(path.name.replace(".rollback.sql", ".sql"))


def split_migrations(folder: Path) -> tuple[list[Path], list[Path]]:
    """(transactional files, non-transactional files), rollbacks following their migration."""
    transactional: list[Path] = []
    non_transactional: list[Path] = []
    for path in sorted(folder.glob("*.sql")):
        forward = _forward_of(path)
        text = forward.read_text() if forward.exists() else ""
        (non_transactional if NON_TRANSACTIONAL.search(text) else transactional).append(path)
    return transactional, non_transactional


def unfilled_scaffold_lines(folder: Path) -> list[str]:
    """`file:line: text` for every `TODO` left in a migration: a scaffold that was not filled in."""
    found = []
    for path in sorted(folder.glob("*.sql")):
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            if "TODO" in line:
                found.append(f"{path.relative_to(folder.parent)}:{number}: {line.strip()}")
    return found


def sql_commands(
    sqlfluff_paths: list[str], transactional: list[Path], non_transactional: list[Path]
) -> list[list[str]]:
    """sqlfluff on ``sqlfluff_paths`` and squawk on the migrations, with the repository's settings named
    explicitly (so they hold for files outside the checkout too, as the scaffold's tests lint them)."""
    bin_dir = Path(sys.executable).parent
    commands = [[str(bin_dir / "sqlfluff"), "lint", "--config", str(ROOT / ".sqlfluff"), *sqlfluff_paths]]
    squawk = [str(bin_dir / "squawk"), "--config", str(ROOT / ".squawk.toml")]
    if transactional:
        commands.append([*squawk, *map(str, transactional)])
    if non_transactional:
        commands.append([*squawk, "--no-assume-in-transaction", *map(str, non_transactional)])
    return commands


def main() -> int:
    bin_dir = Path(sys.executable).parent
    migrations = ROOT / "migrations"
    unfilled = unfilled_scaffold_lines(migrations)
    if unfilled:
        print("$ scaffold check: replace these lines of `make migration`'s scaffold before linting", flush=True)
        for line in unfilled:
            print(f"  {line}")
        return 1
    transactional, non_transactional = split_migrations(migrations)
    runs = [
        *sql_commands(["migrations", "queries"], transactional, non_transactional),
        [str(bin_dir / "ruff"), "check", "--quiet", "."],
        [str(bin_dir / "ruff"), "format", "--check", "--quiet", "."],
        [str(bin_dir / "mypy")],
    ]
    failed = False
    for command in runs:
        files = sum(arg.endswith(".sql") for arg in command)
        settings = {command[i + 1] for i, arg in enumerate(command) if arg == "--config"}
        shown = " ".join(
            arg for arg in command[1:] if not arg.endswith(".sql") and arg != "--config" and arg not in settings
        )
        print(f"$ {Path(command[0]).name} {shown}" + (f" ({files} files)" if files else ""), flush=True)
        failed |= subprocess.run(command, cwd=ROOT).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
