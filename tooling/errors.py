"""Failures a user can cause, and how they are told: the app package's own (``tododb.errors``).

The tool raises ``ToolError`` (the same class as ``tododb.errors.TododbError``)
for everything a user can fix; the CLI prints it as one line.
"""

from __future__ import annotations

from tododb.errors import TododbError as ToolError
from tododb.errors import describe_connect_failure, one_line

__all__ = ["ToolError", "describe_connect_failure", "one_line"]
