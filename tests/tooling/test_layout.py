"""README's table of tooling/ modules lists each module of the folder, and only those."""

from __future__ import annotations

import re

from tooling.config import ROOT


def test_the_readme_lists_every_tooling_module():
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| module | its one job |") :].split("\n\n")[0]
    listed = {name for row in table.splitlines()[2:] for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    modules = {path.stem for path in (ROOT / "tooling").glob("*.py") if not path.stem.startswith("__")}
    assert listed == modules
