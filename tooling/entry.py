"""The `tododb` command: the operational tool (migrate, doctor, backup, ...).

It runs from a checkout of the repository (it reads migrations/ there) with
the `tool` extra installed, as `make` sets it up. A backend that installed the
package alone gets one line saying so, not a traceback.
"""

from __future__ import annotations

import sys


def main() -> int:
    try:
        from tooling.cli import main as run
    except ImportError as exc:
        print(
            f"tododb: the operational tool needs the `tool` extra ({exc.name} is missing) and a checkout of the "
            "repository: run `make migrate` there; a backend needs only `import tododb`",
            file=sys.stderr,
        )
        return 1
    return run()
